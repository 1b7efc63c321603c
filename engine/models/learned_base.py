"""Shared plumbing of the learned methods: a runtime (PyTorch or ONNX Runtime) running
the method's inference network on float32 images, plus frame conversions."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np

from engine.enhancer import Enhancer
from engine.frame import check_rgb8
from engine.registry import MethodDescriptor
from engine.runtime.selection import NetworkSpec, Runtime, open_network

__all__ = ["LearnedEnhancer", "to_unit", "to_uint8", "arch_kwargs"]


def to_unit(frame: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) → float32 (H, W, 3) in [0, 1]."""
    out = frame.astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float (H, W, 3) in [0, 1] (values outside are clipped) → uint8, rounded."""
    out = np.clip(img, 0.0, 1.0) * np.float32(255.0)
    return np.rint(out, out=out).astype(np.uint8)


def arch_kwargs(cls: Callable[..., Any], arch: dict | None) -> dict:
    """The entries of a checkpoint's ``arch`` that ``cls``'s constructor takes."""
    names = set(inspect.signature(cls).parameters)
    return {k: v for k, v in (arch or {}).items() if k in names}


class LearnedEnhancer(Enhancer):
    """Base of SCI and the Zero-DCE family.

    Args:
        descriptor: the registry entry.
        backend, device, weights: see :func:`engine.runtime.selection.open_network`.
        runtime: an already opened runtime (tests), instead of the three above.
    """

    network: NetworkSpec

    def __init__(self, descriptor: MethodDescriptor, backend: str = "auto", device: str = "auto",
                 weights: str | None = None, runtime: Runtime | None = None) -> None:
        self.descriptor = descriptor
        self.runtime = runtime if runtime is not None else open_network(self.network, backend, device, weights)
        self.backend = self.runtime.backend
        self.device = self.runtime.device

    def runtime_label(self) -> str:
        return self.runtime.label

    def infer(self, img: np.ndarray) -> np.ndarray:
        """Run the network on float32 (h, w, 3) in [0, 1]; returns float32 (h, w, C)."""
        x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)
        y = self.runtime.run(x)
        return np.ascontiguousarray(y[0].transpose(1, 2, 0), dtype=np.float32)

    @staticmethod
    def check(frame: np.ndarray) -> np.ndarray:
        return check_rgb8(frame)
