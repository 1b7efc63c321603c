"""SCI, Zero-DCE and Zero-DCE++ as Enhancers: registry entries, any frame size,
strength and iteration semantics, and the fast path against the full-size reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import registry
from engine.models import common_params
from engine.models.zerodce import ZeroDCEEnhancer, enhance_curve
from engine.params import EnhanceParams
from engine.runtime.weights import WeightsError

from learned_helpers import METHODS, onnx_enhancers, psnr, smooth_frame

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def enhancers(tmp_path_factory):
    with onnx_enhancers(tmp_path_factory.mktemp("weights")) as enhancers:
        yield enhancers


def _frame(seed: int, h: int, w: int, peak: int = 90) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, peak + 1, (h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- registry


def test_descriptors() -> None:
    expected = {"sci": ("SCI", "sci.pt", "CVPR 2022"),
                "zerodce": ("Zero-DCE", "zerodce.pt", "CVPR 2020"),
                "zerodce++": ("Zero-DCE++", "zerodcepp.pt", "TPAMI 2021")}
    assert registry.names()[:3] == list(expected)
    for name, (title, weights, venue) in expected.items():
        d = registry.get(name)
        assert (d.title, d.weights, d.family, d.backends) == (title, weights, "learned", ("onnx", "torch"))
        assert venue in d.paper
        assert [s.name for s in d.params] == ["iterations", "strength", "exposure", "smoothing", "denoise"]
        st_ = d.spec("strength")
        assert (st_.default, st_.minimum, st_.maximum) == (1.0, 0.0, 2.0)
        assert "0 = original" in st_.help and "1 = method default" in st_.help
        # one shared definition of the temporal parameters
        assert d.spec("smoothing") is common_params.SMOOTHING
        assert d.spec("denoise") is common_params.DENOISE
    it = registry.get("sci").spec("iterations")
    assert (it.default, it.minimum, it.maximum) == (1, 1, 4) and "illumination stage" in it.help
    for name in ("zerodce", "zerodce++"):
        it = registry.get(name).spec("iterations")
        assert (it.default, it.minimum, it.maximum) == (8, 1, 16) and "curve applications" in it.help


def test_missing_checkpoint_names_file_and_command(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(tmp_path))
    for name, file in (("sci", "sci.pt"), ("zerodce++", "zerodcepp.pt")):
        with pytest.raises(WeightsError) as err:
            registry.create(name)
        assert file in str(err.value) and f"lowlight train --method {name}" in str(err.value)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 13), (50, 9), (33, 64)])
def test_any_size(enhancers, method, shape) -> None:
    enh = enhancers[method]
    enh.estimate_size = 16  # force the downscale → upsample path on these tiny frames
    f = _frame(1, *shape)
    p = enh.descriptor.default_params()
    pmap = enh.estimate(f, p)
    assert pmap.data.dtype == np.float32 and pmap.data.flags.c_contiguous
    assert max(pmap.data.shape[:2]) <= 16 and pmap.frame_shape == shape
    for out in (enh.apply(f, pmap, p), enh.enhance(f, p), enh.reference(f, p)):
        assert out.shape == f.shape and out.dtype == np.uint8 and out.flags.c_contiguous


@SETTINGS
@given(method=st.sampled_from(METHODS), h=st.integers(1, 40), w=st.integers(1, 40),
       est=st.integers(1, 48), seed=st.integers(0, 10))
def test_any_size_property(enhancers, method, h, w, est, seed) -> None:
    enh = enhancers[method]
    enh.estimate_size = est
    f = _frame(seed, h, w)
    out = enh.enhance(f)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8


def test_input_is_not_modified_and_outputs_are_new(enhancers) -> None:
    f = _frame(2, 24, 40)
    keep = f.copy()
    for enh in enhancers.values():
        a, b = enh.enhance(f), enh.enhance(f)
        assert a is not b and not np.shares_memory(a, b)
        np.testing.assert_array_equal(f, keep)


def test_rejects_non_contract_frames(enhancers) -> None:
    with pytest.raises(ValueError):
        enhancers["sci"].enhance(np.zeros((4, 4, 3), np.float32))


# --------------------------------------------------------------------------- strength


@SETTINGS
@given(method=st.sampled_from(METHODS), h=st.integers(1, 24), w=st.integers(1, 24),
       seed=st.integers(0, 1000), peak=st.integers(1, 255), est=st.integers(2, 24),
       s1=st.floats(0, 2), s2=st.floats(0, 2), it=st.integers(1, 16))
def test_raising_strength_never_darkens(enhancers, method, h, w, seed, peak, est, s1, s2, it) -> None:
    enh = enhancers[method]
    enh.estimate_size = est
    lo, hi = min(s1, s2), max(s1, s2)
    f = _frame(seed, h, w, peak)
    p_lo = enh.descriptor.clamp(EnhanceParams(iterations=it, strength=lo))
    p_hi = p_lo.replace(strength=hi)
    pmap = enh.estimate(f, p_lo)
    assert np.all(enh.apply(f, pmap, p_hi) >= enh.apply(f, pmap, p_lo))
    assert np.all(enh.reference(f, p_hi) >= enh.reference(f, p_lo))


@pytest.mark.parametrize("method", METHODS)
def test_strength_zero_is_original(enhancers, method) -> None:
    enh = enhancers[method]
    enh.estimate_size = 20
    f = _frame(3, 31, 45, 200)
    for it in (1, 3, 8):
        p = enh.descriptor.clamp(EnhanceParams(iterations=it, strength=0.0))
        assert np.abs(enh.enhance(f, p).astype(int) - f).max() <= 1
        assert np.abs(enh.reference(f, p).astype(int) - f).max() <= 1
    # and the default strength does brighten this dark frame (with the fixed gain: the
    # frame's mean luma, 0.39, is already close to the default exposure target)
    assert enh.enhance(f, enh.descriptor.default_params().replace(exposure=0.0)).mean() > f.mean() + 5


# --------------------------------------------------------------------------- iterations


@pytest.mark.parametrize("method", ["zerodce", "zerodce++"])
def test_curve_iterations(enhancers, method) -> None:
    """More curve applications brighten further (a ≥ 0); counts beyond Zero-DCE's 8 maps
    cycle through them."""
    enh = enhancers[method]
    enh.estimate_size = 32
    f = smooth_frame(40, 64)
    outs = [enh.enhance(f, EnhanceParams(iterations=n)) for n in (1, 4, 8, 16)]
    refs = [enh.reference(f, EnhanceParams(iterations=n)) for n in (1, 4, 8, 16)]
    for seq in (outs, refs):
        means = [o.astype(float).mean() for o in seq]
        assert all(b > a + 1 for a, b in zip(means, means[1:])), means
        assert all(np.all(b.astype(int) >= a.astype(int) - 1) for a, b in zip(seq, seq[1:]))


def test_sci_iterations_repeat_the_stage(enhancers) -> None:
    enh = enhancers["sci"]
    enh.estimate_size = 32
    f = smooth_frame(40, 64)
    pmaps = [enh.estimate(f, EnhanceParams(iterations=k)) for k in (1, 2, 3)]
    assert [m.data.shape[2] for m in pmaps] == [3, 6, 9]
    # the first stage's residual does not depend on how many follow
    np.testing.assert_allclose(pmaps[2].data[:, :, :3], pmaps[0].data)
    means = [enh.enhance(f, EnhanceParams(iterations=k)).mean() for k in (1, 2, 3)]
    assert means[0] < means[1] < means[2]
    # each repeat is the stage applied to the previous output (reference path)
    one = enh.reference(f, EnhanceParams(iterations=1))
    two = enh.reference(f, EnhanceParams(iterations=2))
    again = enh.reference(one, EnhanceParams(iterations=1))
    assert np.abs(two.astype(int) - again.astype(int)).max() <= 2


@SETTINGS
@given(h=st.integers(1, 24), w=st.integers(1, 24), stages=st.integers(1, 3), seed=st.integers(0, 999))
def test_sci_estimate_residuals_are_the_reference_stages(enhancers, h, w, stages, seed) -> None:
    """The estimate's residuals (without the last illumination and the log sum it does
    not use) are exactly the stages the reference path runs."""
    enh = enhancers["sci"]
    x = np.random.default_rng(seed).uniform(0.0, 0.4, (h, w, 3)).astype(np.float32)
    ref, _ = enh._residuals(x, stages)
    got, log_i = enh._residuals(x, stages, log=False)
    assert log_i is None and len(got) == stages
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- fast vs reference


@pytest.mark.parametrize("method,floor", [("sci", 45.0), ("zerodce++", 45.0), ("zerodce", 45.0)])
def test_fast_path_matches_reference_on_smooth_frames(enhancers, method, floor) -> None:
    """On smooth content the network's low-resolution maps upsample to the full-size
    ones, so the fast path must agree with the reference (deterministic frames)."""
    enh = enhancers[method]
    enh.estimate_size = 96  # 4x downscale of 384-wide frames
    for seed in (0, 1, 2):
        f = smooth_frame(216, 384, seed)
        value = psnr(enh.enhance(f), enh.reference(f))
        assert value >= floor, f"{method} seed {seed}: {value:.1f} dB"


def test_fast_path_is_exact_without_downscale(enhancers) -> None:
    """Same resolution: the table must reproduce the exact arithmetic (±1 level)."""
    f = _frame(5, 30, 50, 120)
    for m in ("sci", "zerodce++"):
        enh = enhancers[m]
        enh.estimate_size = 64
        for p in (EnhanceParams(iterations=1 if m == "sci" else 8, strength=1.0),
                  EnhanceParams(iterations=2 if m == "sci" else 3, strength=1.7)):
            p = enh.descriptor.clamp(p)
            diff = np.abs(enh.enhance(f, p).astype(int) - enh.reference(f, p).astype(int))
            assert diff.max() <= 1, (m, p, diff.max())


def test_zerodce_equivalent_parameter_reproduces_the_composite(enhancers) -> None:
    """At each low-resolution pixel's own value LE_{a_eq}^n must equal the 8-map composite."""
    enh: ZeroDCEEnhancer = enhancers["zerodce"]
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    maps = rng.uniform(0, 1, (9, 11, 24)).astype(np.float32)
    for n, s in ((8, 1.0), (5, 0.4), (16, 2.0)):
        a_eq = enh.equivalent_parameter(small, maps, n, s)
        assert a_eq.shape == small.shape and a_eq.dtype == np.float32
        assert np.all((a_eq >= 0) & (a_eq <= 2))
        xp = np.clip(small, 1, 254) / 255.0
        seq = [maps[:, :, 3 * k:3 * k + 3].astype(np.float64) for k in range(8)]
        want = enhance_curve(xp, seq, n, s)
        got = enhance_curve(xp, a_eq.astype(np.float64), n, 1.0)
        assert np.abs(got - want).max() < 2e-3


@pytest.mark.parametrize("shape", [(1, 70000), (40000, 1), (300, 200)])
def test_table_gather_handles_planes_beyond_remap_limits(shape) -> None:
    """OpenCV's remap takes planes below 32767 per side; larger ones go in flat chunks."""
    import cv2

    from engine.models.lut2d import _gather

    rng = np.random.default_rng(0)
    table = rng.integers(0, 256, (512, 256), dtype=np.uint8)
    cols = rng.integers(0, 256, shape).astype(np.float32)
    rows = rng.integers(0, 512, shape).astype(np.float32)
    out = np.empty(shape, np.uint8)
    _gather(table, cols, rows, out, cv2.INTER_LINEAR)
    np.testing.assert_array_equal(out, table[rows.astype(int), cols.astype(int)])


@pytest.mark.parametrize("method", METHODS)
def test_very_wide_frame(enhancers, method) -> None:
    enh = enhancers[method]
    enh.estimate_size = 20000  # no downscale: the fast path must equal the reference
    f = _frame(9, 1, 12001, 120)
    p = enh.descriptor.default_params()
    assert np.abs(enh.enhance(f, p).astype(int) - enh.reference(f, p).astype(int)).max() <= 1


@SETTINGS
@given(h=st.integers(1, 900), w=st.integers(1, 900), side=st.integers(1, 300))
def test_fast_downscale_matches_downscale_shape(h, w, side) -> None:
    from engine.enhancer import downscale
    from engine.models.learned_base import fast_downscale

    f = np.full((h, w, 3), 77, np.uint8)
    a, b = fast_downscale(f, side), downscale(f, side)
    assert max(a.shape[:2]) <= max(side, 1) or max(h, w) <= side
    assert abs(a.shape[0] - b.shape[0]) <= 1 and abs(a.shape[1] - b.shape[1]) <= 1
    assert a.dtype == np.uint8 and a.shape[2] == 3 and min(a.shape[:2]) >= 1
    assert np.all(a == 77)  # area averaging keeps a flat picture flat


@pytest.mark.parametrize("method", METHODS)
def test_through_the_frame_processor(enhancers, method) -> None:
    """estimate → temporal smoothing → apply, as the video pipeline calls it."""
    from engine.stages.processor import FrameProcessor

    enh = enhancers[method]
    enh.estimate_size = 24
    proc = FrameProcessor(enh, enh.descriptor.default_params().replace(smoothing=0.6))
    frames = [smooth_frame(45, 80, seed) for seed in range(3)]
    outs = [proc.process(f) for f in frames]
    assert all(o.shape == (45, 80, 3) and o.dtype == np.uint8 for o in outs)
    assert all(o.mean() > f.mean() for o, f in zip(outs, frames))


@pytest.mark.parametrize("method", METHODS)
def test_tiled_inference_equals_whole_frame(enhancers, method) -> None:
    """Large frames run the network in overlapping tiles: the halo must make the
    result identical to one whole-frame pass (incl. odd edges)."""
    from engine.models.learned_base import to_unit

    enh = enhancers[method]
    img = to_unit(_frame(11, 150, 173, 200))
    whole = enh.infer(img)
    enh.tile_pixels, enh.tile = 1000, 40
    try:
        tiled = enh.infer(img)
    finally:
        del enh.tile_pixels, enh.tile
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
