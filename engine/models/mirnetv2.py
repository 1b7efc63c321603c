"""MIRNetv2 (Zamir, Arora, Khan, Hayat, Khan, Yang, Shao: "Learning Enriched Features for Fast
Image Restoration and Enhancement", TPAMI 2022), written from the paper's description.

Building blocks:
- **Residual contextual block (RCB)**: conv3×3 → LeakyReLU → conv3×3, then a *contextual*
  branch (attention pooling: a 1×1 conv gives a softmax weight per pixel, the features are
  averaged with those weights into one vector, transformed by 1×1 conv → LeakyReLU → 1×1 conv
  and added back to every pixel), plus the block's input (residual).
- **Selective kernel feature fusion (SKFF)**: the streams are summed, globally pooled,
  squeezed by a 1×1 conv + LeakyReLU and expanded again into one attention vector per stream;
  a softmax across streams weighs them channel-wise before summing.
- **Multi-scale residual block (MRB)**: three parallel streams at full, 1/2 and 1/4
  resolution (channels × ``chan_factor`` per step down). Each of ``width`` rounds runs one RCB
  per stream, then fuses progressively from the coarsest stream up (SKFF of a stream with the
  upsampled coarser one). A 1×1 conv closes the block, with a residual connection.
- **Recursive residual group (RRG)**: ``mrbs`` MRBs and a 3×3 conv, with a residual.
  The network is conv3×3 → RRGs → conv3×3 predicting a residual added to the input.

Down-sampling is anti-aliased (2×2 average pool then 1×1 conv), up-sampling is 1×1 conv then
bilinear ×2, as the paper's resampling modules.

Network only: input (N, 3, H, W) float32 in [0, 1], any H, W (padded to a multiple of 4 and
cropped back); output the enhanced picture (N, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.nafnet import pad_to_multiple

__all__ = ["ARCH", "PAPER", "LICENCE", "RCB", "SKFF", "MRB", "MIRNetV2", "build"]

ARCH: dict[str, Any] = {"channels": 16, "chan_factor": 1.5, "groups": 1, "rrgs": 1, "mrbs": 2, "width": 2}
PAPER = ('S. W. Zamir, A. Arora, S. Khan, M. Hayat, F. S. Khan, M.-H. Yang, L. Shao, "Learning '
         'Enriched Features for Fast Image Restoration and Enhancement", IEEE TPAMI 45(2), 2022 '
         "(arXiv:2205.01649)")
LICENCE = ("Network written for this project from the paper (the authors' code is under the "
           "Academic Public License; none of it is used). Weights trained by this project on LOL "
           "(Wei et al., BMVC 2018), which its authors distribute for research use.")

_SLOPE = 0.2
_LEVELS = 3  # streams per MRB: full, 1/2, 1/4 resolution


class RCB(nn.Module):
    """Residual contextual block on ``c`` channels, shape preserving (N, C, H, W)."""

    def __init__(self, c: int, groups: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, groups=groups), nn.LeakyReLU(_SLOPE),
            nn.Conv2d(c, c, 3, padding=1, groups=groups),
        )
        self.attn = nn.Conv2d(c, 1, 1)  # attention pooling weights
        self.transform = nn.Sequential(nn.Conv2d(c, c, 1), nn.LeakyReLU(_SLOPE), nn.Conv2d(c, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.body(x)
        n, c, h, w = f.shape
        a = torch.softmax(self.attn(f).view(n, 1, h * w), dim=-1)  # (N, 1, HW)
        ctx = torch.bmm(f.view(n, c, h * w), a.transpose(1, 2)).view(n, c, 1, 1)
        f = F.leaky_relu(f, _SLOPE) + self.transform(ctx)
        return x + f


class SKFF(nn.Module):
    """Selective kernel feature fusion of ``streams`` tensors of ``c`` channels each."""

    def __init__(self, c: int, streams: int = 2, reduction: int = 8) -> None:
        super().__init__()
        d = max(c // reduction, 4)
        self.squeeze = nn.Sequential(nn.Conv2d(c, d, 1), nn.LeakyReLU(_SLOPE))
        self.expand = nn.ModuleList(nn.Conv2d(d, c, 1) for _ in range(streams))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        s = self.squeeze(F.adaptive_avg_pool2d(sum(feats), 1))
        att = torch.softmax(torch.stack([e(s) for e in self.expand], 0), dim=0)  # (S, N, C, 1, 1)
        return sum(f * a for f, a in zip(feats, att))


class _Down(nn.Module):
    """Anti-aliased ×1/2: 2×2 average pool, then 1×1 conv ``cin`` → ``cout``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.avg_pool2d(x, 2))


class _Up(nn.Module):
    """×2: 1×1 conv ``cin`` → ``cout``, then bilinear up-sampling."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.conv(x), scale_factor=2, mode="bilinear", align_corners=False)


class MRB(nn.Module):
    """Multi-scale residual block on ``c`` channels (streams c, c·f, c·f²), shape preserving."""

    def __init__(self, c: int, chan_factor: float = 1.5, groups: int = 1, width: int = 2) -> None:
        super().__init__()
        chans = [int(round(c * chan_factor ** i)) for i in range(_LEVELS)]
        self.width = width
        self.downs = nn.ModuleList(_Down(chans[i], chans[i + 1]) for i in range(_LEVELS - 1))
        # rounds × streams RCBs; the SKFF and up-samplers of a stream are shared across rounds
        self.rcbs = nn.ModuleList(
            nn.ModuleList(RCB(chans[i], groups) for i in range(_LEVELS)) for _ in range(width)
        )
        self.ups = nn.ModuleList(_Up(chans[i + 1], chans[i]) for i in range(_LEVELS - 1))
        self.fuse = nn.ModuleList(SKFF(chans[i], 2) for i in range(_LEVELS - 1))
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = [x]
        for d in self.downs:
            s.append(d(s[-1]))
        for rnd in self.rcbs:
            s = [rcb(f) for rcb, f in zip(rnd, s)]
            for i in range(_LEVELS - 2, -1, -1):  # coarse to fine
                s[i] = self.fuse[i]([s[i], self.ups[i](s[i + 1])])
        return x + self.out(s[0])


class MIRNetV2(nn.Module):
    """MIRNetv2: conv → ``rrgs`` × (``mrbs`` MRBs + conv, residual) → conv, global residual.

    Input (N, 3, H, W) in [0, 1], any H, W; output (N, 3, H, W) in [0, 1]."""

    def __init__(self, channels: int = 16, chan_factor: float = 1.5, groups: int = 1, rrgs: int = 1,
                 mrbs: int = 2, width: int = 2) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.groups_ = nn.ModuleList(
            nn.ModuleList([*(MRB(channels, chan_factor, groups, width) for _ in range(mrbs)),
                           nn.Conv2d(channels, channels, 3, padding=1)])
            for _ in range(rrgs)
        )
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    multiple = 2 ** (_LEVELS - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h, w = pad_to_multiple(x, self.multiple)
        f = self.head(xp)
        for group in self.groups_:
            g = f
            for m in group:
                g = m(g)
            f = f + g
        out = self.tail(f) + xp
        return torch.clamp(out[..., :h, :w], 0.0, 1.0)


def build(**arch: Any) -> MIRNetV2:
    """A MIRNetv2 with :data:`ARCH` updated by ``arch``."""
    return MIRNetV2(**{**ARCH, **arch})
