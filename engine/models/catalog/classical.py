"""Descriptors of the classical references (implementation: :mod:`engine.models.classical`)."""

from __future__ import annotations

from engine.models.common_params import DENOISE, EXPOSURE, SMOOTHING, strength_spec
from engine.enhancer import MethodDescriptor

__all__ = ["GAMMA", "CLAHE", "LIME", "METHODS", "ORDER"]

ORDER = 90

GAMMA = MethodDescriptor(
    name="gamma", title="Gamma", family="classical",
    paper="Global power-law (gamma) correction; exponent chosen so the mean reaches the target exposure",
    licence="MIT (this project)",
    summary="Adaptive global gamma: cheap, no local contrast",
    params=(strength_spec("the gamma exponent g <= 1 is raised to this power"), EXPOSURE, SMOOTHING, DENOISE),
    factory="engine.models.classical:create_gamma",
)

CLAHE = MethodDescriptor(
    name="clahe", title="CLAHE", family="classical",
    paper="K. Zuiderveld, \"Contrast Limited Adaptive Histogram Equalization\", "
          "Graphics Gems IV, 1994 (OpenCV's implementation, on the L channel of Lab)",
    licence="MIT (this project; uses OpenCV, Apache-2.0)",
    summary="Local histogram equalisation of lightness, applied as a hue-preserving gain",
    params=(strength_spec("the CLAHE gain (clip limit 2.5, 8×8 tiles; >= 1) is raised to this power"),
            SMOOTHING, DENOISE),
    factory="engine.models.classical:create_clahe",
)

LIME = MethodDescriptor(
    name="lime", title="LIME", family="classical",
    paper="X. Guo, Y. Li, H. Ling, \"LIME: Low-Light Image Enhancement via Illumination Map "
          "Estimation\", IEEE TIP 26(2), 2017 (guided-filter refinement, no denoising)",
    licence="MIT (this project's implementation)",
    summary="Max-RGB illumination map, edge-preserving refinement, x / T^0.8",
    params=(strength_spec("output = x / T^(0.8·strength): 1 = the paper's γ = 0.8, 2 = γ = 1.6"),
            SMOOTHING, DENOISE),
    factory="engine.models.classical:create_lime",
)

METHODS = (GAMMA, CLAHE, LIME)
