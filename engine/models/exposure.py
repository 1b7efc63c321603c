"""Per-frame exposure control with highlight protection for the learned methods.

With ``exposure`` e > 0 each learned method aims its output's *shadow statistic* at e
(0..1) instead of applying its fixed gain:

0. The statistic (:func:`scene_stat`, :func:`scene_mean`): in log units, half the plain
   mean luma and half the log-average over the darkest half of the area cells,
   ``mean(log(Y·255 + 1))``, as an equivalent mean. The shadows weigh in, so a dark
   foreground under a bright sky is lifted (a plain mean was met by the sky alone); the
   plain half keeps the statistic steady on a moving, noisy clip (the dark half alone
   raised SCI's brightness flicker on the dark dev clip from 0.07 % to 0.23 %).
1. ``estimate`` measures the input's statistic m on the small copy, takes the deficit
   ``d = log(e·255 + 1) − log(m·255 + 1)`` and asks for the *log gain*
   ``D = d·r/(1 + r)``, ``r = (d / NORMAL_SOFTNESS)^SOFTNESS_POWER`` (:func:`shadow_log_gain`:
   a nearly normal night, d below about 1, is lifted little and stays a night; a dark
   frame gets close to the target), clamped to [0, log SHADOW_MAX_GAIN], lowered so the
   plain mean rises at most ``MAX_MEAN_GAIN``-fold and by the highlight limit, and stores
   the *output level* it asks for, ``L = log(m·255 + 1) + D``, in
   ``ParamMap.extra["log_level"]``. The temporal filter smooths that number slowly, with
   the map's cut reset and light-change follow (:mod:`engine.stages.map_smoothing`): it is the
   output's brightness that is kept steady, so exposure flicker of the input that the
   per-frame control cancels stays cancelled (smoothing the gain instead made the output
   follow the input's flicker).
2. ``apply`` turns the (smoothed) level back into this frame's gain
   ``D̄ = L̄ − log(m·255 + 1)``, clamped to [0, log(SHADOW_MAX_GAIN · SMOOTH_HEADROOM)], and
   solves, on area-averaged cells of the small frame and its (smoothed) map, for the scalar
   control c >= 0 of the method (SCI: exponent of the illumination gain; Zero-DCE(++):
   multiplier of the curve parameters) at which the predicted output statistic equals the
   goal ``((m·255 + 1)·exp(D̄) − 1) / 255``, and applies the method with the effective
   strength s·c (s = the user's ``strength``; c does not depend on s, so raising the
   strength still never darkens a pixel).
3. A highlight *knee* compresses the part of the brightening that would push a pixel
   towards white (:func:`knee`), so lit areas keep their gradation.

The defaults (target 0.42, knee 0.3, highlight budget 10 %, caps ×24 / ×16, softness 1.0)
were chosen on the LOL validation pairs (docs/methods.md). ``SCENE_LOG_WEIGHT`` 0 and
``NORMAL_SOFTNESS`` 0 give the plain-mean control (the classical gamma keeps that rule:
:func:`wanted_log_gain`).

``exposure`` 0 turns all of this off: the methods' fixed gain, byte-identical to the
methods without exposure control.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

if TYPE_CHECKING:
    from engine.enhancer import ParamMap

__all__ = ["DEFAULT_EXPOSURE", "KNEE", "MAX_GAIN", "knee", "mean_luma", "subsample",
           "wanted_log_gain", "goal_mean", "solve_control", "quantise_strength", "TABLE_CACHE",
           "luma_of", "strength_steps", "control_problem", "HIGHLIGHT_LEVEL", "HIGHLIGHT_BUDGET",
           "HIGHLIGHT_FROM", "highlight_limit", "limited_log_gain", "frame_log_gain", "LOG_LEVEL",
           "output_level", "level_log_gain", "SMOOTH_HEADROOM", "SCENE_LOG_WEIGHT", "NORMAL_SOFTNESS",
           "scene_mean", "scene_stat", "SCENE_DARK_FRACTION", "MAX_MEAN_GAIN", "SOFTNESS_POWER",
           "SHADOW_MAX_GAIN", "shadow_log_gain", "CELLS", "frame_cells", "SOLVED", "ROOTS", "frame_control",
           "previous_roots", "solved_control"]

#: Default target: the shadow statistic of the learned methods (:func:`scene_stat`) and the
#: plain mean of gamma. On the LOL validation pairs 0.36–0.42 tie within 0.1 dB for
#: Zero-DCE(++) with the other defaults (docs/methods.md); 0.42 is also what the synthetic
#: pairs preferred for the plain mean.
DEFAULT_EXPOSURE = 0.42
#: Highlight limit (:func:`highlight_limit`): the control may lift at most HIGHLIGHT_BUDGET
#: of the samples from below HIGHLIGHT_FROM × HIGHLIGHT_LEVEL (not bright to begin with) to
#: above HIGHLIGHT_LEVEL (output luma 0..1). Chosen by looking at the dev images: a night
#: court whose floor SCI washed out, a street under a bright sky that must stay lit.
#: On the LOL validation pairs a 1 % budget held SCI's outputs at a mean of 0.36 against the
#: targets' 0.48; 10 % scored 0.5 dB more, the lit areas kept below white by the knee.
HIGHLIGHT_LEVEL = 0.85
HIGHLIGHT_BUDGET = 0.1
HIGHLIGHT_FROM = 0.7
_HIGHLIGHT_RAMP = 0.05   # width of the soft "over the level" step, output luma
#: Knee of the highlight protection on the relative brightening t = (y − x)/(1 − x);
#: 1.0 would turn it off. On the LOL validation pairs (the other defaults) 0.3 scored 0.8 dB
#: above 0.7 for SCI and 0.1–0.2 dB for Zero-DCE(++) (docs/methods.md).
KNEE = 0.3
#: Largest brightening of the mean the control asks for (ratio of (mean·255 + 1) values).
#: Without it a near-black phone clip (mean luma 4 grey levels) was lifted 25-fold to the
#: target and showed the codec's 8×8 blocks and a purple cast; on that clip ×6 looked like a
#: natural night scene, ×10 acceptable, ×16 blocky (looked at). The held-out synthetic pairs
#: need at most ×5.6 (measured), and ×12 still lifts a picture of mean 0.03 to 0.40.
MAX_GAIN = 12.0
#: The learned methods' cap on the lift of their shadow statistic (:func:`shadow_log_gain`):
#: the log-average of the darkest half needs more room than a mean (LOL validation pairs:
#: ×12 gave Zero-DCE 17.2 dB, ×20 17.7, ×24 18.0 with the other defaults).
SHADOW_MAX_GAIN = 24.0
#: Largest brightening of the plain mean luma (ratio of (mean·255 + 1) values), whatever
#: the shadow statistic asks. The LOL validation pairs need ×3 to ×33 (median ×6.5); against
#: no cap, 12 cost Zero-DCE++ 1.0 dB there, 16 0.3 dB, 20 nothing measurable. On the dark
#: dev clip (mean 5 grey levels) ×20 turned the night into a grey overcast day with codec
#: blocks (looked at); 16 keeps more of the night.
MAX_MEAN_GAIN = 16.0
#: A smoothed output level may ask a frame for up to this factor beyond ``MAX_GAIN``: on a
#: clip that sits at the cap the level is smoothed both ways, not only downwards.
SMOOTH_HEADROOM = 1.25
#: Share of the log-average in the exposure statistic (:func:`scene_stat`): the level of a
#: frame is ``(1 − w)·log(mean·255 + 1) + w·mean(log(Y·255 + 1))`` over its area cells. The
#: log-average is ruled by the many dark cells, not by the few bright ones, so a dark
#: foreground under a bright sky is lifted instead of the sky meeting the target alone.
SCENE_LOG_WEIGHT = 0.5
#: The log part of the statistic reads the darkest this fraction of the cells: the
#: shadows set the exposure, a bright sky or lamp does not.
SCENE_DARK_FRACTION = 0.5
#: Softness d0 of the lift near a normal exposure (:func:`shadow_log_gain`): a frame whose
#: level lies d (log units) below the target is lifted by d·r/(1 + r), r = (d/d0)⁴, so a
#: nearly normal night (a hazy city, d < d0) is lifted a little and keeps its contrast
#: and its mood, while a dark frame (d > 1.5·d0) still gets close to the target.
NORMAL_SOFTNESS = 1.0
SOFTNESS_POWER = 6
#: ``ParamMap.extra`` key of the wanted output level (log units, :func:`output_level`).
LOG_LEVEL = "log_level"
#: ``ParamMap.extra`` key of ``(scene_mean, cells)`` of the map's small frame
#: (:func:`frame_cells`), measured once in ``estimate`` for ``apply``'s control (a tuple, so
#: the temporal filter passes it through unsmoothed: the small frame is not smoothed either).
CELLS = "small_cells"
#: ``ParamMap.extra`` key of ``(level, key, c)``: the control c that ``estimate`` found for
#: its own output level (:func:`frame_control`; ``key`` names what else the control depends
#: on, e.g. the iterations). ``apply`` takes it instead of solving again while the smoothed
#: level is still exactly that level (:func:`solved_control`): per frame (no smoothing) and
#: on a stream's first frame. A tuple, so the temporal filter passes it through unsmoothed.
SOLVED = "solved_control"
#: ``ParamMap.extra`` key of ``(key, c_mean, c_cap)``: the roots of the two solves behind
#: :data:`SOLVED`'s control (the mean target's, and the plain-mean cap's or None when the cap
#: was not reached), where the next frame's solves start (:func:`previous_roots`).
ROOTS = "control_roots"

_LUMA = np.array([0.299, 0.587, 0.114])
_SAMPLES = 2048          # pixels the control is solved on (enough for a mean to ~0.2 %)
# Effective strengths are quantised to steps of 1/256 in log for the table cache. Measured on
# the dev clip (150 frames, SCI / Zero-DCE++, smoothing 0.5): 1/64 made the output mean jump
# between neighbouring tables (frame-to-frame change 0.74 / 0.56 % against the input's 0.48 %),
# 1/256 gives 0.59 / 0.46 % with a table build every ~9 frames, 1/1024 0.50 / 0.44 % with one
# every ~2 frames. Apply blends the two tables either side of the wanted value
# (:func:`strength_steps`, ``Lut2D.build_blend``), so the output is continuous in s·c
# while the cache only holds tables at these steps.
_STRENGTH_STEPS = 256
#: tables each method keeps for the exposure control (256 KiB each): enough to cover the
#: range the control wanders through in a steady scene (17 keys in 150 frames of the dev clip)
TABLE_CACHE = 32


def luma_of(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of float (..., 3) values in [0, 1]; shape (...)."""
    return rgb @ _LUMA.astype(rgb.dtype, copy=False)


def mean_luma(frame: np.ndarray) -> float:
    """Mean BT.601 luma of a uint8 (H, W, 3) frame as a fraction 0..1, over every pixel
    (a subsample's mean of a noisy dark frame wanders by a few percent between frames,
    which showed as flicker)."""
    means = cv2.mean(np.ascontiguousarray(frame))[:3]
    return float(np.dot(means, _LUMA) / 255.0)


def subsample(img: np.ndarray, pixels: int = _SAMPLES) -> np.ndarray:
    """A strided subsample (n, C) of an (h, w, C) array with n <= about ``pixels``
    (every pixel of small arrays); the same stride for equally shaped arrays, so the
    samples of a frame and of its map line up."""
    h, w = img.shape[:2]
    ratio = h * w / pixels
    step = max(1, math.ceil(math.sqrt(ratio)))
    if h < step:    # thin frames: stride along the long side only
        sy, sx = h, max(1, math.ceil(ratio / h))
    elif w < step:
        sy, sx = max(1, math.ceil(ratio / w)), w
    else:
        sy = sx = step
    return img[sy // 2::sy, sx // 2::sx].reshape(-1, img.shape[2])


def area_samples(img: np.ndarray, pixels: int = _SAMPLES) -> np.ndarray:
    """Like :func:`subsample`, but each sample is the mean of its cell (an area
    reduction of the (h, w, C) array to about ``pixels`` samples), as float32 (n, C).

    A strided subsample of a moving, noisy picture sees different pixels on every frame:
    its mean drifted from the frame's by about a percent between frames on the dark dev
    clip, and the control turned that drift into output flicker. Cell means cover every
    pixel (their nonlinear-gain bias is steady from frame to frame)."""
    h, w = img.shape[:2]
    step = math.sqrt(h * w / pixels)
    if step <= 1.0:
        return img.reshape(-1, img.shape[2]).astype(np.float32)
    sw, sh = max(1, round(w / step)), max(1, round(h / step))
    f = img.astype(np.float32, copy=False)
    # cv2.resize takes at most 4 channels: maps with more (Zero-DCE's 24) go in groups of 3
    parts = [cv2.resize(np.ascontiguousarray(f[:, :, i:i + 3]), (sw, sh), interpolation=cv2.INTER_AREA)
             for i in range(0, f.shape[2], 3)]
    return np.concatenate([q.reshape(sh * sw, -1) for q in parts], axis=1)


def _log_part(y: np.ndarray) -> float:
    """mean(log(y·255 + 1)) over the darkest :data:`SCENE_DARK_FRACTION` of the samples
    ``y`` (n,) in 0..1 (all of them for fraction 1)."""
    v = np.log1p(y * 255.0)
    k = max(1, int(round(SCENE_DARK_FRACTION * v.size)))
    if k < v.size:
        v = np.partition(v, k - 1)[:k]
    return float(v.mean())


def scene_stat(y: np.ndarray) -> float:
    """The exposure statistic of luma samples ``y`` (n,) in 0..1, as an equivalent mean
    0..1: ``exp((1 − w)·log(mean(y)·255 + 1) + w·L) − 1) / 255`` with L the mean of
    log(y·255 + 1) over the darkest :data:`SCENE_DARK_FRACTION` of the samples
    (w = :data:`SCENE_LOG_WEIGHT`; the plain mean for w = 0). Nondecreasing in every
    sample (a sum of order statistics is)."""
    return _blend(float(y.mean()) if y.size else 0.0, y)


def _blend(mean: float, y: np.ndarray) -> float:
    """The statistic from the plain ``mean`` (0..1) and the luma samples ``y`` (n,) whose
    darkest part gives the log part; ``mean`` itself when the log part is off or ``y`` empty."""
    if SCENE_LOG_WEIGHT <= 0.0 or y.size == 0:
        return mean
    w = SCENE_LOG_WEIGHT
    level = (1.0 - w) * math.log(mean * 255.0 + 1.0) + w * _log_part(y)
    return (math.exp(level) - 1.0) / 255.0


def scene_mean(frame: np.ndarray) -> float:
    """:func:`scene_stat` of a uint8 (H, W, 3) frame: its mean luma over every pixel
    (:func:`mean_luma`) blended with the log part over its area cells
    (:func:`area_samples`), 0..1."""
    if SCENE_LOG_WEIGHT <= 0.0:  # the plain mean: no cells to sample
        return mean_luma(frame)
    return frame_cells(frame)[0]


def frame_cells(frame: np.ndarray) -> tuple[float, np.ndarray]:
    """``(scene_mean(frame), x)`` of a uint8 (H, W, 3) frame, with x its area cells
    (:func:`area_samples`) as float64 (n, 3) in 0..1, from one area reduction (the control
    is solved on the same cells the statistic reads)."""
    x = area_samples(frame).astype(np.float64) / 255.0
    m = mean_luma(frame)
    return (m if SCENE_LOG_WEIGHT <= 0.0 else _blend(m, luma_of(x))), x


def wanted_log_gain(mean_in: float, target: float) -> float:
    """``log(target·255 + 1) − log(mean_in·255 + 1)`` clamped to [0, log(MAX_GAIN)]
    (both means 0..1): never darken, never lift a near-black frame beyond ``MAX_GAIN``.
    The plain-mean rule of the classical gamma; the learned methods use
    :func:`shadow_log_gain`."""
    d = math.log(target * 255.0 + 1.0) - math.log(mean_in * 255.0 + 1.0)
    return min(max(0.0, d), math.log(MAX_GAIN))


def shadow_log_gain(stat_in: float, target: float) -> float:
    """The log gain the learned methods ask of a frame of statistic ``stat_in``
    (:func:`scene_mean`) for the ``target`` (both 0..1): with the deficit
    ``d = log(target·255 + 1) − log(stat_in·255 + 1)``, ``d·r/(1 + r)`` with
    ``r = (d / NORMAL_SOFTNESS)^SOFTNESS_POWER`` (``d`` itself for softness 0), clamped to
    [0, log(SHADOW_MAX_GAIN)]: never darken, lift a nearly normal frame little (a night
    stays a night), lift a dark one close to the target."""
    d = math.log(target * 255.0 + 1.0) - math.log(stat_in * 255.0 + 1.0)
    if d <= 0.0:
        return 0.0
    if NORMAL_SOFTNESS > 0.0:
        r = (d / NORMAL_SOFTNESS) ** SOFTNESS_POWER
        d = d * r / (1.0 + r)
    return min(d, math.log(SHADOW_MAX_GAIN))


def goal_mean(mean_in: float, log_gain: float) -> float:
    """The output mean luma (0..1) that a log gain asks for: the inverse of
    :func:`wanted_log_gain` (the target itself for the unsmoothed gain)."""
    return ((mean_in * 255.0 + 1.0) * math.exp(max(0.0, log_gain)) - 1.0) / 255.0


def output_level(mean_in: float, log_gain: float) -> float:
    """The output level ``log(mean_in·255 + 1) + log_gain`` that ``estimate`` stores for
    a frame of mean luma ``mean_in`` (0..1): the log of (the goal mean·255 + 1)."""
    return math.log(mean_in * 255.0 + 1.0) + log_gain


def level_log_gain(mean_in: float, level: float, max_gain: float | None = None) -> float:
    """The log gain that brings a frame of mean luma ``mean_in`` (0..1) to the (smoothed)
    output ``level``, clamped to [0, log(max_gain · SMOOTH_HEADROOM)] (``max_gain``
    defaults to ``MAX_GAIN``): the inverse of :func:`output_level` for this frame (exact
    for the frame the level was measured on)."""
    d = level - math.log(mean_in * 255.0 + 1.0)
    return min(max(0.0, d), math.log((MAX_GAIN if max_gain is None else max_gain) * SMOOTH_HEADROOM))


def control_problem(pmap: "ParamMap", exposure: float, method: str) -> tuple[np.ndarray, np.ndarray, float]:
    """What the control is solved on for a map of a learned method: ``(x, cells, goal)``
    with x float64 (n, 3) area-averaged samples of ``pmap.small`` in 0..1, ``cells``
    float64 (n, C) the map's samples over the same cells, and ``goal`` the wanted output
    mean luma (0..1) from the smoothed ``extra["log_level"]`` (recomputed from the small
    frame and ``exposure`` when absent). ``method`` names the method in the error raised
    when the map has no matching small frame."""
    if pmap.small is None or pmap.small.shape[:2] != pmap.data.shape[:2]:
        raise ValueError(f"{method} exposure control needs the map's downscaled frame (ParamMap.small)")
    cached = pmap.extra.get(CELLS)
    m, x = cached if isinstance(cached, tuple) else frame_cells(pmap.small)
    d = (level_log_gain(m, float(pmap.extra[LOG_LEVEL]), SHADOW_MAX_GAIN) if LOG_LEVEL in pmap.extra
         else shadow_log_gain(m, exposure))
    return x, area_samples(pmap.data).astype(np.float64), goal_mean(m, d)


def knee(x: np.ndarray, y: np.ndarray, k: float | None = None) -> np.ndarray:
    """Highlight protection: with the relative brightening t = (y − x) / (1 − x),
    t' = t below ``k`` and ``k + (1 − k)(1 − exp(−(t − k)/(1 − k)))`` above (smooth,
    slope 1 at the knee, approaching 1); returns ``x + (1 − x)·t'``.

    Monotone in y; y' >= x for y >= x, and y' < 1 unless x = 1, so a lit area keeps its
    gradation instead of clipping. ``k`` >= 1 returns ``y`` unchanged.

    Args:
        x: input values in [0, 1]; y: enhanced values (>= x, may exceed 1); broadcastable
        float arrays (float64 for tables).
        k: the knee; None reads :data:`KNEE` at the call (so the control's model and the
            apply tables always use the same knee).
    """
    if k is None:
        k = KNEE
    if k >= 1.0:
        return y
    x, y = np.asarray(x), np.asarray(y)
    room = 1.0 - x
    # t = 0 where there is no room (x = 1); the control's models call this ~20 times a frame
    t = np.divide(y - x, room, out=np.zeros(np.broadcast_shapes(x.shape, y.shape),
                                            np.result_type(x, y, np.float32)), where=room > 0)
    over = t > k  # only these need the exponential (tables: most entries are below)
    t[over] = k + (1.0 - k) * -np.expm1((k - t[over]) / (1.0 - k))
    return x + room * t


def highlight_limit(out_luma: Callable[[float], np.ndarray], in_luma: np.ndarray, c: float) -> float:
    """The largest control c' <= ``c`` at which at most :data:`HIGHLIGHT_BUDGET` of the
    samples that were not bright (input luma below HIGHLIGHT_FROM × HIGHLIGHT_LEVEL) are
    lifted above :data:`HIGHLIGHT_LEVEL`.

    Args:
        out_luma: c → predicted output luma (n,) of the samples, 0..1, nondecreasing in c.
        in_luma: the samples' input luma (n,), 0..1.
        c: the control the mean target asks for.

    Counts are soft (weights ramp in over the input and the output luma), so the limit is
    continuous in the samples; it is found by bisection to c/65536. Bright areas that stay
    bright (a sky, a window) do not count; a lit floor or wall that a dark surround's mean
    would push to near-white does.
    """
    if c <= 0.0:
        return c
    level = HIGHLIGHT_LEVEL
    # soft counts (continuous in the samples, so the limit does not jump between frames of
    # a video as cells cross a threshold): a sample's weight falls from 1 to 0 as its input
    # rises from 0.5 × to HIGHLIGHT_FROM × the level, and it counts as over the level along
    # a ramp ±_HIGHLIGHT_RAMP / 2 around it
    top = HIGHLIGHT_FROM * level
    bottom = min(0.5 * level, top)
    dim = np.clip((top - in_luma) / max(top - bottom, 1e-6), 0.0, 1.0)
    keep = dim > 0.0
    dim, allowed = dim[keep], HIGHLIGHT_BUDGET * in_luma.size

    def ok(v: float) -> bool:
        over = np.clip((out_luma(v)[keep] - level) / _HIGHLIGHT_RAMP + 0.5, 0.0, 1.0)
        return float(dim @ over) <= allowed

    if ok(c):
        return c
    lo, hi = 0.0, c
    for _ in range(16):
        mid = 0.5 * (lo + hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def limited_log_gain(out_luma: Callable[[float], np.ndarray], in_luma: np.ndarray, mean_in: float,
                     log_gain: float, c_max: float) -> float:
    """``log_gain`` (the wanted one, see :func:`wanted_log_gain`) lowered to what the
    control reaches within the :func:`highlight_limit`, for a frame of mean luma
    ``mean_in`` (0..1) whose samples' output luma is ``out_luma(c)``.

    Done in ``estimate``, so the limit is one number the temporal filter smooths with the
    output level; solved in ``apply`` per frame it made the output mean jump with the count of
    samples near the level (SCI on the dev clip, default smoothing: BFI 0.11 → 1.0 %;
    0.16 % this way)."""
    return _limited(out_luma, in_luma, mean_in, log_gain, c_max)[0]


def _limited(out_luma: Callable[[float], np.ndarray], in_luma: np.ndarray, mean_in: float,
             log_gain: float, c_max: float, guesses: tuple[float | None, float | None] = (None, None)
             ) -> tuple[float, float | None, tuple[float, float | None]]:
    """:func:`limited_log_gain`, the control that reaches it (None when the lowered gain
    was clamped at 0, where the control is whatever leaves the frame as it is), and the
    roots of the two solves (the mean target's; the plain-mean cap's, or None when the cap
    was not reached). ``guesses``: controls near those roots, where the solves start (see
    :func:`solve_control`)."""
    out_luma = _remembered(out_luma)  # the solves and the limit revisit 0, c_max and c
    goal = goal_mean(mean_in, log_gain)
    c = c_wanted = solve_control(lambda v: scene_stat(out_luma(v)), goal, c_max, guess=guesses[0])
    c_cap = None
    if SCENE_LOG_WEIGHT > 0.0 and in_luma.size:
        # the plain mean may rise at most MAX_MEAN_GAIN-fold (the statistic reads the shadows);
        # below that cap by more than the solver's tolerance at c, its root lies above c
        plain = goal_mean(float(in_luma.mean()), math.log(MAX_MEAN_GAIN))
        if not float(out_luma(c).mean()) < plain - _TOL:
            c_cap = solve_control(lambda v: float(out_luma(v).mean()), plain, c_max, guess=guesses[1])
            c = min(c, c_cap)
    roots = (c_wanted, c_cap)
    c_lim = highlight_limit(out_luma, in_luma, c)
    if c_lim >= c_wanted:
        return log_gain, c_wanted, roots
    reached = scene_stat(out_luma(c_lim))
    lowered = math.log((reached * 255.0 + 1.0) / (mean_in * 255.0 + 1.0))
    if lowered >= log_gain:  # as limited_log_gain's min() would read it
        return log_gain, c_wanted, roots
    return ((lowered, c_lim) if lowered > 0.0 else (0.0, None)) + (roots,)


def _remembered(fn: Callable[[float], np.ndarray]) -> Callable[[float], np.ndarray]:
    """``fn`` with its results kept per argument (one control problem's model, c → luma)."""
    seen: dict[float, np.ndarray] = {}

    def call(c: float) -> np.ndarray:
        if c not in seen:
            seen[c] = fn(c)
        return seen[c]
    return call


def frame_log_gain(img: np.ndarray, data: np.ndarray, exposure: float,
                   luma_model: Callable[[np.ndarray, np.ndarray], Callable[[float], np.ndarray]],
                   c_max: float, cells: tuple[float, np.ndarray] | None = None) -> float:
    """The log gain ``estimate`` stores for uint8 frame ``img`` (h, w, 3) and its map
    ``data`` (h, w, C): :func:`wanted_log_gain` for ``exposure``, within the highlight limit
    (:func:`limited_log_gain`) solved on their area-averaged cells.

    Args:
        luma_model: (x (n, 3) in 0..1, cells (n, C)) → (c → output luma (n,)), the
            method's fast-path arithmetic.
        c_max: upper bound of the method's control.
        cells: :func:`frame_cells` of ``img`` when the caller has them.
    """
    return frame_control(img, data, exposure, luma_model, c_max, cells)[0]


def frame_control(img: np.ndarray, data: np.ndarray, exposure: float,
                  luma_model: Callable[[np.ndarray, np.ndarray], Callable[[float], np.ndarray]],
                  c_max: float, cells: tuple[float, np.ndarray] | None = None,
                  guesses: tuple[float | None, float | None] = (None, None)
                  ) -> tuple[float, float | None, tuple[float, float | None]]:
    """:func:`frame_log_gain` (arguments the same), the control c that gives it on the
    cells (the root the mean target's solve found, or the highlight limit's when that
    lowered the gain; None when the gain was lowered to 0) and the roots of its two solves
    (see :func:`_limited`). ``guesses``: controls near those roots (the previous frame's,
    :func:`previous_roots`): on video the solves then take fewer model evaluations, and
    the result is the same within the solver's tolerance."""
    m, x = cells if cells is not None else frame_cells(img)
    out = luma_model(x, area_samples(data).astype(np.float64))
    return _limited(out, luma_of(x), m, shadow_log_gain(m, exposure), c_max, guesses)


def previous_roots(previous: "ParamMap | None", key: object = None) -> tuple[float | None, float | None]:
    """The roots of the solves the estimate made for ``previous`` (a stream's last
    estimate, :data:`ROOTS`), as guesses for the next frame's; (None, None) when there are
    none or they were for another ``key`` (iteration count)."""
    roots = previous.extra.get(ROOTS) if previous is not None else None
    if not isinstance(roots, tuple) or roots[0] != key:
        return None, None
    return roots[1], roots[2]


def solved_control(pmap: "ParamMap", key: object = None, exact: bool = True) -> float | None:
    """The control ``estimate`` solved for ``pmap``'s output level (:data:`SOLVED`), for
    ``key``; None when none was recorded for that key. ``exact``: only while the map still
    asks for exactly that level (then it is the answer; otherwise the caller solves, and
    ``exact=False`` gives it as the solver's ``guess``: a smoothed level lies near it)."""
    solved = pmap.extra.get(SOLVED)
    if not isinstance(solved, tuple) or LOG_LEVEL not in pmap.extra:
        return None
    level, k, c = solved
    if c is None or k != key or (exact and float(pmap.extra[LOG_LEVEL]) != level):
        return None
    return float(c)


_TOL = 0.05 / 255.0  # solve_control's default tolerance (output luma 0..1)


def solve_control(predict: Callable[[float], float], goal: float, c_max: float,
                  tol: float = _TOL, max_iter: int = 30, guess: float | None = None) -> float:
    """The smallest-error c in [0, c_max] with ``predict(c) == goal`` for a nondecreasing
    ``predict`` (regula falsi, Illinois variant, then bisection safeguard). Returns 0 when
    ``goal`` <= predict(0) + tol and ``c_max`` when goal >= predict(c_max).

    Args:
        predict: c → predicted output mean luma (0..1).
        goal: wanted mean luma (0..1).
        c_max: upper bound of the control.
        tol: stop when |predict(c) − goal| <= tol (0.05 grey levels: half a level is
            0.5 % of a mean at the default target and lets the output mean wander by that
            much between frames on video).
        guess: a control near the root (apply's smoothed level lies near the level the
            estimate solved): tried first, then a bracket 5 % of it wide on the root's
            side; a root outside that bracket is searched from there as without a guess.
            On video this takes 2–3 evaluations of ``predict`` instead of about 6.
    """
    lo, hi = 0.0, float(c_max)
    f_lo = f_hi = None
    if guess is not None and lo < guess < hi:
        f = predict(guess) - goal
        if abs(f) <= tol:
            return guess
        step = max(0.05 * guess, 1e-3)
        c2 = min(hi, guess + step) if f < 0.0 else max(lo, guess - step)
        if lo < c2 < hi:
            f2 = predict(c2) - goal
            if abs(f2) <= tol:
                return c2
            if f < 0.0:
                lo, f_lo = (guess, f) if f2 > 0.0 else (c2, f2)
                if f2 > 0.0:
                    hi, f_hi = c2, f2
            else:
                hi, f_hi = (guess, f) if f2 < 0.0 else (c2, f2)
                if f2 < 0.0:
                    lo, f_lo = c2, f2
        elif f < 0.0:
            lo, f_lo = guess, f
        else:
            hi, f_hi = guess, f
    if f_lo is None:
        f_lo = predict(lo) - goal
        if f_lo >= -tol:  # already there (a frame at or above the target is left alone)
            return lo
    if f_hi is None:
        f_hi = predict(hi) - goal
        if f_hi <= 0.0:
            return hi
    side = 0
    c = hi
    for _ in range(max_iter):
        c = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo < c < hi:
            c = 0.5 * (lo + hi)
        f = predict(c) - goal
        if abs(f) <= tol:
            return c
        if f < 0.0:
            lo, f_lo = c, f
            if side == -1:
                f_hi *= 0.5
            side = -1
        else:
            hi, f_hi = c, f
            if side == 1:
                f_lo *= 0.5
            side = 1
    return c


def strong_control(out_luma: Callable[[float], np.ndarray], x: np.ndarray, c: float, s: float,
                   c_max: float) -> float:
    """The exponent multiplier for ``strength`` s > 1 at the exposure control c: s·c, but no
    further than where the plain mean output luma reaches :data:`MAX_MEAN_GAIN` times the
    input's (the cap every default frame keeps), and never below c, so raising the strength
    never darkens. s <= 1 gives s·c.

    Without the ceiling s·c multiplied a control already at that cap (a very dark clip at
    the default exposure): strength 1.6 turned the dark party clip white, and with denoise 0
    its near-black areas into flat violet blotches (the channel-wise gain raised to 4.4).

    Args:
        out_luma: c → predicted output luma (n,) of the samples, nondecreasing in c.
        x: the samples' input (n, 3) in 0..1.
        c: the control solved for the exposure target (strength 1).
        s: the strength.
        c_max: the largest multiplier to consider.
    """
    if s <= 1.0:
        return s * c
    plain = goal_mean(float(luma_of(x).mean()), math.log(MAX_MEAN_GAIN))
    ceiling = solve_control(lambda v: float(out_luma(v).mean()), plain, c_max)
    return max(c, min(s * c, ceiling))


def quantise_strength(s: float) -> float:
    """An effective strength rounded to steps of 1/256 in log (so lookup tables built per
    strength can be cached); 0 stays 0. Nondecreasing in ``s``."""
    if s <= 0.0:
        return 0.0
    return math.exp(round(math.log(s) * _STRENGTH_STEPS) / _STRENGTH_STEPS)


def strength_steps(s: float) -> tuple[float, float, float]:
    """The two cached-table strengths either side of an effective strength ``s`` and the
    weight of the upper one: ``(s_lo, s_hi, f)`` with s_lo <= s <= s_hi on the 1/256
    log grid of :func:`quantise_strength` and f in [0, 1) linear in log s (``s_hi ==
    s_lo`` and f = 0 on a grid point; ``(0, 0, 0)`` for s <= 0).

    A single quantised table made the output mean step by about log G / 256 per step
    (≈ 1.1 % for SCI on the dark dev clip) and flip between neighbours as the control
    wobbled, which showed as brightness flicker; blending the neighbours removes it."""
    if s <= 0.0:
        return 0.0, 0.0, 0.0
    v = math.log(s) * _STRENGTH_STEPS
    if abs(v - round(v)) < 1e-6:  # on a grid point (up to rounding)
        q = math.exp(round(v) / _STRENGTH_STEPS)
        return q, q, 0.0
    lo = math.floor(v)
    f = v - lo
    return math.exp(lo / _STRENGTH_STEPS), math.exp((lo + 1) / _STRENGTH_STEPS), f
