"""Descriptors of the methods trained on paired low/normal-light pictures: NAFNet, MIRNetv2
and the auxiliary-block network of Jin et al. (implementation: :mod:`engine.models.paired`;
networks: :mod:`engine.models.nafnet`, :mod:`engine.models.mirnetv2`,
:mod:`engine.models.jin2023`, whose ``PAPER`` and ``LICENCE`` these texts repeat so that the
catalogue loads without PyTorch)."""

from __future__ import annotations

from engine.models.common_params import DENOISE, EXPOSURE, SMOOTHING, illumination_specs
from engine.params import ParamSpec
from engine.enhancer import MethodDescriptor

__all__ = ["NAFNET", "MIRNETV2", "JIN2023", "METHODS", "ORDER", "LOL_LICENCE"]

ORDER = 30

#: the data half of every licence line below
LOL_LICENCE = "trained by this project on LOL (Wei et al., BMVC 2018), which its authors distribute for research use"

#: strength of an image-to-image network: a blend along its change, which may darken
#: (a network trained on pairs also pulls highlights and noise down)
_NETWORK_STRENGTH = ParamSpec(
    "strength", 1.0, 0.0, 2.0, 0.05,
    "0 = original, 1 = the network's output, up to 2 = its change doubled "
    "(output = x + strength·(network(x) − x), clipped)",
)

_FAST_PATH = ("; real time: the change the network makes on a reduced copy is fitted as a grid "
              "of local affine colour transforms and applied to the full frame")

NAFNET = MethodDescriptor(
    name="nafnet", title="NAFNet", family="learned",
    paper='L. Chen, X. Chu, X. Zhang, J. Sun, "Simple Baselines for Image Restoration", ECCV 2022 '
          "(arXiv:2204.04676)",
    licence="MIT (network written by this project from the paper, no authors' code); weights "
            + LOL_LICENCE,
    summary="Activation-free U-Net (SimpleGate, simplified channel attention) trained on "
            "low/normal-light pairs" + _FAST_PATH,
    params=(_NETWORK_STRENGTH, SMOOTHING, DENOISE),
    factory="engine.models.paired:create_nafnet",
    weights="nafnet.pt",
    backends=("onnx", "torch"),
)

MIRNETV2 = MethodDescriptor(
    name="mirnetv2", title="MIRNetv2", family="learned",
    paper='S. W. Zamir, A. Arora, S. Khan, M. Hayat, F. S. Khan, M.-H. Yang, L. Shao, "Learning '
          'Enriched Features for Fast Image Restoration and Enhancement", IEEE TPAMI 45(2), 2022 '
          "(arXiv:2205.01649)",
    licence="MIT (network written by this project from the paper; the authors' code, under the "
            "Academic Public License, is not used); weights " + LOL_LICENCE,
    summary="Multi-scale residual blocks with selective-kernel fusion, trained on "
            "low/normal-light pairs" + _FAST_PATH,
    params=(_NETWORK_STRENGTH, SMOOTHING, DENOISE),
    factory="engine.models.paired:create_mirnetv2",
    weights="mirnetv2.pt",
    backends=("onnx", "torch"),
)

JIN2023 = MethodDescriptor(
    name="jin2023", title="Jin 2023 (auxiliary blocks)", family="learned",
    paper='Y. Jin, Z. Chen, Y. Liang, "A lightweight low-light image enhancement network", '
          "Proc. ICAROB 2023 (International Conference on Artificial Life and Robotics)",
    licence="MIT (network written by this project from the paper, no authors' code); weights "
            + LOL_LICENCE,
    summary="About 1 k parameters: an inception-style illumination stage (output = input / "
            "illumination) trained on low/normal-light pairs with auxiliary blocks",
    params=(
        *illumination_specs(),
        # on, as for SCI: on the validation pairs 17.97 dB / 0.781 against 17.24 / 0.738 with
        # it off, and the synthetic flicker clip's BFI 0.45 % against 3.38 % (smoothing 0.5)
        EXPOSURE,
        SMOOTHING,
        DENOISE,
    ),
    factory="engine.models.paired:create_jin2023",
    weights="jin2023.pt",
    backends=("onnx", "torch"),
)

METHODS = (NAFNET, MIRNETV2, JIN2023)
