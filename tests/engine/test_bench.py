"""``lowlight bench``: record schema, table, ratios, soak summary and error paths.

No timing assertions: only the shape and meaning of the output. Runs use --quick
(96x54 and 160x90 frames, 4 frames, 1 run) with small untrained checkpoints.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lab import bench
from engine.cli import main
from learned_helpers import WeightsEnv, make_weights
from tests.engine.thread_spy import spy_on_halves

REQUIRED = {"method": str, "backend": str, "device": str, "path": str, "stage": str, "width": int,
            "height": int, "fps_median": float, "ms_p95": float, "rss_mb": float}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    env = WeightsEnv(make_weights(tmp_path_factory.mktemp("bench-weights"), onnx=True))
    try:
        yield env.folder
    finally:
        env.restore()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["bench", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_quick_json_has_the_schema_for_every_record(weights, capsys):
    rc, out, _ = _run(capsys, "--quick", "--json")
    assert rc == 0
    records = json.loads(out)
    assert isinstance(records, list) and records
    for r in records:
        for key, kind in REQUIRED.items():
            assert isinstance(r[key], kind), (key, r)
        assert r["path"] in ("fast", "reference")
        assert r["stage"] in ("enhance", "end_to_end")
        assert r["fps_median"] > 0 and r["ms_p95"] >= 0 and r["rss_mb"] > 0
        assert r["frames"] >= 1 and r["params_mode"] in ("defaults", "per_frame")
        assert (r["width"], r["height"]) in bench.QUICK_SIZES
        assert set(r["threads"]) >= {"torch", "onnx_intra_op", "cv2", "cv2_two_halves", "cpu_count"}
        assert 1 <= r["threads"]["cv2_two_halves"] <= r["threads"]["cv2"]
        if r["stage"] == "end_to_end":  # timed through export_video, fast path, method defaults
            assert r["path"] == "fast" and r["params_mode"] == "defaults" and r["note"] == bench.END_TO_END_NOTE
        if r["path"] == "reference":
            assert r["stage"] == "enhance" and r["params_mode"] == "per_frame"
        if r["params_mode"] == "per_frame":
            assert r["params"]["smoothing"] == 0 and r["params"]["denoise"] == 0
        # the fast enhance records also time the two halves on two threads
        if r["path"] == "fast" and r["stage"] == "enhance":
            assert isinstance(r["fps_two_stage"], float) and r["fps_two_stage"] > 0
        else:
            assert r["fps_two_stage"] is None
    seen = {(r["method"], r["backend"]) for r in records}
    for m in ("sci", "zerodce", "zerodce++"):
        assert (m, "torch") in seen and (m, "onnx") in seen
    assert ("gamma", "numpy") in seen
    # every method: both paths, both stages, both parameter sets, at each size
    sci = {(r["path"], r["stage"], r["params_mode"], r["width"]) for r in records
           if r["method"] == "sci" and r["backend"] == "onnx"}
    for w, _h in bench.QUICK_SIZES:
        assert {("fast", "enhance", "defaults", w), ("fast", "enhance", "per_frame", w),
                ("reference", "enhance", "per_frame", w), ("fast", "end_to_end", "defaults", w)} <= sci
    # default smoothing/denoise are what the defaults records ran with
    d = next(r for r in records if r["method"] == "sci" and r["params_mode"] == "defaults")
    assert d["params"]["smoothing"] == 0.5 and d["params"]["denoise"] == 0.5


def test_the_threads_line_names_opencv_of_the_two_halves_when_it_differs() -> None:
    from engine.cli.bench import _threads_line

    t = {"torch": 2, "onnx_intra_op": 2, "cv2": 2, "cv2_two_halves": 1, "export_encoder": 2,
         "cpu_count": 2, "affinity": 2}
    assert "cv2 2 (two halves: 1);" in _threads_line(t)
    assert "two halves" not in _threads_line({**t, "cv2_two_halves": 2})


def test_table_output(capsys):
    rc, out, err = _run(capsys, "--quick", "--methods", "gamma,clahe", "--stages", "enhance")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("threads: torch ")
    header = lines[1].split()
    assert header[:5] == ["method", "backend", "device", "path", "stage"]
    rows = [ln.split() for ln in lines[3:]]
    # 2 methods × 2 sizes × (fast defaults, fast per-frame, reference)
    assert len(rows) == 12
    assert {r[0] for r in rows} == {"gamma", "clahe"}
    assert all(r[1] == "numpy" and float(r[7]) > 0 for r in rows)
    assert header[7:9] == ["fps", "2-stage"]  # "2-stage fps"
    assert all((r[8] == "-") == (r[3] == "reference") for r in rows)
    assert "gamma" in err  # progress lines on stderr


def test_ratios_pair_fast_and_reference_with_psnr(weights, capsys):
    rc, out, _ = _run(capsys, "--quick", "--methods", "sci,gamma", "--backends", "onnx,numpy",
                      "--stages", "enhance", "--ratios", "--json")
    assert rc == 0
    data = json.loads(out)
    assert set(data) == {"records", "ratios"}
    rs = data["ratios"]
    assert {(r["method"], r["width"]) for r in rs} == {(m, w) for m in ("sci", "gamma") for w, _ in bench.QUICK_SIZES}
    for r in rs:
        assert r["ratio"] == pytest.approx(r["fast_fps"] / r["reference_fps"])
        assert r["psnr_target_db"] == bench.PSNR_TARGET_DB
        # below the estimate size the fast path is the reference: near-identical output
        assert r["psnr_db"] is None or r["psnr_db"] > 35.0  # None = identical (inf)
    assert next(r for r in rs if r["method"] == "sci")["ratio_target"] == 10.0
    assert next(r for r in rs if r["method"] == "gamma")["ratio_target"] is None
    # the text form
    rc, out, _ = _run(capsys, "--quick", "--methods", "gamma", "--stages", "enhance", "--ratios")
    assert rc == 0 and "fast (per-frame params) vs reference" in out and "PSNR dB" in out


def test_soak_reports_rss_summary(capsys):
    rc, out, _ = _run(capsys, "--soak", "0.05", "--quick", "--methods", "gamma", "--json")
    assert rc == 0
    s = json.loads(out)
    for key in ("rss_start_mb", "rss_peak_mb", "rss_end_mb", "vm_hwm_mb", "slope_mb_per_min",
                "between_slope_mb_per_min"):
        assert isinstance(s[key], float) and math.isfinite(s[key])
    assert s["rss_peak_mb"] >= s["rss_start_mb"] and s["rss_peak_mb"] >= s["rss_end_mb"]
    assert s["vm_hwm_mb"] >= s["rss_peak_mb"] - 1.0
    assert s["exports"] >= 1 and s["frames"] >= 1 and len(s["samples"]) >= 2
    assert len(s["between_exports"]) == s["exports"]
    assert (s["width"], s["height"]) == bench.QUICK_SIZES[-1]
    assert 2.5 <= s["seconds"] < 60  # stops at the deadline (0.05 min = 3 s)
    rc, out, _ = _run(capsys, "--soak", "0.02", "--quick", "--methods", "gamma")
    assert rc == 0 and "RSS MiB: start" in out and "MiB/min" in out


def test_missing_weights_are_skipped_with_a_note(tmp_path, capsys):
    env = WeightsEnv(tmp_path)  # empty folder: no checkpoints
    try:
        rc, out, err = _run(capsys, "--quick", "--methods", "sci,gamma", "--stages", "enhance",
                            "--paths", "fast", "--json")
    finally:
        env.restore()
    assert rc == 0
    assert {r["method"] for r in json.loads(out)} == {"gamma"}
    assert "skipped sci (torch)" in err and "weights file not found" in err


@pytest.mark.parametrize("argv, word", [
    (["--methods", "nosuch"], "unknown method 'nosuch'"),
    (["--sizes", "640x"], "bad size"),
    (["--sizes", "axb"], "bad size"),
    (["--sizes", "1x360"], "2..16384"),
    (["--sizes", "641x361"], "even sizes"),
    (["--backends", "tensorflow"], "unknown backend"),
    (["--paths", "slow"], "unknown path"),
    (["--params", "colour=3"], "bad --params"),
    (["--frames", "0"], "at least 1"),
    (["--soak", "0.01", "--methods", "nosuch"], "unknown method"),
    (["--soak", "0"], "positive"),
])
def test_errors_exit_nonzero_with_one_line(capsys, argv, word):
    rc, out, err = _run(capsys, "--quick", *argv)
    assert rc != 0
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lowlight bench: ") and word in lines[0]


def test_parse_sizes():
    assert bench.parse_sizes("640x360, 1280X720") == [(640, 360), (1280, 720)]
    with pytest.raises(bench.BenchError):
        bench.parse_sizes(",")


@settings(max_examples=25, deadline=None)
@given(w=st.integers(1, 40), h=st.integers(1, 40), n=st.integers(1, 3))
def test_synthetic_clip_any_size_is_deterministic(w, h, n):
    a = bench.synthetic_clip(w, h, n)
    b = bench.synthetic_clip(w, h, n)
    assert len(a) == n
    for x, y in zip(a, b):
        assert x.shape == (h, w, 3) and x.dtype == np.uint8 and x.flags.c_contiguous
        assert np.array_equal(x, y)


def test_synthetic_clip_is_dark_and_moves():
    clip = bench.synthetic_clip(160, 90, 5)
    assert all(f.mean() < 60 for f in clip)  # dark
    assert np.abs(clip[4].astype(int) - clip[0].astype(int)).mean() > 2  # motion + noise


def test_soak_growth_slopes():
    flat = [(t * 10.0, 500.0) for t in range(12)]
    spiky = list(flat)
    spiky[6] = (60.0, 1000.0)  # one export that ended with its buffers still resident
    assert bench._robust_slope(spiky) == 0.0
    assert bench._slope(spiky) != 0.0  # least squares is tilted by it
    rising = [(t * 60.0, 500.0 + 2.0 * t) for t in range(6)]  # 2 MiB per minute
    assert bench._robust_slope(rising) == pytest.approx(2.0)
    assert bench._slope(rising) == pytest.approx(2.0)


def test_the_end_to_end_export_runs_the_processor_halves_on_two_threads(tmp_path, monkeypatch):
    """The end-to-end figure is the product's export: ``begin`` on the pipeline's enhance
    thread, ``finish`` on its finish thread (not the whole processor on one thread)."""
    from engine import registry
    threads = spy_on_halves(monkeypatch)
    src = bench.write_clip(tmp_path / "in.mp4", bench.synthetic_clip(64, 48, 6))
    enh = registry.create("gamma")
    n, dt, intervals = bench.export_clip(src, tmp_path / "out.mp4", enh, enh.descriptor.default_params())
    assert n == 6 and dt > 0 and len(intervals) == n - 1
    assert threads == {"begin": {"lowlight-enhance"}, "finish": {"lowlight-finish"}}


# ----------------------------------------------------------------------------- stage shares
def test_enhance_fractions_split_the_frame_time_per_stage():
    steps = {"estimate": 2.0, "smooth": 1.0, "apply": 3.0, "denoise": 10.0, "spatial_denoise": 4.0}
    f = bench.enhance_fractions(steps, 20.0)
    assert list(f) == list(bench.ENHANCE_STAGES)
    assert f["denoise"] == pytest.approx(6.0 / 20)  # the temporal denoiser alone
    assert f["spatial"] == pytest.approx(4.0 / 20)
    assert f["other"] == pytest.approx(4.0 / 20)  # conversions and the rest
    assert sum(f.values()) == pytest.approx(1.0)
    # step medians adding up to more than the frame time are the whole, never a negative rest
    f = bench.enhance_fractions(steps, 10.0)
    assert f["other"] == 0.0 and sum(f.values()) == pytest.approx(1.0)
    assert bench.enhance_fractions({}, 0.0) == {k: 0.0 for k in bench.ENHANCE_STAGES}


def test_export_fractions_are_shares_of_the_stage_times():
    f = bench.export_fractions(10.0, 60.0, 30.0)
    assert f == pytest.approx({"decode": 0.1, "enhance": 0.6, "encode": 0.3})
    assert bench.export_fractions(0.0, 0.0, 0.0) == {"decode": 0.0, "enhance": 0.0, "encode": 0.0}


def test_records_carry_stage_fractions_and_the_export_threads(capsys):
    from engine.video.export import ExportOptions

    rc, out, _ = _run(capsys, "--quick", "--methods", "gamma", "--sizes", "96x54", "--json")
    assert rc == 0
    records = json.loads(out)
    by = {(r["path"], r["stage"], r["params_mode"]): r for r in records}
    for mode in ("defaults", "per_frame"):
        f = by[("fast", "enhance", mode)]["stage_fractions"]
        assert list(f) == list(bench.ENHANCE_STAGES) and sum(f.values()) == pytest.approx(1.0)
        assert all(0.0 <= v <= 1.0 for v in f.values())
    assert by[("reference", "enhance", "per_frame")]["stage_fractions"] == {}
    e2e = by[("fast", "end_to_end", "defaults")]
    assert set(e2e["steps_ms"]) == set(bench.EXPORT_STAGES)
    assert list(e2e["stage_fractions"]) == list(bench.EXPORT_STAGES)
    assert sum(e2e["stage_fractions"].values()) == pytest.approx(1.0)
    opts = ExportOptions()
    assert e2e["encoder"] == {"name": "libx264", "profile": opts.encode, "preset": opts.preset,
                              "crf": opts.crf, "threads": bench.export_threads().encoder}
    assert e2e["threads"]["export_encoder"] == bench.export_threads().encoder


def test_table_shows_stage_shares_and_the_encoder(capsys):
    rc, out, _ = _run(capsys, "--quick", "--methods", "gamma", "--sizes", "96x54")
    assert rc == 0
    lines = out.splitlines()
    assert "; export encoder " in lines[0]
    assert lines[1].startswith("end-to-end encoder: libx264, profile fast (preset ")
    assert "time per stage %" in lines[2]
    e2e = next(ln for ln in lines if "end_to_end" in ln)
    assert re.search(r"dec \d+ enh \d+ enc \d+", e2e)
    fast = next(ln for ln in lines if " per_frame " in ln and " fast " in ln)
    assert re.search(r"est \d+ smooth \d+ apply \d+ tden \d+ sden \d+ other \d+", fast)
