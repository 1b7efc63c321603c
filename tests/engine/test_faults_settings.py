"""Odd settings and option values: one clear line each, nothing run, nothing written.

``LOWLIGHT_*`` environment settings (garbage, absurd thread counts, a cache or output
folder that cannot be created) and method parameters / times outside their range.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from engine.cli import main
from engine.runtime import environment
from engine.video.base import VideoError


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A path whose parent is a regular file: creating it fails even as root."""
    f = tmp_path / "afile"
    f.write_text("x")
    return f / "sub"


# ------------------------------------------------------------------ environment settings
def test_threads_garbage_names_the_variable(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("LOWLIGHT_THREADS", "abc")
    out = tmp_path / "o.mp4"
    assert main(["enhance", "demo", "-o", str(out), "-q", "--end", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "LOWLIGHT_THREADS" in err and "'abc'" in err and "invalid literal" not in err
    assert len(err.splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_threads_below_one_refused(monkeypatch, value):
    monkeypatch.setenv("LOWLIGHT_THREADS", value)
    with pytest.raises(environment.EnvSettingError, match="LOWLIGHT_THREADS"):
        environment.threads()


def test_absurd_thread_count_is_clamped(monkeypatch):
    from engine.runtime.onnx_runtime import cpu_threads

    monkeypatch.setenv("LOWLIGHT_THREADS", "100000")
    assert cpu_threads() <= 4 * (os.cpu_count() or 1)
    warnings = environment.check()
    assert len(warnings) == 1 and "LOWLIGHT_THREADS=100000" in warnings[0]
    monkeypatch.setenv("LOWLIGHT_THREADS", "1")
    assert cpu_threads() == 1 and environment.check() == []


@pytest.mark.parametrize("value", ["lots", "-1G", "12Q"])
def test_memory_limit_garbage_refused(monkeypatch, value):
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", value)
    with pytest.raises(environment.EnvSettingError, match="LOWLIGHT_MEMORY_LIMIT"):
        environment.check()


def test_memory_limit_forms(monkeypatch):
    assert environment.parse_bytes("12G") == 12 << 30
    assert environment.parse_bytes("1.5g") == 3 << 29
    assert environment.parse_bytes("512MiB") == 512 << 20
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "off")
    assert environment.memory_limit() is None


def test_weights_folder_that_is_a_file(monkeypatch, blocked):
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(blocked.parent))
    with pytest.raises(environment.EnvSettingError, match="LOWLIGHT_WEIGHTS"):
        environment.check()


def test_cache_that_cannot_be_created_is_one_line(monkeypatch, tmp_path, blocked, capsys):
    monkeypatch.setenv("LOWLIGHT_CACHE", str(blocked))
    out = tmp_path / "x.mp4"
    assert main(["enhance", "demo", "-o", str(out), "-m", "gamma", "-q"]) == 1
    err = capsys.readouterr().err
    assert "cannot create the cache folder" in err and "LOWLIGHT_CACHE" in err
    assert "Traceback" not in err and not out.exists()


def test_training_cache_that_cannot_be_written(monkeypatch, tmp_path, blocked):
    import cv2
    import numpy as np

    from engine.train.data import DataError, load_image_set

    monkeypatch.setenv("LOWLIGHT_CACHE", str(blocked))
    f = tmp_path / "a.png"
    cv2.imwrite(str(f), np.full((20, 20, 3), 30, np.uint8))
    with pytest.raises(DataError, match="--no-cache"):
        load_image_set([f], 16)
    assert load_image_set([f], 16, use_cache=False).images.shape == (1, 16, 16, 3)


def test_export_onnx_to_an_impossible_folder(blocked, capsys):
    assert main(["export-onnx", "-m", "sci", "--out-dir", str(blocked)]) == 1
    err = capsys.readouterr().err
    assert "cannot create the output folder" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ option values
@pytest.mark.parametrize("argv,says", [
    (["--strength", "-1"], "--strength -1 is out of range for sci: 0..2"),
    (["--strength", "3"], "--strength 3 is out of range for sci: 0..2"),
    (["--strength", "inf"], "must be a finite number"),
    (["--strength", "nan"], "must be a finite number"),
    (["--iterations", "0"], "--iterations 0 is out of range for sci: 1..4"),
    (["--iterations", "100"], "--iterations 100 is out of range for sci: 1..4"),
    (["-m", "sci", "--iterations", "10"], "out of range for sci: 1..4"),
    (["-m", "zerodce", "--iterations", "17"], "out of range for zerodce: 1..16"),
    (["--exposure", "5"], "--exposure 5 is out of range for sci: 0..0.8"),
    (["--smoothing", "2"], "--smoothing 2 is out of range for sci: 0..1"),
    (["--denoise", "-0.5"], "--denoise -0.5 is out of range for sci: 0..1"),
    (["--end", "nan"], "--end: must be a finite number"),
    (["--start", "-2"], "--start: must be 0 s or more"),
    (["--segment-seconds", "nan"], "--segment-seconds: must be a finite number"),
    (["--segment-seconds", "0"], "--segment-seconds: must be more than 0 s"),
])
def test_out_of_range_values_refused(argv, says, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    try:
        rc = main(["enhance", "demo", "-o", str(out), "-q", *argv])
    except SystemExit as exc:  # the parser's own refusal
        rc = exc.code
    assert rc == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_value_valid_for_the_method_runs(tmp_path):
    out = tmp_path / "o.png"
    from tests.engine.video_clips import frame_image
    import cv2

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), frame_image(0))
    assert main(["enhance", str(src), "-o", str(out), "-m", "zerodce", "--iterations", "10",
                 "--strength", "2", "--denoise", "0"]) == 0
    assert out.exists()


def test_all_methods_refuse_only_values_no_method_takes():
    import argparse

    from engine.cli.options import check_param_args, params_from_args

    args = argparse.Namespace(method="all", iterations=8, strength=None, smoothing=None,
                              denoise=None, exposure=None)
    check_param_args(args)  # zerodce takes 8; sci clamps it to its 1..4
    assert params_from_args("sci", args).iterations == 4
    args.iterations = 100
    with pytest.raises(ValueError, match="every method's range"):
        check_param_args(args)


def test_library_refuses_non_finite_times(tmp_path):
    from engine.video.export import ExportOptions, export_video

    with pytest.raises(VideoError, match="end must be a finite"):
        ExportOptions(end=math.nan).validate()
    with pytest.raises(VideoError, match="segment length"):
        export_video("demo", tmp_path / "o.mp4", method="gamma", segment_seconds=math.nan)
    assert not (tmp_path / "o.mp4").exists()


# ------------------------------------------------------------------ grey output range
class _Flat:
    """A processor whose every frame is one flat grey level (uint8 RGB)."""

    def __init__(self, level: int) -> None:
        self.level = level

    def process(self, image):
        import numpy as np

        return np.full(image.shape, self.level, np.uint8)


@pytest.mark.parametrize("pix_fmt", ["gray", "gray10le"])
def test_grey_output_decodes_to_the_written_level(tmp_path, pix_fmt):
    """``--pix-fmt gray`` holds full-range luma; the stream must say so, or every player
    reads it as limited range and shows level 40 as about 28."""
    import av

    from engine.video.export import ExportOptions, export_video
    from tests.engine.video_clips import make_clip

    src = make_clip(tmp_path / "in.mp4", frames=3, audio=None)
    res = export_video(str(src), tmp_path / "o.mp4", processor=_Flat(40),
                       options=ExportOptions(pix_fmt=pix_fmt, crf=0, preset="ultrafast"))
    with av.open(str(res.path)) as c:
        frame = next(c.decode(video=0))
        rgb = frame.to_ndarray(format="rgb24")
    assert abs(float(rgb.mean()) - 40) < 1.5, rgb.mean()
