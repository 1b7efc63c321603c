"""Descriptor of SCI (implementation: :mod:`engine.models.sci`)."""

from __future__ import annotations

from engine.models.common_params import DENOISE, EXPOSURE, SMOOTHING, illumination_specs
from engine.enhancer import MethodDescriptor

__all__ = ["SCI", "METHODS", "ORDER"]

ORDER = 10

SCI = MethodDescriptor(
    name="sci", title="SCI", family="learned",
    paper="Ma, Ma, Liu, Fan, Luo: Toward Fast, Flexible, and Robust Low-Light Image "
          "Enhancement (Self-Calibrated Illumination), CVPR 2022",
    licence="MIT (this project's implementation and weights, trained by us)",
    summary="Retinex-style: one tiny weight-shared stage estimates illumination; output = input / illumination",
    params=(
        *illumination_specs(),
        EXPOSURE,
        SMOOTHING,
        DENOISE,
    ),
    factory="engine.models.sci:create_sci",
    weights="sci.pt",
    backends=("onnx", "torch"),
)

METHODS = (SCI,)
