"""Encoders by what they are: labels, the probe of what opens here (cached), and the
software fallback reported by the queue and both CLI commands, never silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.jobs.queue import JobQueue, JobSettings
from engine.video import codecs
from engine.video.codecs import (CODECS, HARDWARE_CODECS, UNAVAILABLE, encoder_label,
                                 encoder_opens, fallback_note, probe_encoders)
from engine.video.export import ExportOptions
from tests.engine.video_clips import make_clip

ROOT = Path(__file__).resolve().parents[2]


def test_every_codec_has_a_label_that_says_what_it_is() -> None:
    assert encoder_label("h264") == "H.264 (software, x264)"
    assert encoder_label("h265") == "H.265 (software, x265)"
    assert encoder_label("h264_nvenc") == "H.264 (NVIDIA GPU)"
    assert encoder_label("hevc_nvenc") == "H.265 (NVIDIA GPU)"
    assert encoder_label("hevc_qsv") == "H.265 (Intel Quick Sync)"
    assert encoder_label("h264_vaapi") == "H.264 (VA-API GPU)"
    for key in CODECS:
        label = encoder_label(key)
        assert label != key and label.split()[0] in ("H.264", "H.265", "FFV1")
        assert ("_" not in key) or key not in label  # FFmpeg's name never stands alone


def test_probe_lists_every_codec_and_matches_what_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    found = probe_encoders(refresh=True)
    assert [e.key for e in found] == list(CODECS)
    soft = {e.key: e for e in found if not e.hardware}
    assert all(soft[k].available for k in ("h264", "h265", "ffv1"))
    for e in found:
        assert e.label == encoder_label(e.key) and e.hardware == (e.key in HARDWARE_CODECS)
        assert e.available == (e.reason == "")
        if e.hardware and e.available:
            assert encoder_opens(e.encoder, 640, 360, "nv12") or encoder_opens(e.encoder, 640, 360, "yuv420p")
        if not e.available:
            assert UNAVAILABLE in e.reason
    # cached: a second call opens nothing
    calls = []
    monkeypatch.setattr(codecs, "encoder_opens", lambda *a: calls.append(a) or True)
    assert probe_encoders() == found and calls == []
    # refresh probes again and believes what the encoders say
    again = probe_encoders(refresh=True)
    assert calls and all(e.available for e in again if "not in this FFmpeg" not in e.reason
                         and "has no" not in e.reason)
    monkeypatch.undo()
    probe_encoders(refresh=True)


def _unavailable_hardware() -> str:
    for e in probe_encoders():
        if e.hardware and not e.available and e.key.startswith("hevc"):
            return e.key
    pytest.skip("every HEVC hardware encoder opens on this machine")


def test_fallback_is_reported_by_the_queue_and_the_batch_cli(tmp_path: Path) -> None:
    key = _unavailable_hardware()
    clip = make_clip(tmp_path / "in.mp4", frames=4, width=64, height=48, audio=None)
    q = JobQueue()
    it = q.add(str(clip), str(tmp_path / "out.mp4"),
               JobSettings(method="gamma", options=ExportOptions(codec=key, preset="ultrafast")))
    q.run()
    assert it.status == "done", it.error
    assert it.notes == (fallback_note(key, "h265"),)
    assert encoder_label(key) in it.notes[0] and "software, x265" in it.notes[0]
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "engine", "batch", str(clip), "-o", str(out),
                        "--method", "gamma", "--codec", key, "--quiet"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"note: {clip}: {fallback_note(key, 'h265')}" in r.stderr


def test_fallback_is_reported_by_the_enhance_cli(tmp_path: Path) -> None:
    key = _unavailable_hardware()
    clip = make_clip(tmp_path / "in.mp4", frames=4, width=64, height=48, audio=None)
    r = subprocess.run([sys.executable, "-m", "engine", "enhance", str(clip), "-o",
                        str(tmp_path / "o.mp4"), "--method", "gamma", "--codec", key, "--quiet"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "H.265 (software, x265) instead" in r.stderr and encoder_label(key) in r.stderr
