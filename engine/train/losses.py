"""Zero-reference losses, implemented from the papers' definitions.

Zero-DCE (Guo et al., CVPR 2020; also used by Zero-DCE++, Li et al., TPAMI 2021):
spatial consistency, exposure control, colour constancy and illumination smoothness.
SCI (Ma et al., CVPR 2022): per-stage fidelity and structure-weighted smoothness.

All image tensors are float32 (N, 3, H, W) in [0, 1]; every loss returns a scalar tensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "spatial_consistency_loss",
    "exposure_loss",
    "color_constancy_loss",
    "illumination_smoothness_loss",
    "sci_fidelity_loss",
    "sci_smoothness_loss",
    "gaussian_blur",
]


def _neighbour_diffs(t: torch.Tensor) -> list[torch.Tensor]:
    """Differences to the left/right/up/down neighbour with zero padding at the border
    (as in Zero-DCE), each (N, C, H, W)."""
    p = F.pad(t, (1, 1, 1, 1))
    h, w = t.shape[-2:]
    return [
        t - p[..., 1 : h + 1, 0:w],  # left
        t - p[..., 1 : h + 1, 2 : w + 2],  # right
        t - p[..., 0:h, 1 : w + 1],  # up
        t - p[..., 2 : h + 2, 1 : w + 1],  # down
    ]


def spatial_consistency_loss(enhanced: torch.Tensor, original: torch.Tensor, pool: int = 4) -> torch.Tensor:
    """L_spa: keeps the differences between each 4×4 region and its 4 neighbours.

    Both images are reduced to grey (channel mean) and average-pooled by ``pool``; the loss is
    the mean over regions of Σ_neighbours (|Y_i − Y_j| − |I_i − I_j|)².
    """
    e = F.avg_pool2d(enhanced.mean(1, keepdim=True), pool)
    o = F.avg_pool2d(original.mean(1, keepdim=True), pool)
    total = torch.zeros((), dtype=enhanced.dtype, device=enhanced.device)
    for de, do in zip(_neighbour_diffs(e), _neighbour_diffs(o)):
        total = total + ((de.abs() - do.abs()) ** 2).mean()
    return total


def exposure_loss(enhanced: torch.Tensor, level: float = 0.6, patch: int = 16) -> torch.Tensor:
    """L_exp: mean over non-overlapping ``patch``×``patch`` regions of |Y_k − E|, where Y_k is
    the region's mean grey intensity and E = ``level`` the well-exposedness level.

    ``patch`` <= 0 uses each whole image as one region: it sets the overall level and leaves
    the regions' relative brightness (local contrast) to the other terms, where 16×16 patches
    (the paper's) pull every region towards E and so flatten contrast."""
    grey = enhanced.mean(1, keepdim=True)
    y = grey.mean(dim=(2, 3)) if patch <= 0 else F.avg_pool2d(grey, patch)
    return (y - level).abs().mean()


def color_constancy_loss(enhanced: torch.Tensor) -> torch.Tensor:
    """L_col (Gray-World): Σ over channel pairs (p, q) of (J_p − J_q)², J = the channel's
    mean over the image; averaged over the batch."""
    m = enhanced.mean(dim=(2, 3))
    r, g, b = m[:, 0], m[:, 1], m[:, 2]
    return ((r - g) ** 2 + (r - b) ** 2 + (g - b) ** 2).mean()


def illumination_smoothness_loss(maps: torch.Tensor) -> torch.Tensor:
    """L_tvA: total variation of the curve maps, Σ_channels mean(|∇x A|²) + mean(|∇y A|²),
    summed over all map channels (3·K for K iterations' maps) and averaged over the batch.
    Zero for constant maps. Summing over channels is why Zero-DCE++ (one 3-channel map) uses
    a weight 8× larger than Zero-DCE (eight maps): 1600 vs 200."""
    dx = (maps[..., :, 1:] - maps[..., :, :-1]) ** 2
    dy = (maps[..., 1:, :] - maps[..., :-1, :]) ** 2
    per = dx.mean(dim=(2, 3)) + dy.mean(dim=(2, 3))  # (N, C)
    return per.sum(1).mean()


def sci_fidelity_loss(illumination: torch.Tensor, stage_input: torch.Tensor) -> torch.Tensor:
    """SCI fidelity: mean squared error between a stage's illumination and its input."""
    return F.mse_loss(illumination, stage_input)


_YUV = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]]
)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) ``x`` with standard deviation ``sigma`` pixels
    (kernel radius ceil(3σ), reflected borders, clamped to the image). ``sigma`` <= 0: ``x``."""
    if sigma <= 0:
        return x
    h, w = x.shape[-2:]
    r = max(1, min(int(math.ceil(3.0 * sigma)), h - 1, w - 1)) if min(h, w) > 1 else 0
    if r == 0:
        return x
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t * t) / (2.0 * sigma * sigma))
    k = k / k.sum()
    c = x.shape[1]
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def sci_smoothness_loss(
    stage_input: torch.Tensor, illumination: torch.Tensor, sigma: float = 0.1, radius: int = 2,
    guide_blur: float = 0.0,
) -> torch.Tensor:
    """SCI smoothness: Σ_j w_ij |u_i − u_j| over the neighbours j within ``radius`` (a
    (2r+1)² window), with w_ij = exp(−‖y_i − y_j‖² / (2σ²)) computed on the stage input in
    YUV, so the illumination u is smooth where the input is flat and may change at edges.
    Averaged over pixels and batch; summed over the window's offsets.

    ``guide_blur`` > 0 computes the weights on the stage input blurred with a Gaussian of that
    standard deviation (pixels): pixel noise then no longer reads as edges, so u is kept smooth
    across it instead of following it (noise-robust), while large edges still free u."""
    guide = gaussian_blur(stage_input, guide_blur)
    yuv = torch.einsum("kc,nchw->nkhw", _YUV.to(stage_input), guide)
    r = radius
    yp = F.pad(yuv, (r, r, r, r), mode="replicate")
    up = F.pad(illumination, (r, r, r, r), mode="replicate")
    h, w = stage_input.shape[-2:]
    total = torch.zeros((), dtype=illumination.dtype, device=illumination.device)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy == 0 and dx == 0:
                continue
            ys = yp[..., r + dy : r + dy + h, r + dx : r + dx + w]
            us = up[..., r + dy : r + dy + h, r + dx : r + dx + w]
            wgt = torch.exp(-((yuv - ys) ** 2).sum(1, keepdim=True) / (2 * sigma * sigma))
            total = total + (wgt * (illumination - us).abs()).sum(1).mean()
    return total
