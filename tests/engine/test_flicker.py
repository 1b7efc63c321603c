"""Flicker metrics on clips with known flicker, the deflicker baseline, the synthetic clip
generator and the ``lowlight flicker`` command."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lab import flicker as fl
from engine.lab import metrics
from engine.cli import build_parser
from engine.cli.options import params_from_args
from engine.enhancer import Enhancer, ParamMap, downscale
from engine.params import EnhanceParams
from engine.stages.processor import FrameProcessor
from tests.engine.local_gain import DESCRIPTOR


def _texture(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(20, 120, (h, w, 3)).astype(np.float32), (0, 0), 2.0)
    return np.clip(base, 0, 255).astype(np.uint8)


def _panning_clip(n: int = 8, shift: int = 2) -> list[np.ndarray]:
    big = _texture(48, 64 + n * shift, seed=1)
    return [np.ascontiguousarray(big[:, t * shift:t * shift + 64]) for t in range(n)]


def test_constant_clip_scores_zero() -> None:
    frames = [np.full((24, 32, 3), 40, np.uint8)] * 6
    r = fl.measure(frames, frames)
    assert r.bfi == 0.0 and r.output_flicker == 0.0 and r.warped_error == 0.0


def test_injected_oscillation_is_measured() -> None:
    inp = [_texture(seed=2)] * 10
    a = 0.1
    out = [np.clip(f.astype(np.float32) * (1 + a * (-1) ** t), 0, 255).astype(np.uint8) for t, f in enumerate(inp)]
    bfi = fl.brightness_flicker_index(inp, out)
    assert bfi == pytest.approx(100 * np.log((1 + a) / (1 - a)), rel=0.1)  # ≈ 2a = 20 %
    half = [np.clip(f.astype(np.float32) * (1 + a / 2 * (-1) ** t), 0, 255).astype(np.uint8) for t, f in enumerate(inp)]
    assert fl.brightness_flicker_index(inp, half) == pytest.approx(bfi / 2, rel=0.15)


def _scaled(base: np.ndarray, gains) -> list[np.ndarray]:
    return [np.clip(base.astype(np.float32) * g, 0, 255).astype(np.uint8) for g in gains]


def test_output_held_steady_against_input_flicker_costs_nothing() -> None:
    rng = np.random.default_rng(3)
    base = _texture(seed=3)
    inp = _scaled(base, rng.uniform(0.8, 1.2, 12))
    steady = _scaled(base, [2.0] * 12)
    assert fl.brightness_flicker_index(inp, steady) == 0.0


def test_output_showing_the_input_flicker_is_counted() -> None:
    # the old index (against the raw input) scored this 0 and the steady output above ~20 %
    rng = np.random.default_rng(3)
    inp = _scaled(_texture(seed=3), rng.uniform(0.8, 1.2, 12))
    copied = [np.clip(f.astype(np.float32) * 2.0, 0, 255).astype(np.uint8) for f in inp]
    assert fl.output_flicker(copied) > 5.0
    assert fl.brightness_flicker_index(inp, copied) > 0.5 * fl.output_flicker(copied)


def test_scene_steps_and_ramps_followed_cost_nothing() -> None:
    # a slow brightening (1 % a frame) and a lamp (×2.5) at frame 10, no flicker
    gains = [0.5 * 1.01 ** t * (2.5 if t >= 10 else 1.0) for t in range(20)]
    inp = _scaled(_texture(seed=4), gains)
    out = [np.clip(f.astype(np.float32) * 1.5, 0, 255).astype(np.uint8) for f in inp]
    assert fl.brightness_flicker_index(inp, out) < 0.3
    # and the trend keeps a step where it is
    step = np.array([0.0] * 6 + [1.0] * 6)
    assert np.array_equal(fl.brightness_trend(step), step)
    # a copied period-2 flicker (which a median does not remove) is still counted in full
    inp2 = _scaled(_texture(seed=4), [1.0 + 0.1 * (-1) ** t for t in range(12)])
    out2 = [np.clip(f.astype(np.float32) * 1.5, 0, 255).astype(np.uint8) for f in inp2]
    assert fl.brightness_flicker_index(inp2, out2) > 0.8 * fl.output_flicker(out2)


def test_warped_error_compensates_motion_and_sees_flicker() -> None:
    clip = _panning_clip()
    flows = fl.compute_flows(clip)
    steady = fl.warped_error(clip, flows)
    naive = float(np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(clip[1:], clip[:-1])]))
    assert steady < 0.3 * naive  # the flow undoes the pan
    flick = [np.clip(f.astype(np.float32) * (1 + 0.15 * (-1) ** t), 0, 255).astype(np.uint8) for t, f in enumerate(clip)]
    assert fl.warped_error(flick, flows) > steady + 5


def test_occlusion_mask_rejects_inconsistent_flow() -> None:
    a = _texture(seed=4)
    b = _texture(seed=5)  # unrelated content: flow is garbage, most pixels fail the check
    fp = fl.compute_flows([a, b])[0]
    assert fp is not None and fp.mask.mean() < 0.9


class _JitterGain(Enhancer):
    """A deliberately unstable estimator: its global gain jumps with the frame's noise."""

    def __init__(self) -> None:
        self.descriptor = DESCRIPTOR

    def estimate(self, frame, params):
        small = downscale(frame, 32)
        jitter = (int(frame.astype(np.int64).sum()) % 7 - 3) / 3.0  # in [−1, 1], noise-driven
        return ParamMap(np.full((2, 2, 1), 3.0 * (1 + 0.15 * jitter), np.float32), "gain", frame.shape[:2], small)

    def apply(self, frame, pmap, params):
        return np.clip(frame.astype(np.float32) * float(pmap.data.mean()), 0, 255).astype(np.uint8)

    def reference(self, frame, params=None):
        return self.enhance(frame, params)


def test_smoothing_lowers_both_figures_for_an_unstable_estimator() -> None:
    clip = fl.synthetic_clip(30, (48, 64), seed=6, flicker=0.0, noise=1.0)
    flows = fl.compute_flows(clip.frames)
    res = {}
    for s in (0.0, 0.5):
        proc = FrameProcessor(_JitterGain(), EnhanceParams(smoothing=s))
        out = [proc.process(f) for f in clip.frames]
        res[s] = fl.measure(clip.frames, out, flows=flows)
    assert res[0.5].bfi < 0.5 * res[0.0].bfi
    assert res[0.5].warped_error < res[0.0].warped_error


def test_deflicker_baseline_keeps_frames_and_steadies_brightness() -> None:
    base = _texture(seed=7).astype(np.float32)
    frames = [np.clip(base * (1 + 0.2 * (-1) ** t), 0, 255).astype(np.uint8) for t in range(12)]
    out = fl.deflicker(frames, size=5)
    assert len(out) == 12 and all(o.shape == frames[0].shape and o.dtype == np.uint8 for o in out)
    assert fl.output_flicker(out[4:]) < 0.5 * fl.output_flicker(frames[4:])
    assert fl.deflicker([]) == []


def test_synthetic_clip_events() -> None:
    clip = fl.synthetic_clip(20, (30, 40), seed=8, cut=10, lamp=15, flicker=0.0, noise=0.0)
    assert len(clip.frames) == 20 and clip.frames[0].shape == (30, 40, 3)
    assert len(clip.boxes) == 10  # the object belongs to the first scene
    m = [fl.mean_luma(f) for f in clip.frames]
    assert m[15] > 2 * m[14]  # lamp
    assert np.abs(clip.frames[10].astype(int) - clip.frames[9]).mean() > 3  # cut
    again = fl.synthetic_clip(20, (30, 40), seed=8, cut=10, lamp=15, flicker=0.0, noise=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(clip.frames, again.frames))


def test_noise_estimates() -> None:
    rng = np.random.default_rng(9)
    flat = np.full((40, 50, 3), 60.0)
    noisy = [np.clip(flat + rng.normal(0, 5, flat.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    assert fl.noise_sigma(noisy[0]) == pytest.approx(5 * 0.82, rel=0.25)  # luma of 3 iid channels
    assert fl.temporal_noise(noisy) == pytest.approx(5 * 0.67, rel=0.25)
    # one estimate for the lab: flicker's is metrics' (unmeasured, nan, on a tiny frame)
    assert fl.noise_sigma is metrics.noise_sigma
    assert math.isnan(fl.noise_sigma(np.zeros((2, 2, 3), np.uint8)))


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 21), w=st.integers(1, 21), n=st.integers(0, 4), seed=st.integers(0, 999))
def test_metrics_on_any_shape(h: int, w: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    r = fl.measure(frames, frames[::-1])
    assert all(np.isfinite(v) and v >= 0 for v in (r.bfi, r.output_flicker, r.warped_error))


def test_length_mismatch_is_an_error() -> None:
    f = [np.zeros((4, 4, 3), np.uint8)] * 3
    with pytest.raises(ValueError, match="length"):
        fl.measure(f, f[:2])


# ------------------------------------------------------------------------- CLI
def test_cli_options_reach_the_processor() -> None:
    args = build_parser().parse_args(["flicker", "in.mp4", "-m", "gamma", "--smoothing", "0.3",
                                      "--denoise", "0.7", "--deflicker", "--json"])
    assert args.smoothing == 0.3 and args.denoise == 0.7 and args.deflicker == 5 and args.json
    params = params_from_args("gamma", args)
    assert (params.smoothing, params.denoise) == (0.3, 0.7)
    from engine import registry
    proc = FrameProcessor(registry.create("gamma"), params)
    assert (proc.params.smoothing, proc.params.denoise) == (0.3, 0.7)


def _write_clip(path, frames, fps: int = 30) -> None:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv444p"
        s.options = {"crf": "0"}
        for f in frames:
            for p in s.encode(__import__("av").VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_cli_runs_end_to_end(tmp_path, capsys) -> None:
    clip = fl.synthetic_clip(10, (32, 48), seed=10)
    src = tmp_path / "in.mp4"
    _write_clip(src, clip.frames)
    from engine.cli import main
    assert main(["flicker", str(src), "-m", "gamma", "--smoothing", "0.5", "--deflicker", "3", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    labels = [r["label"] for r in rep["rows"]]
    assert rep["frames"] == 10 and len(labels) == 4 and "deflicker" in labels[-1]
    assert "bfi_reduction" in rep["rows"][2]
    assert main(["flicker", str(src), str(src)]) == 0
    assert "BFI" in capsys.readouterr().out


def test_cli_missing_file_is_one_clear_line(tmp_path) -> None:
    from engine.cli import main
    with pytest.raises(SystemExit, match="no such file"):
        main(["flicker", str(tmp_path / "nope.mp4")])


def test_read_frames_gives_contiguous_frames_for_odd_widths(tmp_path) -> None:
    # regression: PyAV pads rows, so an odd width came back as a strided view and
    # CLAHE's frame-contract check refused it
    from engine.cli.flicker import read_frames
    clip = fl.synthetic_clip(3, (21, 47), seed=11)
    src = tmp_path / "odd.mp4"
    _write_clip(src, clip.frames)
    frames, fps = read_frames(str(src))
    assert len(frames) == 3 and fps == pytest.approx(30)
    assert all(f.shape == (21, 47, 3) and f.flags.c_contiguous for f in frames)


def test_cli_split_on_the_synthetic_clip(capsys) -> None:
    from engine.cli import main
    assert main(["flicker", "synthetic", "-m", "gamma", "--split", "--max-frames", "12", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    labels = [r["label"] for r in rep["rows"]]
    assert rep["frames"] == 12 and len(labels) == 5
    assert labels[2:] == ["gamma smoothing 0.5, denoise 0", "gamma smoothing 0, denoise 0.5",
                          "gamma smoothing 0.5, denoise 0.5"]
    # the default row also gives what smoothing alone changes (same denoise, smoothing 0)
    rows = rep["rows"]
    last, ref = rows[4], rows[3]
    assert last["bfi_reduction_vs_smoothing_0"] == pytest.approx(1 - last["bfi"] / ref["bfi"])
    assert last["warped_error_reduction_vs_smoothing_0"] == pytest.approx(
        1 - last["warped_error"] / ref["warped_error"])
    assert "bfi_reduction_vs_smoothing_0" not in rows[2]
    assert main(["flicker", "synthetic", "-m", "gamma", "--split", "--max-frames", "12"]) == 0
    assert "vs smoothing 0" in capsys.readouterr().out


@pytest.mark.parametrize("shape", [(8, 8), (8, 11), (11, 8), (8, 12), (12, 8), (1, 40), (40, 1)])
def test_flows_on_tiny_frames(shape) -> None:
    # regression: OpenCV's DIS refused frames with neither side >= 12 (8×8 raised); short
    # sides under 16 are now left without flow (DIS crashed on some: test_optical_flow.py)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(2)]
    flows = fl.compute_flows(frames)
    assert len(flows) == 1
    assert fl.warped_error(frames, flows) >= 0.0
