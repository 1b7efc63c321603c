"""Video scopes of a frame: RGB and luma histograms, a luma waveform, clipped fractions.

The studio's scope dock draws what these functions measure; they are plain numpy (no Qt)
so the figures can be tested and reused. All of them take a frame in the frame contract,
uint8 (H, W, 3) RGB, and are cheap enough for a few calls a second on a video frame
because :func:`measure` works on a strided copy (every k-th row and column) of at most
``max_pixels`` pixels: striding keeps the sampled pixels' exact values, so levels 0 and
255 are counted as they are, and the fractions are estimates of the whole frame's.

Luma is BT.601 (0.299 R + 0.587 G + 0.114 B), the weighting the engine's exposure
statistic uses, rounded to 0..255.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


__all__ = ["Scope", "clip_fractions", "histogram", "luma8", "measure", "strided", "waveform"]

LEVELS = 256
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _check(frame: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``frame`` is uint8 (H, W, 3), H, W >= 1 (strided views allowed)."""
    if (not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3
            or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1):
        shape = getattr(frame, "shape", None)
        raise ValueError(f"scope needs a uint8 (H, W, 3) RGB frame, got {type(frame).__name__} {shape}")


def strided(frame: np.ndarray, max_pixels: int = 160_000) -> np.ndarray:
    """Every k-th row and column of ``frame`` (a view, no copy), k the smallest integer
    that leaves at most ``max_pixels`` pixels.

    Args:
        frame: (H, W, C) or (H, W) array.
        max_pixels: at least 1.

    Returns:
        (ceil(H/k), ceil(W/k), ...) view of ``frame``; ``frame`` itself when it is small enough.
    """
    h, w = frame.shape[:2]
    k = 1
    while -(-h // k) * -(-w // k) > max(1, int(max_pixels)):
        k += 1
    return frame if k == 1 else frame[::k, ::k]


def luma8(frame: np.ndarray) -> np.ndarray:
    """BT.601 luma of a uint8 (H, W, 3) RGB frame as uint8 (H, W), 0..255 (rounded)."""
    y = frame.astype(np.float32) @ _LUMA
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def histogram(frame: np.ndarray, luma: np.ndarray | None = None) -> np.ndarray:
    """Pixel counts per level of R, G, B and luma.

    Args:
        frame: uint8 (H, W, 3) RGB.
        luma: ``luma8(frame)`` when the caller has it already (else computed here).

    Returns:
        int64 (4, 256): rows R, G, B, luma; column v counts the pixels whose channel
        (or luma) equals v. Each row sums to H * W.
    """
    _check(frame)
    out = np.empty((4, LEVELS), np.int64)
    for c in range(3):
        out[c] = np.bincount(frame[..., c].ravel(), minlength=LEVELS)
    out[3] = np.bincount((luma if luma is not None else luma8(frame)).ravel(), minlength=LEVELS)
    return out


def waveform(frame: np.ndarray, columns: int = 256, luma: np.ndarray | None = None) -> np.ndarray:
    """Luma waveform: for each band of picture columns, how many pixels have each luma.

    Args:
        frame: uint8 (H, W, 3) RGB.
        columns: number of bands across the picture width (1..W; more are capped at W).
        luma: ``luma8(frame)`` when the caller has it already (else computed here).

    Returns:
        int64 (256, columns): entry [v, j] counts the pixels of band j (picture columns
        ``j*W//columns`` up to the next band) whose luma is v; row 0 is black, row 255 white.
        Every column sums to H times the band's width in pixels.
    """
    _check(frame)
    h, w = frame.shape[:2]
    columns = max(1, min(int(columns), w))
    y = (luma if luma is not None else luma8(frame)).astype(np.int64)
    band = (np.arange(w, dtype=np.int64) * columns) // w  # (W,) band of each picture column
    idx = y * columns + band[None, :]
    return np.bincount(idx.ravel(), minlength=LEVELS * columns).reshape(LEVELS, columns)


def clip_fractions(frame: np.ndarray) -> tuple[float, float]:
    """Shares of pixels that are clipped.

    Args:
        frame: uint8 (H, W, 3) RGB.

    Returns:
        (at_0, at_255): fraction 0..1 of pixels with at least one channel at 0 (shadows
        crushed to black or a colour lost there), and with at least one channel at 255
        (highlights clipped).
    """
    _check(frame)
    n = frame.shape[0] * frame.shape[1]
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    # channel-wise minimum and maximum: much cheaper than (frame == 0).any(axis=2)
    low = int(np.count_nonzero(np.minimum(np.minimum(r, g), b) == 0))
    high = int(np.count_nonzero(np.maximum(np.maximum(r, g), b) == 255))
    return low / n, high / n


@dataclass(frozen=True)
class Scope:
    """What the scope dock shows for one frame.

    Attributes:
        histogram: int64 (4, 256) counts of R, G, B, luma (see :func:`histogram`).
        waveform: int64 (256, columns) luma waveform (see :func:`waveform`).
        at_0, at_255: clipped fractions 0..1 (see :func:`clip_fractions`).
        sampled: (height, width) of the strided copy that was measured.
    """

    histogram: np.ndarray
    waveform: np.ndarray
    at_0: float
    at_255: float
    sampled: tuple[int, int]


def measure(frame: np.ndarray, max_pixels: int = 160_000, columns: int = 256) -> Scope:
    """Histogram, waveform and clipped fractions of a strided copy of ``frame``.

    Args:
        frame: uint8 (H, W, 3) RGB.
        max_pixels: the copy measured has at most this many pixels (see :func:`strided`);
            160 000 takes a few milliseconds on one core.
        columns: waveform bands (capped at the copy's width).

    Returns:
        A :class:`Scope`.
    """
    _check(frame)
    small = np.ascontiguousarray(strided(frame, max_pixels))  # one compact copy, read four times
    y = luma8(small)
    low, high = clip_fractions(small)
    return Scope(histogram(small, y), waveform(small, columns, y), low, high,
                 (int(small.shape[0]), int(small.shape[1])))
