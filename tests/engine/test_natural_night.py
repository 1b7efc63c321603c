"""Natural night pictures: no colour cast in lifted shadows, coloured lights keep their
colour, a dark foreground under a bright sky is lifted, a hazy, nearly normal night keeps
its contrast (synthetic scenes of engine.lab.night_scenes, the shipped weights)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.models.exposure as ex
from engine import registry
from engine.enhancer import ParamMap
from engine.lab import metrics
from engine.lab.night_scenes import backlit_still, hazy_still, neon_still, violet_night_clip
from engine.stages.chroma import ChromaGuard, measure_cast, with_cast
from engine.stages.map_smoothing import TemporalFilter
from engine.stages.processor import FrameProcessor, enhance_still

LEARNED = ("sci", "zerodce", "zerodce++")


@pytest.fixture(scope="module")
def enhancers():
    return {m: registry.create(m, backend="onnx") for m in LEARNED}


def _lab(img: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(hue in degrees, chroma) of the mean CIE Lab colour of ``img`` over ``mask``."""
    lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[mask].mean(axis=0)
    return math.degrees(math.atan2(lab[2], lab[1])), math.hypot(lab[1], lab[2])


def _relative_contrast(img: np.ndarray) -> float:
    y = metrics.luma(img)
    return float(y.std() / y.mean())


# ----------------------------------------------------------------------- the figure
def test_dark_chroma_reads_only_the_darker_half() -> None:
    img = np.full((20, 20, 3), 30, np.uint8)
    assert metrics.dark_chroma(img) == pytest.approx(0.0, abs=0.5)
    img[:10] = (250, 40, 40)                      # a bright red half does not count
    assert metrics.dark_chroma(img) == pytest.approx(0.0, abs=0.5)
    img[10:] = (40, 25, 50)                       # a violet dark half does
    assert metrics.dark_chroma(img) > 10.0
    assert metrics.dark_chroma(img[:, :, 0]) == 0.0


# ----------------------------------------------------------------------- the guard
def test_black_level_is_measured_on_the_dark_pixels() -> None:
    clip = violet_night_clip(1, (120, 200))
    cast, sigma = measure_cast(clip.frames[0])
    # the clip's bias (1.6, -0.9, 2.4) minus its luma: R and B above grey, G below
    assert cast[0] > 0.8 and cast[2] > 1.5 and cast[1] < -0.5
    assert abs(float(cast @ np.array([0.299, 0.587, 0.114]))) < 0.05
    assert 0.0 < sigma < 5.0
    grey = np.full((50, 50, 3), 12, np.uint8)
    assert np.allclose(measure_cast(grey)[0], 0.0)


def test_guard_is_off_at_denoise_zero_and_for_maps_that_bring_their_colour() -> None:
    f = violet_night_clip(1, (60, 100)).frames[0]
    out = np.clip(f.astype(int) * 12, 0, 255).astype(np.uint8)
    g = ChromaGuard()
    assert g.process(f, out, None, 0.0) is out
    pm = ParamMap(np.zeros((4, 4, 12), np.float32), "affine_grid", f.shape[:2], None)
    assert g.process(f, out, pm, 0.5) is out
    fixed = g.process(f, out, None, 0.5)
    assert metrics.dark_chroma(fixed) < 0.3 * metrics.dark_chroma(out)


def test_guard_keeps_the_luma_of_a_lifted_dark_frame() -> None:
    f = violet_night_clip(1, (90, 160)).frames[0]
    out = np.clip(f.astype(int) * 10, 0, 255).astype(np.uint8)
    fixed = ChromaGuard().process(f, out, None, 0.5)
    lamp = violet_night_clip(1, (90, 160)).lamp
    dy = np.abs(metrics.luma(fixed) - metrics.luma(out))
    # the chroma change has no luma (rounding and clipping aside); the lamp's is held
    assert float(np.median(dy[~lamp])) <= 1.0


def test_cast_extras_are_smoothed_by_the_map_filter() -> None:
    frames = violet_night_clip(2, (72, 128)).frames
    small = [cv2.resize(f, (64, 36), interpolation=cv2.INTER_AREA) for f in frames]
    tf = TemporalFilter()
    maps = [with_cast(ParamMap(np.zeros((36, 64, 3), np.float32), "gain", f.shape[:2], s), f)
            for f, s in zip(frames, small)]
    first = tf.update(maps[0], 0.5)
    second = tf.update(maps[1], 0.5)
    for key in ("cast_r", "cast_g", "cast_b", "chroma_noise"):
        a, b, new = first.extra[key], second.extra[key], maps[1].extra[key]
        assert min(a, new) - 1e-9 <= b <= max(a, new) + 1e-9
    assert second.extra["chroma_noise"] != maps[1].extra["chroma_noise"]


# ------------------------------------------------------------------ exposure statistic
def test_shadow_gain_is_soft_near_normal_and_full_when_dark() -> None:
    t = ex.DEFAULT_EXPOSURE
    gains = [ex.shadow_log_gain(m, t) for m in (0.01, 0.03, 0.1, 0.2, 0.3, t, 0.6)]
    assert all(a >= b for a, b in zip(gains, gains[1:]))        # darker: never less lift
    assert gains[-1] == gains[-2] == 0.0
    full = math.log(t * 255 + 1) - math.log(0.03 * 255 + 1)
    assert gains[1] > 0.85 * full                                 # a dark frame: nearly all
    near = math.log(t * 255 + 1) - math.log(0.2 * 255 + 1)
    assert gains[3] < 0.5 * near                                  # a nearly normal one: little
    assert gains[0] <= math.log(ex.SHADOW_MAX_GAIN) + 1e-12


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=40), st.integers(0, 39), st.floats(0.0, 0.5))
def test_scene_statistic_never_falls_when_a_sample_rises(values, i, up) -> None:
    y = np.array(values)
    z = y.copy()
    z[i % y.size] = min(1.0, z[i % y.size] + up)
    assert ex.scene_stat(z) >= ex.scene_stat(y) - 1e-12


# ----------------------------------------------------------------------- real methods
@pytest.mark.parametrize("method", LEARNED)
def test_biased_night_clip_is_lifted_without_a_cast(enhancers, method) -> None:
    frames = violet_night_clip(6, (144, 256)).frames
    proc = FrameProcessor(enhancers[method])
    outs = [proc.process(f) for f in frames]
    for f, o in zip(frames[::2], outs[::2]):
        assert metrics.mean_brightness(o) >= 2.0 * metrics.mean_brightness(f)
        assert metrics.dark_chroma(o) <= 12.0


@pytest.mark.parametrize("method", LEARNED)
def test_neon_signs_keep_their_hue(enhancers, method) -> None:
    img, signs = neon_still((144, 256))
    out = enhance_still(enhancers[method], img)
    for mask in signs:
        hue_in, c_in = _lab(img, mask)
        hue_out, c_out = _lab(out, mask)
        assert abs((hue_out - hue_in + 180.0) % 360.0 - 180.0) <= 10.0
        assert c_out >= 0.8 * c_in


@pytest.mark.parametrize("method", LEARNED)
def test_backlit_foreground_is_lifted(enhancers, method) -> None:
    img, fg = backlit_still((144, 256))
    out = enhance_still(enhancers[method], img)
    y_in, y_out = metrics.luma(img), metrics.luma(out)
    assert y_out[fg].mean() >= 5.5 * y_in[fg].mean()   # the plain mean lifted it 2.6-4.9x
    assert y_out[~fg].mean() >= y_in[~fg].mean() - 1.0     # the sky is not darkened


@pytest.mark.parametrize("method", LEARNED)
def test_hazy_night_keeps_its_relative_contrast(enhancers, method) -> None:
    img = hazy_still((144, 256))
    out = enhance_still(enhancers[method], img)
    assert metrics.mean_brightness(out) >= metrics.mean_brightness(img)
    assert _relative_contrast(out) >= 0.83 * _relative_contrast(img)  # the plain mean: 0.61-0.78x


@pytest.mark.parametrize("name", ["sci", "zerodce++", "gamma", "lime"])
def test_guard_is_off_at_strength_zero(name: str) -> None:
    """Strength 0 means no lift, so the guard has no lifted colour to set: it hands the
    method's output back untouched (the studio's strength-0 check caught the guard
    recolouring the original); at strength 0.5 it acts, at half the amount of strength 1."""
    frame = violet_night_clip(n_frames=1).frames[0]
    enh = registry.create(name)
    guard = ChromaGuard()
    changes = []
    for strength in (0.0, 0.5, 1.0):
        params = enh.descriptor.default_params().replace(strength=strength, denoise=0.5)
        pmap = enh.estimate(frame, params)
        out = enh.apply(frame, pmap, params)
        guarded = guard.process(frame, out, pmap, 0.5, strength)
        changes.append(float(np.abs(guarded.astype(int) - out.astype(int)).mean()))
    assert changes[0] == 0.0
    assert changes[1] > 0.0 and changes[2] > 0.0


# ----------------------------------------------------------------------- the control's shortcuts
def test_frame_cells_are_the_statistic_and_the_cells() -> None:
    img = np.random.default_rng(3).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    m, x = ex.frame_cells(img)
    cells = ex.area_samples(img).astype(np.float64) / 255.0
    # the statistic from its parts: the plain mean over every pixel blended with the cells' log part
    assert m == ex._blend(ex.mean_luma(img), ex.luma_of(cells)) == ex.scene_mean(img)
    np.testing.assert_array_equal(x, cells)


@pytest.mark.parametrize("method", LEARNED)
def test_apply_reads_the_cells_estimate_measured(enhancers, method) -> None:
    """The cells ``estimate`` keeps in the map give ``apply`` the control problem it would
    have measured itself."""
    frame = violet_night_clip(1, size=(96, 160)).frames[0]
    enh = enhancers[method]
    pmap = enh.estimate(frame, enh.descriptor.default_params())
    assert ex.CELLS in pmap.extra
    bare = ParamMap(pmap.data, pmap.kind, pmap.frame_shape, pmap.small,
                    {k: v for k, v in pmap.extra.items() if k != ex.CELLS})
    for a, b in zip(ex.control_problem(pmap, 0.42, method), ex.control_problem(bare, 0.42, method)):
        np.testing.assert_array_equal(a, b)


def _limited_log_gain_plainly(out_luma, in_luma, mean_in, log_gain, c_max) -> float:
    """limited_log_gain as its docstring states it: both solves always run, nothing kept."""
    goal = ex.goal_mean(mean_in, log_gain)
    c = c_wanted = ex.solve_control(lambda v: ex.scene_stat(out_luma(v)), goal, c_max)
    plain = ex.goal_mean(float(in_luma.mean()), math.log(ex.MAX_MEAN_GAIN))
    c = min(c, ex.solve_control(lambda v: float(out_luma(v).mean()), plain, c_max))
    c_lim = ex.highlight_limit(out_luma, in_luma, c)
    if c_lim >= c_wanted:
        return log_gain
    reached = ex.scene_stat(out_luma(c_lim))
    return min(log_gain, max(0.0, math.log((reached * 255.0 + 1.0) / (mean_in * 255.0 + 1.0))))


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), level=st.floats(0.0005, 0.3), ratio=st.floats(1.0, 60.0),
       spread=st.floats(0.05, 1.5), gain=st.floats(1.0, 40.0))
def test_limited_log_gain_skips_only_solves_that_cannot_matter(seed, level, ratio, spread, gain) -> None:
    """Skipping the mean-cap solve when the mean is clearly below its cap at c, and keeping
    model values per c, give exactly the plain computation (a deep-shadow half under a
    brighter half makes the cap bind on some examples)."""
    rng = np.random.default_rng(seed)
    y = level * np.exp(spread * rng.standard_normal(300))
    y[150:] *= ratio
    y = np.clip(y, 0.0, 1.0)
    log_g = np.log(gain) * rng.uniform(0.5, 1.5, y.size)

    def out_luma(c: float) -> np.ndarray:
        return ex.knee(y, y * np.exp(c * log_g))

    m = ex.scene_stat(y)
    want = ex.shadow_log_gain(m, 0.42)
    assert ex.limited_log_gain(out_luma, y, m, want, 4.0) == _limited_log_gain_plainly(out_luma, y, m, want, 4.0)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(1, 40), w=st.integers(1, 40), k=st.integers(1, 9),
       spread=st.sampled_from([0.4, 30.0, 120.0, 300.0]))
def test_guard_add_follows_the_upsampled_change(seed: int, h: int, w: int, k: int, spread: float) -> None:
    """ChromaGuard.add is out + the bilinearly upsampled correction, within a grey level of
    float arithmetic: saturated once at the end on its usual path (a change that fits one
    offset uint8 plane), and wherever nothing saturates on the path of larger changes;
    thin and 1-pixel frames included."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, (h * k, w * k, 3)).astype(np.uint8)
    delta = np.clip(rng.normal(0.0, spread, (h, w, 3)), -255.0, 255.0).astype(np.float32)  # levels
    got = ChromaGuard.add(out, delta).astype(np.int64)
    if float(np.abs(delta).max()) < 0.5:
        assert ChromaGuard.add(out, None) is out
    up = cv2.resize(delta, (w * k, h * k), interpolation=cv2.INTER_LINEAR) if h * w > 1 else \
        np.broadcast_to(delta, out.shape)
    want = out + up.astype(np.float64)
    reach = cv2.resize(np.abs(delta), (w * k, h * k), interpolation=cv2.INTER_LINEAR) if h * w > 1 else \
        np.broadcast_to(np.abs(delta), out.shape)
    inside = (out + reach < 254.0) & (out - reach > 1.0)  # no partial sum saturates
    assert got.shape == out.shape
    if float(delta.min()) >= -128.0 and float(delta.max()) <= 127.0:  # one offset plane: saturation too
        assert np.all(np.abs(got - np.clip(np.rint(want), 0, 255)) <= 1)
    else:
        assert np.all(np.abs(got - np.rint(want))[inside] <= 1)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), tw=st.integers(1, 30), th=st.integers(1, 30), k=st.integers(1, 16))
def test_guard_analysis_copy_is_an_area_average(seed: int, tw: int, th: int, k: int) -> None:
    """The guard's analysis copy of a frame k times its size is its k×k area average (what
    one OpenCV area resize gives) within the rounding of the halving steps it takes."""
    from engine.stages.chroma import _resize_area
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (th * k, tw * k, 3)).astype(np.uint8)
    got = _resize_area(img, (tw, th)).astype(np.int64)
    want = img.reshape(th, k, tw, k, 3).mean(axis=(1, 3))
    assert got.shape == (th, tw, 3)
    assert np.all(np.abs(got - want) <= 1.5)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), w=st.integers(1, 200), h=st.integers(1, 120),
       tw=st.integers(1, 40), th=st.integers(1, 40))
def test_guard_analysis_copy_from_a_given_half_is_the_same(seed: int, w: int, h: int, tw: int, th: int) -> None:
    """Starting the guard's analysis copy from the spatial stage's half-size copy gives
    exactly the copy made from the frame, for any frame and analysis size (odd sides and
    odd factors take no halving, and the given copy is then left unused)."""
    from engine.stages.chroma import _resize_area
    from engine.stages.spatial_denoise import half_size
    tw, th = min(tw, w), min(th, h)
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    assert np.array_equal(_resize_area(img, (tw, th), half_size(img)), _resize_area(img, (tw, th)))
