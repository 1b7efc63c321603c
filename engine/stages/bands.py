"""Per-pixel chains run band by band: rows of a frame at a time, while they are in cache.

A chain of full-frame passes (convert, look up, blend, round) writes each intermediate
plane to memory and reads it back in the next pass. At 720p a float32 RGB plane is 11 MB
and at 1080p 25 MB; a few of them overflow the shared cache, and on two busy threads each
pass waits on memory. Running the whole chain on a band of rows before the next band keeps
its intermediates in cache: the operations are the same, on the same values, so the
result is bit-identical to the full-frame chain.

:func:`row_bands` cuts a frame's rows into bands of about :data:`BAND_PIXELS` pixels
(aligned to an upsampling's blocks where one is banded).
:func:`resize_rows` gives rows ``r0:r1`` of a bilinear upsampling exactly as the
whole-frame ``cv2.resize`` gives them where :func:`banded_resize` offers it (a whole or, for
float32, a half ratio): the band's source rows, cut at whole blocks with a block of margin
on each side, resized by the same ratio, then cropped (OpenCV's coefficients depend only
on the ratio and the row's offset, which the crop keeps; :func:`banded_resize` says where
this was verified).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["BAND_PIXELS", "row_bands", "resize_step", "banded_resize", "resize_rows"]

#: Pixels per band: 128 rows of a 1080p frame, 192 of a 720p one (a float32 RGB band of
#: 2.9 MB; the chains hold a few such planes). With a second process doing the same, the
#: temporal denoiser's blend at 720p took 2.4 against 3.5 ms of CPU in whole frames; half
#: these bands cost the same CPU (×0.993, one thread) in twice the OpenCV calls and ran the
#: two-thread path ×0.96 at 1080p.
BAND_PIXELS = 245_760
_MIN_ROWS = 8  # fewer rows per band cost more in calls than they save in memory traffic
_MAX_BLOCK = 32  # longest run of output rows resize_rows crops at (a block of margin each side)
_MAX_ROWS = 4096  # tallest output resize_rows serves
_MIN_BLOCKS = 8  # blocks per band at least, so the two blocks of margin cost at most a quarter


def row_bands(height: int, width: int, pixels: int = BAND_PIXELS, step: int = 1) -> list[tuple[int, int]]:
    """``(r0, r1)`` row ranges covering ``0..height`` in order, near ``pixels`` pixels of a
    ``width``-wide frame each, at least 8 rows unless the frame has fewer; one band when
    the frame is small.

    ``step``: the bands start at multiples of it and hold at least 8 of its blocks (the
    output block of an upsampling, :func:`resize_step`: each band of one is resized with
    a block of margin on either side, so short bands would resize mostly margin). With
    ``step`` 1 the bands are of equal heights to a row."""
    if height <= 0:
        return []
    step = max(1, int(step))
    blocks = -(-height // step)
    min_blocks = max(-(-_MIN_ROWS // step), _MIN_BLOCKS if step > 1 else 1)
    n = max(1, min(blocks // min_blocks, -(-height * max(1, width) // max(1, pixels))))
    edges = [min(height, step * (blocks * i // n)) for i in range(n)] + [height]
    return list(zip(edges[:-1], edges[1:]))


def resize_step(src_height: int, dst_height: int) -> int:
    """Output rows per block of an upsampling from ``src_height`` to ``dst_height`` rows
    (p of the ratio p / q in lowest terms): the ``step`` of :func:`row_bands` for it."""
    return _blocks(src_height, dst_height)[0]


def _blocks(src_height: int, dst_height: int) -> tuple[int, int]:
    """(p, q): ``dst_height / src_height`` in lowest terms (q source rows give p output rows)."""
    g = math.gcd(src_height, dst_height)
    return dst_height // g, src_height // g


def banded_resize(src: np.ndarray, size: tuple[int, int]) -> bool:
    """Whether :func:`resize_rows` serves the bilinear resize of ``src`` ((h, w) or
    (h, w, 3), uint8 or float32) to ``size`` (W, H): H / h in lowest terms p / q a whole
    number, or for float32 also a half (q = 2), with p at most :data:`_MAX_BLOCK`
    (720 / 144 = 5 / 1, 1080 / 144 = 15 / 2; not 850 / 256), w at least 2 and H at most
    4096.

    Within these bounds the bands equalled the whole resize bit for bit in every case
    tested (thousands of random sizes); outside them OpenCV's rounding depends on the
    row's position (two-channel planes, a one-column source, uint8 half ratios above
    about 2,500 rows, ratios such as 11 / 3), and the caller resizes whole."""
    h, w = src.shape[:2]
    h_out = size[1]
    if not (0 < h <= h_out <= _MAX_ROWS and w >= 2 and src.dtype in (np.uint8, np.float32)
            and (src.ndim == 2 or (src.ndim == 3 and src.shape[2] in (1, 3)))):
        return False
    p, q = _blocks(h, h_out)
    return p <= _MAX_BLOCK and (q == 1 or (q == 2 and src.dtype == np.float32))


def resize_rows(src: np.ndarray, size: tuple[int, int], r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of ``cv2.resize(src, size, interpolation=cv2.INTER_LINEAR)``,
    computed from the source rows they need.

    The source is cropped at whole blocks (q rows that give p output rows, H / h = p / q),
    with a block of margin on each side, and resized by the same ratio: OpenCV derives
    each row's coefficients from the ratio and the row's offset, which the crop keeps.

    Args:
        src: (h, w) or (h, w, C) array OpenCV resizes.
        size: (W, H) of the whole output, :func:`banded_resize` true.
        r0, r1: the output rows wanted, 0 <= r0 < r1 <= H.

    Returns:
        A view of shape (r1 − r0, W[, C]) into a new array.
    """
    w_out, h_out = size
    h = src.shape[0]
    if not banded_resize(src, size):
        raise ValueError(f"cannot resize {src.shape} {src.dtype} to {size} by bands")
    p, q = _blocks(h, h_out)
    m0 = max(0, r0 // p - 1)
    m1 = min(h // q, -(-r1 // p) + 1)
    out = cv2.resize(src[m0 * q:m1 * q], (w_out, (m1 - m0) * p), interpolation=cv2.INTER_LINEAR)
    return out[r0 - m0 * p:r1 - m0 * p]
