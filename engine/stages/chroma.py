"""Colour-neutral lifting: the chroma of an enhanced frame, steered at low resolution.

Every method lifts a dark frame channel by channel (SCI divides each channel by its own
illumination, Zero-DCE's curves have one parameter per channel, a gamma raises each
channel). In near-black areas a codec's or sensor's slight colour bias (a per-channel
black level a grey level or two apart) and the chroma noise are then lifted tenfold with
the picture: a dark yard turned violet (darkest-half Lab chroma 53–64 for the Zero-DCE
methods against about 2 in the input, docs/methods.md). :class:`ChromaGuard` keeps the
method's *luma* and decides the *chroma* itself:

1. **Black level** (:func:`measure_cast`, once per frame on the small input copy the map
   was estimated from): the per-channel offset of the darkest pixels from grey,
   ``δ = Σ w·(x − Y) / Σ w`` with weights ``w = (1 − Y/DARK_LEVEL)²`` (Y the BT.601
   luma, levels), an RGB vector with no luma. It is stored in ``ParamMap.extra`` with
   the input's chroma noise, so the temporal filter smooths them with the exposure
   level (one number each per frame; :mod:`engine.stages.map_smoothing`).
2. **Bounded chroma gain.** On the small copies of the input x and the output y the luma
   gain is ``g = (Y_y + 1) / (Y_x + 1)``; the wanted chroma is ``k · (x − Y_x − δ)``
   with ``k = min(g, CHROMA_GAIN_CAP, max(1, NOISE_CHROMA / σ_c))``: a lit or
   unlifted area (g ≈ 1: lamps, neon, a sunset sky) keeps its colour, while a dark area
   lifted g-fold carries its colour (black level removed) at most ``CHROMA_GAIN_CAP``
   times, and less on a frame whose chroma noise σ_c (levels, on the small copy) would
   be lifted past ``NOISE_CHROMA``.
3. **Correction.** The difference between the wanted chroma and the output's own (both
   with zero luma; the held luma of step 4 included) is upsampled bilinearly and added to the full-resolution output,
   scaled by ``min(1, 2·denoise)``: the low frequencies of the colour are replaced, the
   luma and its detail are the method's; the fine chroma noise that remains is the
   spatial denoiser's work (its quarter-resolution chroma).

4. **Coloured lights.** Where the input is bright and saturated (a lamp, neon, a sunset),
   the channel-wise gain lifts the weak channels towards white; there the luma is held
   at the input's luma times the gain of the strongest channel, so the light keeps its
   hue and saturation (measured on the synthetic neon signs: hue within 1°).

``denoise`` 0 leaves the method's output untouched (the same array), and so does a map
of a kind in ``COLOUR_MAPS`` (a method that learned its colour from real pairs).
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.enhancer import ParamMap

__all__ = ["ChromaGuard", "measure_cast", "with_cast", "chroma_shift", "CAST_KEYS", "NOISE_KEY", "DARK_LEVEL",
           "CHROMA_GAIN_CAP", "NOISE_CHROMA", "ANALYSIS_SIDE",
           "LIGHT_SATURATION", "LIGHT_LEVEL", "COLOUR_MAPS"]

#: Luma (grey levels) below which a pixel counts towards the black level, weight (1 − Y/level)².
DARK_LEVEL = 40.0
#: Largest factor the chroma of a dark area is lifted by (its luma may be lifted more).
CHROMA_GAIN_CAP = 2.5
#: Chroma noise (levels) the lift may raise the input's chroma noise to; the small copy's
#: σ_c × k stays below it.
NOISE_CHROMA = 6.0
#: Input saturation (max − min)/max and brightest channel (levels) over which a pixel
#: counts as a coloured light, ramping from 0 to 1 between the two values.
LIGHT_SATURATION = (0.45, 0.75)
LIGHT_LEVEL = (70.0, 140.0)
#: Map kinds whose method brings its own colour: the paired image-to-image networks'
#: per-cell colour transforms, learned from real pairs (:mod:`engine.models.paired`). The
#: guard leaves their output alone.
COLOUR_MAPS = frozenset({"affine_grid"})
#: ``ParamMap.extra`` keys of the black level (R, G, B offsets, levels) and of the chroma noise.
CAST_KEYS = ("cast_r", "cast_g", "cast_b")
NOISE_KEY = "chroma_noise"
#: longest side of the copy the correction is computed on (the map's small frame, reduced
#: when larger): the correction's numpy work grows with its pixels (≈ 3 ms of CPU at 256×144)
ANALYSIS_SIDE = 160
_MIN_WEIGHT = 0.002   # fraction of the (weighted) pixels that must be dark to measure a cast
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def _luma(img: np.ndarray) -> np.ndarray:
    """BT.601 luma (h, w) float32 levels of an (h, w, 3) array."""
    return img.astype(np.float32, copy=False) @ _LUMA


def measure_cast(small: np.ndarray) -> tuple[np.ndarray, float]:
    """Black-level offset and chroma noise of a uint8 (h, w, 3) RGB frame (a small copy).

    Returns:
        ``(cast, sigma)``: float64 (3,) per-channel offset from grey of the dark pixels,
        levels (its BT.601 luma is 0; zeros when fewer than 0.2 % of the pixels are dark),
        and the chroma noise σ in levels (Immerkær's estimator on the R − G and B − G
        planes, the larger; 0 below 3×3).
    """
    f = small.astype(np.float32)
    y = _luma(f)
    w = np.clip(1.0 - y / DARK_LEVEL, 0.0, 1.0)
    w *= w
    total = float(w.sum())
    cast = np.zeros(3)
    if total > _MIN_WEIGHT * y.size:
        resid = f - y[:, :, None]
        cast = np.array([float((w * resid[:, :, c]).sum()) / total for c in range(3)])
    h, wd = y.shape
    sigma = 0.0
    if h >= 3 and wd >= 3:
        for plane in (f[:, :, 0] - f[:, :, 1], f[:, :, 2] - f[:, :, 1]):
            conv = cv2.filter2D(plane, cv2.CV_32F, _IMMERKAER)[1:-1, 1:-1]
            sigma = max(sigma, float(np.sqrt(np.pi / 2.0) * np.abs(conv).mean() / 6.0))
    return cast, sigma


def with_cast(pmap: ParamMap, frame: np.ndarray) -> ParamMap:
    """``pmap`` with the black level and chroma noise of its small frame (or of a small copy
    of the uint8 (H, W, 3) ``frame`` when it has none) added to ``extra``, where the
    temporal filter smooths them. A new ParamMap; ``pmap`` is not changed."""
    small = pmap.small if pmap.small is not None else _small_of(frame, ANALYSIS_SIDE)
    cast, sigma = measure_cast(small)
    extra = dict(pmap.extra)
    extra.update({k: float(v) for k, v in zip(CAST_KEYS, cast)})
    extra[NOISE_KEY] = sigma
    return ParamMap(pmap.data, pmap.kind, pmap.frame_shape, pmap.small, extra, pmap.exposure_power)


def _small_of(frame: np.ndarray, long_side: int) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = min(1.0, long_side / max(h, w))
    return _resize_area(frame, (max(1, round(w * scale)), max(1, round(h * scale))))


def _resize_area(img: np.ndarray, size: tuple[int, int], half: np.ndarray | None = None) -> np.ndarray:
    """Area reduction of ``img`` to ``size`` (w, h); large whole-number factors go first
    through OpenCV's fast integer path (its general area resize is several times slower),
    and an even factor of even sides first through halvings: OpenCV's 2× area step is
    vectorised, its k× one is not (720p → 160×90: 0.3 against 0.75 ms; the cells are the
    same, the rounding of each step keeps the result within a grey level).

    ``half``: ``img``'s 2× area reduction when another stage made it already (the spatial
    denoiser's half-size copy, :func:`~engine.stages.spatial_denoise.half_size`); it is
    the first halving here whenever there is one, so the result is the same."""
    h, w = img.shape[:2]
    k = int(min(w / size[0], h / size[1]))
    while k % 2 == 0 and k >= 2 and w % 2 == 0 and h % 2 == 0:
        w, h, k = w // 2, h // 2, k // 2
        if half is not None and half.shape[:2] == (h, w):
            img, half = half, None
        else:
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if k >= 2:
        img = cv2.resize(img, (w // k, h // k), interpolation=cv2.INTER_AREA)
    if img.shape[1] == size[0] and img.shape[0] == size[1]:
        return img
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def chroma_shift(delta: np.ndarray) -> np.ndarray | None:
    """A correction from :meth:`ChromaGuard.plan` (float32 (h, w, 3) RGB levels) as the change
    of YCrCb chroma it makes, float32 (h, w, 2) (ΔCr, ΔCb; BT.601, OpenCV's factors), when it
    leaves the luma alone (under half a level everywhere: no coloured light held); None when
    it changes the luma. A stage that replaces the chroma by a low-resolution copy anyway
    (the spatial denoiser) adds it there instead of to the full frame."""
    dy = _luma(delta)
    if float(np.abs(dy).max(initial=0.0)) >= 0.5:
        return None
    return np.stack([(delta[:, :, 0] - dy) * np.float32(0.713),
                     (delta[:, :, 2] - dy) * np.float32(0.564)], axis=2)


class ChromaGuard:
    """Colour-neutral lifting of an enhanced frame (see the module docstring).

    ``process(frame, out, pmap, denoise, strength)``: ``frame`` the uint8 (H, W, 3) RGB input the
    method was applied to, ``out`` its output (same shape), ``pmap`` the (smoothed) map
    whose ``extra`` holds the black level and chroma noise (:func:`with_cast`; measured
    here when absent), ``denoise`` in [0, 1], ``strength`` the method's (the guard fades out
    below 1 and is off at 0, where the method shows the original). Returns a new uint8 frame, or ``out``
    itself when nothing is to change. Keeps no state between frames, so one instance may
    serve two threads.

    ``process`` is ``add(out, plan(...))``: :meth:`plan` does the analysis on small copies
    (a few ms at 720p), :meth:`add` the full-resolution correction; the two-thread
    processor runs the plan in whichever half has time to spare.
    """

    def process(self, frame: np.ndarray, out: np.ndarray, pmap: ParamMap | None, denoise: float,
                strength: float = 1.0) -> np.ndarray:
        return self.add(out, self.plan(frame, out, pmap, denoise, strength))

    def plan(self, frame: np.ndarray, out: np.ndarray, pmap: ParamMap | None, denoise: float,
             strength: float = 1.0, out_half: np.ndarray | None = None) -> np.ndarray | None:
        """The correction to add to ``out`` (arguments as :meth:`process`): float32
        (h, w, 3) levels on the analysis grid, already scaled by the amount; None when
        ``out`` stays as it is. ``out_half``: the spatial stage's half-size copy of ``out``
        (:func:`~engine.stages.spatial_denoise.half_size`) when made already; the
        analysis copy of ``out`` then starts from it (the same values)."""
        # strength 0 shows the original: no lift, so no lifted colour to guard
        amount = min(1.0, 2.0 * float(denoise)) * min(1.0, max(0.0, float(strength)))
        if pmap is not None and pmap.kind in COLOUR_MAPS:
            return None
        if not amount > 0.0 or out.shape != frame.shape or frame.shape[0] < 2 or frame.shape[1] < 2:
            return None
        small = pmap.small if pmap is not None and pmap.small is not None else None
        if small is None or small.shape[2:] != (3,):
            small = _small_of(frame, ANALYSIS_SIDE)
        if max(small.shape[:2]) > ANALYSIS_SIDE:  # colour is low-frequency: a coarser grid is enough
            small = _small_of(small, ANALYSIS_SIDE)
        extra = pmap.extra if pmap is not None else {}
        if all(k in extra for k in CAST_KEYS) and NOISE_KEY in extra:
            cast = np.array([float(extra[k]) for k in CAST_KEYS], np.float32)
            sigma = float(extra[NOISE_KEY])
        else:
            c, sigma = measure_cast(small)
            cast = c.astype(np.float32)
        delta = self.correction(small, _resize_area(out, (small.shape[1], small.shape[0]), out_half), cast, sigma)
        delta *= np.float32(amount)
        if float(np.abs(delta).max(initial=0.0)) < 0.5:
            return None
        return delta

    @staticmethod
    def add(out: np.ndarray, delta: np.ndarray | None) -> np.ndarray:
        """``out`` (uint8 (H, W, 3)) plus the correction ``delta`` from :meth:`plan`,
        upsampled bilinearly; a new frame, or ``out`` itself when ``delta`` is None."""
        if delta is None:
            return out
        h, w = out.shape[:2]
        if float(delta.min(initial=0.0)) >= -128.0 and float(delta.max(initial=0.0)) <= 127.0:
            # the usual case: the change fits one uint8 plane offset by 128; one upsampling
            # and one pass that adds it and takes the offset off before saturating
            # (720p: 1.5 against 2.1 ms for the two planes below, within a grey level of them)
            shifted = np.empty(delta.shape, np.uint8)
            cv2.add(delta, 128.0, dst=shifted, dtype=cv2.CV_8U)
            up = cv2.resize(shifted, (w, h), interpolation=cv2.INTER_LINEAR)
            return cv2.addWeighted(out, 1.0, up, 1.0, -128.0)
        # the change as two uint8 planes (its positive and negative parts): upsampling and
        # saturating uint8 arithmetic take half the time of a float plane added to uint8
        pos = cv2.convertScaleAbs(np.maximum(delta, 0.0))
        neg = cv2.convertScaleAbs(np.minimum(delta, 0.0))
        up_pos = cv2.resize(pos, (w, h), interpolation=cv2.INTER_LINEAR)
        up_neg = cv2.resize(neg, (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.subtract(cv2.add(out, up_pos), up_neg)

    @staticmethod
    def correction(xs: np.ndarray, ys: np.ndarray, cast: np.ndarray, sigma: float) -> np.ndarray:
        """float32 (h, w, 3) change of the output (levels; zero luma except on coloured
        lights, whose luma is held) for uint8 small copies ``xs`` (input) and ``ys`` (output) of equal shape, black level
        ``cast`` (3,) and chroma noise ``sigma`` (levels)."""
        x = xs.astype(np.float32)
        y = ys.astype(np.float32)
        yx, yy = _luma(x), _luma(y)
        # per-channel planes: reductions over a 3-long last axis are slow in numpy
        xc = [x[:, :, c] for c in range(3)]
        yc = [y[:, :, c] for c in range(3)]
        # coloured lights: a channel-wise gain lifts a saturated light's weak channels to
        # white; there the output takes the light's own colour, scaled by the gain of its
        # strongest channel (hue and saturation kept), instead of the method's luma
        hi = np.maximum(np.maximum(xc[0], xc[1]), xc[2])
        lo = np.minimum(np.minimum(xc[0], xc[1]), xc[2])
        sat = (hi - lo) / np.maximum(hi, 1.0)
        w = np.clip((sat - LIGHT_SATURATION[0]) / (LIGHT_SATURATION[1] - LIGHT_SATURATION[0]), 0.0, 1.0)
        w *= np.clip((hi - LIGHT_LEVEL[0]) / (LIGHT_LEVEL[1] - LIGHT_LEVEL[0]), 0.0, 1.0)
        if float(w.max(initial=0.0)) > 0.0:
            gv = np.maximum(np.maximum(np.maximum(yc[0], yc[1]), yc[2]), hi) / np.maximum(hi, 1.0)
            held = np.minimum(yy, yx * gv)
            yy = yy + w * (held - yy)
        gain = (yy + 1.0) / (yx + 1.0)
        cap = min(CHROMA_GAIN_CAP, max(1.0, NOISE_CHROMA / sigma) if sigma > 0.0 else CHROMA_GAIN_CAP)
        k = np.minimum(gain, np.float32(cap))
        chroma = x - yx[:, :, None] - cast.astype(np.float32)
        # keep the colour inside 0..255 around the output's luma by scaling it down rather
        # than letting a channel clip: clipping turned an orange lamp yellow (hue kept)
        up, down = 255.0 - yy, yy
        # the tightest channel on each side (x / d falls as d grows: the same limits as
        # taking each channel's in turn)
        pos = np.maximum(np.maximum(chroma[:, :, 0], chroma[:, :, 1]), chroma[:, :, 2])
        neg = -np.minimum(np.minimum(chroma[:, :, 0], chroma[:, :, 1]), chroma[:, :, 2])
        np.minimum(k, np.where(pos > 0, up / np.maximum(pos, 1e-6), np.inf), out=k)
        np.minimum(k, np.where(neg > 0, down / np.maximum(neg, 1e-6), np.inf), out=k)
        np.maximum(k, 0.0, out=k)
        return chroma * k[:, :, None] + yy[:, :, None] - y
