"""Classical references for comparison: adaptive gamma, CLAHE and a LIME-style
illumination map. They follow the same estimate/apply split as the learned methods.

CLAHE and LIME are both applied as a per-pixel *gain* on the RGB frame: the fast path
estimates a low-resolution gain (or illumination) map on a copy whose long side is
``estimate_size`` pixels, upsamples it bilinearly and multiplies the full-resolution
frame by it; the reference path computes the same gain per pixel at full resolution.
Multiplying R, G and B by one gain keeps each pixel's hue, as Retinex-style methods do.

``strength`` s raises the gain to the power s (gains are >= 1), so s = 0 gives the
original frame and a larger s never darkens any pixel.
"""

from __future__ import annotations

import math
from typing import Callable

import cv2
import numpy as np

from engine.enhancer import Enhancer, ParamMap, downscale
from engine.frame import check_rgb8
from engine.models import exposure as ex
from engine.models.catalog.classical import CLAHE, GAMMA, LIME
from engine.params import EnhanceParams
from engine.enhancer import MethodDescriptor

__all__ = ["GammaEnhancer", "ClaheEnhancer", "LimeEnhancer", "guided_filter", "apply_gain", "carry_power",
           "create_gamma", "create_clahe", "create_lime"]


def apply_gain(frame: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Multiply every channel of ``frame`` by a (possibly low-resolution) gain map.

    Args:
        frame: uint8 (H, W, 3).
        gain: float32 (h, w) or (h, w, 1), any h, w >= 1; upsampled bilinearly (half-pixel
            centres) to (H, W) when its size differs.

    Returns:
        uint8 (H, W, 3): ``round(frame · gain)`` saturated to 0..255.
    """
    h, w = frame.shape[:2]
    g = np.ascontiguousarray(gain.reshape(gain.shape[0], gain.shape[1]), dtype=np.float32)
    if g.shape != (h, w):
        g = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(frame, cv2.merge([g, g, g]), dtype=cv2.CV_8U)


def _powered(base: np.ndarray, exponent: float) -> np.ndarray:
    """``base ** exponent`` as float32 (1 where exponent is 0).

    Computed in float64 and rounded once, so the result is monotone in ``exponent``
    (cv2.pow's fast approximation is not); the maps are small, so this costs little.
    """
    if exponent == 0.0:
        return np.ones(base.shape, np.float32)
    return np.power(base.astype(np.float64), float(exponent)).astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` steered by ``guide`` (He, Sun, Tang, ECCV 2010).

    Local linear model q = a·I + b in every (2r+1)² window, with a = cov(I, p) / (var(I) + ε),
    b = mean(p) − a·mean(I); a and b are averaged over the windows covering each pixel.
    Box filters (``cv2.boxFilter``, reflected border) make the cost independent of ``radius``.

    Args:
        guide: float32 (H, W) guide image I.
        src: float32 (H, W) image p to filter (may be ``guide`` itself).
        radius: window radius r in pixels, >= 1.
        eps: regulariser ε in squared units of ``guide``; larger = smoother.

    Returns:
        float32 (H, W) filtered image.
    """
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, ksize, normalize=True, borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    mean_p = box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def _out_level(small: np.ndarray, gain: np.ndarray) -> float:
    """log(mean BT.601 luma · 255 + 1) of uint8 ``small`` (h, w, 3) times ``gain`` (float32
    (h, w), same size): the output level a gain map's temporal smoothing holds."""
    return math.log(ex.mean_luma(apply_gain(small, gain)) * 255.0 + 1.0)


def _on_level(small: np.ndarray, m: np.ndarray, level: float, gain_of: Callable[[np.ndarray], np.ndarray],
              scaled: Callable[[np.ndarray, float], np.ndarray], slope: float) -> np.ndarray:
    """The map ``m`` (float32 (h, w)) scaled by one factor f in [1/4, 4] (``scaled(m, f)``,
    which clips to the map's range) so that ``small`` times ``gain_of(map)`` has the output
    level ``level`` (:func:`_out_level`); ``m`` itself when it already has it (a per-frame
    map: its own level). ``slope``: d log(output) / d log f away from the clips (LIME's
    illumination −γ, CLAHE's gain 1), used for a few fixed-point steps."""
    cur = _out_level(small, gain_of(m))
    if abs(cur - level) < 1e-6:
        return m
    f, out = 1.0, m
    for _ in range(4):
        f = min(4.0, max(0.25, f * math.exp((level - cur) / slope)))
        out = scaled(m, f)
        cur = _out_level(small, gain_of(out))
        if abs(cur - level) < 1e-3:
            break
    return out


def _level_small(pmap: ParamMap, shape: tuple[int, ...]) -> tuple[float, np.ndarray] | None:
    """(the map's smoothed output level, its small frame) when ``pmap`` carries both for a
    map of ``shape`` (h, w), else None."""
    level, small = pmap.extra.get(ex.LOG_LEVEL), pmap.small
    if level is None or small is None or small.shape[:2] != shape:
        return None
    return float(level), np.ascontiguousarray(small)


class GammaEnhancer(Enhancer):
    """Global power curve y = x ** g whose exponent lifts the mean BT.601 luma to the
    target ``exposure`` (0..1; 0 = the fixed rule: the mean over R, G, B aimed at
    ``target_mean`` by log(target)/log(mean)). The map is
    the exponent alone: a (1, 1, 1) float32 array. ``strength`` s uses g ** s, so s = 0
    gives the original and larger s never darkens."""

    target_mean = 0.45  # used when exposure is 0 (off)
    min_gamma = 0.2

    def __init__(self, descriptor: MethodDescriptor) -> None:
        self.descriptor = descriptor

    def _gamma_for(self, image: np.ndarray, exposure: float = 0.0) -> float:
        """The exponent for uint8 ``image``: with ``exposure`` > 0 the one whose output
        has that mean BT.601 luma (solved on a subsample, as the learned methods'
        exposure control); 0 = the fixed rule, mean over R, G, B mapped onto
        ``target_mean`` by log(target)/log(mean)."""
        if exposure > 0.0:
            return self._solve(image, exposure)
        target = self.target_mean
        mean = float(np.clip(image.mean() / 255.0, 1e-3, 0.999))
        if mean >= target:
            return 1.0
        return float(np.clip(np.log(target) / np.log(mean), self.min_gamma, 1.0))

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        small = downscale(frame, self.estimate_size)
        e = float(params.exposure)
        g = np.full((1, 1, 1), self._gamma_for(small, e), np.float32)
        # as the learned methods: the wanted output level travels with the map, so the
        # temporal filter smooths the output's brightness, not the exponent
        m = ex.mean_luma(small)
        extra = {ex.LOG_LEVEL: ex.output_level(m, ex.wanted_log_gain(m, e))} if e > 0.0 else {}
        return ParamMap(g, "gamma", frame.shape[:2], small, extra)

    def _exponent(self, pmap: ParamMap) -> float:
        """The map's exponent, or with a (smoothed) ``extra["log_level"]`` L̄ the exponent
        whose output mean luma on ``pmap.small`` is ``goal_mean(m, level_log_gain(m, L̄))`` (solved on the
        small frame's per-channel histograms, i.e. on every pixel)."""
        if ex.LOG_LEVEL not in pmap.extra or pmap.small is None or pmap.small.size == 0:
            return float(pmap.data.reshape(-1)[0])
        small = np.ascontiguousarray(pmap.small)
        m = ex.mean_luma(small)
        return self._solve(small, ex.goal_mean(m, ex.level_log_gain(m, float(pmap.extra[ex.LOG_LEVEL]))))

    def _solve(self, image: np.ndarray, goal: float) -> float:
        """The exponent g in [min_gamma, 1] whose output x**g of uint8 ``image`` has the mean
        BT.601 luma ``goal`` (0..1). A global curve: the output mean follows exactly from
        each channel's histogram (every pixel, no sampling error to wander between frames)."""
        img = np.ascontiguousarray(image)
        n = max(1, img.shape[0] * img.shape[1])
        wsum = sum(w * cv2.calcHist([img], [ch], None, [256], [0, 256]).ravel()
                   for ch, w in enumerate((0.299, 0.587, 0.114))) / n
        levels = np.arange(256, dtype=np.float64) / 255.0
        c_max = -np.log(self.min_gamma)  # g = exp(-c), c in [0, -log(min_gamma)]
        c = ex.solve_control(lambda c: float(wsum @ levels ** np.exp(-c)), goal, c_max)
        return float(np.exp(-c))

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        exponent = self._exponent(pmap) ** float(params.strength)
        lut = np.round(255.0 * (np.arange(256) / 255.0) ** exponent).astype(np.uint8)
        return cv2.LUT(frame, lut)

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        p = params or self.descriptor.default_params()
        g = np.full((1, 1, 1), self._gamma_for(frame, float(p.exposure)), np.float32)
        return self.apply(frame, ParamMap(g, "gamma", frame.shape[:2], frame), p)


class ClaheEnhancer(Enhancer):
    """CLAHE (contrast-limited adaptive histogram equalisation) on the L channel of Lab,
    turned into a luminance gain.

    The frame is converted to 8-bit Lab and OpenCV's CLAHE (``clip_limit``, a
    ``tiles`` × ``tiles`` grid laid over the whole picture, so the tile layout is the same
    at any resolution) is applied to L. The gain is (L' + 1) / (L + 1), clamped to
    [1, ``max_gain``]: equalisation is only allowed to brighten, which keeps ``strength``
    monotone. The map is that gain, float32 (h, w, 1), kind ``"gain"``, with the output's
    level at strength 1 in ``extra["log_level"]``, smoothed by the temporal filter and put
    back on the map in ``apply`` as LIME's (see :class:`LimeEnhancer`).
    Fast path: gain of the downscaled copy, upsampled; reference: gain per pixel at full
    resolution (on textured areas the reference keeps CLAHE's local tone curve, the fast
    path a locally constant gain).
    """

    clip_limit = 2.5
    tiles = 8
    max_gain = 6.0

    def __init__(self, descriptor: MethodDescriptor) -> None:
        self.descriptor = descriptor
        self._clahe = cv2.createCLAHE(clipLimit=self.clip_limit, tileGridSize=(self.tiles, self.tiles))

    def gain(self, image: np.ndarray) -> np.ndarray:
        """Per-pixel CLAHE gain of ``image`` (uint8 (h, w, 3)) as float32 (h, w, 1) >= 1."""
        h, w = image.shape[:2]
        grid = (min(self.tiles, w), min(self.tiles, h))
        self._clahe.setTilesGridSize(grid)
        lum = cv2.cvtColor(image, cv2.COLOR_RGB2Lab)[:, :, 0]
        eq = self._clahe.apply(np.ascontiguousarray(lum))
        g = (eq.astype(np.float32) + 1.0) / (lum.astype(np.float32) + 1.0)
        return np.clip(g, 1.0, self.max_gain)[:, :, None]

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        small = downscale(frame, self.estimate_size)
        # carried as g · k^(−1/s) through an exposure change k, the output x·g^s keeps its
        # brightness (per frame CLAHE passes about k^0.8 of it; see ParamMap.exposure_power)
        g = self.gain(small)
        # the output's level at strength 1 travels with the map (see LimeEnhancer)
        return ParamMap(g, "gain", frame.shape[:2], small, {ex.LOG_LEVEL: _out_level(small, g[:, :, 0])},
                        exposure_power=-carry_power(1.0, params.strength))

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        check_rgb8(frame)
        # a map carried along an exposure change may fall below 1: never darken the input
        g = np.maximum(pmap.data[:, :, 0], np.float32(1.0))
        on = _level_small(pmap, g.shape)
        if on is not None:  # put the (smoothed) map on its smoothed output level
            g = _on_level(on[1], g, on[0], lambda m: m,
                          lambda m, f: np.clip(m * np.float32(f), 1.0, self.max_gain), 1.0)
        return apply_gain(frame, _powered(g, max(0.0, float(params.strength))))

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        p = params or self.descriptor.default_params()
        check_rgb8(frame)
        return apply_gain(frame, _powered(self.gain(frame)[:, :, 0], max(0.0, float(p.strength))))


class LimeEnhancer(Enhancer):
    """LIME-style enhancement (Guo, Li, Ling, IEEE TIP 2017): x / T^γ.

    The initial illumination is the per-pixel maximum over R, G and B (0..1). The paper
    refines it by solving a structure-aware smoothing problem; here a self-guided filter
    (edge-preserving; radius ``radius_frac`` × the long side, ε = ``eps``) stands in for
    it, as the paper's own fast variants do with edge-aware filters. T is floored at
    ``floor``; the output is x · T^(−γ·s) with γ = ``gamma`` (0.8 in the paper) and s the
    strength. T <= 1, so every gain is >= 1. The paper's BM3D denoising step is not
    included. The map is T itself, float32 (h, w, 1), kind ``"illumination"``; its
    ``extra["log_level"]`` is the output's level at strength 1 (log of the mean luma · 255
    + 1 on the small frame), which the temporal filter smooths like the learned methods'
    level. ``apply`` scales T by the one factor that puts the output on that level, so a
    smoothed map's brightness follows the smoothed level (the per-frame map is left as it
    is: it has its own level).
    """

    gamma = 0.8
    radius_frac = 0.02
    eps = 1e-3
    floor = 0.02

    def __init__(self, descriptor: MethodDescriptor) -> None:
        self.descriptor = descriptor

    def illumination(self, image: np.ndarray) -> np.ndarray:
        """Refined illumination of ``image`` (uint8 (h, w, 3)): float32 (h, w, 1) in [floor, 1]."""
        h, w = image.shape[:2]
        r, g, b = cv2.split(image)  # cv2.max is ~50x faster than ndarray.max(axis=2)
        t = cv2.max(cv2.max(r, g), b).astype(np.float32) * np.float32(1.0 / 255.0)
        radius = max(1, round(self.radius_frac * max(h, w)))
        t = guided_filter(t, t, radius, self.eps)
        return np.clip(t, self.floor, 1.0)[:, :, None]

    def _gain(self, t: np.ndarray, strength: float) -> np.ndarray:
        return _powered(t, -self.gamma * max(0.0, float(strength)))

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        small = downscale(frame, self.estimate_size)
        t = self.illumination(small)
        # carried as T · k^(1/(γ s)) through an exposure change k, the output x·T^(−γ s) keeps
        # its brightness (per frame LIME passes k^0.2 of it; see ParamMap.exposure_power).
        # The output's level (at strength 1, so it does not depend on the strength) travels
        # with the map as the learned methods' does: the temporal filter smooths it, and
        # apply puts the smoothed map on it.
        level = _out_level(small, self._gain(t[:, :, 0], 1.0))
        return ParamMap(t, "illumination", frame.shape[:2], small, {ex.LOG_LEVEL: level},
                        exposure_power=carry_power(self.gamma, params.strength))

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        check_rgb8(frame)
        # a smoothed map carried along an exposure change may leave [floor, 1]
        t = np.clip(pmap.data[:, :, 0], self.floor, 1.0)
        on = _level_small(pmap, t.shape)
        if on is not None:
            # a smoothed map lags the frame: a dark scene's glow that grew (a party light)
            # was not followed and the output brightened 3x more than the input (dev clip
            # BFI 0.23 % against 0.19 % per frame). The map is put on the smoothed level;
            # one factor for the whole map, so the output stays monotone in the strength.
            t = _on_level(on[1], t, on[0], lambda m: self._gain(m, 1.0),
                          lambda m, f: np.clip(m * np.float32(f), self.floor, 1.0), -self.gamma)
        return apply_gain(frame, self._gain(t, params.strength))

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        p = params or self.descriptor.default_params()
        check_rgb8(frame)
        t = np.ascontiguousarray(self.illumination(frame)[:, :, 0])
        return apply_gain(frame, self._gain(t, p.strength))


def carry_power(exponent: float, strength: float) -> float:
    """``1 / (exponent · strength)``, at most 4 (0 for strength 0): the power by which a map
    M whose output is x · M^(−exponent·strength) must follow an exposure change k (M · k^p)
    for that output to keep its brightness."""
    es = float(exponent) * max(0.0, float(strength))
    return 0.0 if es <= 0.0 else min(4.0, 1.0 / es)


def create_gamma(**_: object) -> Enhancer:
    """The registry's factory of ``gamma`` (backend, device and weights do not apply)."""
    return GammaEnhancer(GAMMA)


def create_clahe(**_: object) -> Enhancer:
    """The registry's factory of ``clahe`` (backend, device and weights do not apply)."""
    return ClaheEnhancer(CLAHE)


def create_lime(**_: object) -> Enhancer:
    """The registry's factory of ``lime`` (backend, device and weights do not apply)."""
    return LimeEnhancer(LIME)
