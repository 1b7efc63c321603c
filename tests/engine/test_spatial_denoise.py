"""Spatial, noise-aware denoise stage: less noise on noisy frames, clean frames and
denoise 0 untouched, edges and texture kept, any shape, and wired into the video, still
and eval paths."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import registry
from engine.cli import main
from engine.lab.metrics import noise_sigma
from engine.params import EnhanceParams
from engine.stages.processor import FrameProcessor, enhance_still
from engine.stages.spatial_denoise import NOISE_BINS, SpatialDenoiser, noise_profile
from engine.jobs.stills import read_image, write_image
from tests.engine.local_gain import LocalGainEnhancer


def _noisy(base: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(base + rng.normal(0.0, sigma, base.shape) + 0.5, 0, 255).astype(np.uint8)


def _gradient(h: int = 96, w: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    g = 60.0 + 100.0 * x / w + 30.0 * y / h
    return np.stack([g, 0.9 * g, 0.8 * g], axis=2)


def _step(h: int = 64, w: int = 96, lo: float = 60.0, hi: float = 180.0) -> np.ndarray:
    base = np.full((h, w, 3), lo)
    base[:, w // 2:] = hi
    return base


def test_noise_profile_reads_gaussian_sigma_per_brightness() -> None:
    # left half darker and noisier than the right: the profile tells them apart
    base = _step(128, 256, 50.0, 200.0)
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 1.0, base.shape[:2])
    noise[:, :128] *= 6.0
    noise[:, 128:] *= 2.0
    y = np.clip(base[:, :, 0] + noise + 0.5, 0, 255).astype(np.uint8)
    sigma, overall = noise_profile(y)
    assert sigma.shape == (NOISE_BINS,)
    assert sigma[50 // 16] == pytest.approx(6.0, rel=0.2)
    assert sigma[200 // 16] == pytest.approx(2.0, rel=0.25)
    assert 2.0 < overall < 6.5
    assert noise_profile(np.zeros((2, 5), np.uint8))[1] == 0.0


@pytest.mark.parametrize("sigma", [3.0, 4.0, 8.0])
def test_noise_falls_by_half_on_a_noisy_gradient(sigma: float) -> None:
    frame = _noisy(_gradient(), sigma, seed=int(sigma))
    out = SpatialDenoiser().process(frame, 0.5)
    # measured: output noise 0.24..0.39 of the input's at the default amount
    assert noise_sigma(out) < 0.5 * noise_sigma(frame), (noise_sigma(frame), noise_sigma(out))
    stronger = SpatialDenoiser().process(frame, 1.0)
    assert noise_sigma(stronger) < noise_sigma(out)
    # the gradient itself is kept: the mean error against the clean picture falls
    clean = _gradient()
    assert np.abs(out - clean).mean() < 0.6 * np.abs(frame - clean).mean()


def test_clean_frame_passes_through_unchanged() -> None:
    flat = np.full((64, 80, 3), (120, 90, 60), np.uint8)
    den = SpatialDenoiser()
    assert den.process(flat, 1.0) is flat
    assert den.effective == 0.0
    # a clean gradient (8-bit staircase only) and a clean texture (smooth sinusoids): at
    # most a faint touch (the 8-bit staircase reads as a little noise at half size)
    clean = np.clip(_gradient() + 0.5, 0, 255).astype(np.uint8)
    y, x = np.mgrid[0:80, 0:120].astype(np.float64)
    tex = 128 + 60 * np.sin(x / 6.0)[..., None] * np.cos(y / 9.0)[..., None] * np.array([1.0, 0.7, 0.4])
    tex8 = np.clip(tex + 0.5, 0, 255).astype(np.uint8)
    for im in (clean, tex8):
        out = den.process(im, 1.0)
        assert den.effective < 0.3
        diff = np.abs(out.astype(int) - im)
        assert diff.max() <= 2 and diff.mean() < 0.5, (diff.max(), diff.mean())


def test_denoise_zero_is_identity_and_bit_identical_to_the_plain_path() -> None:
    frame = _noisy(_gradient(48, 64) * 0.3, 3.0)
    assert SpatialDenoiser().process(frame, 0.0) is frame
    enh = LocalGainEnhancer()
    p = EnhanceParams(smoothing=0.5, denoise=0.0)
    want = enh.apply(frame, enh.estimate(frame, p), p)
    assert np.array_equal(FrameProcessor(enh, p).process(frame), want)
    assert np.array_equal(enhance_still(enh, frame, p), want)
    gamma = registry.create("gamma")
    gp = gamma.descriptor.default_params().replace(denoise=0.0)
    assert np.array_equal(enhance_still(gamma, frame, gp), gamma.enhance(frame, gp))
    assert np.array_equal(enhance_still(gamma, frame, gp, reference=True), gamma.reference(frame, gp))


def test_step_edge_contrast_and_sharpness_are_kept() -> None:
    clean = _step()
    frame = _noisy(clean, 4.0, seed=3)
    out = SpatialDenoiser().process(frame, 0.5).astype(np.float64)
    w = clean.shape[1] // 2
    # contrast two pixels either side of the edge within 3 % of the clean step (120 levels)
    contrast = out[:, w + 1:w + 3].mean() - out[:, w - 3:w - 1].mean()
    assert contrast == pytest.approx(120.0, rel=0.03)
    # flat areas away from the edge did get smoother
    assert out[:, 8:w - 8].std() < 0.5 * frame[:, 8:w - 8].astype(np.float64).std()


def test_texture_well_above_the_noise_is_kept() -> None:
    y, x = np.mgrid[0:96, 0:128]
    checker = np.where(((x // 4) + (y // 4)) % 2 == 0, 90.0, 150.0)
    clean = np.repeat(checker[..., None], 3, axis=2)
    frame = _noisy(clean, 2.0, seed=4)
    out = SpatialDenoiser().process(frame, 0.5).astype(np.float64)
    on = ((x // 4) + (y // 4)) % 2 == 0
    amplitude = out[~on].mean() - out[on].mean()
    assert amplitude > 0.85 * 60.0  # measured 0.93


def test_small_coloured_object_keeps_its_colour() -> None:
    # an 8×8 red patch on grey: chroma is filtered at quarter size, but not across the
    # patch's luma edge (measured: 94 % of its Cr kept at the centre)
    base = np.full((96, 128, 3), 120.0)
    base[40:48, 50:58] = (200, 50, 50)
    frame = _noisy(base, 3.0, seed=8)
    out = SpatialDenoiser().process(frame, 0.5)
    cr = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2YCrCb)[43:45, 53:55, 1].astype(float).mean() - 128  # noqa: E731
    assert cr(out) > 0.8 * cr(frame)


def test_chroma_noise_falls() -> None:
    rng = np.random.default_rng(5)
    base = np.full((64, 64, 3), 120.0)
    frame = np.clip(base + rng.normal(0, 6.0, base.shape) + 0.5, 0, 255).astype(np.uint8)
    out = SpatialDenoiser().process(frame, 0.5).astype(np.float64)
    chroma = lambda im: (im[:, :, 0] - im[:, :, 1]).std()  # noqa: E731
    assert chroma(out) < 0.3 * chroma(frame.astype(np.float64))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 37), w=st.integers(1, 37), sigma=st.floats(0.0, 12.0),
       amount=st.floats(0.0, 1.0), seed=st.integers(0, 99))
def test_any_shape_and_amount(h: int, w: int, sigma: float, amount: float, seed: int) -> None:
    frame = _noisy(np.full((h, w, 3), 100.0), sigma, seed)
    out = SpatialDenoiser().process(frame, amount)
    assert out.shape == frame.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.abs(out.astype(int).mean() - frame.astype(int).mean()) < 3.0


def test_every_small_shape_with_noise() -> None:
    """Regression: frames 13..19 × 3..4 px made the chroma filter's quarter-size planes
    (n, 1) with n <= 4, which OpenCV's arithmetic reads as a scalar ("different types"
    error); found by hypothesis through the temporal test."""
    rng = np.random.default_rng(0)
    for h in range(1, 20):
        for w in range(1, 20):
            f = np.clip(rng.normal(60, 12, (h, w, 3)), 0, 255).astype(np.uint8)
            out = SpatialDenoiser().process(f, 1.0)
            assert out.shape == f.shape and out.dtype == np.uint8


@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (33, 17), (120, 45)])
def test_odd_and_portrait_shapes_through_the_processor(shape: tuple[int, int]) -> None:
    frame = _noisy(np.full((*shape, 3), 40.0), 3.0)
    proc = FrameProcessor(LocalGainEnhancer(), EnhanceParams(denoise=0.5))
    for _ in range(2):
        out = proc.process(frame)
        assert out.shape == frame.shape and out.dtype == np.uint8


def test_first_video_frame_is_denoised_and_timed() -> None:
    frame = _noisy(_gradient() * 0.25, 2.0, seed=6)
    outs = {}
    for d in (0.0, 0.5):
        proc = FrameProcessor(LocalGainEnhancer(), EnhanceParams(smoothing=0.0, denoise=d))
        outs[d] = proc.process(frame)
        if d:
            t = proc.timings
            assert t.spatial_ms > 0.0 and t.denoise_ms >= t.spatial_ms
            assert proc.spatial_denoiser.effective > 0.0
            assert t.total_ms == pytest.approx(t.estimate_ms + t.smooth_ms + t.apply_ms + t.denoise_ms)
    assert noise_sigma(outs[0.5]) < 0.6 * noise_sigma(outs[0.0])
    # a still is processed exactly like a video's first frame
    enh = LocalGainEnhancer()
    assert np.array_equal(enhance_still(enh, frame, EnhanceParams(smoothing=0.0, denoise=0.5)), outs[0.5])


def _dark_noisy_picture(path: Path) -> np.ndarray:
    frame = _noisy(_gradient(48, 64) * 0.3, 2.0, seed=7)
    write_image(path, frame)
    return frame


def test_enhance_cli_stills_use_the_denoise_stage(tmp_path: Path) -> None:
    src = tmp_path / "dark.png"
    _dark_noisy_picture(src)
    assert main(["enhance", str(src), "-o", str(tmp_path / "on.png"), "-m", "gamma", "-q"]) == 0
    assert main(["enhance", str(src), "-o", str(tmp_path / "off.png"), "-m", "gamma", "-q",
                 "--denoise", "0"]) == 0
    on, off = read_image(tmp_path / "on.png"), read_image(tmp_path / "off.png")
    gamma = registry.create("gamma")
    assert np.array_equal(off, gamma.enhance(read_image(src), gamma.descriptor.default_params()))
    assert noise_sigma(on) < 0.6 * noise_sigma(off)


def test_eval_cli_uses_the_denoise_stage(tmp_path: Path) -> None:
    low, high = tmp_path / "low", tmp_path / "high"
    low.mkdir()
    high.mkdir()
    _dark_noisy_picture(low / "a.png")
    write_image(high / "a.png", np.clip(_gradient(48, 64) + 0.5, 0, 255).astype(np.uint8))
    noise = {}
    for d in ("0", "0.5"):
        js = tmp_path / f"{d}.json"
        assert main(["eval", "--low", str(low), "--high", str(high), "-m", "gamma",
                     "--denoise", d, "--json", str(js)]) == 0
        row = {r["method"]: r for r in json.loads(js.read_text())["rows"]}["gamma"]
        noise[d] = row["noise"]
    assert noise["0.5"] < 0.6 * noise["0"]


def test_on_video_the_spatial_stage_reads_what_the_temporal_stage_left() -> None:
    # a static noisy scene: as the temporal denoiser averages frames, the spatial stage
    # measures less noise in the enhanced frame and smooths less
    rng = np.random.default_rng(9)
    base = _gradient(64, 96) * 0.25
    frames = [np.clip(base + rng.normal(0, 2.0, base.shape) + 0.5, 0, 255).astype(np.uint8)
              for _ in range(12)]
    proc = FrameProcessor(LocalGainEnhancer(), EnhanceParams(smoothing=0.0, denoise=0.5))
    levels = []
    for f in frames:
        proc.process(f)
        levels.append(proc.spatial_denoiser.noise_level)
    assert proc.denoiser.effective > 0.0
    assert levels[-1] < 0.75 * levels[0], levels



def _violet_shift(h: int, w: int, luma: float = 0.0) -> np.ndarray:
    """A smooth guard correction on a (h, w) grid: violet removed (R and B down, G up, no
    luma), plus ``luma`` levels of luma in one corner (a held light)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    amp = 6.0 + 4.0 * np.sin(xx / max(1, w) * 3.0) * np.cos(yy / max(1, h) * 2.0)
    d = np.stack([-amp, amp * (0.299 + 0.114) / 0.587, -amp], axis=2).astype(np.float32)
    d[: max(1, h // 4), : max(1, w // 4)] += luma
    return d


@pytest.mark.parametrize("denoise", [0.5, 1.0])
def test_correction_added_at_quarter_size_matches_adding_it_first(denoise: float) -> None:
    """A luma-free guard correction handed to the spatial stage (added to its quarter-size
    chroma) gives the frame that adding it to the full frame first gives, within a few grey
    levels and the same on average."""
    from engine.stages.chroma import ChromaGuard
    frame = _noisy(np.full((180, 320, 3), 70.0), 6.0, seed=5)
    corr = _violet_shift(45, 80)
    got = SpatialDenoiser().process(frame, denoise, None, corr).astype(np.int64)
    want = SpatialDenoiser().process(ChromaGuard.add(frame, corr), denoise).astype(np.int64)
    plain = SpatialDenoiser().process(frame, denoise).astype(np.int64)
    assert np.abs(got - want).max() <= 4
    assert abs(float((got - want).mean())) < 0.05
    assert np.abs(plain - want).mean() > 3.0  # the correction matters: the comparison means something


@pytest.mark.parametrize("case", ["luma", "weak", "off", "tiny", "clean"])
def test_correction_falls_back_to_adding_it_first(case: str) -> None:
    """Where the quarter-size shortcut would not be the same (the correction changes the luma,
    the stage keeps part of the full frame's chroma or does not run), the stage adds the
    correction to the frame first: exactly the frame of adding it before."""
    from engine.stages.chroma import ChromaGuard
    shape, sigma, denoise, luma = (180, 320), 6.0, 0.5, 0.0
    if case == "luma":
        luma = 12.0
    elif case == "weak":
        denoise = 0.2
    elif case == "off":
        denoise = 0.0
    elif case == "tiny":
        shape = (2, 5)
    else:
        sigma = 0.0
    frame = _noisy(np.full(shape + (3,), 70.0), sigma, seed=6)
    corr = _violet_shift(max(1, shape[0] // 4), max(1, shape[1] // 4), luma)
    got = SpatialDenoiser().process(frame, denoise, None, corr)
    want = SpatialDenoiser().process(ChromaGuard.add(frame, corr), denoise)
    assert np.array_equal(got, want)


@pytest.mark.parametrize("case", ["none", "folded", "luma", "weak"])
def test_a_given_half_size_copy_changes_nothing(case: str) -> None:
    """The half-size copy a caller made (for the chroma guard's analysis) gives exactly the
    frame the stage gives making it itself, and is left unused once a correction was added
    to the frame first (a light's luma, weak denoise): the copy would be of the other frame."""
    from engine.stages.spatial_denoise import half_size
    frame = _noisy(np.full((180, 320, 3), 70.0), 6.0, seed=7)
    denoise = 0.2 if case == "weak" else 0.5
    corr = None if case == "none" else _violet_shift(45, 80, 12.0 if case == "luma" else 0.0)
    half = half_size(frame)
    assert half.shape == (90, 160, 3)
    got = SpatialDenoiser().process(frame, denoise, None, corr, half)
    want = SpatialDenoiser().process(frame, denoise, None, corr)
    assert np.array_equal(got, want)
    # a wrong copy shows: the stage does read it where it may
    wrong = SpatialDenoiser().process(frame, denoise, None, corr, np.zeros_like(half))
    assert np.array_equal(wrong, want) == (case in ("luma", "weak"))


@pytest.mark.parametrize("method", ["sci", "zerodce++"])
def test_processor_shares_the_half_size_copy_exactly(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a noisy source (the input-side temporal denoiser works, so the spatial stage gets the
    method's output as it is) the processor makes the half-size copy once, for the guard's
    analysis and the spatial stage: the frames equal those of each making its own, on one
    thread and on two."""
    import engine.stages.processor as proc
    from engine.lab.bench import synthetic_clip
    from engine.stages.processor import TwoStage
    frames = synthetic_clip(160, 90, 8, seed=3)
    calls: list[bool] = []
    real = proc.half_size

    def counted(frame: np.ndarray) -> np.ndarray:
        calls.append(True)
        return real(frame)

    monkeypatch.setattr(proc, "half_size", counted)
    enh = registry.create(method, backend="onnx")
    fp = FrameProcessor(enh)
    shared = [fp.process(f) for f in frames]
    two = list(TwoStage(FrameProcessor(enh)).run(frames))
    assert calls  # the shared copy was made
    monkeypatch.setattr(proc, "half_size", lambda frame: None)
    fp = FrameProcessor(enh)
    own = [fp.process(f) for f in frames]
    assert fp.denoiser.effective > 0.0
    for a, b, c in zip(shared, own, two):
        assert np.array_equal(a, b)
        assert np.array_equal(c, b)
