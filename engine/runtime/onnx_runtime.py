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
    (``LOWLIGHT_THREADS`` overrides)."""
    env = os.environ.get("LOWLIGHT_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OnnxRuntime:
    """Run an exported graph (input ``image`` float32 (1, 3, h, w) in [0, 1], dynamic h, w;
    output float32 (1, C, h, w)).

    Args:
        path: the .onnx file (verify it before, see :func:`engine.weights.verify`).
        device: ``"cpu"`` or ``"cuda"`` (TensorRT, then CUDA provider).
    """

    backend = "onnx"

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu") -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if device == "cuda":
            gpus = gpu_providers()
            if not gpus:
                raise RuntimeError(
                    "device cuda requested but ONNX Runtime has no GPU provider (available: "
                    + ", ".join(ort.get_available_providers()) + ")")
            providers = gpus + ["CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        so = ort.SessionOptions()
        so.intra_op_num_threads = cpu_threads()
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=so, providers=providers)
        except Exception as exc:  # corrupt graph, unsupported op, provider failure
            raise RuntimeError(f"cannot open ONNX graph {self.path}: {exc}") from exc
        self.device = device
        self.provider = self.session.get_providers()[0]
        self._input = self.session.get_inputs()[0].name

    @property
    def label(self) -> str:
        return f"onnx/{self.provider}"

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[0]
