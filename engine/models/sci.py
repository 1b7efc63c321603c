"""SCI: self-calibrated illumination learning (Ma, Ma, Liu, Fan, Luo; CVPR 2022).

Networks (PyTorch). The inference model is one weight-shared illumination stage:
``illumination = clamp(x + stage(x), 1e-4, 1)`` and ``output = clamp(x / illumination, 0, 1)``.
The self-calibrated module and the multi-stage cascade exist only in training
(:class:`SCITrainingNet`).

All tensors are float32 NCHW with values in [0, 1] unless stated otherwise.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["IlluminationStage", "CalibrationModule", "SCITrainingNet"]


class IlluminationStage(nn.Module):
    """The weight-shared illumination estimator used at inference.

    Args:
        channels: feature channels (the paper's default is 3).
        blocks: residual conv blocks; the block's weights are shared across repeats.

    Input: (N, 3, H, W) in [0, 1]. Output: illumination (N, 3, H, W) in [1e-4, 1].
    """

    def __init__(self, channels: int = 3, blocks: int = 1) -> None:
        super().__init__()
        self.blocks = blocks
        self.in_conv = nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.out_conv = nn.Sequential(nn.Conv2d(channels, 3, 3, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.in_conv(x)
        for _ in range(self.blocks):
            fea = fea + self.block(fea)
        return torch.clamp(self.out_conv(fea) + x, 1e-4, 1.0)


class CalibrationModule(nn.Module):
    """Self-calibrated module (training only): maps a stage's output back to a
    corrected input for the next stage, ``delta = r - g(r)``.

    Input: (N, 3, H, W) in [0, 1]. Output: (N, 3, H, W), unbounded residual.
    """

    def __init__(self, channels: int = 16, blocks: int = 3) -> None:
        super().__init__()
        self.blocks = blocks
        self.in_conv = nn.Sequential(
            nn.Conv2d(3, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU(),
        )
        self.out_conv = nn.Sequential(nn.Conv2d(channels, 3, 3, 1, 1), nn.Sigmoid())

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        fea = self.in_conv(r)
        for _ in range(self.blocks):
            fea = fea + self.block(fea)
        return r - self.out_conv(fea)


class SCITrainingNet(nn.Module):
    """Training-time cascade: ``stages`` applications of the shared illumination stage,
    each fed by the input corrected with the calibration module.

    ``forward(x)`` returns three lists of length ``stages``: the stage inputs, the
    illuminations and the enhanced outputs r = clamp(x / illumination, 0, 1).
    Only ``self.stage`` is kept for inference.
    """

    def __init__(self, stages: int = 3) -> None:
        super().__init__()
        self.stages = stages
        self.stage = IlluminationStage()
        self.calibrate = CalibrationModule()

    def forward(self, x: torch.Tensor):
        inputs, illus, outs = [], [], []
        stage_in = x
        for _ in range(self.stages):
            inputs.append(stage_in)
            illu = self.stage(stage_in)
            r = torch.clamp(x / illu, 0.0, 1.0)
            stage_in = x + self.calibrate(r)
            illus.append(illu)
            outs.append(r)
        return inputs, illus, outs
