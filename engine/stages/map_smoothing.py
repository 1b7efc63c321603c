"""Temporal smoothing of the low-resolution parameter maps (against flicker).

A per-frame enhancer re-estimates its map (illumination, curve, gain, gamma) on every
frame, so sensor noise, exposure hunting and content changes make the picture breathe.
:class:`TemporalFilter` smooths the small :class:`engine.enhancer.ParamMap` data with an
exponential moving average (EMA) whose per-pixel weight adapts to what happened in the
scene, judged on the downscaled frames (``ParamMap.small``):

- **static pixels** move towards the new map with the base weight
  ``a0 = 1 / (1 + 19 · smoothing)`` (smoothing 1 ≈ a 20-frame time constant);
- **moving pixels** – where the small frame differs from the smoothed reference frame
  the state was built on by more than the noise (and a few percent of the local level)
  explains, after compensating a global gain – follow the new map at once, so a moving
  object keeps its own enhancement and leaves no ghost;
- **scene cuts** – most of the small frame changed beyond noise compared with the
  previous one, or the gain-normalised brightness histogram jumped, or the picture lost
  its correlation with the previous one – reset the state: the
  output equals the per-frame output from the cut frame on;
- **real light changes** (a lamp switched on) – the median level stays beyond
  ``light_threshold`` off the reference level, in the same direction, for
  ``light_frames`` (3) frames – are followed at once (the map snaps to the new
  estimate on the third frame), whereas exposure flicker, which swings back and forth,
  is averaged out.

Numeric ``ParamMap.extra`` values (the exposure control's wanted output level, the log of
the output mean it asks for) are one global number per frame: they move ``extra_slowdown``
(3) times slower than static map pixels, whatever the motion, snap on a light change and
restart on a cut. Smoothing the output's level, not the gain, keeps the output steady
where the per-frame control cancels the input's exposure flicker (a smoothed gain made the
output show that flicker in full). A map with an ``exposure_power`` p (LIME's illumination,
CLAHE's gain) is multiplied by k**p when the frame gets k times brighter (k: the median
per-pixel ratio of consecutive small frames) before it is blended (p may also be one power
per channel: the paired methods' affine grid carries its matrix with −1 and its offset with
0); the methods choose p so that their output keeps its brightness, for the same reason.
While a large light change (more than twice ``light_threshold``) is still unconfirmed, each
frame passes through with its own map and values and the state waits, so a lamp is not
shown with the dark scene's map or gain (``last_pending``).

``smoothing`` 0 turns the filter off: the map passes through untouched (identical to
the per-frame path) and the state is dropped.
"""

from __future__ import annotations

import copy
import math
from numbers import Real

import cv2
import numpy as np

from engine.enhancer import ParamMap, downscale
from engine.stages.robust import median

__all__ = ["TemporalFilter", "DEFAULT_SMOOTHING", "base_weight"]

#: Default ``smoothing``: a time constant of about 10 frames on static areas (flicker
#: figures per method in docs/steady-video.md).
DEFAULT_SMOOTHING = 0.5

_TAU_MAX = 20.0  # EMA time constant, in frames, at smoothing = 1


def base_weight(smoothing: float) -> float:
    """EMA weight of the new map on static pixels for ``smoothing`` in [0, 1].

    ``a0 = 1 / (1 + 19 · smoothing)``: 1 (no smoothing) at 0, 1/20 at 1; the time
    constant is about ``1 + 19 · smoothing`` frames.
    """
    s = min(max(float(smoothing), 0.0), 1.0)
    return 1.0 / (1.0 + (_TAU_MAX - 1.0) * s)


_ANALYSIS_SIZE = 128  # long side, pixels, of the brightness the scene analysis runs on
# Dilation of the motion mask, analysis pixels (≈ 2.7 % of the long side each way): a map is
# smooth, an object changes it over its surroundings too (LIME's guided filter: 2 %); 3×3
# left a dark trail behind a red ball on the demo clip.
_MOTION_DILATE = 7


def _brightness(small: np.ndarray) -> np.ndarray:
    """Blurred float32 brightness max(R, G, B), 0..255, of a uint8 (h, w, 3) RGB frame,
    area-reduced to a long side of at most ``_ANALYSIS_SIZE`` pixels (motion, cuts and
    light changes are judged there; the weights are resized onto the map).

    The maximum channel rather than the luma: a saturated object (a red ball) can have the
    background's luma while the maps it drives (LIME's max-channel illumination, SCI's)
    change a lot; judged on luma such an object went unseen and the EMA left a trail."""
    r, g, b = cv2.split(np.ascontiguousarray(downscale(small, _ANALYSIS_SIZE)))
    y = cv2.max(cv2.max(r, g), b).astype(np.float32)
    if min(y.shape) >= 3:
        y = cv2.GaussianBlur(y, (3, 3), 0)
    return y


def _norm_hist(y: np.ndarray, median: float, bins: int = 32) -> np.ndarray:
    """Histogram of ``y`` scaled to a median of 64 (exposure-invariant), sums to 1."""
    y8 = cv2.convertScaleAbs(y, alpha=64.0 / (median + 1.0))
    h = cv2.calcHist([y8], [0], None, [bins], [0, 256]).ravel()
    return h.astype(np.float64) / max(1, y.size)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-mean normalised cross-correlation of two equally shaped arrays (1 if flat)."""
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float((da * da).sum()) * float((db * db).sum()))
    return float((da * db).sum()) / den if den > 1e-6 else 1.0


class TemporalFilter:
    """Motion-adaptive exponential moving average of parameter maps with scene-cut reset.

    Args:
        noise_k: a pixel counts as changed when its gain-compensated difference exceeds
            ``noise_k`` noise standard deviations plus ``rel_tolerance`` of its level.
        rel_tolerance: relative part of that threshold (absorbs shading/gain errors).
        cut_fraction: fraction of changed small-frame pixels (against the previous frame)
            that declares a scene cut.
        cut_hist: half L1 distance (0..1) between the exposure-normalised brightness
            histograms of consecutive small frames that declares a scene cut.
        cut_ncc, cut_support: a scene cut is also declared when the normalised
            cross-correlation of consecutive small frames falls below ``cut_ncc`` while
            more than ``cut_support`` of the pixels changed (the support keeps a flat,
            noise-only picture, whose correlation is meaningless, from cutting).
        light_threshold: |log gain| against the reference level beyond which a frame
            counts as part of a light change (0.15 ≈ 16 %).
        light_frames: consecutive same-direction frames after which the filter follows
            the light change completely (the map snaps to the new estimate).
        extra_slowdown: the numeric ``ParamMap.extra`` values (the exposure control's
            wanted output level: one global number per frame) move with the static weight
            divided by this (time constant ``extra_slowdown`` times the map's), snap on a
            light change and restart on a cut.

    Attributes (read-only diagnostics of the last ``update``):
        last_cut: True when that frame was taken as a scene cut (state reset).
        last_pending: True when that frame passed through because a large light change
            (> 2 × ``light_threshold``) was under way but not yet confirmed.
        mean_weight: mean EMA weight used (1.0 = followed the new map entirely).
        noise_sigma: current noise estimate of the small-frame difference, grey levels.
        cuts: number of scene cuts since construction.
        light_changes: number of light changes followed since construction.
    """

    def __init__(self, *, noise_k: float = 3.0, rel_tolerance: float = 0.06,
                 cut_fraction: float = 0.6, cut_hist: float = 0.5,
                 cut_ncc: float = 0.6, cut_support: float = 0.15,
                 light_threshold: float = 0.15, light_frames: int = 3,
                 extra_slowdown: float = 3.0) -> None:
        self.noise_k = noise_k
        self.rel_tolerance = rel_tolerance
        self.cut_fraction = cut_fraction
        self.cut_hist = cut_hist
        self.cut_ncc = cut_ncc
        self.cut_support = cut_support
        self.light_threshold = light_threshold
        self.light_frames = max(1, int(light_frames))
        self.extra_slowdown = max(1.0, float(extra_slowdown))
        self.cuts = 0
        self.light_changes = 0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the history; the next map passes through unchanged."""
        self._state: np.ndarray | None = None
        self._kind: str | None = None
        self._ref: np.ndarray | None = None    # smoothed small brightness the state belongs to
        self._prev: np.ndarray | None = None   # previous small brightness (cut detection)
        self._prev_hist: np.ndarray | None = None
        self._prev_median = 0.0
        self._carry = 1.0                      # exposure change since the state was last blended
        self._sigma: float | None = None
        self._run = 0                          # signed length of the current light-change run
        self._run_level = 0.0                  # reference level when that run started
        self._extra: dict[str, float] = {}
        self._followed = False                 # this frame's light change is being followed
        self._snap = False                     # take the next frame's extras as they are
        self._jump = False                     # this frame is > 2 × light_threshold off the run level
        self.last_cut = False
        self.last_pending = False
        self.mean_weight = 1.0
        self.noise_sigma = 0.0

    def snap_extras(self) -> None:
        """Take the next frame's numeric extras (the exposure control's output level) as
        they are, keeping the smoothed map: for a changed parameter that moves the level
        (exposure target, iterations), not for anything the scene did."""
        self._snap = True

    def fresh(self) -> "TemporalFilter":
        """A new filter with these settings and counts (``cuts``, ``light_changes``), in the
        reset state; this one is left as it is (a frame still in flight on another thread
        may be smoothed with it)."""
        out = copy.copy(self)
        out.reset()
        return out

    def flush(self) -> None:
        """End of stream. The filter is causal (it never holds frames back), so there is
        nothing to emit; the state is dropped so the next stream starts clean."""
        self.reset()

    # ----------------------------------------------------------------- update
    def update(self, pmap: ParamMap, smoothing: float) -> ParamMap:
        """Smooth ``pmap`` against the history and return the map to apply.

        Args:
            pmap: this frame's estimate; ``data`` float32 (h, w, C), ``small`` uint8
                (hs, ws, 3) or None (then the filter is a plain EMA with cut-free
                resets on shape/kind changes).
            smoothing: 0 = off (``pmap`` is returned as is), 1 = max.

        Returns:
            A new :class:`ParamMap` (same kind/shape) or ``pmap`` itself when the map
            passes through (off, first frame, scene cut, an unconfirmed large light
            change).
        """
        self.last_cut = False
        self.last_pending = False
        if not smoothing > 0.0:
            self.reset()
            return pmap
        data = np.asarray(pmap.data, dtype=np.float32)
        y = _brightness(pmap.small) if pmap.small is not None else None
        fresh = (self._state is None or self._state.shape != data.shape or self._kind != pmap.kind
                 or (y is None) != (self._ref is None)
                 or (y is not None and self._ref is not None and self._ref.shape != y.shape))
        if fresh:
            self._start(pmap, data, y)
            return pmap
        a0 = base_weight(smoothing)
        self._a0 = a0
        if y is None:
            weight: np.ndarray | float = a0
        else:
            w = self._weights(y, a0, carry=bool(np.any(pmap.exposure_power)))
            if w is None:  # scene cut
                self._start(pmap, data, y)
                self.cuts += 1
                self.last_cut = True
                return pmap
            weight = w
            if self._run != 0 and self._jump:
                # a large light change, not yet confirmed: this frame's own map and gain,
                # the state waits (the dark scene's map on a lit frame flashed the lamp
                # near white); a run that breaks off leaves the state as it was
                self.last_pending = True
                return pmap
        return self._blend(pmap, data, y, weight)

    # -------------------------------------------------------------- internals
    def _start(self, pmap: ParamMap, data: np.ndarray, y: np.ndarray | None) -> None:
        self.reset()
        self._state = data.copy()
        self._kind = pmap.kind
        self._ref = None if y is None else y.copy()
        self._prev = self._ref
        self._prev_median = 0.0 if y is None else median(y)
        self._prev_hist = None if y is None else _norm_hist(y, self._prev_median)
        self._extra = {k: float(v) for k, v in pmap.extra.items()
                       if isinstance(v, Real) and not isinstance(v, bool)}
        self.mean_weight = 1.0

    def _threshold(self, level: np.ndarray) -> np.ndarray:
        sigma = self._sigma if self._sigma is not None else 1.0
        return self.noise_k * sigma + self.rel_tolerance * level + 0.5

    def _weights(self, y: np.ndarray, a0: float, carry: bool = False) -> np.ndarray | None:
        """Per-pixel EMA weight (hs, ws) for this frame, or None for a scene cut; ``carry``:
        the map is carried along the exposure (accumulate this frame's exposure step)."""
        assert self._prev is not None and self._ref is not None
        med_y = median(y)
        # --- against the previous frame: noise estimate and cut detection
        g_prev = (med_y + 1.0) / (self._prev_median + 1.0)
        d_prev = np.abs(y - g_prev * self._prev)
        sigma_now = max(0.5, median(d_prev) / 0.6745 / math.sqrt(2.0))
        if self._sigma is None:
            self._sigma = sigma_now
        changed = float(np.mean(d_prev > self._threshold(np.maximum(y, g_prev * self._prev))))
        hist = _norm_hist(y, med_y)
        hist_jump = 0.5 * float(np.abs(hist - self._prev_hist).sum()) if self._prev_hist is not None else 0.0
        if (changed > self.cut_fraction or hist_jump > self.cut_hist
                or (changed > self.cut_support and _ncc(y, self._prev) < self.cut_ncc)):
            return None
        # slow noise tracking; a burst of motion may raise it only gradually
        self._sigma = 0.9 * self._sigma + 0.1 * min(sigma_now, 2.0 * self._sigma)
        self.noise_sigma = self._sigma
        # the frame's global exposure step against the previous one: the median per-pixel
        # ratio (content that moves, party lights, leave the median where it is; the ratio of
        # the frames' mean or median brightness took them for exposure changes and the
        # carried LIME map flickered: dev clip BFI 0.38 % against 0.27 % this way)
        if carry:
            self._carry *= median((y + 1.0) / (self._prev + 1.0))
        self._prev, self._prev_hist, self._prev_median = y, hist, med_y
        # --- against the reference the state was built on: motion and light changes
        ref_median = median(self._ref)
        g_ref = (med_y + 1.0) / (ref_median + 1.0)
        ref_g = g_ref * self._ref
        d_ref = np.abs(y - ref_g)
        thr = self._threshold(np.maximum(y, ref_g))
        motion = np.clip((d_ref - thr) / thr, 0.0, 1.0).astype(np.float32)
        if min(motion.shape) >= 3:  # a map is smooth: cover the object's surroundings too
            motion = cv2.dilate(motion, np.ones((_MOTION_DILATE, _MOTION_DILATE), np.uint8))
        # light change: the level stays off the level the run started from, same direction
        if self._run == 0:
            self._run_level = ref_median
        log_g = math.log((med_y + 1.0) / (self._run_level + 1.0))
        self._jump = abs(log_g) > 2.0 * self.light_threshold
        if abs(log_g) > self.light_threshold:
            sign = 1 if log_g > 0 else -1
            self._run = self._run + sign if self._run * sign > 0 else sign
        else:
            self._run = 0
        if abs(self._run) >= self.light_frames:
            self._run = 0
            self.light_changes += 1
            self._followed = True
            return np.ones_like(motion)
        weight = a0 + (1.0 - a0) * motion
        return weight.astype(np.float32)

    def _blend(self, pmap: ParamMap, data: np.ndarray, y: np.ndarray | None,
               weight: np.ndarray | float) -> ParamMap:
        assert self._state is not None
        h, w = data.shape[:2]
        if np.any(pmap.exposure_power) and y is not None:
            # carry the state along the global exposure change (see ParamMap.exposure_power):
            # the output keeps its brightness, smoothing averages the map's structure
            power = np.asarray(pmap.exposure_power, np.float64)  # a number or one per channel
            self._state *= (self._carry ** power).astype(np.float32)
        self._carry = 1.0
        if isinstance(weight, np.ndarray):
            if y is not None and self._ref is not None:
                self._ref += weight * (y - self._ref)
            if weight.shape == (h, w):
                wm = weight
            else:  # onto the map's grid: area-average when shrinking, bilinear when growing
                grow = h * w > weight.size
                wm = cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
            wm = wm.reshape(h, w, *([1] * (data.ndim - 2)))
            self._state += wm * (data - self._state)
            mean_w = float(np.mean(weight))
        else:
            self._state += weight * (data - self._state)
            mean_w = float(weight)
        self.mean_weight = mean_w
        # The numeric extras (the exposure control's wanted output level) are one global number
        # per frame: they follow at once on a light change (a cut restarts them), and
        # otherwise move with a time constant ``extra_slowdown`` times the map's (static
        # weight a0 / extra_slowdown), not with the mean weight, which a handheld camera's
        # motion raises towards 1 (the value then followed each frame's own).
        if self._followed or self._snap or y is None:
            wx = 1.0 if self._followed or self._snap else mean_w
        else:
            wx = self._a0 / self.extra_slowdown
        self._followed = self._snap = False
        extra = dict(pmap.extra)
        for k, v in pmap.extra.items():
            if isinstance(v, Real) and not isinstance(v, bool):
                old = self._extra.get(k, float(v))
                self._extra[k] = old + wx * (float(v) - old)
                extra[k] = self._extra[k]
        return ParamMap(self._state.copy(), pmap.kind, pmap.frame_shape, pmap.small, extra, pmap.exposure_power)
