"""Metrics: known values and agreement with a direct implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lab import metrics


def _rand(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 1000))
def test_identical_images(h: int, w: int, seed: int) -> None:
    a = _rand((h, w, 3), seed)
    assert metrics.psnr(a, a) == math.inf
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim(a, a, channel="mean") == pytest.approx(1.0, abs=1e-12)


def test_psnr_known_value_and_dtypes() -> None:
    a = np.full((10, 10, 3), 100, np.uint8)
    b = a + 10  # mse = 100 -> 10 log10(255^2 / 100)
    expected = 10 * math.log10(255.0 ** 2 / 100.0)
    assert metrics.psnr(a, b) == pytest.approx(expected)
    assert metrics.psnr(a / 255.0, b / 255.0) == pytest.approx(expected)
    assert metrics.psnr(a, b.astype(np.float32) / 255.0) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError):
        metrics.psnr(a, a[:5])


def _ssim_direct(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook SSIM over the valid region, explicit loops over window positions."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    win = np.outer(g, g)
    win /= win.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (win * px).sum(), (win * py).sum()
            sx = (win * (px - mx) ** 2).sum()
            sy = (win * (py - my) ** 2).sum()
            sxy = (win * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * sxy + c2) / ((mx ** 2 + my ** 2 + c1) * (sx + sy + c2)))
    return float(np.mean(vals))


def test_ssim_matches_direct_definition() -> None:
    rng = np.random.default_rng(3)
    x = np.clip(np.cumsum(rng.normal(0, 8, (24, 30)), axis=1) + 120, 0, 255).astype(np.uint8)
    y = np.clip(x + rng.normal(0, 12, x.shape), 0, 255).astype(np.uint8)
    got = metrics.ssim(x, y)
    want = _ssim_direct(x.astype(np.float64), y.astype(np.float64))
    assert got == pytest.approx(want, abs=1e-9)
    assert 0.0 < got < 1.0


def test_ssim_luma_vs_mean_and_ordering() -> None:
    a = _rand((32, 32, 3), 1)
    rng = np.random.default_rng(2)
    slight = np.clip(a + rng.normal(0, 5, a.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    for ch in ("luma", "mean"):
        assert metrics.ssim(a, slight, channel=ch) > metrics.ssim(a, heavy, channel=ch)
    with pytest.raises(ValueError):
        metrics.ssim(a, a, channel="nope")


@pytest.mark.parametrize("sigma", [2.0, 5.0, 10.0])
def test_noise_sigma_recovered(sigma: float) -> None:
    rng = np.random.default_rng(int(sigma))
    y, x = np.mgrid[0:256, 0:256]
    clean = 60 + 0.3 * x + 0.2 * y  # a smooth ramp: Immerkær's mask cancels it
    noisy = clean + rng.normal(0, sigma, clean.shape)
    est = metrics.noise_sigma(np.repeat(noisy[..., None] / 255.0, 3, axis=2))
    assert est == pytest.approx(sigma, rel=0.05)


def test_noise_sigma_flat_and_tiny() -> None:
    assert metrics.noise_sigma(np.full((16, 16, 3), 77, np.uint8)) == 0.0
    assert math.isnan(metrics.noise_sigma(np.zeros((2, 5, 3), np.uint8)))


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 40), (40, 2), (2, 2, 3), (2, 40, 3), (40, 1, 3)])
def test_noise_sigma_is_nan_on_frames_too_small_to_measure(shape: tuple[int, ...]) -> None:
    # under 3 pixels on a side the mask has no interior: unmeasured (nan), never a noise-free 0.0,
    # whatever the content, dtype or channel count
    rng = np.random.default_rng(0)
    assert math.isnan(metrics.noise_sigma(rng.integers(0, 256, shape, dtype=np.uint8)))
    assert math.isnan(metrics.noise_sigma(rng.random(shape)))
    # the smallest measurable frame: one interior pixel, a finite estimate
    assert math.isfinite(metrics.noise_sigma(rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)))


def test_colourfulness_grey_zero_and_colour_positive() -> None:
    grey = np.repeat(_rand((20, 20, 1)), 3, axis=2)
    assert metrics.colourfulness(grey) == pytest.approx(0.0, abs=1e-12)
    assert metrics.colourfulness(grey[:, :, 0]) == 0.0
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    # rg = 255, yb = 127.5, no spread: M = 0.3 * sqrt(255^2 + 127.5^2)
    assert metrics.colourfulness(red) == pytest.approx(0.3 * math.hypot(255, 127.5))


def test_brightness_range() -> None:
    assert metrics.mean_brightness(np.zeros((3, 3, 3), np.uint8)) == 0.0
    assert metrics.mean_brightness(np.full((3, 3, 3), 255, np.uint8)) == pytest.approx(1.0)
    assert metrics.mean_brightness(np.full((1, 1, 3), 0.5)) == pytest.approx(0.5)
    nr = metrics.no_reference(np.full((8, 8, 3), 51, np.uint8))
    assert set(nr) == {"brightness", "colourfulness", "noise", "dark_chroma"}
    assert nr["brightness"] == pytest.approx(0.2)
