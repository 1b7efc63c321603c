"""Zero-DCE (Guo et al., CVPR 2020) and Zero-DCE++ (Li, Guo, Loy; TPAMI 2021).

Networks (PyTorch) and the light-enhancement curve LE(x) = x + a·x·(1−x), where the
curve parameter a ∈ [−1, 1] comes from a tanh and x ∈ [0, 1]. Applying the curve keeps
[0, 1] in [0, 1] for any a in that range.

All tensors are float32 NCHW with values in [0, 1] unless stated otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DCENet", "DCENetPP", "apply_curve"]


def apply_curve(x: torch.Tensor, a: torch.Tensor, iterations: int) -> torch.Tensor:
    """Apply LE(x) = x + a·x·(1−x) ``iterations`` times.

    Args:
        x: (N, 3, H, W) in [0, 1].
        a: (N, 3, H, W) — one map reused every iteration (Zero-DCE++) — or
           (N, 3·K, H, W) — K maps used in turn, cycling when iterations > K (Zero-DCE).
        iterations: number of curve applications, >= 0.
    """
    maps = torch.split(a, 3, dim=1)
    for i in range(iterations):
        m = maps[i % len(maps)]
        x = x + m * (x - x * x)
    return x


class DCENet(nn.Module):
    """Zero-DCE's DCE-Net: 7 plain 3×3 convs of 32 filters with symmetric
    concatenations, tanh output of 3·``maps`` channels (8 iterations × RGB by default).

    Input: (N, 3, H, W) in [0, 1]. Output: curve maps (N, 3·maps, H, W) in [−1, 1].
    """

    def __init__(self, width: int = 32, maps: int = 8) -> None:
        super().__init__()
        self.maps = maps
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1)
        self.conv3 = nn.Conv2d(width, width, 3, 1, 1)
        self.conv4 = nn.Conv2d(width, width, 3, 1, 1)
        self.conv5 = nn.Conv2d(width * 2, width, 3, 1, 1)
        self.conv6 = nn.Conv2d(width * 2, width, 3, 1, 1)
        self.conv7 = nn.Conv2d(width * 2, 3 * maps, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.relu(self.conv1(x))
        x2 = F.relu(self.conv2(x1))
        x3 = F.relu(self.conv3(x2))
        x4 = F.relu(self.conv4(x3))
        x5 = F.relu(self.conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.conv7(torch.cat([x1, x6], 1)))


class _SepConv(nn.Module):
    """Depthwise 3×3 followed by pointwise 1×1 (Zero-DCE++'s CSDN block)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depth = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin)
        self.point = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point(self.depth(x))


class DCENetPP(nn.Module):
    """Zero-DCE++'s depthwise-separable DCE-Net: same topology as :class:`DCENet`,
    one shared curve map (3 channels) applied every iteration.

    The network itself runs at whatever size it is given; the caller downscales
    (estimate on a small copy) and upsamples the map.

    Input: (N, 3, h, w) in [0, 1]. Output: curve map (N, 3, h, w) in [−1, 1].
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.maps = 1
        self.conv1 = _SepConv(3, width)
        self.conv2 = _SepConv(width, width)
        self.conv3 = _SepConv(width, width)
        self.conv4 = _SepConv(width, width)
        self.conv5 = _SepConv(width * 2, width)
        self.conv6 = _SepConv(width * 2, width)
        self.conv7 = _SepConv(width * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.relu(self.conv1(x))
        x2 = F.relu(self.conv2(x1))
        x3 = F.relu(self.conv3(x2))
        x4 = F.relu(self.conv4(x3))
        x5 = F.relu(self.conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.conv7(torch.cat([x1, x6], 1)))
