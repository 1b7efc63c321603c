"""Classical references for comparison: adaptive gamma, CLAHE and a LIME-style
illumination map. They follow the same estimate/apply split as the learned methods."""

from __future__ import annotations

import cv2
import numpy as np

from engine.enhancer import Enhancer, ParamMap, downscale
from engine.params import EnhanceParams, ParamSpec
from engine.registry import MethodDescriptor, register

__all__ = ["GammaEnhancer"]

_STRENGTH = ParamSpec("strength", 1.0, 0.0, 2.0, 0.05,
                      "0 = original, 1 = default, 2 = stronger; exponent is raised to this power")


class GammaEnhancer(Enhancer):
    """Global power curve y = x ** g whose exponent lifts the mean luminance to
    ``target_mean`` (0..1). The map is the exponent alone: a (1, 1, 1) float32 array.
    ``strength`` s uses g ** s, so s = 0 gives the original and larger s never darkens."""

    target_mean = 0.45
    min_gamma = 0.2

    def __init__(self, descriptor: MethodDescriptor) -> None:
        self.descriptor = descriptor

    def _gamma_for(self, image: np.ndarray) -> float:
        mean = float(np.clip(image.mean() / 255.0, 1e-3, 0.999))
        if mean >= self.target_mean:
            return 1.0
        return float(np.clip(np.log(self.target_mean) / np.log(mean), self.min_gamma, 1.0))

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        small = downscale(frame, self.estimate_size)
        g = np.full((1, 1, 1), self._gamma_for(small), np.float32)
        return ParamMap(g, "gamma", frame.shape[:2], small)

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        exponent = float(pmap.data.reshape(-1)[0]) ** float(params.strength)
        lut = np.round(255.0 * (np.arange(256) / 255.0) ** exponent).astype(np.uint8)
        return cv2.LUT(frame, lut)

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        p = params or self.descriptor.default_params()
        g = np.full((1, 1, 1), self._gamma_for(frame), np.float32)
        return self.apply(frame, ParamMap(g, "gamma", frame.shape[:2], frame), p)


def _gamma_factory(**_: object) -> Enhancer:
    return GammaEnhancer(GAMMA)


GAMMA = register(MethodDescriptor(
    name="gamma", title="Gamma", family="classical",
    paper="Global power-law (gamma) correction; exponent chosen so the mean reaches 0.45",
    licence="MIT (this project)",
    summary="Adaptive global gamma: cheap, no local contrast",
    params=(_STRENGTH,),
    factory=_gamma_factory,
))
