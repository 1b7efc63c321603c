"""Scope figures (engine.lab.scope): histogram, waveform and clipped fractions counted exactly
on small frames whose answer is known, and the strided copy stays within its pixel budget."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.lab import scope


def test_histogram_counts_each_channel_and_luma():
    f = np.zeros((2, 3, 3), np.uint8)
    f[0, 0] = (255, 0, 0)
    f[0, 1] = (0, 255, 0)
    f[1, 2] = (255, 255, 255)
    h = scope.histogram(f)
    assert h.shape == (4, 256) and h.dtype == np.int64
    assert (h.sum(axis=1) == 6).all()
    assert h[0, 255] == 2 and h[0, 0] == 4  # red at 255 in two pixels
    assert h[1, 255] == 2 and h[2, 255] == 1
    # luma: black 0, pure red 76, pure green 150, white 255
    assert h[3, 0] == 3 and h[3, 76] == 1 and h[3, 150] == 1 and h[3, 255] == 1


def test_waveform_bands_follow_picture_columns():
    w = 8
    f = np.zeros((5, w, 3), np.uint8)
    f[:, w // 2:] = 200  # right half grey 200, left half black
    wf = scope.waveform(f, columns=4)
    assert wf.shape == (256, 4)
    assert (wf.sum(axis=0) == 5 * 2).all()  # each band: 5 rows x 2 columns
    assert wf[0, 0] == 10 and wf[0, 1] == 10 and wf[200, 2] == 10 and wf[200, 3] == 10
    assert wf[200, :2].sum() == 0
    assert scope.waveform(f, columns=1000).shape == (256, w)  # capped at the width


def test_clip_fractions_count_pixels_with_a_channel_at_the_limits():
    f = np.full((4, 5, 3), 100, np.uint8)
    f[0, 0] = (0, 0, 0)
    f[0, 1] = (10, 0, 40)  # one channel crushed
    f[3, 4] = (255, 200, 200)
    low, high = scope.clip_fractions(f)
    assert low == pytest.approx(2 / 20) and high == pytest.approx(1 / 20)


def test_strided_keeps_within_budget_and_exact_values():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    s = scope.strided(f, 160_000)
    assert s.shape[0] * s.shape[1] <= 160_000
    assert np.shares_memory(s, f)  # a view: no copy of the full frame
    assert scope.strided(f[:10, :10], 160_000) is not None and scope.strided(f[:10, :10]).shape == (10, 10, 3)
    m = scope.measure(f)
    assert m.sampled == s.shape[:2]
    assert m.histogram[3].sum() == s.shape[0] * s.shape[1]
    # uniform noise: about 1 - (255/256)^3 of the pixels have a channel at 0
    assert m.at_0 == pytest.approx(1 - (255 / 256) ** 3, rel=0.1)


def test_measure_is_cheap_on_a_1080p_frame():
    f = np.full((1080, 1920, 3), 30, np.uint8)
    scope.measure(f)
    t0 = time.perf_counter()
    for _ in range(5):
        scope.measure(f)
    # five a second must cost the UI thread little: under 100 ms each even on a busy shared CPU
    assert (time.perf_counter() - t0) / 5 < 0.1


def test_rejects_non_frames():
    with pytest.raises(ValueError, match="uint8"):
        scope.histogram(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        scope.measure(np.zeros((4, 4, 3), np.float32))
