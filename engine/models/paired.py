"""Paired (supervised) image-to-image networks in real time: NAFNet, MIRNetv2 and the
auxiliary-block network of Jin et al. (2023).

The networks themselves live in :mod:`engine.models.nafnet`, :mod:`engine.models.mirnetv2` and
:mod:`engine.models.jin2023`; this module turns them into enhancers.

**NAFNet and MIRNetv2: a local affine colour transform.** ``estimate`` runs the network on a
reduced copy of the frame (long side ``estimate_size``) and captures what it did there as a
grid of 3×4 affine colour transforms, one per cell of ``cell`` × ``cell`` full-resolution
pixels (about ``GRID_CELLS`` cells along the long side), fitted by regularised least squares
between the reduced input x and the network's output y over a window of 3 × 3 cells (the
guided filter's local linear model, He, Sun, Tang, TPAMI 2013, on a coarse grid as in
bilateral guided upsampling, Chen et al., SIGGRAPH Asia 2016):

    A = C_yx (C_xx + ε I)⁻¹,   b = μ_y − A μ_x,   ε = eps·(ℓ + 0.01)²

(colours in [0, 1], ℓ the window's mean input level: the ridge is relative to the level, so
the fit does not depend on the exposure). The grid (kind ``"affine_grid"``: float32
(hg, wg, 12), per cell the columns of A, i.e. the weights of input R, G, B in the output R,
G, B, then b) is an ordinary parameter map, so the temporal filter smooths it like any other
(and carries A through exposure changes, see ``_CARRY``). ``apply`` interpolates the coefficients bilinearly
(OpenCV's half-pixel convention on a canvas of hg·cell × wg·cell pixels) and computes
``A x + b`` per pixel, in strips of rows that stay in the CPU cache (:class:`AffineGridApply`).
``strength`` s acts on the coefficients (A → I + s(A − I), b → s·b), so s = 0 is the
original frame and s = 1 the fitted network output, at no cost per pixel.

**jin2023: the SCI path.** Its network is an SCI-like illumination estimator,
``u = clamp(x + r(x), 1e-4, 1)``, output ``x / u``; its residual r is smooth, so it reuses
SCI's estimate/apply split exactly (:class:`engine.models.sci.SCIEnhancer`: r estimated on
the reduced copy, added to the full-resolution x in apply through a 2-D table), which is
exact where r is smooth and cheaper than the affine fit, and it gets SCI's strength,
iterations and exposure semantics.

``reference`` runs the network on the whole frame.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.enhancer import ParamMap
from engine.frame import levels_to_float
from engine.models.catalog.paired import JIN2023, MIRNETV2, NAFNET
from engine.models.learned_base import LearnedEnhancer, fast_downscale, to_unit, to_uint8
from engine.models.sci import SCIEnhancer
from engine.params import EnhanceParams
from engine.runtime.selection import NetworkSpec, register_network

__all__ = ["GRID_CELLS", "PaddedNet", "ConvChannelNorm", "JinResidualNet", "build_nafnet",
           "build_mirnetv2", "build_jin2023", "cell_size", "grid_shape", "fit_affine_grid",
           "strength_coefficients", "AffineGridApply", "PairedEnhancer", "NAFNetEnhancer",
           "MIRNetV2Enhancer", "Jin2023Enhancer", "create_nafnet", "create_mirnetv2", "create_jin2023"]


# --------------------------------------------------------------------------- networks


class PaddedNet(nn.Module):
    """A network that needs sides divisible by ``multiple``, for any input size: the input
    is edge-padded on the bottom and right and the output cropped back.

    The padding is computed from the traced shape (no Python branch on the size), so the
    exported ONNX graph takes any H, W (the networks' own padding chooses between reflect and
    edge by the size, a branch the exporter freezes); the wrapped network then never pads.
    Edge instead of reflect padding changes only a border thinner than ``multiple`` pixels.
    Input (N, 3, H, W) in [0, 1] → (N, 3, H, W).
    """

    def __init__(self, net: nn.Module, multiple: int) -> None:
        super().__init__()
        self.net = net
        self.multiple = int(multiple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        m = self.multiple
        xp = F.pad(x, (0, (m - w % m) % m, 0, (m - h % m) % m), mode="replicate")
        return self.net(xp)[:, :, :h, :w]


class ConvChannelNorm(nn.Module):
    """LayerNorm over the channels of (N, C, H, W), as :class:`engine.models.nafnet.LayerNorm2d`
    computes it (same parameters, same numbers up to float rounding), with the channel mean
    and variance as 1×1 convolutions of weight 1/C. ONNX Runtime's CPU kernels keep such a
    graph in their blocked layout, where the channel ReduceMean forced layout conversions:
    NAFNet on a 128×72 copy ran 10–20 % faster (median and 10th percentile of 100
    interleaved runs)."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, float(norm.eps)
        c = self.weight.numel()
        self.register_buffer("mean_kernel", torch.full((1, c, 1, 1), 1.0 / c, dtype=self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - F.conv2d(x, self.mean_kernel)
        var = F.conv2d(d * d, self.mean_kernel)
        return d * torch.rsqrt(var + self.eps) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def _conv_channel_norms(net: nn.Module, norm_type: type) -> nn.Module:
    """Replace every ``norm_type`` submodule of ``net`` by a :class:`ConvChannelNorm`."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, norm_type):
                setattr(parent, name, ConvChannelNorm(child))
    return net


class JinResidualNet(nn.Module):
    """jin2023's exported inference network: x (N, 3, H, W) in [0, 1] → the illumination
    residual r (N, 3, H, W) in (0, 1); the enhancer forms u = clamp(x + r, 1e-4, 1) itself
    (as :class:`engine.models.sci.SCIResidualNet`)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.stage.residual(x)


def _load(make: Callable[..., nn.Module], ckpt: dict) -> nn.Module:
    """Build ``make(**ckpt["arch"])`` and load the checkpoint's state dict into it."""
    arch = ckpt.get("arch") or {}
    if not isinstance(arch, dict):
        raise KeyError(f"checkpoint 'arch' must be a dict, got {type(arch).__name__}")
    net = make(**arch)
    net.load_state_dict(ckpt["state_dict"])
    return net.eval()


def build_nafnet(ckpt: dict) -> PaddedNet:
    """Checkpoint dict (``state_dict`` of :class:`engine.models.nafnet.NAFNet`, ``arch``) →
    the inference network for any frame size."""
    from engine.models import nafnet

    net = _load(nafnet.build, ckpt)
    return PaddedNet(_conv_channel_norms(net, nafnet.LayerNorm2d), net.multiple)


def build_mirnetv2(ckpt: dict) -> PaddedNet:
    """Checkpoint dict of :class:`engine.models.mirnetv2.MIRNetV2` → inference network."""
    from engine.models import mirnetv2

    net = _load(mirnetv2.build, ckpt)
    return PaddedNet(net, net.multiple)


def build_jin2023(ckpt: dict) -> JinResidualNet:
    """Checkpoint dict of :class:`engine.models.jin2023.Jin2023Net` → residual network."""
    from engine.models import jin2023

    return JinResidualNet(_load(jin2023.build, ckpt))


# NAFNet and MIRNetv2 pool globally (channel attention), so tiles are not exact whatever
# the halo: their reference path runs whole frames up to PairedEnhancer.tile_pixels.
NAFNET_NETWORK = register_network(NetworkSpec("nafnet", "nafnet.pt", build_nafnet, halo=64,
                                              train_data="--pairs LOW_DIR HIGH_DIR"))
MIRNETV2_NETWORK = register_network(NetworkSpec("mirnetv2", "mirnetv2.pt", build_mirnetv2, halo=64,
                                                train_data="--pairs LOW_DIR HIGH_DIR"))
# in_conv 3×3 (1) + dilated branches (up to 4) + out_conv 3×3 (1)
JIN2023_NETWORK = register_network(NetworkSpec("jin2023", "jin2023.pt", build_jin2023, halo=6,
                                               train_data="--pairs LOW_DIR HIGH_DIR", onnx_layout=False))


# --------------------------------------------------------------------------- the grid

#: cells of the affine grid along the frame's long side (measured: docs/paired-methods.md)
GRID_CELLS = 48
_XX = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # upper triangle of x xᵀ


def cell_size(height: int, width: int, cells: int = GRID_CELLS) -> int:
    """Side of one grid cell in full-resolution pixels (>= 1) for an (H, W) frame."""
    return max(1, math.ceil(max(height, width) / max(1, int(cells))))


def grid_shape(height: int, width: int, cells: int = GRID_CELLS) -> tuple[int, int, int]:
    """(cell, hg, wg): cell side in pixels and the grid's rows and columns; the grid's
    canvas hg·cell × wg·cell covers the frame (cells on the bottom/right edge may be
    partly outside it)."""
    f = cell_size(height, width, cells)
    return f, math.ceil(height / f), math.ceil(width / f)


def _window_matrix(n_small: int, n_full: int, f: int, cells: int) -> np.ndarray:
    """float32 (cells, n_small) 0/1 matrix: row i marks the reduced rows (columns) that
    fall in cells i − 1 … i + 1, cell k covering full-resolution [k·f, (k + 1)·f) (a cell
    thinner than one reduced pixel gets the nearest one)."""
    edges = np.floor(np.arange(cells + 1) * f * n_small / n_full + 0.5).astype(np.intp)
    edges = np.minimum(edges, n_small)
    start = np.minimum(edges[:-1], n_small - 1)
    stop = np.maximum(edges[1:], start + 1)
    lo = start[np.maximum(np.arange(cells) - 1, 0)]
    hi = stop[np.minimum(np.arange(cells) + 1, cells - 1)]
    idx = np.arange(n_small)
    return ((idx >= lo[:, None]) & (idx < hi[:, None])).astype(np.float32)


def fit_affine_grid(x: np.ndarray, y: np.ndarray, frame_shape: tuple[int, int],
                    eps: float, cells: int = GRID_CELLS, floor: float = 0.01) -> np.ndarray:
    """Fit the grid of local affine colour transforms that map ``x`` to ``y``.

    Args:
        x: float32 (h, w, 3) reduced input in [0, 1].
        y: float32 (h, w, 3) the network's output on it, in [0, 1].
        frame_shape: (H, W) of the full-resolution frame the grid is for.
        eps: ridge regulariser on the 3×3 part, relative: the ridge of a window is
            eps·(ℓ + floor)² with ℓ its mean input level (mean of R, G, B in [0, 1]), so a
            window whose input varies by less than about √eps of its level is mapped
            towards its mean output, whatever the exposure.
        cells: grid cells along the long side (see :func:`grid_shape`).
        floor: level added to ℓ (keeps near-black windows from an unregularised fit).

    Returns:
        float32 (hg, wg, 12), C-contiguous: per cell [A[:, 0], A[:, 1], A[:, 2], b] (A's
        columns: the weight of input R, G, B in the output R, G, B; b in [0, 1] units),
        each fitted over the 3 × 3 cells around it.
    """
    H, W = frame_shape
    f, hg, wg = grid_shape(H, W, cells)
    h, w = x.shape[:2]
    # centred on the picture's means: the moments below then lose nothing to cancellation
    mx0 = np.array(cv2.mean(x)[:3], np.float32)
    my0 = np.array(cv2.mean(y)[:3], np.float32)
    xc = np.ascontiguousarray((x - mx0).transpose(2, 0, 1))  # planes (3, h, w)
    yc = np.ascontiguousarray((y - my0).transpose(2, 0, 1))
    s = np.empty((22, h, w), np.float32)  # planes: 1, x, y, x_i x_j (i <= j), x_i y_j
    s[0] = 1.0
    s[1:4] = xc
    s[4:7] = yc
    for k, (i, j) in enumerate(_XX):
        np.multiply(xc[i], xc[j], out=s[7 + k])
    for i in range(3):
        np.multiply(xc[i], yc, out=s[13 + 3 * i:16 + 3 * i])
    # window sums over 3 × 3 cells: products with 0/1 band matrices on both sides
    win = (_window_matrix(h, H, f, hg) @ s) @ _window_matrix(w, W, f, wg).T  # (22, hg, wg)
    win = np.moveaxis(win, 0, -1)
    win = win.astype(np.float64)
    n = win[..., 0:1]
    mx, my = win[..., 1:4] / n, win[..., 4:7] / n
    c = np.empty((hg, wg, 3, 3))
    for k, (i, j) in enumerate(_XX):
        c[..., i, j] = c[..., j, i] = win[..., 7 + k] / n[..., 0] - mx[..., i] * mx[..., j]
    cxy = win[..., 13:22].reshape(hg, wg, 3, 3) / n[..., None] - mx[..., :, None] * my[..., None, :]
    # ridge relative to the window's level: the fit does not depend on the exposure
    ridge = eps * ((mx + mx0).mean(axis=-1) + floor) ** 2
    at = np.linalg.solve(c + ridge[..., None, None] * np.eye(3), cxy)  # Aᵀ: at[i, j] = weight of x_i in y_j
    b = (my + my0) - np.einsum("...ij,...i->...j", at, mx + mx0)
    return np.ascontiguousarray(np.concatenate([at.reshape(hg, wg, 9), b], axis=2), dtype=np.float32)


#: how the temporal filter carries a smoothed grid through a global exposure change of k:
#: A/k keeps the output of k·x where it was, b stays (ParamMap.exposure_power per channel)
_CARRY = np.array([-1.0] * 9 + [0.0] * 3)

_IDENTITY = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], np.float32)


def strength_coefficients(coef: np.ndarray, strength: float) -> np.ndarray:
    """The grid for ``strength`` s: A → I + s(A − I), b → s·b (s = 0: the identity;
    s = 1: ``coef``; s > 1: the network's change amplified). float32 (hg, wg, 12)."""
    if strength == 1.0:
        return coef
    return _IDENTITY + np.float32(strength) * (coef - _IDENTITY)


class AffineGridApply:
    """Applies a coefficient grid to full-resolution frames (see the module docstring).

    The bilinear upsampling is split as OpenCV's resize does it: once per frame the grid's
    rows are resized horizontally to the canvas width (hg rows, cheap); then the frame is
    processed in strips of about ``strip_rows`` rows that stay in the CPU cache. Per strip:
    the coefficient rows come from a vertical resize of only the grid rows the strip needs
    (the cell is a whole-number scale factor, so these are exactly the rows of a
    whole-frame resize), the frame rows → float32, out = b + Σ_j A[:, j] · x_j (OpenCV's
    accumulateProduct on 3-channel rows), → uint8 (rounded, saturated). Strips go to
    ``threads`` worker threads (OpenCV releases the GIL). Working buffers are kept per
    frame size and thread; one call at a time.
    """

    def __init__(self, strip_rows: int = 48, threads: int = 1) -> None:
        self.strip_rows = max(1, int(strip_rows))
        self.threads = max(1, int(threads))
        self._key: tuple | None = None
        self._buf: list[dict[str, np.ndarray]] = []
        self._pool = None

    def _buffers(self, rows: int, width: int) -> list[dict[str, np.ndarray]]:
        key = (rows, width, self.threads)
        if key != self._key:
            self._buf = [{"coef": np.empty((4, rows, width, 3), np.float32),
                          "x": np.empty((rows, width, 3), np.float32),
                          "rep": np.empty((rows, width, 3), np.float32)}
                         for _ in range(self.threads)]
            self._key = key
        return self._buf

    def strips(self, height: int, f: int, hg: int) -> list[tuple[int, int, int, int]]:
        """(y0, y1, lo, hi): the strips of output rows [y0, y1) and the grid rows
        [lo, hi] each needs (bilinear, half-pixel centres at (i + 0.5)·f − 0.5)."""
        n = max(1, round(self.strip_rows / f)) * f  # whole cells per strip
        o = f // 2  # strip edges on grid-node rows: no grid row beyond the two it lies between
        edges = [0] + list(range(o + n, height, n)) + [height] if height > o + n else [0, height]
        out = []
        for y0, y1 in zip(edges[:-1], edges[1:]):
            lo = max(0, math.floor((y0 + 0.5) / f - 0.5))
            hi = min(hg - 1, math.floor((y1 - 0.5) / f - 0.5) + 1)
            out.append((y0, y1, lo, hi))
        return out

    @staticmethod
    def _strip(frame: np.ndarray, rows: list[np.ndarray], f: int, buf: dict[str, np.ndarray],
               out: np.ndarray, y0: int, y1: int, lo: int, hi: int) -> None:
        n, W = y1 - y0, frame.shape[1]
        m = (hi - lo + 1) * f
        coef = buf["coef"][:, :m]
        for k in range(4):
            cv2.resize(rows[k][lo:hi + 1], (W, m), dst=coef[k], interpolation=cv2.INTER_LINEAR)
        c = coef[:, y0 - lo * f:y1 - lo * f]  # (4, n, W, 3), each C-contiguous
        x = levels_to_float(frame[y0:y1], buf["x"][:n])
        rep = buf["rep"][:n]
        acc = c[3]  # b, then += A[:, j] · x_j
        for j in range(3):
            cv2.mixChannels([x], [rep], [j, 0, j, 1, j, 2])
            cv2.accumulateProduct(rep, c[j], acc)
        # float → uint8 rounded and saturated (negative → 0), as 2-D rows for OpenCV's scalar
        cv2.add(acc.reshape(n, -1), 0.0, dst=out[y0:y1].reshape(n, -1), dtype=cv2.CV_8U)

    def __call__(self, frame: np.ndarray, coef: np.ndarray, f: int) -> np.ndarray:
        """uint8 (H, W, 3) ``frame`` and float32 (hg, wg, 12) ``coef`` (b in [0, 1] units)
        with cell side ``f`` → new uint8 (H, W, 3): A x + b rounded and clipped to 0..255."""
        H, W = frame.shape[:2]
        hg, wg = coef.shape[:2]
        if hg * f < H or wg * f < W:
            raise ValueError(f"grid {hg}x{wg} of cell {f} does not cover a {H}x{W} frame")
        rows = []  # per group: the grid rows resized to the canvas width, cropped to W
        for k in range(4):
            g = np.ascontiguousarray(coef[:, :, 3 * k:3 * k + 3])
            if k == 3:
                g = g * np.float32(255.0)  # b in output levels
            r = cv2.resize(g, (wg * f, hg), interpolation=cv2.INTER_LINEAR)
            rows.append(np.ascontiguousarray(r.reshape(hg, wg * f, 3)[:, :W]))
        plan = self.strips(H, f, hg)
        size = max(max((hi - lo + 1) * f, y1 - y0) for y0, y1, lo, hi in plan)
        bufs = self._buffers(size, W)
        out = np.empty((H, W, 3), np.uint8)
        if self.threads == 1 or len(plan) == 1:
            for y0, y1, lo, hi in plan:
                self._strip(frame, rows, f, bufs[0], out, y0, y1, lo, hi)
            return out
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="lowlight-affine")

        def work(t: int) -> None:
            for y0, y1, lo, hi in plan[t::self.threads]:
                self._strip(frame, rows, f, bufs[t], out, y0, y1, lo, hi)

        for fut in [self._pool.submit(work, t) for t in range(self.threads)]:
            fut.result()
        return out


# --------------------------------------------------------------------------- enhancers


class PairedEnhancer(LearnedEnhancer):
    """An image-to-image network (NAFNet, MIRNetv2) with the affine-grid fast path.

    Map (kind ``"affine_grid"``): float32 (hg, wg, 12) from :func:`fit_affine_grid`.
    ``strength`` s blends along the network's change (output = x + s·(y − x)), on the
    coefficients in the fast path and on the pixels in ``reference``.

    Attributes:
        estimate_size: long side of the reduced copy the network sees (pixels).
        cells: grid cells along the frame's long side.
        eps: the fit's relative ridge regulariser (see :func:`fit_affine_grid`).
    """

    estimate_size = 128
    cells = GRID_CELLS
    # validation pairs (NAFNet, default denoise): 19.87 dB / 0.800 against 19.76 / 0.793 with
    # an absolute ridge of 1e-4, which also left near-black areas of a night clip as haze
    eps = 0.003
    # whole frames up to 4K UHD: global pooling makes tiles inexact (see NAFNET_NETWORK)
    tile_pixels = 1 << 23

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._apply = AffineGridApply()

    def network_output(self, img: np.ndarray) -> np.ndarray:
        """The network on float32 (h, w, 3) in [0, 1] → float32 (h, w, 3) in [0, 1]."""
        return self.infer(img)

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        small = fast_downscale(self.check(frame), self.estimate_size)
        x = to_unit(small)
        coef = fit_affine_grid(x, self.network_output(x), frame.shape[:2], self.eps, self.cells)
        return ParamMap(coef, "affine_grid", frame.shape[:2], small, exposure_power=_CARRY)

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        self.check(frame)
        s = float(self.descriptor.clamp(params).strength)
        if s == 0.0:
            return frame.copy()
        H, W = frame.shape[:2]
        f, hg, wg = grid_shape(H, W, self.cells)
        if pmap.data.shape != (hg, wg, 12):
            raise ValueError(f"map of shape {pmap.data.shape} does not belong to a {H}x{W} frame "
                             f"(expected {(hg, wg, 12)})")
        return self._apply(frame, strength_coefficients(pmap.data, s), f)

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        p = self.descriptor.clamp(params or self.descriptor.default_params())
        s = float(p.strength)
        if s == 0.0:
            return self.check(frame).copy()
        x = to_unit(self.check(frame))
        y = self.network_output(x)
        return to_uint8(y if s == 1.0 else x + np.float32(s) * (y - x))


class Jin2023Enhancer(SCIEnhancer):
    """jin2023 through SCI's estimate/apply split (see the module docstring): the same
    residual-illumination arithmetic, tables and exposure control, on jin2023's network.

    Its network sees a 128-pixel copy, not SCI's 256: its dilated branches cost three times
    SCI's convolutions per pixel, and on the LOL validation pairs the smaller copy scores
    the same (18.10 dB / 0.785 against 18.08 / 0.788 at 256) while a 720p frame costs 9.3
    instead of 14.8 ms of one core (estimate and apply, without denoise)."""

    network = JIN2023_NETWORK
    estimate_size = 128


class NAFNetEnhancer(PairedEnhancer):
    """NAFNet (:mod:`engine.models.nafnet`) with the affine-grid fast path."""

    network = NAFNET_NETWORK


class MIRNetV2Enhancer(PairedEnhancer):
    """MIRNetv2 (:mod:`engine.models.mirnetv2`) with the affine-grid fast path."""

    network = MIRNETV2_NETWORK


def create_nafnet(backend: str = "auto", device: str = "auto", weights: str | None = None) -> NAFNetEnhancer:
    """The registry's factory of ``nafnet`` (named in :mod:`engine.models.catalog.paired`)."""
    return NAFNetEnhancer(NAFNET, backend=backend, device=device, weights=weights)


def create_mirnetv2(backend: str = "auto", device: str = "auto", weights: str | None = None) -> MIRNetV2Enhancer:
    """The registry's factory of ``mirnetv2`` (named in :mod:`engine.models.catalog.paired`)."""
    return MIRNetV2Enhancer(MIRNETV2, backend=backend, device=device, weights=weights)


def create_jin2023(backend: str = "auto", device: str = "auto", weights: str | None = None) -> Jin2023Enhancer:
    """The registry's factory of ``jin2023`` (named in :mod:`engine.models.catalog.paired`)."""
    return Jin2023Enhancer(JIN2023, backend=backend, device=device, weights=weights)
