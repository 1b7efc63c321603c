"""``lowlight enhance``: videos with progress, stills, one-line errors, exit status."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from engine.cli import main
from tests.engine.video_clips import frame_image, make_clip, probe


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("cli") / "in.mp4", frames=8, audio="aac")


def test_video_export_with_progress_and_runtime(clip, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    rc = main(["enhance", str(clip), "-o", str(out), "-m", "gamma", "--crf", "28",
               "--preset", "ultrafast", "--start", "0.2"])
    assert rc == 0
    cap = capsys.readouterr()
    assert "runtime numpy/cpu" in cap.err
    assert "6/6 frames" in cap.err and "fps" in cap.err and "ETA" in cap.err
    assert "-> " in cap.out and "audio copied" in cap.out
    got = probe(out)
    assert got["frames"] == 6 and got["audio"] == "aac"


def test_ffv1_and_audio_none(clip, tmp_path):
    out = tmp_path / "o.mkv"
    assert main(["enhance", str(clip), "-o", str(out), "-m", "gamma", "--codec", "ffv1",
                 "--audio", "none", "-q"]) == 0
    got = probe(out)
    assert got["codec"] == "ffv1" and got["audio"] is None and got["frames"] == 8


def test_reference_path(clip, tmp_path):
    out = tmp_path / "r.mp4"
    assert main(["enhance", str(clip), "-o", str(out), "-m", "gamma", "--reference", "-q"]) == 0
    assert probe(out)["frames"] == 8


def test_stills_go_through_enhance_images(tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    cv2.imwrite(str(a), frame_image(1)[:, :, ::-1])
    cv2.imwrite(str(b), frame_image(2)[:, :, ::-1])
    out = tmp_path / "out"
    assert main(["enhance", str(a), str(b), "-o", str(out), "-m", "lime"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg"]


def test_several_videos_into_a_folder(clip, tmp_path):
    other = make_clip(tmp_path / "two.mkv", frames=4, audio=None)
    out = tmp_path / "outs"
    assert main(["enhance", str(clip), str(other), "-o", str(out), "-m", "gamma", "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["in_enhanced.mp4", "two_enhanced.mp4"]


def test_errors_are_one_line_and_the_exit_status_is_nonzero(clip, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    out = tmp_path / "outs"
    rc = main(["enhance", str(bad), str(clip), "-o", str(out), "-m", "gamma", "-q"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "Traceback" not in cap.err
    errors = [line for line in cap.err.splitlines() if "error" in line]
    assert len(errors) == 1 and "bad.mp4: not a readable video file" in errors[0]
    assert (out / "in_enhanced.mp4").exists()  # the good input was still done

    assert main(["enhance", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "x.mp4"),
                 "-m", "gamma"]) == 1
    assert "nope.mp4: no such file" in capsys.readouterr().err

    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"x")
    assert main(["enhance", str(clip), "-o", str(existing), "-m", "gamma", "-q"]) == 1
    assert "already exists" in capsys.readouterr().err and existing.read_bytes() == b"x"

    assert main(["enhance", str(clip), "-o", str(clip), "-m", "gamma", "--overwrite", "-q"]) == 1
    assert "is the input" in capsys.readouterr().err


def test_missing_weights_is_one_line(clip, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["enhance", str(clip), "-o", str(tmp_path / "x.mp4"), "-m", "sci",
               "--weights", str(tmp_path / "none.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and err.count("\n") == 1
