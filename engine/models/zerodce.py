"""Zero-DCE (Guo et al., CVPR 2020) and Zero-DCE++ (Li, Guo, Loy; TPAMI 2021).

Networks (PyTorch) and the light-enhancement curve LE(x) = x + a·x·(1−x), where the
curve parameter a ∈ [−1, 1] comes from a tanh and x ∈ [0, 1]. Applying the curve keeps
[0, 1] in [0, 1] for any a in that range.

All tensors are float32 NCHW with values in [0, 1] unless stated otherwise.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.enhancer import ApplyJob, ParamMap
from engine.models import exposure as ex
from engine.models.catalog.zerodce import ZERODCE, ZERODCEPP
from engine.models.learned_base import LearnedEnhancer, arch_kwargs, fast_downscale, to_unit, to_uint8
from engine.models.lut2d import Lut2D
from engine.params import EnhanceParams
from engine.runtime.selection import NetworkSpec, register_network

__all__ = ["DCENet", "DCENetPP", "apply_curve", "enhance_curve", "ZeroDCEEnhancer",
           "ZeroDCEPPEnhancer", "ZERODCE", "ZERODCEPP", "create_zerodce", "create_zerodcepp"]


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


class _CurveNet(nn.Module):
    """DCE-Net's topology, shared by both variants: 7 convolutions of ``width`` filters
    with ReLU, symmetric concatenations (conv5 ← [3, 4], conv6 ← [2, 5], conv7 ← [1, 6])
    and a tanh output of 3·``maps`` channels. ``conv(cin, cout)`` makes one 3×3 layer.

    Input: (N, 3, H, W) in [0, 1]. Output: curve maps (N, 3·maps, H, W) in [−1, 1].
    """

    def __init__(self, conv: Callable[[int, int], nn.Module], width: int, maps: int) -> None:
        super().__init__()
        self.maps = maps
        self.conv1 = conv(3, width)
        self.conv2 = conv(width, width)
        self.conv3 = conv(width, width)
        self.conv4 = conv(width, width)
        self.conv5 = conv(width * 2, width)
        self.conv6 = conv(width * 2, width)
        self.conv7 = conv(width * 2, 3 * maps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.relu(self.conv1(x))
        x2 = F.relu(self.conv2(x1))
        x3 = F.relu(self.conv3(x2))
        x4 = F.relu(self.conv4(x3))
        x5 = F.relu(self.conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.conv7(torch.cat([x1, x6], 1)))


def _plain_conv(cin: int, cout: int) -> nn.Module:
    return nn.Conv2d(cin, cout, 3, 1, 1)


class DCENet(_CurveNet):
    """Zero-DCE's DCE-Net: 7 plain 3×3 convs of 32 filters with symmetric
    concatenations, tanh output of 3·``maps`` channels (8 iterations × RGB by default).

    Input: (N, 3, H, W) in [0, 1]. Output: curve maps (N, 3·maps, H, W) in [−1, 1].
    """

    def __init__(self, width: int = 32, maps: int = 8) -> None:
        super().__init__(_plain_conv, width, maps)


class _SepConv(nn.Module):
    """Depthwise 3×3 followed by pointwise 1×1 (Zero-DCE++'s CSDN block)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depth = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin)
        self.point = nn.Conv2d(cin, cout, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point(self.depth(x))


class DCENetPP(_CurveNet):
    """Zero-DCE++'s depthwise-separable DCE-Net: same topology as :class:`DCENet`,
    one shared curve map (3 channels) applied every iteration.

    The network itself runs at whatever size it is given; the caller downscales
    (estimate on a small copy) and upsamples the map.

    Input: (N, 3, h, w) in [0, 1]. Output: curve map (N, 3, h, w) in [−1, 1].
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__(_SepConv, width, 1)


# --------------------------------------------------------------------------- inference


def enhance_curve(x: np.ndarray, maps: list[np.ndarray] | np.ndarray, iterations: int,
                  strength: float) -> np.ndarray:
    """The enhancement as shipped: ``iterations`` times x ← min(1, x + s·a·x·(1−x)).

    Curve parameters are clamped to a ≥ 0 (low-light enhancement never darkens) and
    scaled by the strength s ≥ 0 (the user's [0, 2] times the exposure control); for any
    s·a ≥ 0 each clipped step is nondecreasing in x (for s·a > 1 the unclipped curve
    stays ≥ 1 on [1/(s·a), 1], past its maximum) and in a, so the result never
    decreases when s grows.

    Args:
        x: float array in [0, 1] (any shape).
        maps: one array a (Zero-DCE++, reused each step) or a list of K arrays used in
            turn, cycling when iterations > K (Zero-DCE); each broadcastable to x.
        iterations: curve applications, >= 0.
        strength: s >= 0.
    """
    seq = maps if isinstance(maps, list) else [maps]
    scaled = [np.maximum(m, 0.0) * np.asarray(strength, dtype=m.dtype) for m in seq]
    y = x
    for k in range(iterations):
        a = scaled[k % len(scaled)]
        y = np.minimum(y + a * (y - y * y), 1.0)
    return y


def _build(cls):
    def build(ckpt: dict) -> nn.Module:
        net = cls(**arch_kwargs(cls, ckpt.get("arch")))
        net.load_state_dict(ckpt["state_dict"])
        return net
    return build


# 7 chained 3x3 convolutions: receptive radius 7
NETWORK = register_network(NetworkSpec("zerodce", "zerodce.pt", _build(DCENet), halo=8))
NETWORK_PP = register_network(NetworkSpec("zerodce++", "zerodcepp.pt", _build(DCENetPP), halo=8))


class _CurveEnhancer(LearnedEnhancer):
    """Common part: map = the network's curve maps, clamped to [0, 1] (kind ``"curve"``,
    float32 (h, w, 3·K)); reference = the network at full size, curve applied exactly.

    Exposure (``exposure`` > 0, see :mod:`engine.models.exposure`): the curve
    parameters are multiplied by s·c with the per-frame control c in
    [0, ``max_control``] solved for the target mean, and the highlight knee is applied
    to the curve's output."""

    #: largest exposure control c (multiplier of the curve parameters)
    max_control = 4.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.last_control: float | None = None  # diagnostics: c of the last exposure apply

    def _maps(self, img: np.ndarray) -> np.ndarray:
        return np.clip(self.infer(img), 0.0, 1.0)

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        return self.estimate_next(frame, params, None)

    def estimate_next(self, frame: np.ndarray, params: EnhanceParams, previous: ParamMap | None) -> ParamMap:
        small = fast_downscale(self.check(frame), self.estimate_size)
        extra: dict = {}
        p = self.descriptor.clamp(params)
        maps = self._maps(to_unit(small))
        if p.exposure > 0.0:
            cells = ex.frame_cells(small)
            n = int(p.iterations)
            d, c, roots = ex.frame_control(small, maps, float(p.exposure),
                                           lambda x, cs: self._luma_model(x, cs, n), self.max_control,
                                           cells, ex.previous_roots(previous, n))
            extra[ex.ROOTS] = (n,) + roots
            extra[ex.LOG_LEVEL] = level = ex.output_level(cells[0], d)
            extra[ex.CELLS] = cells
            extra[ex.SOLVED] = (level, n, c)
        return ParamMap(maps, "curve", frame.shape[:2], small, extra)

    def _log_gain(self, img: np.ndarray, a: np.ndarray, n: int, exposure: float,
                  cells: tuple[float, np.ndarray] | None = None) -> float:
        """The wanted log gain for uint8 frame ``img`` and its curve maps ``a`` (same
        (h, w)) at ``n`` iterations, within the highlight limit (``cells``:
        :func:`~engine.models.exposure.frame_cells` of ``img`` when known)."""
        return ex.frame_log_gain(img, a, exposure, lambda x, cells: self._luma_model(x, cells, n),
                                 self.max_control, cells)

    def _predict_curve(self, x: np.ndarray, maps: list[np.ndarray], n: int, c: float) -> np.ndarray:
        """The output (before the knee) the fast path gives at the sample values x."""
        return enhance_curve(x, maps, n, c)

    def _luma_model(self, x: np.ndarray, a: np.ndarray, n: int):
        """c → output luma (m,) of samples x (m, 3) in [0, 1] with curve maps a (m, 3K):
        knee(x, curve_c(x)), the fast path's arithmetic."""
        maps = [np.ascontiguousarray(a[:, 3 * k:3 * k + 3]) for k in range(a.shape[1] // 3)]
        return lambda c: ex.luma_of(ex.knee(x, self._predict_curve(x, maps, n, c)))

    def _control(self, x: np.ndarray, a: np.ndarray, n: int, goal: float,
                 guess: float | None = None) -> float:
        """Solve c with mean luma of knee(x, curve_c(x)) = ``goal``; x (m, 3) and curve
        maps a (m, 3K) float64 samples; ``guess``: a control near it (see ``solve_control``)."""
        out = self._luma_model(x, a, n)
        return ex.solve_control(lambda c: ex.scene_stat(out(c)), goal, self.max_control, guess=guess)

    def exposure_control(self, pmap: ParamMap, exposure: float, n: int, strength: float = 1.0) -> float:
        """The effective strength for ``pmap`` at ``strength`` s: s·c with the control c
        (solved on ``pmap.small`` for the smoothed ``extra["log_level"]``, recomputed from
        the small frame when absent; the estimate's own solution while the level is
        unsmoothed, else solved from it, :func:`~engine.models.exposure.solved_control`;
        kept in ``last_control``), above s = 1 no further than
        :func:`engine.models.exposure.strong_control` allows."""
        c = ex.solved_control(pmap, n)
        if c is None or strength > 1.0:
            x, cells, goal = ex.control_problem(pmap, exposure, "Zero-DCE")
            if c is None:
                c = self._control(x, cells, n, goal, ex.solved_control(pmap, n, exact=False))
        self.last_control = c
        if strength > 1.0:
            return ex.strong_control(self._luma_model(x, cells, n), x, c, strength, 2.0 * self.max_control)
        return strength * c

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        p = self.descriptor.clamp(params or self.descriptor.default_params())
        x = to_unit(self.check(frame))
        a = self._maps(x)
        maps = [a[:, :, 3 * k:3 * k + 3] for k in range(a.shape[2] // 3)]
        n, s = int(p.iterations), float(p.strength)
        if p.exposure <= 0.0:
            return to_uint8(enhance_curve(x, maps, n, s))
        cells = ex.frame_cells(frame)
        goal = ex.goal_mean(cells[0], self._log_gain(frame, a, n, float(p.exposure), cells))
        xs, cs = ex.area_samples(x).astype(np.float64), ex.area_samples(a).astype(np.float64)
        c = self._control(xs, cs, n, goal)
        se = ex.strong_control(self._luma_model(xs, cs, n), xs, c, s, 2.0 * self.max_control) if s > 1.0 else s * c
        return to_uint8(ex.knee(x, enhance_curve(x, maps, n, se)))


class ZeroDCEPPEnhancer(_CurveEnhancer):
    """Zero-DCE++: one curve map reused every step, so the output depends only on
    (x, a) for given iterations and strength: a 2-D table [a, x] rebuilt when those
    change, indexed by the bilinearly upsampled low-resolution map."""

    network = NETWORK_PP
    # 128 (as Zero-DCE): the network costs 3.0 against 6.5 ms at 192 on one core (720p), the
    # largest single step of the first half; LOL validation 18.34 dB either way, fast path
    # against reference 48.3 against 50.3 dB (docs/performance.md)
    estimate_size = 128

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lut = Lut2D(1024, 0.0, 1.0, cache=ex.TABLE_CACHE)

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        return self.apply_job(frame, pmap, params).result()

    def apply_job(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> ApplyJob:
        """The table gather by bands."""
        self.check(frame)
        p = self.descriptor.clamp(params)
        n, s = int(p.iterations), float(p.strength)
        if s == 0.0:
            return ApplyJob.done(frame.copy())
        if p.exposure <= 0.0:
            self._lut.build((n, s), lambda a, x: enhance_curve(x, a, n, s))
            return self._lut.job(frame, pmap.data[:, :, :3])
        # tables are cached on a 1/256 log grid of the effective strength s·c; the two
        # either side of it are blended (a single quantised table stepped the output mean)
        s_lo, s_hi, f = ex.strength_steps(self.exposure_control(pmap, float(p.exposure), n, s))
        if s_lo == 0.0:
            return ApplyJob.done(frame.copy())
        k = ex.KNEE

        def table(se: float):
            # float32 is enough for a uint8 table and builds 2.5x faster than float64
            return lambda a, x: ex.knee(
                x.astype(np.float32), enhance_curve(x.astype(np.float32), a.astype(np.float32), n, se), k)
        self._lut.build_blend((n, s_lo, k), table(s_lo), (n, s_hi, k), table(s_hi), f)
        return self._lut.job(frame, pmap.data[:, :, :3])


class ZeroDCEEnhancer(_CurveEnhancer):
    """Zero-DCE: 8 distinct maps per pixel. The fast path replaces them, per
    low-resolution pixel p and channel, with one equivalent parameter a_eq ∈ [0, 2]
    such that LE_{a_eq}^n(x_p) equals the composite of the strength-scaled maps at the
    local value x_p; full-resolution pixels then use the 2-D table [a_eq, x] of
    LE_a^n. Exact at x = x_p, close for nearby values (measured in the tests). a_eq
    grows with the strength, so raising it never darkens."""

    network = NETWORK
    # 128: 2x faster than 160 for 1.4 dB less agreement with the full-size reference
    # (42.2 vs 43.6 dB median on dev-eval with a briefly trained net, measured).
    estimate_size = 128

    _Y_LEVELS = 1024  # resolution of the inverse table along the output value

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lut = Lut2D(1024, 0.0, 2.0, cache=2)
        self._inverse_key: object = None
        self._inverse: np.ndarray | None = None
        self._ceiling: tuple[int, np.ndarray] | None = None

    def _inverse_table(self, n: int) -> np.ndarray:
        """float64 (256, Y + 1): for level x and output y = j / Y, the smallest a ∈ [0, 2]
        with LE_a^n(x) ≥ y (linear between grid points), nondecreasing in y. Built once
        per iteration count with one vectorised search (each column is offset by 2·x so
        all columns form one sorted array)."""
        if self._inverse_key != n:
            self._lut.build(n, lambda a, x: enhance_curve(x, a, n, 1.0))
            exact, grid, rows = self._lut.exact, self._lut.values, self._lut.rows
            flat = (exact.T + 2.0 * np.arange(256)[:, None]).ravel()
            y = np.linspace(0.0, 1.0, self._Y_LEVELS + 1)[None, :]
            xq = np.arange(256)[:, None]
            k = np.searchsorted(flat, y + 2.0 * xq, side="left") - xq * rows
            k = np.clip(k, 1, rows - 1)
            lo, hi = exact[k - 1, xq], exact[k, xq]
            span = hi - lo
            t = np.clip(np.divide(y - lo, span, out=np.ones_like(lo), where=span > 0), 0.0, 1.0)
            self._inverse = grid[k - 1] + t * (grid[k] - grid[k - 1])
            self._inverse_key = n
        return self._inverse

    def equivalent_parameter(self, small: np.ndarray, maps: np.ndarray, n: int, s: float) -> np.ndarray:
        """a_eq (h, w, 3) float32 in [0, 2] for uint8 ``small`` (h, w, 3) and curve maps
        (h, w, 3K) at iterations ``n`` and strength ``s``."""
        inv = self._inverse_table(n)
        # Solve at 1..254: at 0 and 255 every curve agrees, so a would be undetermined.
        xq = np.clip(small, 1, 254).astype(np.intp)
        xp = (xq * (1.0 / 255.0)).astype(np.float32)
        seq = [maps[:, :, 3 * k:3 * k + 3] for k in range(maps.shape[2] // 3)]
        y = enhance_curve(xp, seq, n, s) * np.float32(self._Y_LEVELS)
        j = np.minimum(y.astype(np.intp), self._Y_LEVELS - 1)
        t = y - j
        flat = inv.ravel()
        base = xq * (self._Y_LEVELS + 1) + j
        a = flat[base] * (1.0 - t) + flat[base + 1] * t
        return a.astype(np.float32)

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        return self.apply_job(frame, pmap, params).result()

    def apply_job(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> ApplyJob:
        """The table gather by bands."""
        self.check(frame)
        p = self.descriptor.clamp(params)
        n, s = int(p.iterations), float(p.strength)
        if s == 0.0:
            return ApplyJob.done(frame.copy())
        if pmap.small is None or pmap.small.shape[:2] != pmap.data.shape[:2]:
            raise ValueError("Zero-DCE apply needs the map's downscaled frame (ParamMap.small)")
        if p.exposure <= 0.0:
            a_eq = self.equivalent_parameter(pmap.small, pmap.data, n, s)
            self._lut.build(n, lambda a, x: enhance_curve(x, a, n, 1.0))
            return self._lut.job(frame, a_eq)
        # exposure: the control only scales the strength inside a_eq (continuous, no
        # table rebuild); the knee is baked into the apply table
        se = self.exposure_control(pmap, float(p.exposure), n, s)
        if se == 0.0:
            return ApplyJob.done(frame.copy())
        a_eq = self.equivalent_parameter(pmap.small, pmap.data, n, se)
        k = ex.KNEE
        self._lut.build((n, k), lambda a, x: ex.knee(x, enhance_curve(x, a, n, 1.0), k), floats=False)
        return self._lut.job(frame, a_eq)

    def _predict_curve(self, x: np.ndarray, maps: list[np.ndarray], n: int, c: float) -> np.ndarray:
        # a_eq is limited to [0, 2]: the fast path cannot go beyond LE_2^n(x)
        # one read of the cache: estimate and apply may run at once on two threads
        cached = self._ceiling
        if cached is None or cached[0] != n:
            cached = (n, enhance_curve(np.arange(256) / 255.0, np.float64(2.0), n, 1.0))
            self._ceiling = cached
        ceiling = cached[1][np.rint(x * 255.0).astype(np.intp)]
        return np.minimum(enhance_curve(x, maps, n, c), ceiling)


def create_zerodce(backend: str = "auto", device: str = "auto", weights: str | None = None) -> ZeroDCEEnhancer:
    """The registry's factory of ``zerodce`` (named in :mod:`engine.models.catalog.zerodce`)."""
    return ZeroDCEEnhancer(ZERODCE, backend=backend, device=device, weights=weights)


def create_zerodcepp(backend: str = "auto", device: str = "auto", weights: str | None = None) -> ZeroDCEPPEnhancer:
    """The registry's factory of ``zerodce++`` (named in :mod:`engine.models.catalog.zerodce`)."""
    return ZeroDCEPPEnhancer(ZERODCEPP, backend=backend, device=device, weights=weights)
