"""Choosing and opening the runtime of a learned method's inference network.

``backend``: ``"auto"`` | ``"torch"`` | ``"onnx"``; ``device``: ``"auto"`` | ``"cpu"`` | ``"cuda"``.
Auto device = CUDA when PyTorch or ONNX Runtime can use a GPU. Auto backend = ONNX
Runtime when the exported graph ``<name>.onnx`` sits beside the checkpoint, is listed
in the manifest as made from that very checkpoint, and ONNX Runtime can run on the
device (it is the faster CPU runtime, see docs/performance.md); otherwise PyTorch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from engine.runtime.weights import (WeightsError, load_checkpoint, manifest_entry, sha256_file, verify,
                                    weights_dir)

if TYPE_CHECKING:
    from torch import nn

__all__ = ["NetworkSpec", "Runtime", "register_network", "network_spec", "network_specs",
           "checkpoint_path", "check_checkpoint", "resolve", "open_network"]


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
        onnx_layout: let ONNX Runtime's CPU provider switch the graph to its channel-blocked
            layout (``ORT_ENABLE_ALL``). It pays off for wide convolutions (Zero-DCE++: 2.8
            against 7.0 ms a 128-pixel estimate on one thread) and costs for narrow ones,
            whose layout changes outweigh the convolutions (SCI's three-channel stage: 1.6
            against 0.9 ms), so those keep the layout (``ORT_ENABLE_EXTENDED``); the outputs
            agree to float rounding (≤ 2·10⁻⁷).
    """

    method: str
    weights_file: str
    build: Callable[[dict], "nn.Module"]
    halo: int = 8
    train_data: str = "--data DIR"
    onnx_layout: bool = True

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


def _is_shipped(path: Path) -> bool:
    return path.resolve().parent == weights_dir().resolve()


def _onnx_is_current(onnx: Path, ckpt: Path, method: str | None = None) -> bool:
    """True when ``onnx`` exists and the MANIFEST.json beside it says it was exported
    from the checkpoint as it is now (the shipped manifest's checkpoint sha256, or for a
    user's folder the checkpoint file's own sha256), for ``method`` when given."""
    if not onnx.exists():
        return False
    o = manifest_entry(onnx.name, onnx.parent)
    if not o or (method is not None and o.get("method") not in (None, method)):
        return False
    if _is_shipped(onnx) and _is_shipped(ckpt):
        c = manifest_entry(ckpt.name)
        return bool(c and o.get("source_sha256") == c.get("sha256"))
    return o.get("source_sha256") == sha256_file(ckpt)


def _fit_summary(exc: BaseException) -> str:
    """One short line from a failed ``load_state_dict`` (counts and first names of the
    missing, unexpected and mis-shaped parameters), else the error's first line."""
    text = str(exc)
    parts = []
    for label, pattern in (("missing", r"Missing key\(s\) in state_dict: ([^\n]*)"),
                           ("unexpected", r"Unexpected key\(s\) in state_dict: ([^\n]*)")):
        m = re.search(pattern, text)
        if m:
            keys = re.findall(r'"([^"]+)"', m.group(1))
            parts.append(f"{len(keys)} {label} parameters ({', '.join(keys[:2])}"
                         + (", …)" if len(keys) > 2 else ")"))
    shapes = re.findall(r"size mismatch for ([\w.]+)", text)
    if shapes:
        parts.append(f"{len(shapes)} parameters of another shape ({', '.join(shapes[:2])}"
                     + (", …)" if len(shapes) > 2 else ")"))
    if parts:
        return ", ".join(parts)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:160]


def _fit_problem(spec: NetworkSpec, data: dict) -> str | None:
    """None when the checkpoint dict builds ``spec``'s network, else a short reason."""
    try:
        spec.build(data)
    except Exception as exc:  # a foreign dict can fail any way: keys, shapes, arch fields
        return _fit_summary(exc)
    return None


def _looks_like(data: dict, exclude: str) -> str | None:
    """The learned method whose network the checkpoint dict builds (other than
    ``exclude``), or None."""
    for other in network_specs():
        if other.method != exclude and _fit_problem(other, data) is None:
            return other.method
    return None


def check_checkpoint(spec: NetworkSpec, ckpt: Path) -> None:
    """Raise :class:`WeightsError` (one line) unless ``ckpt`` holds weights of
    ``spec.method``'s network: the checkpoint's recorded method (the manifest's for a
    shipped file), else, for checkpoints that predate it, whether its parameter names and
    shapes build the network."""
    if _is_shipped(ckpt):
        entry = manifest_entry(ckpt.name)
        if entry and entry.get("method"):
            if entry["method"] != spec.method:
                raise WeightsError(f"{ckpt} holds weights for {entry['method']!r}, not "
                                   f"{spec.method!r} (use --method {entry['method']})")
            return
    data = load_checkpoint(ckpt)
    method = data.get("method")
    if method is not None:
        if method != spec.method:
            raise WeightsError(f"{ckpt} holds weights for {method!r}, not {spec.method!r} "
                               f"(use --method {method})")
        return
    problem = _fit_problem(spec, data)
    if problem is not None:
        guess = _looks_like(data, spec.method)
        hint = f"; it fits {guess} (use --method {guess})" if guess else ""
        raise WeightsError(f"{ckpt} does not fit the {spec.method} network{hint}: {problem}")


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
        made_for = (manifest_entry(Path(weights).name, Path(weights).parent) or {}).get("method")
        if made_for not in (None, spec.method):
            raise WeightsError(f"{weights} is the graph of {made_for!r}, not {spec.method!r} "
                               f"(use --method {made_for})")
        dev = device if device != "auto" else ("cuda" if gpu_providers() else "cpu")
        return "onnx", dev, Path(weights)
    ckpt = checkpoint_path(spec, weights)
    if weights:  # a checkpoint of the user's choice: the method's own architecture?
        check_checkpoint(spec, ckpt)
    onnx = ckpt.with_suffix(".onnx")
    if device == "auto":
        device = "cuda" if (_cuda_available() or gpu_providers()) else "cpu"
    if backend == "onnx":
        if not onnx.exists():
            raise WeightsError(f"{spec.method}: ONNX graph not found: {onnx} "
                               f"(make it with `lowlight export-onnx --method {spec.method}`)")
        if not _onnx_is_current(onnx, ckpt, spec.method):
            raise WeightsError(f"{onnx} was not exported from the current {ckpt.name} "
                               f"(re-run `lowlight export-onnx --method {spec.method}`"
                               + (f" --weights {ckpt} --out-dir {ckpt.parent}" if weights else "")
                               + ")")
        return "onnx", device, onnx
    if backend == "auto":
        gpu_ok = device == "cpu" or bool(gpu_providers())
        if gpu_ok and _onnx_is_current(onnx, ckpt, spec.method):
            return "onnx", device, onnx
        if device == "cuda" and not _cuda_available():
            raise RuntimeError(f"{spec.method}: no CUDA runtime: PyTorch sees no GPU and "
                               f"no current {onnx.name} with a GPU provider is available")
    return "torch", device, ckpt


def load_module(spec: NetworkSpec, ckpt: Path) -> "nn.Module":
    """Verify and load ``ckpt`` and build the inference network from it (CPU, eval)."""
    data = load_checkpoint(ckpt)
    if data.get("method") not in (None, spec.method):
        raise WeightsError(f"{ckpt} holds weights for {data.get('method')!r}, not {spec.method!r} "
                           f"(use --method {data.get('method')})")
    try:
        return spec.build(data).eval()
    except (RuntimeError, TypeError, KeyError) as exc:  # wrong architecture / keys
        guess = _looks_like(data, spec.method)
        hint = f"; it fits {guess} (use --method {guess})" if guess else ""
        problem = _fit_summary(exc)
        raise WeightsError(f"{ckpt} does not fit the {spec.method} network{hint}: {problem}") from exc


def open_network(spec: NetworkSpec, backend: str = "auto", device: str = "auto",
                 weights: str | None = None) -> Runtime:
    """Open the runtime chosen by :func:`resolve`; files are sha256-verified first."""
    from engine.runtime.onnx_runtime import OnnxRuntime
    from engine.runtime.torch_runtime import TorchRuntime

    kind, dev, path = resolve(spec, backend, device, weights)
    if kind == "onnx":
        return OnnxRuntime(verify(path), dev, layout=spec.onnx_layout)
    return TorchRuntime(load_module(spec, path), dev)
