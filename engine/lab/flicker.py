"""Flicker measurement: brightness-flicker index, flow-warped temporal error, the FFmpeg
``deflicker`` baseline, and a generator of synthetic test clips.

Every function takes sequences of uint8 (H, W, 3) RGB frames (the frame contract); the
outputs must have the same length and size as the inputs they are compared with.

Definitions (t = 1 … T−1; ``m(F)`` = mean BT.601 luma of frame F in grey levels 0..255):

**Brightness-flicker index (BFI)**, percent::

    BFI = 100 / (T−1) · Σ_t dist(Δ_t log(m(O) + 1), [min(0, Δ_t s), max(0, Δ_t s)])
    s_t = median of log(m(I_u) + 1) over u = t−3 … t+3 (shrunk at the ends),  Δ_t x = x_t − x_{t−1}

the output's frame-to-frame change of mean luminance *beyond* what the scene shows: the
part of the output's change that is larger than the change of the input's brightness
trend s, or goes against it. The trend is a running 7-frame median of the input's log
mean: it keeps what the scene does (a lamp switched on, a cut: steps pass a median
unchanged, so do slow ramps) and drops frame-to-frame exposure flicker. So an output that
follows the scene's changes costs nothing, one held steady (or changing less than the
scene) costs nothing, and one that shows the input's exposure flicker or adds its own
costs that flicker: ±a % around a steady scene scores about 2a. (The trend, not the raw
input, is the reference: |Δ log m(O) − Δ log m(I)| would count an output held steady
against the input's exposure flicker as much as one that adds flicker, and one that
copies the flicker as steady.) The plain output figure
``output_flicker = 100 / (T−1) · Σ_t |Δ_t log(m(O) + 1)|`` is reported beside it.

**Warped temporal error** (Lai et al., ECCV 2018, "Learning Blind Video Temporal
Consistency"), grey levels::

    E_warp = mean over t of  Σ_p M_t(p) · |O_t(p) − Ô_{t−1}(p)|₁ / (3 · Σ_p M_t(p))

where Ô_{t−1} is O_{t−1} warped onto frame t with the backward optical flow computed on
the *input* frames (DIS flow on exposure-normalised luma), and M_t masks occlusions by
the forward–backward consistency check |F_b + F_f(p + F_b)|² ≤ 0.01 (|F_b|² + |F_f|²) + 0.5
and pixels that leave the frame (pairs without a flow or a valid pixel are skipped;
frames under 16 pixels on the short side have no flow: DIS would crash on them). Lai et
al. use squared differences in [0, 1]; the mean absolute difference in grey levels used
here is easier to read (``E_warp / 255`` is in [0, 1]). Frames are measured at long side
≤ ``size`` pixels (area downscale) so long clips stay affordable; pass ``size=None`` for
full resolution.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Iterable, Sequence

import cv2
import numpy as np

from engine.enhancer import downscale
from engine.lab.metrics import noise_sigma  # the one single-frame noise estimate, re-exported
from engine.lab.metrics import dark_chroma, mean_brightness
from engine.stages.optical_flow import dis_flow

__all__ = [
    "mean_luma", "brightness_flicker_index", "brightness_trend", "TREND_FRAMES", "output_flicker",
    "FlowPair", "compute_flows",
    "warped_error", "FlickerReport", "measure", "deflicker", "synthetic_clip", "SyntheticClip",
    "enhance_frames", "reduction", "noise_sigma", "temporal_noise",
]


# --------------------------------------------------------------------- brightness
def mean_luma(frame: np.ndarray) -> float:
    """Mean BT.601 luma of a uint8 (H, W, 3) RGB frame, grey levels 0..255."""
    r, g, b = (float(c) for c in cv2.mean(frame)[:3])
    return 0.299 * r + 0.587 * g + 0.114 * b


def _log_means(frames: Iterable[np.ndarray]) -> np.ndarray:
    return np.log(np.array([mean_luma(f) for f in frames], np.float64) + 1.0)


def output_flicker(outputs: Sequence[np.ndarray]) -> float:
    """Mean |Δ log(mean luma + 1)| of consecutive frames, in percent (0 for < 2 frames)."""
    lm = _log_means(outputs)
    return float(100.0 * np.abs(np.diff(lm)).mean()) if lm.size > 1 else 0.0


def brightness_flicker_index(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> float:
    """Brightness-flicker index in percent (see the module docstring); 0 for < 2 frames.

    Args:
        inputs, outputs: equally long sequences of uint8 (H, W, 3) frames; output t is
            the enhanced input t (sizes may differ between inputs and outputs).
    """
    if len(inputs) != len(outputs):
        raise ValueError(f"inputs and outputs differ in length: {len(inputs)} vs {len(outputs)}")
    li, lo = _log_means(inputs), _log_means(outputs)
    if li.size < 2:
        return 0.0
    ds, do = np.diff(brightness_trend(li)), np.diff(lo)
    beyond = np.maximum(do - np.maximum(ds, 0.0), 0.0) + np.maximum(np.minimum(ds, 0.0) - do, 0.0)
    return float(100.0 * beyond.mean())


#: frames in the running median of :func:`brightness_trend` (odd; ≈ 0.23 s at 30 fps)
TREND_FRAMES = 7


def brightness_trend(log_means: np.ndarray, frames: int = TREND_FRAMES) -> np.ndarray:
    """Running median (window ``frames``, centred, shrunk at the ends) of a clip's
    per-frame log mean luminance (T,): the scene's brightness course without its
    frame-to-frame flicker; steps and ramps pass through unchanged."""
    h = max(0, int(frames) // 2)
    n = log_means.size
    return np.array([np.median(log_means[max(0, t - h):t + h + 1]) for t in range(n)], np.float64)


# ------------------------------------------------------------------ warped error
@dataclass
class FlowPair:
    """Backward flow of frame t onto t−1 and its validity mask, at the measuring size.

    Attributes:
        remap_x, remap_y: float32 (h, w) sampling positions in frame t−1 for each pixel of t.
        mask: bool (h, w), True where the flow is forward–backward consistent and inside.
    """

    remap_x: np.ndarray
    remap_y: np.ndarray
    mask: np.ndarray


def _flow_luma(frame: np.ndarray) -> np.ndarray:
    """uint8 luma stretched to a mean of 110 so dark and flickering frames flow alike."""
    y = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    gain = 110.0 / max(1.0, float(y.mean()))
    return cv2.convertScaleAbs(y, alpha=gain)


def _measure_size(frames: Sequence[np.ndarray], size: int | None) -> list[np.ndarray]:
    return [np.ascontiguousarray(f if size is None else downscale(f, size)) for f in frames]


def compute_flows(inputs: Sequence[np.ndarray], size: int | None = 640) -> list[FlowPair | None]:
    """Flows between consecutive input frames, for :func:`warped_error`.

    Args:
        inputs: T uint8 (H, W, 3) frames.
        size: measuring long side in pixels (None = full resolution).

    Returns:
        T−1 entries; entry t−1 relates frame t to frame t−1 (None when the frames are
        too small to flow: below 16 pixels on the short side, :mod:`engine.stages.optical_flow`).
    """
    frames = _measure_size(inputs, size)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    lumas = [_flow_luma(f) for f in frames]
    out: list[FlowPair | None] = []
    for prev, cur in zip(lumas[:-1], lumas[1:]):
        h, w = cur.shape
        # None for a size DIS cannot take (a short side under 16 pixels would crash it)
        fb = dis_flow(dis, cur, prev)    # for p in t: p + fb(p) is where it was in t−1
        ff = None if fb is None else dis_flow(dis, prev, cur)  # q in t−1: q + ff(q) in t
        if fb is None or ff is None:
            out.append(None)
            continue
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        mx, my = gx + fb[..., 0], gy + fb[..., 1]
        ff_at = cv2.remap(ff, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        s = fb + ff_at
        lhs = (s ** 2).sum(-1)
        rhs = 0.01 * ((fb ** 2).sum(-1) + (ff_at ** 2).sum(-1)) + 0.5
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        out.append(FlowPair(mx, my, (lhs <= rhs) & inside))
    return out


def warped_error(outputs: Sequence[np.ndarray], flows: Sequence[FlowPair | None],
                 size: int | None = 640) -> float:
    """Warped temporal error E_warp in grey levels (module docstring) of ``outputs``.

    ``flows`` come from :func:`compute_flows` on the matching inputs with the same ``size``.
    Pairs without a flow or without valid pixels are skipped; 0.0 when none is left.
    """
    if len(flows) != max(0, len(outputs) - 1):
        raise ValueError(f"{len(outputs)} outputs need {max(0, len(outputs) - 1)} flows, got {len(flows)}")
    frames = _measure_size(outputs, size)
    errs = []
    for t, fp in enumerate(flows, start=1):
        if fp is None or not fp.mask.any():
            continue
        prev = frames[t - 1].astype(np.float32)
        warped = cv2.remap(prev, fp.remap_x, fp.remap_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(frames[t].astype(np.float32) - warped).mean(-1)
        errs.append(float(diff[fp.mask].mean()))
    return float(np.mean(errs)) if errs else 0.0


# ------------------------------------------------------------------------ report
@dataclass
class FlickerReport:
    """Flicker figures of one output clip against its input.

    Attributes:
        frames: number of frames measured.
        bfi: brightness-flicker index, percent.
        output_flicker: mean |Δ log mean luma| of the output alone, percent.
        warped_error: E_warp, grey levels.
        label: what the output is (e.g. ``"sci, smoothing 0.5"``).
        dark_chroma: mean CIE Lab chroma of the darkest half of the output
            (:func:`engine.lab.metrics.dark_chroma`), averaged over up to
            ``CHROMA_SAMPLES`` evenly spaced frames: the colour cast of the shadows.
        brightness: mean BT.601 luma (0..1) of the output over the same frames.
    """

    frames: int
    bfi: float
    output_flicker: float
    warped_error: float
    label: str = ""
    dark_chroma: float = math.nan
    brightness: float = math.nan
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def measure(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], *,
            flows: Sequence[FlowPair | None] | None = None, size: int | None = 640,
            label: str = "") -> FlickerReport:
    """All flicker figures of ``outputs`` (enhanced ``inputs``); pass ``flows`` from
    :func:`compute_flows` to reuse them across several outputs of the same input."""
    if len(inputs) != len(outputs):
        raise ValueError(f"inputs and outputs differ in length: {len(inputs)} vs {len(outputs)}")
    if flows is None:
        flows = compute_flows(inputs, size)
    picks = sampled_frames(outputs)
    return FlickerReport(len(outputs), brightness_flicker_index(inputs, outputs),
                         output_flicker(outputs), warped_error(outputs, flows, size), label,
                         float(np.mean([dark_chroma(f) for f in picks])) if picks else math.nan,
                         float(np.mean([mean_brightness(f) for f in picks])) if picks else math.nan)


#: frames :func:`measure` reads the dark-half chroma and the brightness on
CHROMA_SAMPLES = 10


def sampled_frames(frames: Sequence[np.ndarray], count: int = CHROMA_SAMPLES) -> list[np.ndarray]:
    """Up to ``count`` evenly spaced frames of ``frames`` (the first and the last among
    them), for figures that need not read every frame."""
    n = len(frames)
    if n == 0:
        return []
    idx = sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(min(count, n))})
    return [frames[i] for i in idx]


# --------------------------------------------------------------------- deflicker
def deflicker(frames: Sequence[np.ndarray], size: int = 5, mode: str = "am",
              fps: float = 30.0) -> list[np.ndarray]:
    """FFmpeg's ``deflicker`` filter run in-process through PyAV's filter graph.

    Args:
        frames: uint8 (H, W, 3) RGB frames of one size.
        size: temporal window in frames (2..129, FFmpeg's ``size``).
        mode: FFmpeg's averaging ``mode`` (``am``, ``gm``, ``hm``, ``qm``, ``cm``, ``pm``,
            ``median``).
        fps: frame rate stated to the filter graph (the filter does not depend on it).

    Returns:
        The filtered frames, same count, size and dtype.
    """
    import av  # imported here: the metrics above work without PyAV

    if not frames:
        return []
    h, w = frames[0].shape[:2]
    tb = Fraction(1, max(1, round(fps)))
    graph = av.filter.Graph()
    src = graph.add_buffer(width=w, height=h, format="rgb24", time_base=tb)
    flt = graph.add("deflicker", f"size={int(size)}:mode={mode}")
    sink = graph.add("buffersink")
    src.link_to(flt)
    flt.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                vf = graph.pull()
            except (av.error.BlockingIOError, BlockingIOError):
                return
            except (av.error.EOFError, EOFError):
                return
            out.append(vf.to_ndarray(format="rgb24"))

    for i, f in enumerate(frames):
        if f.shape[:2] != (h, w):
            raise ValueError(f"deflicker: frame {i} is {f.shape[1]}x{f.shape[0]}, expected {w}x{h}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
        vf.pts = i
        vf.time_base = tb
        graph.push(vf)
        drain()
    graph.push(None)
    drain()
    if len(out) != len(frames):
        raise RuntimeError(f"deflicker returned {len(out)} frames for {len(frames)}")
    return out


# ------------------------------------------------------------------- enhancement
def enhance_frames(frames: Iterable[np.ndarray], method: str, params=None, *,
                   enhancer=None) -> list[np.ndarray]:
    """Enhance ``frames`` in order with a fresh :class:`engine.stages.processor.FrameProcessor`
    (its two halves on two threads, :class:`engine.stages.processor.TwoStage`: the same frames).

    Args:
        method: registry name (ignored when ``enhancer`` is given).
        params: :class:`engine.params.EnhanceParams` or None for the method's defaults.
        enhancer: an existing enhancer instance to reuse (saves loading a model twice).
    """
    from engine import registry
    from engine.stages.processor import FrameProcessor, TwoStage

    enh = enhancer if enhancer is not None else registry.create(method)
    proc = FrameProcessor(enh, params)
    out = list(TwoStage(proc).run(frames))
    proc.flush()
    return out


# ----------------------------------------------------------------- test clips
@dataclass
class SyntheticClip:
    """A generated dark clip with known events.

    Attributes:
        frames: uint8 (H, W, 3) RGB frames.
        clean: the same frames without noise and exposure flicker (uint8).
        gains: per-frame exposure factor (flicker × lamp), float.
        cut: index of the first frame of the second scene, or None.
        lamp: index of the first frame with the lamp on, or None.
        boxes: per-frame (y0, x0, y1, x1) of the moving object (empty when none).
    """

    frames: list[np.ndarray]
    clean: list[np.ndarray]
    gains: list[float]
    cut: int | None
    lamp: int | None
    boxes: list[tuple[int, int, int, int]]


def _scene(rng: np.random.Generator, h: int, w: int, level: float) -> np.ndarray:
    """Smooth dark textured radiance (h, w, 3) float32 with mean about ``level`` (0..1)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)  # direction of the light falloff
    ramp = (np.cos(angle) * x / max(1, w - 1) + np.sin(angle) * y / max(1, h - 1))
    ramp = (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    base = 0.6 + 0.4 * ramp[..., None] * rng.uniform(0.5, 1.0, 3)
    for _ in range(6):  # soft blobs: lamps, faces, furniture
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.08, 0.3) * max(h, w)
        base = base + rng.uniform(0.3, 1.2) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None] \
            * rng.uniform(0.4, 1.0, 3)
    tex = cv2.GaussianBlur(rng.uniform(0.7, 1.3, (h, w)).astype(np.float32), (0, 0), 1.5)[..., None]
    img = base * tex
    return (img * (level / float(img.mean()))).astype(np.float32)


def synthetic_clip(n_frames: int = 60, size: tuple[int, int] = (72, 128), *, seed: int = 0,
                   flicker: float = 0.12, noise: float = 3.0, moving_object: bool = True,
                   cut: int | None = None, lamp: int | None = None, lamp_gain: float = 2.5,
                   level: float = 0.08) -> SyntheticClip:
    """Generate a dark clip with exposure flicker, sensor noise, a moving object, an
    optional scene cut and an optional lamp switching on.

    Args:
        n_frames: number of frames.
        size: (H, W) in pixels, any >= 1.
        seed: random seed (the clip is deterministic for a seed).
        flicker: exposure flicker amplitude: each frame's exposure is multiplied by
            1 + flicker · u, u uniform in [−1, 1] (auto-exposure hunting, mains beat).
        noise: sensor noise std in grey levels at black; shot noise adds
            ``sqrt(value)`` · noise / 4.
        moving_object: a bright square crossing the frame left to right (first scene only).
        cut: first frame of a different scene (darker/brighter, other layout), or None.
        lamp: first frame lit by a lamp (exposure × ``lamp_gain`` from then on), or None.
        level: mean scene radiance, 0..1 (0.08 ≈ grey level 20).
    """
    rng = np.random.default_rng(seed)
    h, w = size
    scenes = [_scene(rng, h, w, level), _scene(rng, h, w, level * 0.6)]
    side = max(1, min(h, w) // 4)
    frames, clean, gains, boxes = [], [], [], []
    for t in range(n_frames):
        scene = scenes[1 if cut is not None and t >= cut else 0].copy()
        if moving_object and h >= 2 and w >= 2 and (cut is None or t < cut):
            x0 = int(round((w - side) * t / max(1, n_frames - 1)))
            y0 = (h - side) // 2
            scene[y0:y0 + side, x0:x0 + side] = np.array([0.35, 0.3, 0.2], np.float32)
            boxes.append((y0, x0, y0 + side, x0 + side))
        light = lamp_gain if lamp is not None and t >= lamp else 1.0
        g = (1.0 + flicker * rng.uniform(-1.0, 1.0)) * light
        c = np.clip(scene * light * 255.0, 0, 255)
        v = scene * g * 255.0
        sd = noise * (1.0 + np.sqrt(np.maximum(v, 0.0)) / 4.0)
        noisy = v + rng.normal(0.0, 1.0, v.shape).astype(np.float32) * sd
        frames.append(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
        clean.append(np.rint(c).astype(np.uint8))
        gains.append(float(g))
    return SyntheticClip(frames, clean, gains, cut, lamp, boxes)


def reduction(before: float, after: float) -> float:
    """Relative reduction ``1 − after / before`` (0 when ``before`` is 0)."""
    return 0.0 if before <= 0 or math.isnan(before) else 1.0 - after / before


# -------------------------------------------------------------------------- noise
def temporal_noise(frames: Sequence[np.ndarray], mask: np.ndarray | None = None) -> float:
    """Temporal noise of a static shot, grey levels: the standard deviation over time of
    each pixel's luma, averaged over the pixels where ``mask`` (bool (H, W)) is True
    (all pixels when None). Meaningful on frames of a static scene at steady exposure."""
    if len(frames) < 2:
        return 0.0
    ys = np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]).astype(np.float32)
    sd = ys.std(axis=0)
    return float(sd[mask].mean() if mask is not None else sd.mean())
