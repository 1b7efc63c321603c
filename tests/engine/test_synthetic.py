"""Synthetic low-light pairs: determinism, darkness, noise and selection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lab import metrics, synthetic
from engine.jobs.stills import write_image


def _scene(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 90 + 60 * np.sin(x / 7.0)[..., None] * np.array([1.0, 0.7, 0.4]) + 20 * (y / h)[..., None]
    return np.clip(base + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)


def test_srgb_roundtrip() -> None:
    v = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.allclose(synthetic.linear_to_srgb(synthetic.srgb_to_linear(v)), v, atol=1e-5)
    assert synthetic.srgb_to_linear(np.array([0.5]))[0] == pytest.approx(0.21404, abs=1e-4)


def test_pair_is_deterministic_and_dark() -> None:
    img = _scene()
    low1, high1, info1 = synthetic.make_pair(img, rng=7)
    low2, high2, info2 = synthetic.make_pair(img, rng=7)
    low3, _, _ = synthetic.make_pair(img, rng=8)
    assert np.array_equal(low1, low2) and np.array_equal(high1, high2) and info1 == info2
    assert not np.array_equal(low1, low3)
    assert np.array_equal(high1, img)
    assert 0.03 <= info1.exposure <= 0.3
    assert metrics.mean_brightness(low1) < 0.7 * metrics.mean_brightness(img)
    assert low1.dtype == np.uint8 and low1.shape == img.shape


def test_pair_seed_independent_of_order() -> None:
    img = _scene()
    a = synthetic.make_pair(img, rng=synthetic.pair_seed(5, 3))[0]
    b = synthetic.make_pair(img, rng=synthetic.pair_seed(5, 3))[0]
    c = synthetic.make_pair(img, rng=synthetic.pair_seed(5, 4))[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_darken_noise_free_matches_gamma_model() -> None:
    img = np.full((4, 4, 3), 188, np.uint8)
    out = synthetic.darken(img, 0.1, photons=float("inf"), read_noise=0.0)
    lin = synthetic.srgb_to_linear(np.float32(188 / 255)) * 0.1
    assert np.all(out == int(synthetic.linear_to_srgb(lin) * 255 + 0.5))


def test_fewer_photons_more_noise() -> None:
    img = np.full((64, 64, 3), 200, np.uint8)
    clean = synthetic.darken(img, 0.2, photons=1e12, read_noise=0.0, rng=1)
    few = synthetic.darken(img, 0.2, photons=200.0, read_noise=3.0, rng=1)
    assert clean.std() < 0.6
    assert few.std() > 3.0
    assert abs(float(few.mean()) - float(clean.mean())) < 3.0  # noise is unbiased (roughly)


def test_jpeg_option_and_max_side() -> None:
    img = _scene(60, 90)
    cfg = synthetic.SyntheticConfig(jpeg_quality=(60, 60), max_side=45)
    low, high, info = synthetic.make_pair(img, cfg, rng=0)
    assert info.jpeg_quality == 60
    assert high.shape == (30, 45, 3) and low.shape == high.shape
    with pytest.raises(ValueError):
        synthetic.make_pair(img, synthetic.SyntheticConfig(exposure=(0.5, 0.1)))


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 20), w=st.integers(1, 20))
def test_any_shape(h: int, w: int) -> None:
    low, high, _ = synthetic.make_pair(np.full((h, w, 3), 128, np.uint8), rng=0)
    assert low.shape == (h, w, 3) and low.flags.c_contiguous


def test_select_well_exposed(tmp_path) -> None:
    write_image(tmp_path / "good.png", _scene())
    write_image(tmp_path / "dark.png", np.full((20, 20, 3), 20, np.uint8))
    write_image(tmp_path / "blown.png", np.full((20, 20, 3), 255, np.uint8))
    (tmp_path / "sub").mkdir()
    write_image(tmp_path / "sub" / "good2.jpg", _scene(seed=1))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    chosen = synthetic.select_well_exposed([tmp_path])
    assert [p.name for p in chosen] == ["good.png", "good2.jpg"]
    assert len(synthetic.select_well_exposed([tmp_path], count=1, seed=3)) == 1
