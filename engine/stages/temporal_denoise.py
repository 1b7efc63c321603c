"""Motion-adaptive temporal denoising of full-resolution frames (the ``denoise`` parameter).

Enhancement multiplies dark pixels by large gains and lifts the sensor noise with them,
so :class:`TemporalDenoiser` runs on the dark *input*, before estimation and apply: a
recursive filter that blends each new frame with the previous denoised one,

    out_t = w · in_t + (1 − w) · out_{t−1},

with a per-pixel weight ``w`` that is small (strong averaging) where the pixel did not
change beyond the noise level, and rises to 1 (no averaging, no smear) where it did:

    d = |box7×7(luma(in_t)) − box7×7(luma(g·out_{t−1}))|     (eighths of a grey level)
    w = w_min + (1 − w_min) · clip((d − 3·m) / (3·m), 0, 1),  w_min = 1 / (1 + 7 · denoise)

where ``g`` is the global exposure ratio of ``in_t`` to ``out_{t−1}`` (the previous
output is re-exposed by it, so exposure flicker and lamps are followed, not averaged
away) and ``m`` is the running median of ``d`` over the frame (most of a frame is
static; for Gaussian noise 3·m ≈ 2 σ_d). Averaging 7×7 pixels *before* the difference
cuts the noise std about 7-fold while a moving object's change stays, so a dim object on
a dark, very noisy source is still seen to move (a per-pixel test, even with |diff|
blurred afterwards, keeps the noise's mean and missed it: the object was averaged into
a ghost trail). The noise scale that fades the filter in (``noise_level``) is the median
of box3×3(luma(|in_t − g·out_{t−1}|)), in grey levels. ``denoise`` 1 averages about 15
static frames (noise std × 0.26), the default about 5. The amount fades in with the
noise: a source whose ``noise_level`` is below half a grey level (clean, or flattened by
a codec) passes through untouched, because re-quantising its temporal average to 8 bits
would only add texture; full strength from ``noise_level`` = 1.5. All steps are OpenCV
vectorised operations on uint8/float32 buffers (one 256-entry LUT maps ``d`` to ``w``);
the blend and its rounding run band by band (:mod:`engine.stages.bands`), so the float
planes stay in cache. The cost at 1280×720 is a few milliseconds on one core.

**A moving camera.** A motion-adaptive filter does not average what moved, and in a
hand-held clip that is most of the picture. So before the comparison the previous output
is moved along with the camera. On exposure-normalised lumas at most 240 pixels wide
(box 5×5 averaged), the median of the backward optical flow (DIS, ultrafast preset) gives
a first guess of the camera's translation, and up to three Gauss-Newton steps on the
whole picture refine it, leaving out pixels whose residual is over three times the
median one (a moving object; the flow's median alone was pulled ~40 % towards a large
moving light). The recursive state (and the residual-variance map) is then resampled by
that whole-frame translation (bilinear, edges replicated; the new strip at the entering
edge is "moving" and restarts). The shift is used only when it explains the change:
moved, the small previous luma must differ from the current one by less than 0.95 of
what it did unmoved (mean absolute difference; 0.995 when the shift is within half a
pixel of the one used on the previous frame: a camera moves smoothly, noise-led shifts
do not), it must be at least a quarter pixel, and it must move the whole picture: the
pixels it fits clearly better (by a quarter of the median difference) must outnumber
those it fits clearly worse 1.3 to 1. On a static noisy camera the flow follows the grain
and the fit can find a spurious sub-pixel shift, but moving by it lowers the difference
by 1-3 %; a bright object crossing a smooth static scene lowers it on its own, but the
scene's pixels split about evenly between better and worse (so do a flat background's).
The price: a pan slower than about 1 pixel per frame at 1280×720 (a fifth of a small
pixel) does not clear the first bar on a noisy source and is left to the motion test. Where the translation does not fit (a turn, parallax, an object moving on its
own) the motion test still sees the difference and averages nothing there, as without
compensation. It runs only while the filter is averaging (not on a clean source), and
not on frames whose small luma is under 32 pixels on its short side
(:mod:`engine.stages.optical_flow`); at
1280×720 the estimate costs about 2 ms and moving the state 1.5 ms more.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.frame import levels_to_float, with_levels
from engine.stages.bands import row_bands
from engine.stages.optical_flow import dis_flow
from engine.stages.robust import median

__all__ = ["TemporalDenoiser", "ResidualNoise", "VarianceStep", "DEFAULT_DENOISE", "min_weight"]

#: Default ``denoise``: about a 5-frame average on static pixels (noise figures in
#: docs/steady-video.md).
DEFAULT_DENOISE = 0.5

_LOW, _HIGH = 3.0, 6.0   # ramp of w between LOW·m and HIGH·m (m: median motion difference;
                         # for Gaussian noise 3·m ≈ 2 σ and 6·m ≈ 4 σ)
_ODDS_MAX = 1e7          # w / (1 − w) of a moving pixel (w = 1): the state's share 1e-7
_MOTION_BOX = 7          # box size (pixels) the lumas are averaged over for the motion test
_SCALE = 8.0             # motion differences are kept in eighths of a grey level
_MIN_M = 2.0             # floor of m, eighths of a grey level
_CLEAN, _RAMP = 0.5, 1.0  # no denoising below m = 0.5 grey levels, full strength from 1.5
_SHIFT_SIZE = 240        # long side (pixels) of the lumas the camera's shift is measured on
_SHIFT_GAIN = 0.95       # a shift is used when it lowers their difference below this fraction
_SHIFT_KEEP = 0.995      # ... or this one when it is near the previous frame's shift:
_SHIFT_NEAR = 0.5        # within this many full-size pixels (or a quarter of that shift)
_SHIFT_VOTES = 1.3       # pixels fitted better by the shift / pixels fitted worse, at least
_SHIFT_MARGIN = 0.25     # "clearly": by this fraction of the median unmoved difference
_SHIFT_MIN = 0.25        # shifts shorter than this (full-size pixels) are not worth resampling
_SHIFT_BOX = 5           # box (small-size pixels) averaged before that difference
_SHIFT_STEPS = 3         # Gauss-Newton steps refining the flow's median shift
_SHIFT_BORDER = 4        # band (small-size pixels) left out: Sobel edges, the moved copy's replicated edge


def min_weight(denoise: float) -> float:
    """Weight of the new frame on static pixels: ``1 / (1 + 7 · denoise)``, denoise in [0, 1]."""
    s = min(max(float(denoise), 0.0), 1.0)
    return 1.0 / (1.0 + 7.0 * s)


def _gain(frame: np.ndarray, prev: np.ndarray) -> float:
    """Global exposure ratio of ``frame`` to ``prev`` (uint8 (H, W, 3)), from a regular
    subsample of about 16,000 values: the median per-pixel ratio ``r0`` gives a first
    guess, the values that follow it to within three robust noise deviations are kept (a
    moving object covering less than half of the picture is left out), and the ratio of
    their sums is the estimate (noise averages out, no truncation bias)."""
    h, w = frame.shape[:2]
    step = max(1, int((h * w / 5400) ** 0.5))
    a = frame[::step, ::step].astype(np.float32).ravel()
    b = prev[::step, ::step].astype(np.float32).ravel()
    keep = (a + b) > 8.0
    if np.count_nonzero(keep) < 16:
        return 1.0
    a, b = a[keep], b[keep]
    r0 = median((a + 1.0) / (b + 1.0))
    res = np.abs(a - r0 * b)
    inl = res <= 3.0 * (1.4826 * median(res) + 0.5)
    if np.count_nonzero(inl) < 16:
        return r0
    return float(a[inl].sum() + 1.0) / float(b[inl].sum() + 1.0)


def _subsample_median(plane: np.ndarray) -> tuple[float, np.ndarray]:
    """Median of a uint8 (H, W) plane from a regular 1-in-16 subsample (plenty for a
    median), and that subsample's histogram, int (256,)."""
    sub = np.ascontiguousarray(plane[::4, ::4])
    # OpenCV's histogram: exact counts (floats below 2^24), twice as quick as bincount
    hist = cv2.calcHist([sub], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    return float(np.searchsorted(np.cumsum(hist), 0.5 * sub.size)), hist


def _track_level(level: float, median: float, fresh: bool) -> float:
    """A running level that follows a frame median slowly (motion bursts raise it only
    gradually): the median itself when ``fresh``."""
    return median if fresh else 0.9 * level + 0.1 * min(median, 2.0 * level + 1.0)


def _shift_luma(y: np.ndarray) -> np.ndarray:
    """A uint8 (H, W) luma plane area-averaged to at most ``_SHIFT_SIZE`` pixels on the
    long side and stretched to a mean of 110 (dark frames flow like bright ones).

    Halved first while it stays at least that long (an odd last row or column left out):
    OpenCV's 2× area path is about 30 times quicker than a fractional reduction of the
    full frame (720p: 0.18 ms against 0.87 ms for the three steps), and the last step is
    taken on a small picture."""
    while max(y.shape) >= 2 * _SHIFT_SIZE and min(y.shape) >= 2:
        h, w = y.shape
        y = cv2.resize(y[: h & ~1, : w & ~1], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    h, w = y.shape
    s = min(1.0, _SHIFT_SIZE / max(h, w))
    if s < 1.0:
        y = cv2.resize(y, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.convertScaleAbs(y, alpha=110.0 / max(1.0, float(y.mean())))


def _refine_shift(a: np.ndarray, b: np.ndarray, tx: float, ty: float,
                  iterations: int = _SHIFT_STEPS) -> tuple[float, float]:
    """Refine a translation (tx, ty) with ``b(x + tx, y + ty)`` ≈ ``a(x, y)`` by
    Gauss-Newton steps on the whole picture (float32 (h, w) lumas, equally exposed, at
    least 9 pixels a side). Each step leaves out the border band and the pixels whose
    residual exceeds three times the median one (a moving object, occlusions), so the
    background's shift wins; the median of a coarse flow is biased towards a large moving
    object's motion, this is not. Returns the refined (tx, ty) in pixels of ``a``."""
    h, w = a.shape
    m = _SHIFT_BORDER
    inner = np.zeros((h, w), np.float32)
    inner[m:-m, m:-m] = 1.0
    inner = inner.ravel()
    for _ in range(iterations):
        moved = _translate(b, tx, ty)
        # gradients of the moved previous frame, not of ``a``: ``a``'s own noise is in the
        # residual, and its gradients would correlate with it (a biased, noise-led shift)
        gx = cv2.Sobel(moved, cv2.CV_32F, 1, 0, ksize=3, scale=0.125).ravel()
        gy = cv2.Sobel(moved, cv2.CV_32F, 0, 1, ksize=3, scale=0.125).ravel()
        r = cv2.subtract(moved, a).ravel()
        mag = np.abs(r)
        limit = 3.0 * median(mag.reshape(h, w)[m:-m:3, m:-m:3]) + 1e-3
        weight = (mag <= limit) * inner  # 0/1 per pixel, as float32
        wx, wy = gx * weight, gy * weight
        sxx, sxy, syy = float(wx @ gx), float(wx @ gy), float(wy @ gy)
        det = sxx * syy - sxy * sxy
        if not det > 1e-6 * max(1.0, sxx * syy):  # no texture to lock onto
            break
        bx, by = float(wx @ r), float(wy @ r)
        dx, dy = -(syy * bx - sxy * by) / det, -(sxx * by - sxy * bx) / det
        if not (abs(dx) < 2.0 and abs(dy) < 2.0):  # a step this large is not a refinement
            break
        tx, ty = tx + dx, ty + dy
        if dx * dx + dy * dy < 1e-4:
            break
    return tx, ty


def _translate(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``out(x, y) = image(x + dx, y + dy)`` (bilinear, edges replicated), same shape and dtype."""
    h, w = image.shape[:2]
    m = np.float32([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class VarianceStep:
    """One averaging frame's update of the residual noise variance (:class:`ResidualNoise`).

    Attributes:
        motion: uint8 (H, W), the frame's motion difference ``d`` (eighths of a grey level).
        w2, rest2: float32 (256,), w² and (1 − w)² by ``d`` (the frame's weight table).
        shift: (dx, dy), full-size pixels: the camera translation the state was moved by
            before this frame was blended ((0.0, 0.0): not moved).
    """

    motion: np.ndarray
    w2: np.ndarray
    rest2: np.ndarray
    shift: tuple[float, float]


class ResidualNoise:
    """The residual noise variance v at half size, as a fraction of the input's, of a
    temporal filter's output, updated frame by frame (in frame order) from the filter's
    :class:`VarianceStep`: v is moved with the state, then v ← w² + (1 − w)² v, and
    ``noise_ratio`` = v / median(v) clipped to [1, 8]: how much noisier than the frame's
    typical pixel each pixel still is. A pixel that was moving (w = 1) starts again at v = 1
    and needs several frames to get down to the static level (w_min / (2 − w_min), 0.125 at
    the default): the area a moving object just left carries the input's noise, more than
    the frame's noise level says. A frame the filter did not average (``None``) drops v.

    The filter keeps one and updates it as it goes; the two-half processor hands each
    frame's ratio on to the half that runs the spatial stage.
    """

    def __init__(self) -> None:
        self._var: np.ndarray | None = None
        self.noise_ratio: np.ndarray | None = None

    def reset(self) -> None:
        self._var = self.noise_ratio = None

    def update(self, step: VarianceStep | None) -> np.ndarray | None:
        """Apply one frame's step (None: the frame was not averaged); returns
        ``noise_ratio``, float32 ((H+1)//2, (W+1)//2), or None."""
        if step is None:
            self.reset()
            return None
        mk = step.motion
        h, w = mk.shape
        dx, dy = step.shift
        if self._var is not None and (dx != 0.0 or dy != 0.0):
            self._var = _translate(self._var, dx * self._var.shape[1] / w, dy * self._var.shape[0] / h)
        small = cv2.resize(mk, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        w2, rest2 = cv2.LUT(small, step.w2), cv2.LUT(small, step.rest2)
        if self._var is None or self._var.shape != w2.shape:
            self._var = np.ones_like(w2)
        # numpy in place: OpenCV reads an (n, 1) array with n <= 4 as a scalar (thin frames)
        v = self._var
        v *= rest2
        v += w2
        med = max(1e-3, median(v[::4, ::4]))
        self.noise_ratio = np.clip(v * np.float32(1.0 / med), 1.0, 8.0)
        return self.noise_ratio


class TemporalDenoiser:
    """Recursive, motion-adaptive temporal filter on uint8 (H, W, 3) RGB frames.

    ``process(frame, denoise)`` returns the denoised frame (a new uint8 array). The first
    frame, a frame of a new size and any frame after ``reset()`` pass through unchanged.
    ``denoise`` 0 returns the input and drops the state. One instance serves one stream
    (one thread at a time).

    Args:
        motion_compensation: follow a moving camera (see the module docstring); False
            gives the purely motion-adaptive filter.

    Attributes:
        noise_level: running median of the box3×3 luma |difference|, grey levels.
        motion_noise: running median of the motion difference ``d``, grey levels (kept, not
            updated, while the source is too clean to denoise).
        moving_fraction: fraction of pixels of the last frame taken as moving (w > w_min).
        effective: the denoise amount actually used on the last frame: ``denoise`` scaled
            by how noisy the source is (0 below m = 0.5 grey levels, full from m = 1.5).
        gain: global exposure ratio of the last frame to the previous output (the state is
            scaled by it first, so exposure flicker and light changes are followed, not
            averaged away: denoising removes noise, the temporal filter handles flicker).
        noise_ratio: float32 ((H+1)//2, (W+1)//2) in [1, 8], or None when the last frame was
            not filtered: each pixel's residual noise variance over the frame's median
            (:class:`ResidualNoise`); the spatial stage scales its ε with it. A new array
            each frame (a caller may hand it on).
        shift: (dx, dy), full-size pixels: the camera translation the previous output was
            moved by for the last frame (it sat at (x + dx, y + dy) in the previous one);
            (0.0, 0.0) when it was not moved.
    """

    def __init__(self, motion_compensation: bool = True) -> None:
        self.motion_compensation = motion_compensation
        self._residual = ResidualNoise()
        self._dis: cv2.DISOpticalFlow | None = None  # made on first use, kept across resets
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame; the next one passes through."""
        self._state: np.ndarray | None = None   # float32 (H, W, 3) denoised frame
        self._stale = False  # _state is not filled in: it is exactly _prev's levels
        self._prev: np.ndarray | None = None    # uint8 copy of it
        self._cur: np.ndarray | None = None     # float32 buffer for a band of the input
        self._lut: np.ndarray | None = None
        self._lut_rest: np.ndarray | None = None
        self._lut_odds: np.ndarray | None = None
        self._ones: np.ndarray | None = None    # float32 band of ones, the state's blend weight
        self._lut_key: tuple[float, float] | None = None
        self._residual.reset()
        self.noise_ratio: np.ndarray | None = None
        self.noise_level = 0.0
        self._motion_level = 0.0   # running median of the motion difference, eighths of a level
        self._motion_fresh = True  # the next motion median is taken as it is
        self.motion_noise = 0.0
        self._fresh = True
        self.moving_fraction = 0.0
        self.gain = 1.0
        self.effective = 0.0
        self.shift = (0.0, 0.0)
        self._last_small: np.ndarray | None = None  # _shift_luma of the last input

    def flush(self) -> None:
        """End of stream: the filter holds no frames back; drops the state."""
        self.reset()

    def _weights_lut(self, median: float, denoise: float) -> np.ndarray:
        m = max(_MIN_M, round(median * 2.0) / 2.0)  # quantised so the LUT is rarely rebuilt
        key = (m, round(float(denoise), 3))
        if key != self._lut_key:
            wmin = min_weight(denoise)
            d = np.arange(256, dtype=np.float32)
            ramp = np.clip((d - _LOW * m) / ((_HIGH - _LOW) * m), 0.0, 1.0)
            self._lut = (wmin + (1.0 - wmin) * ramp).astype(np.float32)
            self._lut_rest = np.float32(1.0) - self._lut  # the state's weight, by the same LUT
            # the new frame's weight against the state's 1 (blendLinear divides by their sum):
            # one per-pixel plane instead of two; w = 1 (moving) stays finite
            odds = self._lut / np.maximum(self._lut_rest, 1e-12)
            self._lut_odds = np.minimum(odds, _ODDS_MAX).astype(np.float32)
            self._lut_key = key
        assert self._lut is not None
        return self._lut

    def _note_noise(self, step: VarianceStep | None) -> None:
        """Apply this frame's residual-noise update (None: the frame was not averaged)."""
        self.noise_ratio = self._residual.update(step)

    def _motion_diff(self, gray: np.ndarray) -> np.ndarray:
        """|box_K(gray) − box_K(luma(prev))| as uint8 in eighths of a grey level (saturating
        at 31.9 levels), same (H, W) as ``gray`` (the frame's uint8 luma)."""
        assert self._prev is not None
        k = _MOTION_BOX
        # the box filter is linear: one box of the signed difference (|sum| <= 49 · 255 fits
        # int16) equals the difference of the two boxes, at half the cost; summed as two 1-D
        # passes of ones (exact integers in float), which OpenCV runs about a fifth faster
        # than its int16 box filter (1080p: 1.9 against 2.4 ms; the same sums)
        diff = cv2.subtract(gray, cv2.cvtColor(self._prev, cv2.COLOR_RGB2GRAY), dtype=cv2.CV_16S)
        ones = np.ones(k, np.float32)
        return cv2.convertScaleAbs(cv2.sepFilter2D(diff, cv2.CV_16S, ones, ones), alpha=_SCALE / (k * k))

    def _camera_shift(self, gray: np.ndarray) -> tuple[float, float]:
        """The camera's translation from the previous output to this frame (its luma
        ``gray``, uint8 (H, W)) as (dx, dy) in full-size pixels (``frame(x, y)`` ≈
        ``prev(x + dx, y + dy)``), or (0.0, 0.0) when the frames are too small, the shift
        is under ``_SHIFT_MIN`` or it does not explain the change (:meth:`_explains`)."""
        assert self._prev is not None
        # the state is in the previous frame's place, so the previous *input*'s small luma
        # (kept from the last call) serves as well as the output's and costs nothing
        a, b = _shift_luma(gray), self._last_small
        if b is None or b.shape != a.shape:
            b = _shift_luma(cv2.cvtColor(self._prev, cv2.COLOR_RGB2GRAY))
        self._last_small = a
        sh, sw = a.shape
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        # for p in a: p + flow(p) is where it was in b; None for a short side under 32
        # pixels (ultrafast DIS would crash on it: engine.stages.optical_flow)
        flow = dis_flow(self._dis, a, b)
        if flow is None:
            return 0.0, 0.0
        flow = flow[::2, ::2]
        box = (_SHIFT_BOX, _SHIFT_BOX)
        ab, bb = cv2.boxFilter(a, cv2.CV_32F, box), cv2.boxFilter(b, cv2.CV_32F, box)
        tx, ty = _refine_shift(ab, bb, median(flow[..., 0]), median(flow[..., 1]))
        h, w = gray.shape
        dx, dy = tx * w / sw, ty * h / sh
        if dx * dx + dy * dy < _SHIFT_MIN * _SHIFT_MIN or not self._explains(ab, bb, tx, ty, dx, dy):
            return 0.0, 0.0
        return dx, dy

    def _explains(self, ab: np.ndarray, bb: np.ndarray, tx: float, ty: float,
                  dx: float, dy: float) -> bool:
        """Whether moving the small previous luma ``bb`` by (tx, ty) (small pixels; (dx, dy)
        at full size) explains its change to ``ab`` (both float32 (h, w), box-averaged)."""
        m = _SHIFT_BORDER
        core = (slice(m, -m), slice(m, -m))
        r0 = cv2.absdiff(ab, bb)[core]
        rt = cv2.absdiff(ab, _translate(bb, tx, ty))[core]
        unmoved, moved = float(r0.sum()), float(rt.sum())
        # a camera moves smoothly, noise-led shifts do not: a shift close to the one used
        # on the previous frame keeps being followed on a lower bar (a slow pan, whose
        # small-size shift barely lowers the noisy difference, is followed once caught)
        px, py = self.shift
        near = (px != 0.0 or py != 0.0) and (dx - px) ** 2 + (dy - py) ** 2 < max(
            _SHIFT_NEAR ** 2, 0.0625 * (px * px + py * py))
        if not moved < (_SHIFT_KEEP if near else _SHIFT_GAIN) * unmoved:
            return False
        # ... and it moves the whole picture: the pixels the shift fits clearly better must
        # outnumber those it fits clearly worse by _SHIFT_VOTES. A bright object crossing a
        # smooth static scene lowers the total difference on its own, while the scene's
        # pixels split about evenly (they were followed on ~40 % of a generated clip's frames)
        margin = _SHIFT_MARGIN * median(r0[::2, ::2])
        better = np.count_nonzero(rt < r0 - margin)
        worse = np.count_nonzero(r0 < rt - margin)
        return better > _SHIFT_VOTES * worse

    def _fill_state(self) -> np.ndarray:
        """The float state, filled in from ``_prev`` when an idle frame left it stale (an
        idle filter's state is just the previous frame: converting every idle frame cost a
        full-frame pass that only the next active one needs). Into a new array: a state
        handed out with a frame (:func:`~engine.frame.with_levels`) is never changed."""
        assert self._state is not None and self._prev is not None
        if self._stale:
            self._state = levels_to_float(self._prev, np.empty(self._prev.shape, np.float32))
            self._stale = False
        return self._state

    def _follow_camera(self, gray: np.ndarray) -> None:
        """Move the state (and the residual-variance map) along the camera's shift from
        the previous frame to this one (its luma ``gray``, uint8 (H, W))."""
        dx, dy = self._camera_shift(gray)
        self.shift = (dx, dy)
        if dx == 0.0 and dy == 0.0:
            return
        self._state = _translate(self._fill_state(), dx, dy)
        # the uint8 copy is the moved state rounded: one pass, where OpenCV's bilinear warp
        # of a uint8 frame costs more than its float one (720p: 1.1 against 1.0 ms, then
        # 0.07 ms to round), and it is what the state holds rather than a resampled rounding
        self._prev = cv2.convertScaleAbs(self._state)

    def process(self, frame: np.ndarray, denoise: float) -> np.ndarray:
        """Denoise one uint8 (H, W, 3) RGB frame; ``denoise`` in [0, 1] (0 = off)."""
        if not denoise > 0.0:
            self.reset()
            return frame
        if self._state is None or self._state.shape != frame.shape:
            self.reset()
            self._state = np.empty(frame.shape, np.float32)
            self._prev = np.ascontiguousarray(frame).copy()
            self._stale = True
            return frame
        assert self._prev is not None
        gray: np.ndarray | None = None  # BT.601 luma, for the shift and the motion test
        # a moving camera: line the previous output up with this frame first (on the
        # second frame, and then while the filter is averaging: an idle filter's state is
        # just the previous frame, and a clean source would pay for the flow on every frame)
        if self.motion_compensation and (self._fresh or self.effective > 0.0):
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
            self._follow_camera(gray)
        else:
            self.shift = (0.0, 0.0)
            self._last_small = None
        # follow global exposure changes (flicker, a lamp) instead of averaging them away:
        # the previous frame is re-exposed to this one's level before it is compared/blended
        gain = _gain(frame, self._prev)
        self.gain = gain
        if abs(gain - 1.0) > 0.01:
            state = self._fill_state()
            self._state = cv2.addWeighted(state, gain, state, 0.0, 0.0)  # new: see _fill_state
            self._prev = cv2.convertScaleAbs(self._prev, alpha=gain)
        # noise scale (drives the fade-in): box3×3 of the per-pixel luma difference
        diff = cv2.absdiff(frame, self._prev)
        d = cv2.cvtColor(diff, cv2.COLOR_RGB2GRAY)
        d = cv2.blur(d, (3, 3))
        median, _ = _subsample_median(d)
        self.noise_level = _track_level(self.noise_level, median, self._fresh)
        self._fresh = False
        # a clean (or codec-flattened) source has nothing to average out, and re-quantising
        # a temporal average to 8 bits would only add texture: fade in with the noise (the
        # processor then runs a second instance after the gain, see engine.stages.processor)
        amount = float(denoise) * min(1.0, max(0.0, (self.noise_level - _CLEAN) / _RAMP))
        self.effective = amount
        if amount <= 0.0:
            self._prev = np.ascontiguousarray(frame).copy()
            self._stale = True
            self.moving_fraction = 0.0
            self._note_noise(None)
            self._motion_fresh = True  # the motion test is skipped while idle
            return frame
        # motion test: on the difference of box-averaged lumas (signed, then absolute), in
        # eighths of a grey level. Averaging K×K pixels before taking the difference cuts the
        # noise std K-fold while a moving object's change stays; a per-pixel test (as |·|
        # blurred afterwards) keeps the noise's mean and missed dim objects on heavy noise,
        # which the filter then smeared into a ghost trail.
        mk = self._motion_diff(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if gray is None else gray)
        mmed, mhist = _subsample_median(mk)
        self._motion_level = _track_level(self._motion_level, mmed, self._motion_fresh)
        self._motion_fresh = False
        self.motion_noise = self._motion_level / _SCALE
        lut = self._weights_lut(self._motion_level, amount)
        assert self._lut_rest is not None
        self._note_noise(VarianceStep(mk, lut * lut, self._lut_rest * self._lut_rest, self.shift))
        first_moving = int(np.argmax(lut > lut[0] + 1e-6)) if lut[-1] > lut[0] + 1e-6 else 256
        self.moving_fraction = float(mhist[first_moving:].sum()) / max(1, int(mhist.sum()))
        out = with_levels(*self._blend(frame, mk))
        self._prev = out
        return out

    def _blend(self, frame: np.ndarray, mk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The new state ``w · in + (1 − w) · state`` (float32 (H, W, 3), a new array: the
        last one went out with its frame) for ``frame`` and the motion difference ``mk``
        (uint8 (H, W)), and its rounding (saturated uint8, new), band by band
        (:mod:`engine.stages.bands`: bit-identical, and at 720p about 1 ms less on two
        busy threads)."""
        h, w = mk.shape
        prior = self._fill_state()
        state = np.empty(frame.shape, np.float32)
        out = np.empty(frame.shape, np.uint8)
        bands = row_bands(h, w)
        rows = max(r1 - r0 for r0, r1 in bands)
        if self._cur is None or self._cur.shape != (rows, w, 3):
            self._cur = np.empty((rows, w, 3), np.float32)
            # the state's weight: w · in + (1 − w) · state as (odds · in + 1 · state) /
            # (odds + 1), odds = w / (1 − w) by a 256-entry LUT against a constant plane
            # of ones: one per-pixel plane made per frame instead of w and 1 − w
            self._ones = np.ones((rows, w), np.float32)
        assert self._ones is not None and self._lut_odds is not None
        for r0, r1 in bands:
            n = r1 - r0
            cur = levels_to_float(frame[r0:r1], self._cur[:n])
            cv2.blendLinear(cur, prior[r0:r1], cv2.LUT(mk[r0:r1], self._lut_odds), self._ones[:n],
                            dst=state[r0:r1])
            cv2.convertScaleAbs(state[r0:r1], dst=out[r0:r1])
        self._state = state
        return out, state
