"""A small local-gain enhancer used by the temporal tests: its map is a per-pixel
illumination estimate (blurred luma of a 64-pixel copy), so moving objects carry their
own enhancement – the case where a temporal filter can ghost."""

from __future__ import annotations

import cv2
import numpy as np

from engine.enhancer import Enhancer, ParamMap, downscale
from engine.params import EnhanceParams, ParamSpec
from engine.enhancer import MethodDescriptor

SMOOTH = ParamSpec("smoothing", 0.5, 0.0, 1.0, 0.05, "temporal smoothing")
DENOISE = ParamSpec("denoise", 0.0, 0.0, 1.0, 0.05, "temporal denoise")


class LocalGainEnhancer(Enhancer):
    """out = frame · 0.45 / L, L = blurred luma (0..1, ≥ 0.03) of a 64-pixel copy."""

    estimate_size = 64

    def __init__(self) -> None:
        self.descriptor = DESCRIPTOR

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        small = downscale(frame, self.estimate_size)
        y = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        y = cv2.GaussianBlur(y, (0, 0), 1.0)
        return ParamMap(np.maximum(y, 0.03)[..., None], "illumination", frame.shape[:2], small)

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        h, w = frame.shape[:2]
        ill = cv2.resize(pmap.data[..., 0], (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, 1)
        return np.clip(frame.astype(np.float32) * (0.45 / ill), 0, 255).astype(np.uint8)

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        return self.enhance(frame, params)


DESCRIPTOR = MethodDescriptor(
    name="localgain-test", title="Local gain (test)", family="classical", paper="test helper",
    licence="MIT", summary="test helper", params=(SMOOTH, DENOISE), factory=lambda **_: LocalGainEnhancer())
