"""The paired methods (NAFNet, MIRNetv2, jin2023) as enhancers: registry entries, the
affine-grid fast path (fit, apply, strength, any frame size) against the full-size
reference, ONNX export and parity, the fp16 staging path, and missing weights."""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import registry
from engine.cli import main
from engine.models import common_params
from engine.models.paired import (AffineGridApply, PaddedNet, fit_affine_grid, grid_shape,
                                  strength_coefficients)
from engine.runtime.onnx_export import check_parity, export_network
from engine.runtime.selection import load_module, network_spec
from engine.runtime.torch_runtime import TorchRuntime
from engine.runtime.weights import WeightsError, manifest_entry
from engine.stages.processor import FrameProcessor

from learned_helpers import psnr, smooth_frame
from paired_helpers import FILES, PAIRED, make_paired_net, write_paired_checkpoint

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
#: fast path against the reference on a smooth 360×640 picture with the test nets, dB:
#: measured 27.3 (NAFNet, whose random blocks add detail a grid cannot hold), 43.6
#: (MIRNetv2), 54.8 (jin2023); each bound sits about 2 dB below
AGREEMENT_DB = {"nafnet": 25.0, "mirnetv2": 41.5, "jin2023": 52.0}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paired_weights")
    old = os.environ.get("LOWLIGHT_WEIGHTS")
    os.environ["LOWLIGHT_WEIGHTS"] = str(folder)
    try:
        for m in PAIRED:
            write_paired_checkpoint(folder, m)
        yield folder
    finally:
        if old is None:
            os.environ.pop("LOWLIGHT_WEIGHTS", None)
        else:
            os.environ["LOWLIGHT_WEIGHTS"] = old


@pytest.fixture(scope="module")
def enhancers(weights):
    return {m: registry.create(m, backend="torch", device="cpu") for m in PAIRED}


def _frame(seed: int, h: int, w: int, peak: int = 90) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, peak + 1, (h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- registry


def test_registry_entries() -> None:
    names = registry.names()
    assert names[:3] == ["sci", "zerodce", "zerodce++"]  # the zero-reference methods first
    assert [n for n in names if n in PAIRED] == list(PAIRED)
    from engine.models import jin2023, mirnetv2, nafnet

    for name, module in (("nafnet", nafnet), ("mirnetv2", mirnetv2), ("jin2023", jin2023)):
        d = registry.get(name)
        assert (d.family, d.weights, d.backends) == ("learned", FILES[name], ("onnx", "torch"))
        assert d.paper == module.PAPER  # the catalogue repeats the network module's citation
        assert "LOL" in d.licence and "research use" in d.licence
        assert d.spec("smoothing") is common_params.SMOOTHING
        assert d.spec("denoise") is common_params.DENOISE
        s = d.spec("strength")
        assert (s.default, s.minimum, s.maximum) == (1.0, 0.0, 2.0) and "0 = original" in s.help
        assert network_spec(name).weights_file == FILES[name]
    for name in ("nafnet", "mirnetv2"):
        assert [s.name for s in registry.get(name).params] == ["strength", "smoothing", "denoise"]
    jin = registry.get("jin2023")
    assert [s.name for s in jin.params] == ["iterations", "strength", "exposure", "smoothing", "denoise"]
    assert jin.spec("exposure") is common_params.EXPOSURE and jin.default_params().iterations == 1


@pytest.mark.parametrize("method", PAIRED)
def test_missing_weights_is_one_clear_line(tmp_path, monkeypatch, method) -> None:
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        registry.create(method)
    msg = str(err.value)
    assert "\n" not in msg and FILES[method] in msg
    assert f"lowlight train --method {method} --pairs LOW_DIR HIGH_DIR" in msg


def test_checkpoint_of_another_architecture_is_a_weights_error(tmp_path) -> None:
    ck = torch.load(write_paired_checkpoint(tmp_path, "nafnet"), weights_only=True)
    ck["arch"] = {**ck["arch"], "width": 16}
    bad = tmp_path / "other.pt"
    torch.save(ck, bad)
    with pytest.raises(WeightsError, match="does not fit the nafnet network"):
        load_module(network_spec("nafnet"), bad)


# --------------------------------------------------------------------------- the grid


def _whole_frame_apply(frame: np.ndarray, coef: np.ndarray, f: int) -> np.ndarray:
    """The definition: coefficients resized bilinearly over the whole canvas, A x + b in
    float64, rounded and clipped."""
    H, W = frame.shape[:2]
    hg, wg = coef.shape[:2]
    up = np.concatenate([cv2.resize(np.ascontiguousarray(coef[..., k:k + 3]), (wg * f, hg * f),
                                    interpolation=cv2.INTER_LINEAR) for k in range(0, 12, 3)], axis=2)
    up = up[:H, :W].astype(np.float64)
    x = frame.astype(np.float64)
    out = 255.0 * up[..., 9:] + sum(x[..., j:j + 1] * up[..., 3 * j:3 * j + 3] for j in range(3))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 13), (50, 9), (101, 57), (5, 400), (360, 640)])
def test_strip_apply_equals_whole_frame_upsampling(shape, threads) -> None:
    H, W = shape
    f, hg, wg = grid_shape(H, W)
    rng = np.random.default_rng(H * 1000 + W)
    coef = (rng.random((hg, wg, 12), dtype=np.float32) * 1.2 - 0.3).astype(np.float32)
    frame = _frame(2, H, W, 255)
    got = AffineGridApply(strip_rows=24, threads=threads)(frame, coef, f)
    want = _whole_frame_apply(frame, coef, f)
    assert got.shape == frame.shape and got.dtype == np.uint8
    # float32 against float64 rounding: a value on a .5 boundary may go either way
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert np.mean(got != want) < 1e-3


def test_grid_shape_covers_the_frame() -> None:
    for H, W in ((1, 1), (720, 1280), (1080, 1920), (3, 5000), (401, 600)):
        f, hg, wg = grid_shape(H, W)
        assert hg * f >= H and wg * f >= W and (hg - 1) * f < H and (wg - 1) * f < W
        assert max(hg, wg) <= 48


@given(st.integers(0, 10_000))
@SETTINGS
def test_fit_recovers_a_global_affine_transform(seed) -> None:
    """A network that applies one colour transform everywhere is captured exactly (up to
    the ridge term, negligible on a textured picture)."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(-0.3, 0.3, (3, 3)) + np.eye(3) * rng.uniform(1.0, 3.0)
    c = rng.uniform(-0.05, 0.1, 3)
    x = rng.random((45, 80, 3)).astype(np.float32) * 0.4
    y = (x @ m.T + c).astype(np.float32)
    coef = fit_affine_grid(x, y, (360, 640), eps=1e-8)
    assert coef.shape == (*grid_shape(360, 640)[1:], 12) and coef.dtype == np.float32
    a = coef[..., :9].reshape(*coef.shape[:2], 3, 3)  # a[..., j, :] = column j of A
    np.testing.assert_allclose(a, np.broadcast_to(m.T, a.shape), atol=2e-3)
    np.testing.assert_allclose(coef[..., 9:], np.broadcast_to(c, coef[..., 9:].shape), atol=1e-3)


def test_flat_cells_map_to_the_mean_output() -> None:
    """With no variation in a cell the ridge term wins: the output is the network's mean
    there (the guided filter's behaviour), not a wild extrapolation."""
    x = np.full((30, 40, 3), 0.2, np.float32)
    y = np.full((30, 40, 3), 0.5, np.float32)
    coef = fit_affine_grid(x, y, (30, 40), eps=1e-4)
    np.testing.assert_allclose(coef[..., :9], 0.0, atol=1e-6)
    np.testing.assert_allclose(coef[..., 9:], 0.5, atol=1e-6)


def test_strength_coefficients() -> None:
    coef = np.random.default_rng(0).random((3, 4, 12)).astype(np.float32)
    ident = strength_coefficients(coef, 0.0)
    np.testing.assert_array_equal(ident[..., :9].reshape(3, 4, 3, 3), np.broadcast_to(np.eye(3), (3, 4, 3, 3)))
    assert not ident[..., 9:].any()
    assert strength_coefficients(coef, 1.0) is coef
    np.testing.assert_allclose(strength_coefficients(coef, 2.0) - ident, 2 * (coef - ident), atol=1e-6)


# --------------------------------------------------------------------------- enhancers


def test_jin2023_network_sees_a_128_pixel_copy(enhancers) -> None:
    """jin2023's dilated branches are three times SCI's convolutions per pixel: its copy is
    half SCI's size (the same validation PSNR, 1.6x faster per 720p frame)."""
    enh = enhancers["jin2023"]
    f = _frame(2, 360, 640)
    pmap = enh.estimate(f, enh.descriptor.default_params())
    assert pmap.small is not None and max(pmap.small.shape[:2]) == 128
    from engine.models.sci import SCIEnhancer
    assert SCIEnhancer.estimate_size == 256  # SCI itself keeps its copy


@pytest.mark.parametrize("method", PAIRED)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (7, 13), (50, 9), (33, 64)])
def test_any_size(enhancers, method, shape) -> None:
    enh = enhancers[method]
    enh.estimate_size = 16  # force the reduce → grid → full-size path on these tiny frames
    try:
        f = _frame(1, *shape)
        p = enh.descriptor.default_params()
        pmap = enh.estimate(f, p)
        assert pmap.data.dtype == np.float32 and pmap.data.flags.c_contiguous
        assert pmap.frame_shape == shape
        for out in (enh.apply(f, pmap, p), enh.reference(f, p)):
            assert out.shape == f.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    finally:
        enh.estimate_size = type(enh).estimate_size


@pytest.mark.parametrize("method", PAIRED)
@given(seed=st.integers(0, 10_000), h=st.integers(1, 40), w=st.integers(1, 40))
@SETTINGS
def test_strength_zero_is_the_identity(enhancers, method, seed, h, w) -> None:
    enh = enhancers[method]
    f = _frame(seed, h, w, 255)
    p = enh.descriptor.default_params().replace(strength=0.0)
    assert np.array_equal(enh.enhance(f, p), f)
    assert np.array_equal(enh.reference(f, p), f)


@pytest.mark.parametrize("method", PAIRED)
def test_fast_path_agrees_with_the_reference(enhancers, method) -> None:
    enh = enhancers[method]
    f = smooth_frame(360, 640, seed=1)
    p = enh.descriptor.default_params()
    fast, ref = enh.enhance(f, p), enh.reference(f, p)
    assert psnr(fast, ref) > AGREEMENT_DB[method]
    assert ref.mean() > f.mean() + 10  # the test nets brighten: the comparison means something


@pytest.mark.parametrize("method", ["nafnet", "mirnetv2"])
def test_strength_scales_the_network_change(enhancers, method) -> None:
    enh = enhancers[method]
    f = smooth_frame(64, 96, seed=3)
    d = enh.descriptor.default_params()
    x, one = f.astype(float), enh.reference(f, d).astype(float)
    half = enh.reference(f, d.replace(strength=0.5)).astype(float)
    assert np.abs(half - (x + 0.5 * (one - x))).max() <= 1.0
    fast_half = enh.enhance(f, d.replace(strength=0.5)).astype(float)
    assert psnr(fast_half.astype(np.uint8), half.astype(np.uint8)) > AGREEMENT_DB[method]


def test_temporal_smoothing_of_the_grid(enhancers) -> None:
    """The temporal filter smooths the affine grid like any map: on a static clip the
    smoothed output equals the per-frame one."""
    enh = enhancers["nafnet"]
    f = smooth_frame(90, 160, seed=4)
    p = enh.descriptor.default_params().replace(smoothing=1.0, denoise=0.0)
    proc = FrameProcessor(enh, p)
    outs = [proc.process(f) for _ in range(4)]
    plain = enh.enhance(f, p)
    for o in outs:
        assert np.abs(o.astype(int) - plain.astype(int)).max() <= 1


# --------------------------------------------------------------------------- runtimes


@pytest.mark.parametrize("method", PAIRED)
def test_onnx_export_parity_and_runtime(weights, method, tmp_path) -> None:
    assert main(["export-onnx", "--method", method]) == 0
    entry = manifest_entry(f"{method}.onnx", weights)
    assert entry["method"] == method and entry["parity_max_abs"] <= 1e-4
    onnx_enh = registry.create(method, backend="onnx", device="cpu")
    torch_enh = registry.create(method, backend="torch", device="cpu")
    assert onnx_enh.runtime_label().startswith("onnx/")
    f = _frame(5, 37, 53)  # odd sizes: the graph pads and crops itself
    p = torch_enh.descriptor.default_params()
    for a, b in ((onnx_enh.enhance(f, p), torch_enh.enhance(f, p)),
                 (onnx_enh.reference(f, p), torch_enh.reference(f, p))):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_padded_net_exports_for_any_size(tmp_path) -> None:
    net = PaddedNet(make_paired_net("nafnet"), 4)
    assert export_network(net, tmp_path / "n.onnx") <= 1e-4  # checks 1×1, 37×53, 96×64
    assert check_parity(net, tmp_path / "n.onnx") <= 1e-4


@pytest.mark.parametrize("method", PAIRED)
def test_fp16_code_path(weights, method) -> None:
    """The CUDA runtime's code (fp16, staged buffers) forced on the CPU."""
    module = load_module(network_spec(method), weights / FILES[method])
    x = np.random.default_rng(0).random((1, 3, 21, 35), dtype=np.float32)
    with torch.inference_mode():
        want = module(torch.from_numpy(x)).numpy()
    got = TorchRuntime(module, "cpu", fp16=True).run(x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 3e-2 and math.isfinite(float(got.sum()))


def test_conv_channel_norm_matches_nafnet_layernorm(tmp_path) -> None:
    from engine.models.nafnet import LayerNorm2d
    from engine.models.paired import ConvChannelNorm

    torch.manual_seed(0)
    ln = LayerNorm2d(12)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    x = torch.randn(2, 12, 9, 7) * 3 + 1
    with torch.no_grad():
        np.testing.assert_allclose(ConvChannelNorm(ln)(x).numpy(), ln(x).numpy(), atol=2e-5)
    # the shipped network is built with it; the state dict is the checkpoint's
    net = load_module(network_spec("nafnet"), write_paired_checkpoint(tmp_path, "nafnet"))
    assert not any(isinstance(m, LayerNorm2d) for m in net.modules())
    assert any(isinstance(m, ConvChannelNorm) for m in net.modules())


def test_smoothed_grid_is_carried_through_exposure_changes() -> None:
    """When the frame gets k times brighter the smoothed grid's A is divided by k and b
    kept (per-channel exposure power), so the output of k·x stays where it was; a map
    without the carry keeps A."""
    from engine.enhancer import ParamMap
    from engine.models.paired import _CARRY
    from engine.stages.map_smoothing import TemporalFilter

    rng = np.random.default_rng(0)
    small = np.clip(60 + rng.normal(0, 2, (72, 128, 3)), 0, 255).astype(np.uint8)
    brighter = np.clip(small.astype(np.float32) * 1.2, 0, 255).astype(np.uint8)
    data = np.concatenate([np.ones((27, 48, 9), np.float32), np.full((27, 48, 3), 0.1, np.float32)], axis=2)
    for power, carried in ((_CARRY, True), (0.0, False)):
        tf = TemporalFilter()
        tf.update(ParamMap(data, "affine_grid", (720, 1280), small, exposure_power=power), 1.0)
        out = tf.update(ParamMap(data, "affine_grid", (720, 1280), brighter, exposure_power=power), 1.0)
        a, b = out.data[..., :9], out.data[..., 9:]
        np.testing.assert_allclose(b, 0.1, atol=1e-6)
        if carried:  # (1 − a0)/k + a0·1 with a0 = 1/20, k ≈ 1.2
            assert 0.8 < float(a.mean()) < 0.9
        else:
            np.testing.assert_allclose(a, 1.0, atol=1e-6)
