"""NAFNet: a nonlinear-activation-free U-Net (Chen, Chu, Zhang, Sun: "Simple Baselines for
Image Restoration", ECCV 2022), written from the paper's description.

A NAF block replaces every nonlinear activation by the *SimpleGate* (split the channels in
two halves and multiply them) and uses a *simplified channel attention* (global average pool,
one 1×1 convolution, channel-wise product). Each block is

    y = x + β · conv1×1(SCA(SG(dwconv3×3(conv1×1(LN(x))))))
    z = y + γ · conv1×1(SG(conv1×1(LN(y))))

with LayerNorm over channels and learnable per-channel β, γ starting at zero (each block
starts as the identity, which keeps training of the deep U-Net stable). The U-Net has
``len(enc_blocks)`` levels: a 2×2 stride-2 convolution doubles the channels on the way
down, a 1×1 convolution plus pixel shuffle halves them on the way up, skips are added.
The network predicts a residual added to its input (global skip).

Network only: input (N, 3, H, W) float32 in [0, 1], any H, W (padded to a multiple of
2^levels and cropped back); output the enhanced picture (N, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ARCH", "PAPER", "LICENCE", "LayerNorm2d", "SimpleGate", "NAFBlock", "NAFNet", "build",
           "pad_to_multiple"]

ARCH: dict[str, Any] = {"width": 16, "enc_blocks": (1, 1, 1, 1), "middle_blocks": 1, "dec_blocks": (1, 1, 1, 1)}
PAPER = ('L. Chen, X. Chu, X. Zhang, J. Sun, "Simple Baselines for Image Restoration", ECCV 2022 '
         "(arXiv:2204.04676)")
LICENCE = ("Network written for this project from the paper (the authors' code is MIT-licensed; "
           "none of it is used). Weights trained by this project on LOL (Wei et al., BMVC 2018), "
           "which its authors distribute for research use.")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Reflect-pad (N, C, H, W) ``x`` on the bottom/right so H and W are multiples of
    ``multiple``; returns the padded tensor and the original H, W (replicate padding where
    the side is too short to reflect)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an (N, C, H, W) tensor, per pixel, with a
    per-channel affine transform."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """(N, 2C, H, W) → (N, C, H, W): the product of the two channel halves."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """One NAF block on ``channels`` features; shape preserving (N, C, H, W)."""

    def __init__(self, channels: int, expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = channels * expand
        self.norm1 = LayerNorm2d(channels)
        self.conv1 = nn.Conv2d(channels, dw, 1)
        self.dwconv = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        self.sca = nn.Conv2d(dw // 2, dw // 2, 1)  # simplified channel attention
        self.conv3 = nn.Conv2d(dw // 2, channels, 1)
        self.norm2 = LayerNorm2d(channels)
        ffn = channels * ffn_expand
        self.conv4 = nn.Conv2d(channels, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, channels, 1)
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gate(self.dwconv(self.conv1(self.norm1(x))))
        y = y * self.sca(F.adaptive_avg_pool2d(y, 1))
        x = x + self.beta * self.conv3(y)
        z = self.conv5(self.gate(self.conv4(self.norm2(x))))
        return x + self.gamma * z


class NAFNet(nn.Module):
    """The NAFNet U-Net.

    Args:
        width: channels at full resolution (doubled per level down).
        enc_blocks: NAF blocks per encoder level (its length is the number of levels).
        middle_blocks: NAF blocks at the bottom.
        dec_blocks: NAF blocks per decoder level (same length as ``enc_blocks``).

    Input (N, 3, H, W) in [0, 1], any H, W; output (N, 3, H, W) in [0, 1].
    """

    def __init__(self, width: int = 16, enc_blocks=(1, 1, 1, 1), middle_blocks: int = 1,
                 dec_blocks=(1, 1, 1, 1)) -> None:
        super().__init__()
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError("enc_blocks and dec_blocks must have the same length")
        self.width = int(width)
        self.levels = len(enc_blocks)
        self.intro = nn.Conv2d(3, width, 3, padding=1)
        self.ending = nn.Conv2d(width, 3, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = nn.Sequential(*[NAFBlock(c) for _ in range(middle_blocks)])
        for n in dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(c) for _ in range(n)]))

    @property
    def multiple(self) -> int:
        return 2 ** self.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, h, w = pad_to_multiple(x, self.multiple)
        f = self.intro(xp)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            f = enc(f)
            skips.append(f)
            f = down(f)
        f = self.middle(f)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            f = dec(up(f) + skip)
        out = self.ending(f) + xp
        return torch.clamp(out[..., :h, :w], 0.0, 1.0)


def build(**arch: Any) -> NAFNet:
    """A NAFNet with :data:`ARCH` updated by ``arch`` (lists and tuples both accepted)."""
    kw = {**ARCH, **arch}
    kw["enc_blocks"] = tuple(int(n) for n in kw["enc_blocks"])
    kw["dec_blocks"] = tuple(int(n) for n in kw["dec_blocks"])
    return NAFNet(**kw)
