"""Temporal behaviour of the exposure control (issue #5 with exposure on): the log gain is
smoothed slowly even under motion and snaps on a light change, the cached strength
tables are blended so the output mean is continuous in the control, the control is
solved on area-averaged samples, and smoothing cuts the brightness-flicker index of a
clip with known exposure flicker against per-frame enhancement with the same defaults."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.models.exposure as ex
from engine import registry
from engine.enhancer import ParamMap
from engine.lab.flicker import brightness_flicker_index, enhance_frames, output_flicker, synthetic_clip
from engine.models.lut2d import Lut2D, PairLut, blend_tables
from engine.stages.map_smoothing import TemporalFilter, base_weight


# ------------------------------------------------------------------- strength steps
@settings(max_examples=60, deadline=None)
@given(s=st.floats(1e-3, 20.0))
def test_strength_steps_bracket_the_value(s: float) -> None:
    lo, hi, f = ex.strength_steps(s)
    assert 0.0 <= f < 1.0
    assert lo <= s * (1 + 1e-9) and hi >= s * (1 - 1e-9)
    assert ex.quantise_strength(lo) == pytest.approx(lo) and ex.quantise_strength(hi) == pytest.approx(hi)
    # the weight is the position of s between them, in log
    if hi > lo:
        assert f == pytest.approx((math.log(s) - math.log(lo)) / (math.log(hi) - math.log(lo)), abs=1e-6)


def test_strength_steps_zero_and_grid_points() -> None:
    assert ex.strength_steps(0.0) == (0.0, 0.0, 0.0)
    g = math.exp(37 / 256)
    lo, hi, f = ex.strength_steps(g)
    assert lo == pytest.approx(g) and hi == lo and f == 0.0


# ------------------------------------------------------------------- table blending
def test_blend_tables_is_exact_where_equal_and_linear_on_average() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 250, (256, 256), dtype=np.uint8)
    b = a.copy()
    b[::3] += 1                          # neighbouring tables differ by a level here and there
    np.testing.assert_array_equal(blend_tables(a, b, 0.0), a)
    np.testing.assert_array_equal(blend_tables(a, b, 1.0), b)
    same = a == b
    means = []
    for f in np.linspace(0, 1, 21):
        t = blend_tables(a, b, float(f))
        np.testing.assert_array_equal(t[same], a[same])
        assert np.all((t >= np.minimum(a, b)) & (t <= np.maximum(a, b)))
        means.append(t.astype(np.float64).mean())
    expected = a.mean() + np.linspace(0, 1, 21) * (b.astype(np.float64).mean() - a.mean())
    # plain rounding would jump by the whole difference at f = 0.5
    np.testing.assert_allclose(means, expected, atol=0.02 * (b.astype(float).mean() - a.mean()) + 1e-3)


@pytest.mark.parametrize("cls", [Lut2D, PairLut])
def test_build_blend_output_is_continuous_in_the_strength(cls) -> None:
    """Across a 1/256 log step of the strength the output mean moves smoothly, where a
    single quantised table jumped by the whole step at once."""
    rng = np.random.default_rng(1)
    if cls is Lut2D:
        frame = rng.integers(2, 20, (48, 64, 3), dtype=np.uint8)
        lut = cls(256, 0.0, 1.0, cache=4)
        second = np.full((12, 16, 3), 0.1, np.float32)
        lo = math.exp(-300 / 256)
    else:
        frame = rng.integers(2, 7, (48, 64, 3), dtype=np.uint8)
        lut = cls(cache=4)
        second = frame.astype(np.float32) * 3.0
        lo = math.exp(300 / 256)

    def fn(se: float):
        if cls is Lut2D:
            return lambda v, x: np.minimum(1.0, x * np.exp(se * 8.0))
        return lambda b, a: a * np.maximum(b / np.maximum(a, 1e-12), 1.0) ** se

    def out_mean(s: float) -> float:
        lo, hi, f = ex.strength_steps(s)
        lut.build_blend(("t", lo), fn(lo), ("t", hi), fn(hi), f)
        return float(lut.apply(frame, second).mean())

    ss = lo * np.exp(np.linspace(0.0, 2.0, 41) / 256)  # two table steps
    means = np.array([out_mean(float(s)) for s in ss])
    step = abs(means[-1] - means[0]) / 2
    assert step > 0.5                        # one table step moves the mean visibly
    assert np.all(np.diff(means) >= -0.05)   # monotone up to the dither
    assert np.max(np.abs(np.diff(means))) < 0.35 * step


# ------------------------------------------------------------------- area samples
@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 12000, 3), (12000, 1, 3), (144, 256, 3), (96, 128, 24)])
def test_area_samples_cover_the_frame(shape) -> None:
    rng = np.random.default_rng(2)
    img = rng.random(shape).astype(np.float32)
    s = ex.area_samples(img)
    assert s.ndim == 2 and s.shape[1] == shape[2] and 1 <= s.shape[0] <= 6000
    # cell means keep the frame's mean (every pixel counts), unlike a strided subsample
    np.testing.assert_allclose(s.mean(axis=0), img.reshape(-1, shape[2]).mean(axis=0), atol=0.02)


def test_area_samples_are_steadier_than_a_strided_subsample_on_a_moving_noisy_frame() -> None:
    """What the control is solved on: as noisy content shifts by a pixel, the mean of a
    strided subsample wanders, the mean of the cell means hardly does."""
    rng = np.random.default_rng(3)
    big = rng.poisson(6.0, (180, 300, 3)).astype(np.uint8)
    strided, area = [], []
    for dx in range(12):
        f = np.ascontiguousarray(big[:144, dx:dx + 256])
        strided.append(ex.subsample(f).astype(np.float64).mean())
        area.append(ex.area_samples(f).astype(np.float64).mean())
    assert np.std(area) < 0.5 * np.std(strided)


# --------------------------------------------------------------- the output level in the filter
def _map(small: np.ndarray, level: float) -> ParamMap:
    return ParamMap(np.full(small.shape[:2] + (1,), 0.5, np.float32), "gain", small.shape[:2], small,
                    {ex.LOG_LEVEL: level})


def _scene(seed: int = 0, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 30 + 15 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 1.0, (h, w))
    return np.clip(np.repeat(base[..., None], 3, axis=2), 0, 255).astype(np.uint8)


def test_output_level_is_smoothed_slowly_even_where_the_scene_moves() -> None:
    """A moving object raises the map's weight where it moves; the global output level still
    moves by a0 / extra_slowdown per frame, not by the mean weight."""
    tf = TemporalFilter()
    a = _scene(0)
    tf.update(_map(a, 1.0), 0.5)
    b = a.copy()
    b[14:26, 20:36] = 120                         # a bright object enters: motion, no cut
    out = tf.update(_map(b, 1.4), 0.5)
    assert not tf.last_cut and tf.light_changes == 0
    assert tf.mean_weight > 1.5 * base_weight(0.5)  # the map follows the moving part
    w = base_weight(0.5) / tf.extra_slowdown
    assert out.extra[ex.LOG_LEVEL] == pytest.approx(1.0 + w * 0.4)


def test_output_level_snaps_on_a_light_change_and_restarts_on_a_cut() -> None:
    tf = TemporalFilter()
    a = _scene(0)
    for _ in range(4):
        tf.update(_map(a, 1.0), 0.5)
    lit = np.clip(a.astype(np.float64) * 2.5, 0, 255).astype(np.uint8)
    outs = [tf.update(_map(lit, 0.2), 0.5) for _ in range(tf.light_frames)]
    assert tf.light_changes == 1
    # a jump this large (x2.5) uses each lit frame's own level while the change is pending
    # (regression: the dark scene's gain on the lit frames flashed the lamp near white)
    assert all(o.extra[ex.LOG_LEVEL] == pytest.approx(0.2) for o in outs)
    assert tf.last_pending is False  # the third frame is the followed light change
    other = _scene(7)[::-1, ::-1].copy() // 3
    out = tf.update(_map(other, 2.0), 0.5)
    assert tf.last_cut and out.extra[ex.LOG_LEVEL] == 2.0


def test_a_flicker_sized_step_keeps_the_smoothed_output_level() -> None:
    """A 20 % brighter frame (above the light threshold, below twice it) is smoothed like
    flicker; if the level returns, the smoothed value carries on from where it was."""
    tf = TemporalFilter()
    a = _scene(0)
    for _ in range(4):
        tf.update(_map(a, 1.0), 0.5)
    up = np.clip(a.astype(np.float64) * 1.22, 0, 255).astype(np.uint8)
    out = tf.update(_map(up, 0.8), 0.5)
    assert tf.light_changes == 0
    w = base_weight(0.5) / tf.extra_slowdown
    assert out.extra[ex.LOG_LEVEL] == pytest.approx(1.0 - w * 0.2)


def test_a_lamp_is_not_shown_as_a_flash_before_it_is_followed() -> None:
    """Default smoothing against per-frame on the generated clip's lamp (x2.5): on the lit
    frames before the light change is confirmed the output stays close to per-frame
    (it was 114-144 grey levels brighter: the dark scene's gain on a lit frame)."""
    clip = synthetic_clip(40, (72, 128), seed=1, lamp=30, moving_object=False)
    for method in ("gamma", "lime", "clahe"):  # a log gain (gamma) and maps (LIME, CLAHE)
        enh = registry.create(method)
        p = enh.descriptor.default_params()
        smoothed = enhance_frames(clip.frames, method, p, enhancer=enh)
        per_frame = enhance_frames(clip.frames, method, p.replace(smoothing=0.0), enhancer=enh)
        for t in range(30, 34):
            d = float(np.abs(smoothed[t].astype(np.int16) - per_frame[t]).mean())
            assert d < 15.0, (method, t, d)


# ------------------------------------------------------------------- the metric on known flicker
@pytest.mark.parametrize("method", ["gamma", "lime"])
def test_smoothing_keeps_the_output_steady_against_input_exposure_flicker(method) -> None:
    """Per frame, gamma's exposure target cancels the input's exposure flicker and LIME's
    illumination map cancels 80 % of it. Smoothing must not undo that: the smoothed output
    level (gamma) and the map carried along the exposure (LIME) keep the output about as
    steady as per-frame. Regression: smoothing the log gain or the raw map made the
    output show the whole input flicker (generated clip: gamma 0.06 → 7.27 %, LIME
    1.79 → 7.50 % output flicker)."""
    clip = synthetic_clip(40, (48, 64), seed=11, flicker=0.12, moving_object=False)
    enh = registry.create(method)
    p = enh.descriptor.default_params()
    assert p.smoothing > 0
    per_frame = enhance_frames(clip.frames, method, p.replace(smoothing=0.0), enhancer=enh)
    smoothed = enhance_frames(clip.frames, method, p, enhancer=enh)
    f_in, f0, f1 = (output_flicker(x) for x in (clip.frames, per_frame, smoothed))
    assert f_in > 5.0 and f0 < 0.4 * f_in
    assert f1 < 0.4 * f_in and f1 < 1.5 * f0 + 0.2, (f_in, f0, f1)
    assert brightness_flicker_index(clip.frames, smoothed) < 0.4 * brightness_flicker_index(clip.frames, clip.frames)


def test_smoothing_steadies_a_capped_gain() -> None:
    """At the gain cap the per-frame output follows the input's own brightness wobble; the
    smoothed output level removes most of it (a near-black clip such as the dev clip)."""
    clip = synthetic_clip(40, (48, 64), seed=13, flicker=0.04, level=0.01, noise=0.5, moving_object=False)
    enh = registry.create("gamma")
    p = enh.descriptor.default_params().replace(denoise=0.0)
    m = ex.mean_luma(clip.frames[0])
    assert ex.wanted_log_gain(m, p.exposure) == pytest.approx(math.log(ex.MAX_GAIN))
    per_frame = enhance_frames(clip.frames, "gamma", p.replace(smoothing=0.0), enhancer=enh)
    smoothed = enhance_frames(clip.frames, "gamma", p, enhancer=enh)
    assert output_flicker(smoothed[5:]) < 0.5 * output_flicker(per_frame[5:])


def test_gamma_smoothing_zero_is_per_frame_with_exposure() -> None:
    clip = synthetic_clip(6, (24, 32), seed=12)
    enh = registry.create("gamma")
    p = enh.descriptor.default_params().replace(smoothing=0.0, denoise=0.0)
    outs = enhance_frames(clip.frames, "gamma", p, enhancer=enh)
    for f, o in zip(clip.frames, outs):
        np.testing.assert_array_equal(o, enh.enhance(f, p))


@pytest.mark.parametrize("method", ["lime", "clahe"])
def test_smoothed_classical_maps_hold_the_output_through_exposure_flicker(method) -> None:
    """LIME's illumination and CLAHE's gain are carried along the exposure change by the
    power that keeps their output's brightness (1/(γs), −1/s): with smoothing the output
    flickers far less than per-frame (which passes k^0.2 / k^0.8 of the input's flicker),
    and CLAHE still never darkens the input."""
    clip = synthetic_clip(40, (72, 128), seed=11, flicker=0.12, moving_object=False)
    enh = registry.create(method)
    p = enh.descriptor.default_params()
    per_frame = enhance_frames(clip.frames, method, p.replace(smoothing=0.0), enhancer=enh)
    smoothed = enhance_frames(clip.frames, method, p, enhancer=enh)
    # measured: LIME 1.73 → 0.57 %, CLAHE 6.38 → 0.91 % (before the carry: 7.50 / 7.87 % on
    # the flicker command's clip, i.e. worse than per-frame)
    assert output_flicker(smoothed[5:]) < 0.5 * output_flicker(per_frame[5:])
    if method == "clahe":  # without the denoise stages, which may move a pixel either way
        plain = enhance_frames(clip.frames, method, p.replace(denoise=0.0), enhancer=enh)
        assert all((o.astype(np.int16) >= f.astype(np.int16) - 1).all() for f, o in zip(clip.frames, plain))


def _glow_clip(n: int = 40, h: int = 96, w: int = 160, seed: int = 0) -> list[np.ndarray]:
    """A near-black scene (levels 3..10, noise σ 0.8) with a lamp whose glow over the dark
    surroundings changes by ±20 % from frame to frame (party lights on the dev clip):
    content flicker, not exposure: most pixels keep their level, so the median ratio of
    consecutive frames, and with it the exposure carry, stays 1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 5.0 + 3.0 * (xx / w) + 2.0 * np.sin(yy / 9.0)
    r2 = (yy - h / 2) ** 2 + (xx - w / 3) ** 2
    glow = np.exp(-r2 / (2 * 14.0 ** 2))
    frames = []
    for _ in range(n):
        img = base + 60.0 * rng.uniform(0.8, 1.2) * glow
        img[r2 < 16] = 230.0
        img = img[:, :, None] * np.array([1.0, 0.9, 0.7], np.float32) + rng.normal(0, 0.8, (h, w, 3))
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return frames


@pytest.mark.parametrize("method", ["lime", "clahe"])
def test_smoothed_gain_maps_are_steadier_than_per_frame_when_a_glow_flickers(method) -> None:
    """Regression (dev clip BFI 0.23 % smoothed against 0.19 % per frame): per frame,
    LIME's illumination follows a flickering glow and cancels most of it; the smoothed map
    lagged, and the output brightened and darkened more than per frame (here BFI 0.66 %
    against 0.43 %). The output level now travels with the map and is smoothed (0.02 %).
    CLAHE (which per frame shows the glow's flicker: 5.57 %) went 4.02 → 0.10 %."""
    frames = _glow_clip()
    enh = registry.create(method)
    p = enh.descriptor.default_params().replace(denoise=0.0)
    assert p.smoothing > 0
    per_frame = enhance_frames(frames, method, p.replace(smoothing=0.0), enhancer=enh)
    smoothed = enhance_frames(frames, method, p, enhancer=enh)
    b0, b1 = (brightness_flicker_index(frames, x) for x in (per_frame, smoothed))
    assert b0 > 0.2
    assert b1 < 0.5 * b0, (b0, b1)


@pytest.mark.parametrize("method", ["lime", "clahe"])
def test_gain_map_smoothing_zero_is_per_frame(method) -> None:
    """The level the map carries changes nothing without smoothing: the output is the
    method's own per-frame enhancement, pixel for pixel."""
    frames = _glow_clip(4, 48, 64, seed=3)
    enh = registry.create(method)
    p = enh.descriptor.default_params().replace(smoothing=0.0, denoise=0.0)
    assert ex.LOG_LEVEL in enh.estimate(frames[0], p).extra
    for f, o in zip(frames, enhance_frames(frames, method, p, enhancer=enh)):
        pm = enh.estimate(f, p)
        expected = enh.apply(f, ParamMap(pm.data, pm.kind, pm.frame_shape, pm.small), p)  # no level
        np.testing.assert_array_equal(o, expected)
