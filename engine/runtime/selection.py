"""Choosing and opening the runtime of a learned method's inference network.

``backend``: ``"auto"`` | ``"torch"`` | ``"onnx"``; ``device``: ``"auto"`` | ``"cpu"`` | ``"cuda"``.
Auto device = CUDA when PyTorch or ONNX Runtime can use a GPU. Auto backend = ONNX
Runtime when the exported graph ``<name>.onnx`` sits beside the checkpoint, is listed
in the manifest as made from that very checkpoint, and ONNX Runtime can run on the
device (it is the faster CPU runtime, see docs/performance.md); otherwise PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from engine.runtime.weights import WeightsError, load_checkpoint, manifest_entry, verify, weights_dir

if TYPE_CHECKING:
    from torch import nn

__all__ = ["NetworkSpec", "Runtime", "register_network", "network_spec", "network_specs",
           "checkpoint_path", "resolve", "open_network"]


class Runtime(Protocol):
    """What the enhancers need from a session: ``run`` float32 (1, 3, h, w) in [0, 1] →
    float32 (1, C, h, w); ``label`` e.g. ``"onnx/CPUExecutionProvider"``."""

    backend: str
    device: str

    @property
    def label(self) -> str: ...

    def run(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class NetworkSpec:
    """How to build a method's inference network.

    Attributes:
        method: registry name, e.g. ``"zerodce++"``.
        weights_file: checkpoint file name in the weights folder, e.g. ``"zerodcepp.pt"``.
        build: checkpoint dict → the inference ``nn.Module`` (input (N, 3, h, w) in [0, 1]).
        halo: receptive-field radius in pixels: tiles overlapping by this much give the
            same result as one whole-frame pass (convolutions with zero padding).
        train_data: the ``lowlight train`` data option that makes its checkpoint
            (``--data DIR`` for zero-reference, ``--pairs LOW_DIR HIGH_DIR`` for paired).
    """

    method: str
    weights_file: str
    build: Callable[[dict], "nn.Module"]
    halo: int = 8
    train_data: str = "--data DIR"

    @property
    def onnx_file(self) -> str:
        return Path(self.weights_file).with_suffix(".onnx").name

    def train_hint(self) -> str:
        return f"make it with `lowlight train --method {self.method} {self.train_data} --epochs N`"


_NETWORKS: dict[str, NetworkSpec] = {}


def register_network(spec: NetworkSpec) -> NetworkSpec:
    _NETWORKS[spec.method] = spec
    return spec


def _load_networks() -> None:
    """Import every learned method's implementation module: each registers its network."""
    from engine import registry

    for d in registry.descriptors():
        if d.family == "learned":
            registry.implementation(d.name)


def network_spec(method: str) -> NetworkSpec:
    if method not in _NETWORKS:
        _load_networks()
    if method not in _NETWORKS:
        raise KeyError(f"{method!r} has no network; learned methods: {', '.join(_NETWORKS)}")
    return _NETWORKS[method]


def network_specs() -> list[NetworkSpec]:
    _load_networks()
    return list(_NETWORKS.values())


def checkpoint_path(spec: NetworkSpec, weights: str | None = None) -> Path:
    """The checkpoint to use: ``weights`` when given, else the shipped one; raises
    :class:`WeightsError` naming the file and the command that makes it when absent."""
    p = Path(weights) if weights else weights_dir() / spec.weights_file
    if not p.exists():
        raise WeightsError(f"{spec.method}: weights file not found: {p} ({spec.train_hint()})")
    return p


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def _onnx_is_current(onnx: Path, ckpt: Path) -> bool:
    """True when ``onnx`` exists and, for shipped files, the manifest says it was
    exported from the checkpoint as it is now."""
    if not onnx.exists():
        return False
    folder = weights_dir().resolve()
    if onnx.resolve().parent != folder:
        return True
    o, c = manifest_entry(onnx.name), manifest_entry(ckpt.name)
    return bool(o and c and o.get("source_sha256") == c.get("sha256"))


def resolve(spec: NetworkSpec, backend: str = "auto", device: str = "auto",
            weights: str | None = None) -> tuple[str, str, Path]:
    """Decide (backend, device, file) without opening anything."""
    from engine.runtime.onnx_runtime import gpu_providers

    if backend not in ("auto", "torch", "onnx"):
        raise ValueError(f"backend must be auto, torch or onnx, not {backend!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {device!r}")
    if weights and Path(weights).suffix == ".onnx":  # a graph given directly
        if backend == "torch":
            raise ValueError(f"{weights} is an ONNX graph; use --backend onnx or auto")
        if not Path(weights).exists():
            raise WeightsError(f"{spec.method}: ONNX graph not found: {weights}")
        dev = device if device != "auto" else ("cuda" if gpu_providers() else "cpu")
        return "onnx", dev, Path(weights)
    ckpt = checkpoint_path(spec, weights)
    onnx = ckpt.with_suffix(".onnx")
    if device == "auto":
        device = "cuda" if (_cuda_available() or gpu_providers()) else "cpu"
    if backend == "onnx":
        if not onnx.exists():
            raise WeightsError(f"{spec.method}: ONNX graph not found: {onnx} "
                               f"(make it with `lowlight export-onnx --method {spec.method}`)")
        if not _onnx_is_current(onnx, ckpt):
            raise WeightsError(f"{onnx} was not exported from the current {ckpt.name} "
                               f"(re-run `lowlight export-onnx --method {spec.method}`)")
        return "onnx", device, onnx
    if backend == "auto":
        gpu_ok = device == "cpu" or bool(gpu_providers())
        if gpu_ok and _onnx_is_current(onnx, ckpt):
            return "onnx", device, onnx
        if device == "cuda" and not _cuda_available():
            raise RuntimeError(f"{spec.method}: no CUDA runtime: PyTorch sees no GPU and "
                               f"no current {onnx.name} with a GPU provider is available")
    return "torch", device, ckpt


def load_module(spec: NetworkSpec, ckpt: Path) -> "nn.Module":
    """Verify and load ``ckpt`` and build the inference network from it (CPU, eval)."""
    data = load_checkpoint(ckpt)
    if data.get("method") not in (None, spec.method):
        raise WeightsError(f"{ckpt} holds weights for {data.get('method')!r}, not {spec.method!r}")
    try:
        return spec.build(data).eval()
    except (RuntimeError, TypeError, KeyError) as exc:  # wrong architecture / keys
        raise WeightsError(f"{ckpt} does not fit the {spec.method} network: {exc}") from exc


def open_network(spec: NetworkSpec, backend: str = "auto", device: str = "auto",
                 weights: str | None = None) -> Runtime:
    """Open the runtime chosen by :func:`resolve`; files are sha256-verified first."""
    from engine.runtime.onnx_runtime import OnnxRuntime
    from engine.runtime.torch_runtime import TorchRuntime

    kind, dev, path = resolve(spec, backend, device, weights)
    if kind == "onnx":
        return OnnxRuntime(verify(path), dev)
    return TorchRuntime(load_module(spec, path), dev)
