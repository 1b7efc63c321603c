"""The auxiliary-block network of Jin, Chen and Liang ("A lightweight low-light image
enhancement network", ICAROB 2023), written from the paper's description.

An SCI-like illumination estimator (see :mod:`engine.models.sci`): a weight-shared stage
estimates the illumination u = clamp(x + r(x), 1e-4, 1) with a residual r in (0, 1), and the
enhanced picture is clamp(x / u, 0, 1) (Retinex). The stage is a shallow feature extractor
built from a modified InceptionV2 module:

    conv3×3 (3 → C) → ReLU → [four parallel 3×3 convolutions C → C/4 with dilation rates
    ``dilations`` (no pooling branch)] → concat → ReLU → conv1×1 (C → C) → + features → ReLU
    → conv3×3 (C → 3) → sigmoid = r

During training (:class:`Jin2023TrainingNet`) the stage runs ``stages`` times; the input of
stage k > 1 is the original input plus an *auxiliary block*'s correction of the previous
stage's output, scaled by a learnable weight λ_k: ``in_k = x + λ_k · aux_k(out_{k-1})``. The
auxiliary blocks tie every stage to the first one so the weight-shared stages converge; only
one stage runs at inference (:class:`Jin2023Net`).

Network only: input (N, 3, H, W) float32 in [0, 1], any H, W (no resampling inside, so no
padding is needed); output the enhanced picture (N, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["ARCH", "PAPER", "LICENCE", "InceptionStage", "AuxiliaryBlock", "Jin2023Net",
           "Jin2023TrainingNet", "build", "build_training"]

ARCH: dict[str, Any] = {"channels": 8, "dilations": (1, 2, 3, 4)}
PAPER = ('Y. Jin, Z. Chen, Y. Liang, "A lightweight low-light image enhancement network", '
         "Proc. ICAROB 2023 (International Conference on Artificial Life and Robotics)")
LICENCE = ("Network written for this project from the paper (no code of the authors is used). "
           "Weights trained by this project on LOL (Wei et al., BMVC 2018), which its authors "
           "distribute for research use.")

ILLUMINATION_FLOOR = 1e-4


class InceptionStage(nn.Module):
    """The weight-shared illumination stage.

    Args:
        channels: feature channels C (a multiple of the number of branches).
        dilations: dilation rate of each 3×3 branch of the inception module.

    ``residual(x)``: (N, 3, H, W) in [0, 1] → r (N, 3, H, W) in (0, 1).
    ``forward(x)``: the illumination clamp(x + r, 1e-4, 1).
    """

    def __init__(self, channels: int = 8, dilations=(1, 2, 3, 4)) -> None:
        super().__init__()
        dilations = tuple(int(d) for d in dilations)
        if channels % len(dilations):
            raise ValueError(f"channels ({channels}) must be a multiple of the branch count ({len(dilations)})")
        b = channels // len(dilations)
        self.dilations = dilations
        self.in_conv = nn.Conv2d(3, channels, 3, padding=1)
        self.branches = nn.ModuleList(nn.Conv2d(channels, b, 3, padding=d, dilation=d) for d in dilations)
        self.fuse = nn.Conv2d(channels, channels, 1)
        self.out_conv = nn.Conv2d(channels, 3, 3, padding=1)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.relu(self.in_conv(x))
        g = torch.relu(torch.cat([br(f) for br in self.branches], 1))
        f = torch.relu(f + self.fuse(g))
        return torch.sigmoid(self.out_conv(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x + self.residual(x), ILLUMINATION_FLOOR, 1.0)


class Jin2023Net(nn.Module):
    """Inference network: one stage. ``forward(x)`` → enhanced (N, 3, H, W) in [0, 1];
    ``illumination(x)`` → (N, 3, H, W) in [1e-4, 1]."""

    def __init__(self, channels: int = 8, dilations=(1, 2, 3, 4)) -> None:
        super().__init__()
        self.stage = InceptionStage(channels, dilations)

    def illumination(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x / self.stage(x), 0.0, 1.0)


class AuxiliaryBlock(nn.Module):
    """Training-only link from a stage's output back to the next stage's input:
    ``λ · tanh(conv3×3(out))`` with a learnable scalar λ (starts at 0.5).
    (N, 3, H, W) → (N, 3, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.weight = nn.Parameter(torch.tensor(0.5))

    def forward(self, out: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.tanh(self.conv(out))


class Jin2023TrainingNet(nn.Module):
    """Training cascade of ``stages`` applications of one :class:`Jin2023Net`'s stage.

    ``forward(x)`` returns three lists of length ``stages``: stage inputs, illuminations and
    enhanced outputs clamp(x / u_k, 0, 1). ``self.net`` is the inference network."""

    def __init__(self, stages: int = 3, channels: int = 8, dilations=(1, 2, 3, 4)) -> None:
        super().__init__()
        self.stages = stages
        self.net = Jin2023Net(channels, dilations)
        self.aux = nn.ModuleList(AuxiliaryBlock() for _ in range(stages - 1))

    def forward(self, x: torch.Tensor):
        inputs, illus, outs = [], [], []
        stage_in = x
        for k in range(self.stages):
            inputs.append(stage_in)
            u = self.net.stage(stage_in)
            out = torch.clamp(x / u, 0.0, 1.0)
            illus.append(u)
            outs.append(out)
            if k + 1 < self.stages:
                stage_in = torch.clamp(x + self.aux[k](out), 0.0, 1.0)
        return inputs, illus, outs


def build(**arch: Any) -> Jin2023Net:
    """The inference network with :data:`ARCH` updated by ``arch``."""
    kw = {**ARCH, **arch}
    return Jin2023Net(int(kw["channels"]), tuple(kw["dilations"]))


def build_training(stages: int = 3, **arch: Any) -> Jin2023TrainingNet:
    """The training cascade (its ``.net`` is what :func:`build` makes)."""
    kw = {**ARCH, **arch}
    return Jin2023TrainingNet(stages, int(kw["channels"]), tuple(kw["dilations"]))
