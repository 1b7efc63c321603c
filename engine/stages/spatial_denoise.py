"""Noise-aware spatial denoising of the enhanced frame (the ``denoise`` parameter, per frame).

Enhancement multiplies dark pixels by large gains, so the output carries the sensor noise
scaled by a gain that varies across the picture (a gamma curve lifts the darkest tones
most). :class:`SpatialDenoiser` runs on the *output*, after apply, where that noise is
visible and can be measured directly, whatever method made it and whatever the temporal
denoiser (:mod:`engine.stages.temporal_denoise`) already averaged away:

1. **Noise level function.** Immerkær's operator (the 3×3 difference of two Laplacians,
   which cancels image structure up to second order; see :func:`engine.lab.metrics.noise_sigma`)
   is evaluated on a regular subsample of row triplets of a luma plane. Its absolute
   values are binned by the local 3×3 mean luma (16 bins) and each bin's *lower
   quartile* gives the noise σ at that brightness (σ = q25 |conv| / (6 · 0.3186) for
   Gaussian noise; a low quantile, unlike Immerkær's mean or even the median, ignores the
   edges and fine texture that leak in, as long as a quarter of the bin is smooth).
   Bins with too few samples are interpolated from their neighbours, and no bin may
   exceed the median of its five-bin neighbourhood (a lone spike is a bin filled with
   edges, e.g. the mid-grey between two flat tones, not noise). The function is read on
   the half-size copy the filter works on: codec-smoothed noise (JPEG stills, H.264
   video) has lost its finest grain, so a full-size estimate reads it 2–3.5× too low,
   while at half size it shows. Fine texture and 8-bit staircases look denser at half
   size, so each bin is capped at 3× the full-size σ (white noise reads 0.5×).
2. **Luma: guided filter with a per-pixel ε.** The self-guided filter of He, Sun and Tang
   (ECCV 2010) on luma Y, with the local linear model q = a·Y + b and
   a = var / (var + ε), ε = (k · σ(mean))², so smoothing follows the noise level of each
   brightness: where the local variance is well above the noise (edges, texture) a ≈ 1 and
   the pixel is kept; where it is at the noise level it is averaged. a and b are computed
   on a half-resolution copy (3×3 boxes there, i.e. windows of about 6×6 full-resolution
   pixels) and upsampled bilinearly ("fast guided filter", He and Sun 2015), then
   q = a·Y + b is evaluated at full resolution, so edges stay sharp at full resolution.
3. **Chroma at quarter resolution.** Colour noise is the most visible kind in low light
   and the eye resolves little colour detail: Cr and Cb are taken from a quarter-size
   (area-averaged) copy, smoothed there by a joint guided filter steered by the quarter-size
   luma (5×5 boxes, about 20×20 full-size pixels; ε from the same noise level function, so
   colour is averaged within regions but not across luma edges above the noise), and
   upsampled bilinearly; they replace the original chroma, blended by the amount (full
   replacement from ``denoise`` 0.5 on a noisy frame). Area-averaging alone left coloured
   blotches on very noisy shadows; the joint filter removes them.

``k = 4 · denoise`` for luma and chroma (the default ``denoise`` 0.5 gives k = 2; factors
3 to 10 and box radii 1 and 2 were measured, these gave the best PSNR and SSIM on the
held-out synthetic pairs with and without JPEG, see docs/noise.md). The
whole stage fades in with the frame's noise level, max(full-size σ, half-size σ / 2): a
frame below 0.3 grey levels passes through unchanged (the same array), full strength
from 1.2. ``denoise`` 0 is the identity. Everything is OpenCV vectorised work on
uint8/float32 buffers; the full-size luma model (upsampling a and b, q = a · Y + b) and
YCrCb → RGB run band by band on frames of even height (:mod:`engine.stages.bands`). At
1280×720 it costs about 5 ms on one core (``lowlight bench`` reports it in the ``denoise``
step and separately as ``spatial_denoise``).
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.stages.bands import banded_resize, resize_rows, resize_step, row_bands
from engine.stages.chroma import ChromaGuard, chroma_shift

__all__ = ["SpatialDenoiser", "noise_profile", "half_size", "NOISE_BINS"]

#: number of luma bins of the noise level function
NOISE_BINS = 16
_Q = 0.25                # the quantile of |Immerkær response| read per bin (robust to texture)
_QNORM = 6.0 * 0.3186    # that quantile of |response| for unit Gaussian noise (σ_conv = 6σ)
_SAMPLES = 30_000        # about this many operator responses are measured per plane
_MIN_COUNT = 48          # a bin with fewer samples is interpolated from its neighbours
_CLEAN, _FULL = 0.3, 1.2  # fade-in of the stage: off below a noise level of 0.3, full from 1.2
_K_PER_DENOISE = 4.0     # ε = (k σ_half)², k = 4 · denoise
_CHROMA_RADIUS = 2       # box radius of the joint chroma filter on the quarter-size copy
_K_CHROMA = 4.0          # its ε = (k σ_quarter)², k = 4 · denoise, σ_quarter ≈ σ_half / 2
_CAP = 3.0               # half-size σ per bin at most this × the full-size σ
_RADIUS = 1              # box radius of the guided filter on the half-size luma
# each bin's five-bin neighbourhood, the edge bins repeated: int (NOISE_BINS, 5)
_NEIGHBOURS = np.clip(np.arange(NOISE_BINS)[:, None] + np.arange(-2, 3)[None, :], 0, NOISE_BINS - 1)


def _quantile(hist: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The ``_Q`` quantile of each row of an integer histogram ``hist`` (n, 256) of
    |response| values, reading value i as the interval [i − ½, i + ½) (0 as [0, ½)) and
    interpolating linearly inside it, so small σ are not rounded to whole levels."""
    cum = np.cumsum(hist, axis=1)
    target = np.maximum(_Q * counts, 0.5)[:, None]
    i = np.minimum(np.argmax(cum >= target, axis=1), hist.shape[1] - 1)
    rows = np.arange(hist.shape[0])
    below = np.where(i > 0, cum[rows, np.maximum(i - 1, 0)], 0)
    frac = (target[:, 0] - below) / np.maximum(hist[rows, i], 1)
    lo = np.where(i > 0, i - 0.5, 0.0)
    width = np.where(i > 0, 1.0, 0.5)
    return (lo + width * np.clip(frac, 0.0, 1.0)).astype(np.float32)


def noise_profile(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Noise level function of a luma plane: Gaussian noise σ per brightness bin.

    Args:
        y: uint8 (H, W) luma, 0..255.

    Returns:
        ``(sigma, overall)``: float32 (NOISE_BINS,) σ in grey levels for local mean luma
        in ``[i · 16, (i + 1) · 16)``, and the σ of all samples together. Both are 0 when
        the plane is smaller than 3×3.
    """
    h, w = y.shape
    if h < 3 or w < 3:
        return np.zeros(NOISE_BINS, np.float32), 0.0
    step = max(1, int((h - 2) * (w - 2) // _SAMPLES))
    rows = np.arange(1, h - 1, step)
    t = y[rows - 1].astype(np.int16)
    m = y[rows].astype(np.int16)
    b = y[rows + 1].astype(np.int16)
    v = t + b - 2 * m                               # vertical second difference
    conv = v[:, :-2] + v[:, 2:] - 2 * v[:, 1:-1]    # then horizontal: the Immerkær kernel
    s = t + m + b
    sum9 = s[:, :-2] + s[:, 1:-1] + s[:, 2:]        # 3×3 sum, 0..2295
    mag = np.minimum(np.abs(conv), 255).astype(np.int32).ravel()
    bins = (sum9.astype(np.int32).ravel() * NOISE_BINS) // (9 * 256)
    hist = np.bincount(bins * 256 + mag, minlength=NOISE_BINS * 256).reshape(NOISE_BINS, 256)
    counts = hist.sum(axis=1)
    qb = _quantile(hist, counts)
    overall = float(_quantile(hist.sum(axis=0)[None], counts.sum()[None])[0]) / _QNORM
    ok = counts >= _MIN_COUNT
    if not ok.any():
        return np.full(NOISE_BINS, overall, np.float32), overall
    idx = np.arange(NOISE_BINS)
    sigma = np.interp(idx, idx[ok], qb[ok] / _QNORM).astype(np.float32)
    # a real noise level function varies smoothly with brightness; a bin standing far
    # above its neighbours is filled with edges (e.g. the mid-grey at the border between
    # two flat tones), so no bin may exceed the median of its five-bin neighbourhood
    local = np.sort(sigma[_NEIGHBOURS], axis=1)[:, 2]  # the median of each five (edges repeated)
    return np.minimum(sigma, local).astype(np.float32), overall


def half_size(frame: np.ndarray) -> np.ndarray:
    """The half-size area copy of a uint8 (H, W, 3) frame the stage works on: uint8
    ((H+1)//2, (W+1)//2, 3). A caller that needs it too (the chroma guard's analysis of the
    same frame) makes it once and hands it to :meth:`SpatialDenoiser.process`."""
    h, w = frame.shape[:2]
    return cv2.resize(frame, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)


class SpatialDenoiser:
    """Noise-aware spatial denoiser for enhanced uint8 (H, W, 3) RGB frames.

    ``process(frame, denoise)`` returns the denoised frame (a new array, or ``frame``
    itself when nothing is done: ``denoise`` 0, a clean frame, or one smaller than 3×3).
    It keeps no state between frames (the attributes below only describe the last one), so
    one instance serves a stream or a batch of stills.

    Attributes:
        sigma: the noise level function of the last frame, as used (half-size σ per luma
            bin, capped; float32 (NOISE_BINS,), grey levels).
        noise_level: the last frame's noise level, max(full-size σ, half-size σ / 2),
            grey levels (what the fade-in reads).
        effective: the ``denoise`` actually used on the last frame (``denoise`` scaled by the
            fade-in with ``noise_level``; 0 when the frame passed through).
    """

    def __init__(self) -> None:
        self.sigma = np.zeros(NOISE_BINS, np.float32)
        self.noise_level = 0.0
        self.effective = 0.0

    def process(self, frame: np.ndarray, denoise: float, noise_ratio: np.ndarray | None = None,
                correction: np.ndarray | None = None, half: np.ndarray | None = None) -> np.ndarray:
        """Denoise one enhanced uint8 (H, W, 3) RGB frame; ``denoise`` in [0, 1] (0 = off).

        ``noise_ratio``: optional float32 ((H+1)//2, (W+1)//2) map, >= 1, of how much larger
        each pixel's noise variance is than the frame's typical pixel (the temporal
        denoiser's ``noise_ratio``: the area a moving object just left); ε scales with it.

        ``correction``: the chroma guard's change of ``frame`` (:meth:`ChromaGuard.plan`), not
        yet added. Where this stage replaces the chroma by its quarter-size copy (``denoise``
        from 0.5 on a noisy frame) and the change leaves the luma alone, it is added to that
        copy's chroma (:func:`~engine.stages.chroma.chroma_shift`), which the full-size
        addition would only have reached through the copy (720p: 0.1 instead of 1.1 ms);
        otherwise it is added to ``frame`` first (:meth:`ChromaGuard.add`). Within a few
        grey levels of adding it first (the full-size addition rounds and saturates per
        channel).

        ``half``: :func:`half_size` of ``frame`` when the caller made it already; used
        only while the stage works on ``frame`` itself (not once a correction was added
        to it first)."""
        self.effective = 0.0
        h, w = frame.shape[:2]
        shift = None
        if correction is not None:
            # the quarter-size copy can replace the chroma only at denoise >= 0.5 (a weaker
            # amount keeps part of the full frame's) and on frames this stage works on
            if 2.0 * min(float(denoise), 1.0) >= 1.0 and h >= 3 and w >= 3 and _CHROMA_RADIUS > 0:
                shift = chroma_shift(correction)
            if shift is None:
                frame, correction, half = ChromaGuard.add(frame, correction), None, None
        if not denoise > 0.0:
            return frame
        if h < 3 or w < 3:
            return frame
        y = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)  # BT.601 luma, the Y of YCrCb
        hw, hh = (w + 1) // 2, (h + 1) // 2
        # colour conversions happen on the half-size copy (cheaper than on the full frame)
        if half is None or half.shape != (hh, hw, 3):
            half = half_size(frame)
        half = cv2.cvtColor(half, cv2.COLOR_RGB2YCrCb)
        # The guided filter compares variances on the half-size copy, so the noise is read
        # there: white noise halves, but codec-smoothed (JPEG, H.264) noise does not, and a
        # full-size estimate misses most of it (its high frequencies were quantised away).
        # Fine texture and 8-bit staircases look denser at half size, so each bin is capped
        # at _CAP × the full-size σ (white noise reads 0.5×, codec noise 2-3.5× measured).
        full_sigma, full_level = noise_profile(y)
        half_sigma, half_level = noise_profile(cv2.extractChannel(half, 0))
        self.sigma = np.minimum(half_sigma, _CAP * full_sigma)
        self.noise_level = max(full_level, 0.5 * half_level)
        fade = min(1.0, max(0.0, (self.noise_level - _CLEAN) / (_FULL - _CLEAN)))
        amount = min(float(denoise), 1.0) * fade
        if correction is not None and 2.0 * amount < 1.0:  # faded: the full frame's chroma shows
            return self.process(ChromaGuard.add(frame, correction), denoise, noise_ratio)  # measured on it
        if amount <= 0.0:
            return frame
        self.effective = amount
        ratio = noise_ratio if noise_ratio is not None and noise_ratio.shape == half.shape[:2] else None
        a, b = self._luma(half, amount, ratio)
        # chroma: a quarter-size copy (area average of the half-size one) upsampled back,
        # blended with the original chroma by the amount (at most full replacement)
        quarter = cv2.resize(half, ((hw + 1) // 2, (hh + 1) // 2), interpolation=cv2.INTER_AREA)
        if _CHROMA_RADIUS > 0:
            quarter = self._chroma(quarter, amount, None if ratio is None else cv2.resize(
                ratio, (quarter.shape[1], quarter.shape[0]), interpolation=cv2.INTER_AREA),
                None if shift is None else cv2.resize(shift, (quarter.shape[1], quarter.shape[0]),
                                                      interpolation=cv2.INTER_LINEAR))
        return _full_size(frame, y, a, b, quarter, min(1.0, 2.0 * amount))

    def _chroma(self, quarter: np.ndarray, amount: float, ratio: np.ndarray | None = None,
                shift: np.ndarray | None = None) -> np.ndarray:
        """Joint (luma-guided) filter of Cr and Cb on the quarter-size YCrCb copy
        (uint8 (h, w, 3)), after adding ``shift`` (float32 (h, w, 2) ΔCr, ΔCb) when given:
        chroma is averaged over about 20×20 full-size pixels except across luma edges well
        above the noise. Returns uint8 (h, w, 3)."""
        yq, cr, cb = cv2.split(quarter.astype(np.float32))
        if shift is not None:  # numpy: thin frames (see below)
            cr += shift[:, :, 0]
            cb += shift[:, :, 1]
        ksize = (2 * _CHROMA_RADIUS + 1,) * 2

        def box(x: np.ndarray) -> np.ndarray:
            return cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)

        # numpy arithmetic: OpenCV reads an (n, 1) array with n <= 4 as a scalar (tiny frames)
        my = box(yq)
        var = np.maximum(box(yq * yq) - my * my, 0.0)
        # the quarter-size luma carries about half the half-size noise σ (white noise)
        k = _K_CHROMA * amount / 2.0
        lut = np.repeat((k * self.sigma) ** 2, 256 // NOISE_BINS).astype(np.float32)
        eps = lut[np.clip(my + 0.5, 0, 255).astype(np.uint8)]
        den = var + (eps if ratio is None else eps * ratio.reshape(eps.shape)) + np.float32(1e-3)
        out = [yq]
        for c in (cr, cb):
            mc = box(c)
            a = (box(yq * c) - my * mc) / den
            b = mc - a * my
            out.append(box(a) * yq + box(b))
        return cv2.convertScaleAbs(cv2.merge(out))

    def _luma(self, half: np.ndarray, amount: float,
              ratio: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients of the fast guided filter of the luma, computed on ``half`` (uint8
        (h, w, 3) YCrCb, half size): float32 (h, w) a and b, box-averaged, of the model
        q = a · Y + b that :func:`_full_size` evaluates on the full-size luma Y."""
        ys = cv2.extractChannel(half, 0)
        ksize = (2 * _RADIUS + 1, 2 * _RADIUS + 1)
        mean = cv2.boxFilter(ys, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)
        mean2 = cv2.sqrBoxFilter(ys, cv2.CV_32F, ksize, borderType=cv2.BORDER_REFLECT)
        var = cv2.max(cv2.subtract(mean2, cv2.multiply(mean, mean)), 0.0)
        k = _K_PER_DENOISE * amount
        # ε per pixel from the noise level function of the local mean (a 256-entry LUT);
        # σ and the variance are both measured on the half-size copy
        lut = np.repeat((k * self.sigma) ** 2, 256 // NOISE_BINS).astype(np.float32)
        eps = cv2.LUT(cv2.convertScaleAbs(mean), lut)
        if ratio is not None:
            eps *= ratio  # numpy: thin frames (see _chroma)
        a = cv2.divide(var, cv2.add(cv2.add(var, eps), 1e-3))
        b = cv2.subtract(mean, cv2.multiply(a, mean))
        return (cv2.boxFilter(a, -1, ksize, borderType=cv2.BORDER_REFLECT),
                cv2.boxFilter(b, -1, ksize, borderType=cv2.BORDER_REFLECT))


def _full_size(frame: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, quarter: np.ndarray,
               wc: float) -> np.ndarray:
    """The stage's full-size output: luma q = a · Y + b with the half-size coefficients
    ``a``, ``b`` (float32) upsampled bilinearly, and chroma from the quarter-size YCrCb
    copy ``quarter`` (uint8) upsampled bilinearly, blended with ``frame``'s (uint8 (H, W, 3)
    RGB, luma ``y``) by ``wc`` in (0, 1] (1: replaced). Returns a new uint8 (H, W, 3) RGB.

    Band by band (:mod:`engine.stages.bands`) on even heights, so the float planes stay in
    cache; bit-identical to the whole-frame passes, which odd heights take."""
    h, w = y.shape
    size = (w, h)
    # the chroma whole: OpenCV's uint8 upsampling is no quicker by bands (1080p: 2.0-2.3
    # against 2.3-3.3 ms, its coefficient set-up repeated per band)
    chroma = cv2.resize(quarter, size, interpolation=cv2.INTER_LINEAR)
    if banded_resize(a, size):
        bands = row_bands(h, w, step=resize_step(a.shape[0], h))
        rows = resize_rows
    else:
        bands = [(0, h)]
        rows = _whole  # type: ignore[assignment]
    out = np.empty((h, w, 3), np.uint8)
    for r0, r1 in bands:
        q = cv2.add(cv2.multiply(rows(a, size, r0, r1), y[r0:r1], dtype=cv2.CV_32F), rows(b, size, r0, r1))
        up = chroma[r0:r1]
        if wc < 1.0:
            up = cv2.addWeighted(cv2.cvtColor(frame[r0:r1], cv2.COLOR_RGB2YCrCb), 1.0 - wc, up, wc, 0.0)
        cv2.insertChannel(cv2.convertScaleAbs(q), up, 0)  # in place
        cv2.cvtColor(up, cv2.COLOR_YCrCb2RGB, dst=out[r0:r1])
    return out


def _whole(src: np.ndarray, size: tuple[int, int], r0: int, r1: int) -> np.ndarray:
    """``cv2.resize(src, size)`` (bilinear) as the one band (0, H) of :func:`_full_size`."""
    return cv2.resize(src, size, interpolation=cv2.INTER_LINEAR)
