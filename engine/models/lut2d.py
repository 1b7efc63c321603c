"""Two-dimensional lookup tables applied per pixel: ``out = T[row(p), x(p)]``.

The learned methods' *apply* step: a low-resolution map (SCI's illumination residual,
a Zero-DCE curve parameter) is upsampled bilinearly to full size and, together with the
full-resolution uint8 value x of each sample, indexes a uint8 table whose rows span the
map's value range. OpenCV's ``remap`` does the gather: the table is the "image", x is
the column coordinate (an exact integer) and the upsampled map is the row coordinate,
and the nearest of 1024 rows is taken (half the cost of interpolating between rows,
measured; the row step is 1/1023 of the map range). Float chains (a previous stage's
float32 output as x) interpolate linearly in both directions instead.

Where the map's height divides the frame's (:func:`engine.stages.bands.banded_resize`:
720p and 1080p for every method) the upsampling and the gather run band by band, so the
full-size float row plane is never written; elsewhere the whole frame at once. A uint8
apply is a :meth:`Lut2D.job` (:class:`~engine.enhancer.ApplyJob`): the table is taken when
the job is made and the bands run on any thread, in scratch planes of that thread, so the
processor's two halves can share one frame's bands. The returned frame is always new
(callers such as the video pipeline may still hold the previous one).

``build_blend`` makes a table between two cached ones (the exposure control asks for any
effective strength, the cache holds tables on a grid): ``round((1 − f)·A + f·B + u)``
with a fixed per-entry offset u in (−½, ½), so the fraction of entries that move from
A's value to B's grows in proportion to f and the output mean is continuous in f
(plain rounding would switch most entries at f = ½, a step again).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable

import cv2
import numpy as np

from engine.enhancer import ApplyJob
from engine.frame import float_levels, levels_to_float
from engine.stages.bands import banded_resize, resize_rows, resize_step, row_bands

__all__ = ["Lut2D", "PairLut", "blend_tables"]

_LEVELS = np.arange(256, dtype=np.float64) / 255.0
_REMAP_MAX = 32767  # OpenCV's remap takes planes below SHRT_MAX on each side
_CHUNK_COLS = 4096


def _gather(src: np.ndarray, cols: np.ndarray, rows: np.ndarray, out: np.ndarray, interp: int) -> None:
    """``out = src[rows, cols]`` (with ``interp`` between rows/columns), element-wise over
    equally shaped contiguous 2-D planes. Planes too large for one ``cv2.remap`` call
    (e.g. 1×12000 frames) are gathered as flat chunks: the operation is per element,
    so any reshaping of the three planes gives the same result."""
    if out.shape[0] < _REMAP_MAX and out.shape[1] < _REMAP_MAX:
        cv2.remap(src, cols, rows, interp, dst=out, borderMode=cv2.BORDER_REPLICATE)
        return
    c, r, o = cols.reshape(-1), rows.reshape(-1), out.reshape(-1)
    n = o.size
    step = _CHUNK_COLS * (_REMAP_MAX - 1)
    for start in range(0, n, step):
        end = min(n, start + step)
        k = _CHUNK_COLS if end - start >= _CHUNK_COLS else end - start
        full = start + (end - start) // k * k
        shape = (-1, k)
        cv2.remap(src, c[start:full].reshape(shape), r[start:full].reshape(shape), interp,
                  dst=o[start:full].reshape(shape), borderMode=cv2.BORDER_REPLICATE)
        if full < end:
            cv2.remap(src, c[full:end].reshape(1, -1), r[full:end].reshape(1, -1), interp,
                      dst=o[full:end].reshape(1, -1), borderMode=cv2.BORDER_REPLICATE)


_DITHER: dict[tuple[int, int], np.ndarray] = {}


def _dither(shape: tuple[int, int]) -> np.ndarray:
    """Fixed (seeded) float32 offsets in (−0.499, 0.499) for a table of ``shape``."""
    d = _DITHER.get(shape)
    if d is None:
        d = np.random.default_rng(12345).uniform(-0.499, 0.499, shape).astype(np.float32)
        _DITHER[shape] = d
    return d


def blend_tables(a: np.ndarray, b: np.ndarray, f: float) -> np.ndarray:
    """Dithered blend of two equally shaped uint8 tables: ``round((1 − f)·a + f·b + u)``,
    u the fixed offsets of :func:`_dither`; entries where a == b keep their value, and
    the expected value of every entry is linear in f. Returns a new uint8 table."""
    mix = cv2.addWeighted(a, 1.0 - f, b, f, 0.0, dtype=cv2.CV_32F)
    cv2.add(mix, _dither(a.shape), dst=mix)
    return cv2.convertScaleAbs(mix)


class _Buffers:
    """float32 scratch planes for one (H, W) (a whole frame, or a band of one)."""

    def __init__(self, h: int, w: int) -> None:
        self.shape = (h, w)
        self.cols = np.empty((h, w * 3), np.float32)  # x as column coordinate
        self._rows: np.ndarray | None = None

    def rows_plane(self) -> np.ndarray:
        """float32 (H, W · 3): the upsampled row coordinates (made on first use)."""
        if self._rows is None:
            self._rows = np.empty((self.shape[0], self.shape[1] * 3), np.float32)
        return self._rows


class _Gather:
    def __init__(self) -> None:
        self._buf: _Buffers | None = None

    def buffers(self, h: int, w: int) -> _Buffers:
        if self._buf is None or self._buf.shape != (h, w):
            self._buf = _Buffers(h, w)
        return self._buf


class Lut2D:
    """A (rows, 256) uint8 table over map values v in [lo, hi] and levels x in 0..255.

    Args:
        rows: table rows spanning [lo, hi] (1024 rows = 256 KiB, stays in cache).
        lo, hi: the map value range the rows cover; map values outside are clamped.
        cache: tables kept for reuse, least recently built/used dropped first (the
            exposure control asks for a new effective strength on many frames).
    """

    def __init__(self, rows: int = 1024, lo: float = 0.0, hi: float = 1.0, cache: int = 1) -> None:
        self.rows, self.lo, self.hi = rows, float(lo), float(hi)
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = max(1, int(cache))
        self.values = np.linspace(self.lo, self.hi, rows)  # float64 (rows,)
        self.table = np.zeros((rows, 256), np.uint8)
        self.levels: np.ndarray | None = np.zeros((rows, 256), np.float32)  # unrounded, levels 0..255
        self.exact: np.ndarray | None = None  # float64 (rows, 256) values in [0, 1]
        self._key: Hashable = object()

    def build(self, key: Hashable, fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
              floats: bool = True) -> None:
        """(Re)build the table unless it was last built for ``key``.

        ``fn(v, x)`` gets float64 v (rows, 1) and x (1, 256) in [0, 1] and returns the
        output in [0, 1] (broadcast to (rows, 256)); it is rounded to uint8 levels.
        ``floats`` False keeps only the uint8 table (``exact`` and ``levels`` are None
        then; 256 KiB per cached table instead of 3.3 MiB): for uint8-only ``apply``.
        """
        if key == self._key:
            return
        hit = self._cache.get(key)
        if hit is None:
            exact = np.clip(np.broadcast_to(fn(self.values[:, None], _LEVELS[None, :]), (self.rows, 256)), 0.0, 1.0)
            table = np.ascontiguousarray(np.rint(exact * 255.0), dtype=np.uint8)
            if floats:
                hit = (np.ascontiguousarray(exact, dtype=np.float64),
                       np.ascontiguousarray(exact * 255.0, dtype=np.float32), table)
            else:
                hit = (None, None, table)
            self._cache[key] = hit
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        self.exact, self.levels, self.table = hit
        self._key = key

    def build_blend(self, key_lo: Hashable, fn_lo: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    key_hi: Hashable, fn_hi: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    frac: float) -> None:
        """Use the dithered blend (see the module docstring) of the uint8 tables of
        ``key_lo`` and ``key_hi`` with weight ``frac`` in [0, 1] on the latter; both are
        built (``floats`` False) and cached like :meth:`build`. ``frac`` <= 0 is exactly
        ``build(key_lo, fn_lo, floats=False)``. Only uint8 ``apply`` works afterwards."""
        if not frac > 0.0 or key_lo == key_hi:
            self.build(key_lo, fn_lo, floats=False)
            return
        key = ("blend", key_lo, key_hi, round(float(frac), 4))
        if key == self._key:
            return
        self.build(key_hi, fn_hi, floats=False)
        hi = self.table
        self.build(key_lo, fn_lo, floats=False)
        self.table = blend_tables(self.table, hi, min(1.0, float(frac)))
        self.exact = self.levels = None
        self._key = key

    def row_coords(self, small: np.ndarray) -> np.ndarray:
        """Map values (h, w, C) → float32 row coordinates in [0, rows − 1]."""
        scale = (self.rows - 1) / (self.hi - self.lo)
        r = (small.astype(np.float32, copy=False) - np.float32(self.lo)) * np.float32(scale)
        return np.clip(r, 0.0, self.rows - 1, out=r)

    def apply(self, frame: np.ndarray, small: np.ndarray, float_out: bool = False) -> np.ndarray:
        """Apply the table to ``frame`` with the low-resolution map ``small`` (float32
        (h, w, 3), values in [lo, hi]) upsampled bilinearly to (H, W).

        ``frame`` is uint8 (H, W, 3), or float32 (H, W, 3) in levels 0..255 (a previous
        ``float_out`` result; fractional levels are interpolated between columns).
        Returns a new uint8 (H, W, 3), or float32 levels when ``float_out``.
        """
        return self.job(frame, small, float_out).result()

    def job(self, frame: np.ndarray, small: np.ndarray, float_out: bool = False) -> ApplyJob:
        """:meth:`apply` as an :class:`~engine.enhancer.ApplyJob`: the current table and the
        row coordinates of ``small`` are taken now; the upsampling and the gather run band
        by band (one band for sizes :func:`banded_resize` does not offer), on any thread,
        into scratch planes of the running thread. The same output however the bands are
        shared out."""
        h, w = frame.shape[:2]
        rows_small = self.row_coords(small)
        src = self.levels if float_out else self.table
        if src is None:
            raise ValueError("float output needs a table built with floats=True")
        exact_cols = frame.dtype != np.float32
        levels = None if float_out or not exact_cols else float_levels(frame)
        # the floats the frame is the rounding of (when it carries them): the nearest
        # column is the frame's own level (remap rounds a coordinate as the rounding to
        # uint8 did), no conversion
        plane = (levels if levels is not None else frame).reshape(h, w * 3)
        convert = plane.dtype != np.float32
        out = np.empty((h, w * 3), src.dtype)
        interp = cv2.INTER_NEAREST if exact_cols and not float_out else cv2.INTER_LINEAR
        size = (w, h)
        if (rows_small.shape[:2] != (h, w) and banded_resize(rows_small, size)
                and h < _REMAP_MAX and w * 3 < _REMAP_MAX):
            # band by band (engine.stages.bands: bit-identical, and neither full-size
            # coordinate plane is written)
            bands = row_bands(h, w, step=resize_step(rows_small.shape[0], h))

            def run_band(r0: int, r1: int) -> None:
                n = r1 - r0
                cols = levels_to_float(plane[r0:r1], _scratch(n, w * 3)) if convert else plane[r0:r1]
                rows = resize_rows(rows_small, size, r0, r1).reshape(n, w * 3)
                _gather(src, cols, rows, out[r0:r1], interp)
        else:
            bands = [(0, h)]

            def run_band(r0: int, r1: int) -> None:
                rows = rows_small if rows_small.shape[:2] == (h, w) else cv2.resize(
                    rows_small, size, interpolation=cv2.INTER_LINEAR)
                cols = levels_to_float(plane, _scratch(h, w * 3)) if convert else plane
                _gather(src, cols, rows.reshape(h, w * 3), out, interp)
        return ApplyJob(out.reshape(h, w, 3), bands, run_band)


_LOCAL = threading.local()


def _scratch(h: int, w: int) -> np.ndarray:
    """A C-contiguous float32 (h, w) scratch plane of the calling thread (rows of a plane
    kept for the next call of the same width), so that jobs on two threads never share one."""
    buf = getattr(_LOCAL, "plane", None)
    if buf is None or buf.shape[1] != w or buf.shape[0] < h:
        buf = _LOCAL.plane = np.empty((h, w), np.float32)
    return buf[:h]


class PairLut(_Gather):
    """A (256, 256) uint8 table ``out = T[b, a]`` over a uint8 plane a and a plane b
    (uint8, or float32 levels 0..255 interpolated between rows)."""

    def __init__(self, cache: int = 1) -> None:
        super().__init__()
        self.table = np.zeros((256, 256), np.uint8)
        self._key: Hashable = object()
        self._b: np.ndarray | None = None
        self._cache: OrderedDict = OrderedDict()
        self._cache_size = max(1, int(cache))

    def build(self, key: Hashable, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        """``fn(b, a)`` gets float64 b (256, 1) and a (1, 256) in [0, 1]; returns [0, 1].
        The last ``cache`` tables are kept (see :class:`Lut2D`)."""
        if key == self._key:
            return
        table = self._cache.get(key)
        if table is None:
            exact = np.clip(np.broadcast_to(fn(_LEVELS[:, None], _LEVELS[None, :]), (256, 256)), 0.0, 1.0)
            table = np.ascontiguousarray(np.rint(exact * 255.0), dtype=np.uint8)
            self._cache[key] = table
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        self.table = table
        self._key = key

    def build_blend(self, key_lo: Hashable, fn_lo: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    key_hi: Hashable, fn_hi: Callable[[np.ndarray, np.ndarray], np.ndarray],
                    frac: float) -> None:
        """The dithered blend of the tables of ``key_lo`` and ``key_hi`` (weight ``frac``
        on the latter), as :meth:`Lut2D.build_blend`."""
        if not frac > 0.0 or key_lo == key_hi:
            self.build(key_lo, fn_lo)
            return
        key = ("blend", key_lo, key_hi, round(float(frac), 4))
        if key == self._key:
            return
        self.build(key_hi, fn_hi)
        hi = self.table
        self.build(key_lo, fn_lo)
        self.table = blend_tables(self.table, hi, min(1.0, float(frac)))
        self._key = key

    def apply(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Per sample T[b, a] for (H, W, 3) planes; returns a new uint8 (H, W, 3)."""
        h, w = a.shape[:2]
        buf = self.buffers(h, w)
        levels_to_float(a.reshape(h, w * 3), buf.cols)
        if b.dtype == np.float32:
            rows = b.reshape(h, w * 3)
        else:
            rows = levels_to_float(b.reshape(h, w * 3), buf.rows_plane())
        out = np.empty((h, w * 3), np.uint8)
        _gather(self.table, buf.cols, rows, out, cv2.INTER_LINEAR)
        return out.reshape(h, w, 3)
