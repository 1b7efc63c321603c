"""Descriptors of Zero-DCE and Zero-DCE++ (implementation: :mod:`engine.models.zerodce`)."""

from __future__ import annotations

from engine.models.common_params import DENOISE, EXPOSURE, SMOOTHING, iterations_spec, strength_spec
from engine.enhancer import MethodDescriptor

__all__ = ["ZERODCE", "ZERODCEPP", "METHODS", "ORDER"]

ORDER = 20

_STRENGTH = strength_spec("the curve parameters are multiplied by it (a·strength)")

ZERODCE = MethodDescriptor(
    name="zerodce", title="Zero-DCE", family="learned",
    paper="Guo, Li, Guo, Loy, Hou, Kwong, Cong: Zero-Reference Deep Curve Estimation "
          "for Low-Light Image Enhancement, CVPR 2020",
    licence="MIT (this project's implementation and weights, trained by us)",
    summary="Per-pixel light-enhancement curves LE(x) = x + a·x·(1−x), 8 maps from a 7-layer CNN",
    params=(
        iterations_spec(8, 16, "curve applications; the 8 estimated maps are used in turn "
                               "(cycling past 8); fewer = gentler"),
        _STRENGTH, EXPOSURE, SMOOTHING, DENOISE,
    ),
    factory="engine.models.zerodce:create_zerodce",
    weights="zerodce.pt",
    backends=("onnx", "torch"),
)

ZERODCEPP = MethodDescriptor(
    name="zerodce++", title="Zero-DCE++", family="learned",
    paper="Li, Guo, Loy: Learning to Enhance Low-Light Image via Zero-Reference Deep "
          "Curve Estimation, TPAMI 2021",
    licence="MIT (this project's implementation and weights, trained by us)",
    summary="Zero-DCE's light variant: depthwise-separable CNN, one curve map reused each step",
    params=(
        iterations_spec(8, 16, "curve applications of the one estimated map; fewer = gentler"),
        _STRENGTH, EXPOSURE, SMOOTHING, DENOISE,
    ),
    factory="engine.models.zerodce:create_zerodcepp",
    weights="zerodcepp.pt",
    backends=("onnx", "torch"),
)

METHODS = (ZERODCE, ZERODCEPP)
