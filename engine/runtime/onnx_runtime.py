"""ONNX Runtime inference session with a deliberate provider and thread choice."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["OnnxRuntime", "gpu_providers", "cpu_threads"]

# Preference order when the GPU is wanted; the CPU provider is always the fallback.
_GPU_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def gpu_providers() -> list[str]:
    """GPU execution providers this ONNX Runtime build offers, best first."""
    import onnxruntime as ort

    avail = set(ort.get_available_providers())
    return [p for p in _GPU_ORDER if p in avail]


def cpu_threads() -> int:
    """Intra-op threads for CPU inference: the cores this process may use
    (``LOWLIGHT_THREADS`` overrides, checked and clamped by
    :func:`engine.runtime.environment.threads`)."""
    from engine.runtime.environment import threads

    return threads()


class OnnxRuntime:
    """Run an exported graph (input ``image`` float32 (1, 3, h, w) in [0, 1], dynamic h, w;
    output float32 (1, C, h, w)).

    Args:
        path: the .onnx file (verify it before, see :func:`engine.runtime.weights.verify`).
        device: ``"cpu"`` or ``"cuda"`` (TensorRT, then CUDA provider).
        layout: allow the CPU provider's channel-blocked layout (every graph optimisation,
            ``ORT_ENABLE_ALL``); False stops at ``ORT_ENABLE_EXTENDED`` (the network's
            :class:`~engine.runtime.selection.NetworkSpec` says which is quicker for it).
    """

    backend = "onnx"

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu", layout: bool = True) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if device == "cuda":
            gpus = gpu_providers()
            if not gpus:
                raise RuntimeError(
                    "device cuda requested but ONNX Runtime has no GPU provider (available: "
                    + ", ".join(ort.get_available_providers()) + ")")
            # TensorRT first; if its libraries fail to load, CUDA alone next.
            attempts = [gpus[i:] + ["CPUExecutionProvider"] for i in range(len(gpus))]
        else:
            attempts = [["CPUExecutionProvider"]]
        so = ort.SessionOptions()
        so.intra_op_num_threads = cpu_threads()
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if layout
                                       else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
        so.log_severity_level = 3
        # Idle workers sleep instead of spinning: the apply step (OpenCV) and the video
        # threads need the same few cores right after inference.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # Near-zero activations of tiny nets are otherwise denormal floats, which made
        # SCI's stage several times slower on x86 (measured).
        so.add_session_config_entry("session.set_denormal_as_zero", "1")
        errors = []
        for providers in attempts:
            try:
                self.session = ort.InferenceSession(str(self.path), sess_options=so, providers=providers)
                break
            except Exception as exc:  # corrupt graph, unsupported op, provider failure
                errors.append(f"{providers[0]}: {exc}")
        else:
            raise RuntimeError(f"cannot open ONNX graph {self.path}: " + "; ".join(errors))
        self.provider = self.session.get_providers()[0]
        # ONNX Runtime falls back to the CPU when a GPU provider fails to start: say so.
        self.device = "cpu" if self.provider == "CPUExecutionProvider" else "cuda"
        self._input = self.session.get_inputs()[0].name

    @property
    def label(self) -> str:
        return f"onnx/{self.provider}"

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[0]
