"""Band-by-band chains (engine.stages.bands): the bands cover the frame, the banded
bilinear resize equals OpenCV's whole one bit for bit where it is offered, and the stages
that run band by band give the same frames whatever the band height."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.frame import float_levels
from engine.models import lut2d
from engine.models.lut2d import Lut2D
from engine.stages import bands, spatial_denoise, temporal_denoise
from engine.stages.bands import banded_resize, resize_rows, row_bands
from engine.stages.spatial_denoise import SpatialDenoiser
from engine.stages.temporal_denoise import TemporalDenoiser


@given(st.integers(0, 3000), st.integers(1, 5000), st.integers(1, 400_000), st.integers(1, 32))
def test_row_bands_cover_the_rows_in_order(height: int, width: int, pixels: int, step: int) -> None:
    got = row_bands(height, width, pixels, step)
    if height == 0:
        assert got == []
        return
    assert got[0][0] == 0 and got[-1][1] == height
    assert all(a[1] == b[0] for a, b in zip(got, got[1:]))
    assert all(r0 % step == 0 for r0, _ in got)  # aligned to the upsampling's blocks
    sizes = [r1 - r0 for r0, r1 in got]
    assert min(sizes) >= min(8, height)
    if step == 1:
        assert max(sizes) - min(sizes) <= 1
    elif len(got) > 1:  # eight blocks at least: the two of margin cost at most a quarter
        assert min(sizes[:-1]) >= 8 * step
    if len(got) > 1:  # no more bands than the pixel budget asks for
        assert (len(got) - 1) * pixels < height * width


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 2), st.integers(1, 32), st.integers(1, 120), st.integers(2, 90),
       st.integers(0, 400), st.sampled_from([1, 3]), st.sampled_from(["uint8", "float32"]),
       st.integers(1, 300), st.integers(0, 2**31 - 1))
def test_resize_rows_equal_the_whole_resize(q: int, p: int, blocks: int, w: int, extra_w: int,
                                            channels: int, dtype: str, step: int, seed: int) -> None:
    h, height = blocks * q, blocks * p
    width = w + extra_w
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels == 1 else (h, w, channels)
    src = (rng.random(shape) * 255).astype(dtype)
    if not banded_resize(src, (width, height)):
        assert p < q or p > 32 or np.gcd(p, q) != 1 or (q == 2 and dtype == "uint8")
        return
    whole = cv2.resize(src, (width, height), interpolation=cv2.INTER_LINEAR)
    got = np.concatenate([resize_rows(src, (width, height), r, min(height, r + step))
                          for r in range(0, height, step)])
    assert np.array_equal(got, whole)


def test_banded_resize_refuses_what_it_cannot_match() -> None:
    plane = np.zeros((144, 256), np.float32)
    assert banded_resize(plane, (1280, 720)) and banded_resize(plane, (1920, 1080))
    assert not banded_resize(plane.astype(np.uint8), (1920, 1080))  # a half ratio, uint8
    assert not banded_resize(np.zeros((256, 144, 3), np.float32), (478, 850))  # 425 / 128
    assert not banded_resize(np.zeros((30, 40, 2), np.float32), (80, 60))  # two channels
    assert not banded_resize(np.zeros((30, 1), np.float32), (8, 60))  # one column
    assert not banded_resize(np.zeros((30, 40), np.float32), (120, 110))  # 11 / 3
    assert not banded_resize(np.zeros((30, 40), np.float32), (80, 15))  # a reduction
    with pytest.raises(ValueError):
        resize_rows(np.zeros((30, 40, 2), np.float32), (80, 60), 0, 10)


def _with_bands(monkeypatch: pytest.MonkeyPatch, pixels: int | None) -> None:
    """Make the banded stages cut ``pixels``-pixel bands (None: one band, the whole frame)."""
    def cut(height: int, width: int, _pixels: int = bands.BAND_PIXELS, step: int = 1) -> list[tuple[int, int]]:
        return [(0, height)] if pixels is None else bands.row_bands(height, width, pixels, step)

    for module in (temporal_denoise, spatial_denoise, lut2d):
        monkeypatch.setattr(module, "row_bands", cut)


def _clip(h: int, w: int, n: int, seed: int) -> list[np.ndarray]:
    """A dark, noisy clip panning by a pixel a frame (the denoiser averages and follows it)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w + n].astype(np.float32)
    scene = 30.0 + 20.0 * np.sin(x / 7.0) * np.cos(y / 5.0)
    base = np.stack([scene, 0.8 * scene, 0.6 * scene], axis=2)
    return [np.clip(base[:, i:i + w] + rng.normal(0.0, 4.0, (h, w, 3)), 0, 255).astype(np.uint8)
            for i in range(n)]


def _runs(monkeypatch: pytest.MonkeyPatch, run, pixels: int) -> tuple:
    _with_bands(monkeypatch, None)
    whole = run()
    _with_bands(monkeypatch, pixels)
    return whole, run()


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 70), st.integers(1, 90), st.integers(8, 600), st.integers(0, 1000))
def test_temporal_denoiser_bands_change_nothing(h: int, w: int, pixels: int, seed: int) -> None:
    clip = _clip(h, w, 5, seed)

    def run() -> list[tuple[np.ndarray, np.ndarray | None]]:
        td = TemporalDenoiser()
        outs = [td.process(f, 0.8) for f in clip]
        return [(np.asarray(o).copy(), None if float_levels(o) is None else float_levels(o).copy())
                for o in outs]

    with pytest.MonkeyPatch.context() as mp:
        whole, banded = _runs(mp, run, pixels)
    for (a, fa), (b, fb) in zip(whole, banded):
        assert np.array_equal(a, b)
        assert (fa is None) == (fb is None) and (fa is None or np.array_equal(fa, fb))


@settings(max_examples=12, deadline=None)
@given(st.integers(3, 40), st.integers(3, 60), st.integers(8, 400), st.integers(1, 2),
       st.integers(0, 1000))
def test_spatial_denoiser_bands_change_nothing(blocks: int, w: int, pixels: int, factor: int,
                                               seed: int) -> None:
    h = 4 * blocks if factor == 2 else 4 * blocks + 1  # banded (even, quarter divides) or not
    frame = _clip(h, w, 1, seed)[0]
    frame = cv2.convertScaleAbs(frame, alpha=4.0)  # lifted: noisy enough for the stage to work

    def run() -> np.ndarray:
        return SpatialDenoiser().process(frame, 0.7)

    with pytest.MonkeyPatch.context() as mp:
        whole, banded = _runs(mp, run, pixels)
    assert np.array_equal(whole, banded)


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 12), st.integers(2, 20), st.integers(1, 2), st.integers(1, 9),
       st.integers(8, 300), st.booleans(), st.integers(0, 1000))
def test_table_apply_bands_change_nothing(mh: int, mw: int, q: int, p: int, pixels: int,
                                          with_floats: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = mh * p, mw * 3 + 1  # the map's mh · q rows to h: a ratio p / q (banded when >= 1)
    small = rng.random((mh * q, mw, 3)).astype(np.float32)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if with_floats:  # a frame that carries its float levels (the temporal denoiser's)
        levels = np.clip(frame.astype(np.float32) + rng.uniform(-0.49, 0.49, frame.shape), 0, 255)
        frame = temporal_denoise.with_levels(frame, levels.astype(np.float32))
    table = Lut2D(rows=1024)
    table.build("g", lambda v, x: x ** (1.0 / (1.0 + 2.0 * v)))

    def run() -> np.ndarray:
        return table.apply(frame, small)

    with pytest.MonkeyPatch.context() as mp:
        whole, banded = _runs(mp, run, pixels)
    assert np.array_equal(whole, banded)


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 12), st.integers(2, 20), st.integers(1, 2), st.integers(1, 9),
       st.integers(8, 300), st.booleans(), st.integers(0, 1000), st.floats(0.0, 1.0))
def test_a_table_apply_job_shared_by_two_threads_equals_apply(mh: int, mw: int, q: int, p: int, pixels: int,
                                                              with_floats: bool, seed: int, share: float) -> None:
    """The first k bands on one thread, the rest on another (the processor's two halves),
    with the table rebuilt for the next frame in between: the frame apply gives."""
    rng = np.random.default_rng(seed)
    h, w = mh * p, mw * 3 + 1
    small = rng.random((mh * q, mw, 3)).astype(np.float32)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if with_floats:
        levels = np.clip(frame.astype(np.float32) + rng.uniform(-0.49, 0.49, frame.shape), 0, 255)
        frame = temporal_denoise.with_levels(frame, levels.astype(np.float32))
    table = Lut2D(rows=1024, cache=2)
    table.build("g", lambda v, x: x ** (1.0 / (1.0 + 2.0 * v)))
    expected = cv2.remap(table.table, (float_levels(frame) if with_floats else frame.astype(np.float32)).reshape(h, -1),
                         cv2.resize(table.row_coords(small), (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, -1),
                         cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE).reshape(h, w, 3)
    with pytest.MonkeyPatch.context() as mp:
        _with_bands(mp, pixels)
        job = table.job(frame, small)
        k = round(share * len(job.bands))
        first = threading.Thread(target=job.run, args=(k,))
        first.start()
        first.join()
        assert job.bands_done == k
        table.build("other", lambda v, x: 1.0 - x)  # the next frame's table, before the rest runs
        got: list[np.ndarray] = []
        second = threading.Thread(target=lambda: got.append(job.result()))
        second.start()
        second.join()
    assert np.array_equal(got[0], expected)
