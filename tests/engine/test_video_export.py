"""Pipeline modes, cancel/close, errors, and export: timestamps, audio, trimming,
rotation, odd sizes, atomic output, overwrite refusal, disk full."""

from __future__ import annotations

import errno
import os
import threading
import time

import numpy as np
import pytest

from engine.frame import Frame
from engine.video import (ExportCancelled, ExportOptions, Pipeline, VideoError, export_video,
                          open_source)
from engine.video.base import Sink, Source, SourceInfo
from engine.video.export import VideoFileSink
from tests.engine.video_clips import make_clip, streams

FAST = dict(preset="ultrafast")


class CountingSource(Source):
    def __init__(self, n=None, delay=0.0, fail_at=None):
        self.n, self.delay, self.fail_at, self.i = n, delay, fail_at, 0
        self.closed = False

    @property
    def info(self):
        return SourceInfo("fake", 8, 6, 25.0, self.n, is_live=self.n is None)

    def read(self):
        if self.fail_at is not None and self.i == self.fail_at:
            raise VideoError("fake: boom")
        if self.n is not None and self.i >= self.n:
            return None
        time.sleep(self.delay)
        f = Frame(np.full((6, 8, 3), self.i % 256, np.uint8), self.i, self.i / 25)
        self.i += 1
        return f

    def close(self):
        self.closed = True


def test_export_mode_every_frame_in_order():
    got = []
    slow = lambda img: (time.sleep(0.001), img)[1]  # noqa: E731
    Pipeline(CountingSource(50), slow, lambda a, b: got.append(b.index), mode="export").run()
    assert got == list(range(50))


def test_live_mode_drops_with_slow_enhancer():
    got = []
    slow = lambda img: (time.sleep(0.02), img)[1]  # noqa: E731
    pipe = Pipeline(CountingSource(60), slow, lambda a, b: got.append(b.index), mode="live")
    st = pipe.run()
    assert st.dropped > 0
    assert st.frames_in == 60 and st.frames_out == len(got) < 60
    assert got == sorted(got)  # still in order, just fewer


def test_stop_ends_all_threads_within_a_second():
    pipe = Pipeline(CountingSource(None, delay=0.001), lambda i: i, lambda a, b: None, mode="live").start()
    time.sleep(0.1)
    assert pipe.stats().running and pipe.stats().frames_in > 0
    t0 = time.monotonic()
    pipe.close()
    assert not pipe.running
    assert time.monotonic() - t0 < 1.0


def test_errors_reach_the_caller():
    seen = []
    pipe = Pipeline(CountingSource(20, fail_at=5), None, lambda a, b: None, on_error=seen.append)
    with pytest.raises(VideoError, match="boom"):
        pipe.run()
    assert len(seen) == 1 and not pipe.running

    def bad(img):
        raise ValueError("enhancer broke")

    with pytest.raises(ValueError, match="enhancer broke"):
        Pipeline(CountingSource(20), bad, lambda a, b: None).run()

    def bad_sink(a, b):
        raise OSError("sink broke")

    with pytest.raises(OSError, match="sink broke"):
        Pipeline(CountingSource(None), None, bad_sink, mode="live").run()


def _brighten(img):
    return np.clip(img.astype(np.int16) * 2, 0, 255).astype(np.uint8)


def test_export_keeps_count_vfr_timestamps_and_audio(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=12, vfr=True)
    out = tmp_path / "out.mp4"
    seen = []
    res = export_video(src, out, _brighten, ExportOptions(**FAST), progress=seen.append)
    a, b = streams(src), streams(out)
    assert res.frames == 12 and b["video"][3] == 12
    assert b["video"][5] == pytest.approx(a["video"][5], abs=2e-3)
    assert res.audio == "copy" and b["audio"][0] == "aac"
    assert b["audio"][1] == pytest.approx(a["audio"][1], abs=0.05)
    assert seen and seen[-1].frames_done == 12
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


def test_export_trim_video_and_audio_alike(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=20)  # 0.8 s at 25 fps
    out = tmp_path / "trim.mkv"
    res = export_video(src, out, None, ExportOptions(start=0.2, end=0.6, audio="aac", **FAST))
    s = streams(out)
    assert res.frames == 10 and s["video"][3] == 10
    assert s["video"][5][0] == pytest.approx(0.0, abs=1e-3)
    assert s["audio"][1] == pytest.approx(0.4, abs=0.05)


@pytest.mark.parametrize("codec,ext,w,h", [("h264", ".mp4", 33, 21), ("h265", ".mkv", 65, 49),
                                           ("ffv1", ".mkv", 33, 21)])
def test_codecs_rotation_and_odd_size(tmp_path, codec, ext, w, h):
    src = make_clip(tmp_path / "in.mp4", n=4, w=w, h=h, rotation=90, audio=False)
    out = tmp_path / f"out{ext}"
    res = export_video(src, out, None, ExportOptions(codec=codec, **FAST))
    s = streams(out)
    assert s["video"][1:5] == (w, h, 4, 90)  # coded size, count, rotation kept
    assert res.width == w and res.height == h
    with open_source(src) as a, open_source(out) as b:
        fa, fb = a.read(), b.read()
    assert fa.image.shape == fb.image.shape == (w, h, 3)  # upright, exact size
    if codec == "ffv1":
        assert np.array_equal(fa.image, fb.image)  # lossless


def test_h265_tiny_frames_refused_cleanly(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=2, w=34, h=24, audio=False)
    with pytest.raises(VideoError, match="H.265 cannot encode 34x24"):
        export_video(src, tmp_path / "o.mkv", None, ExportOptions(codec="h265", **FAST))
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_odd_size_pad_option(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=2, w=33, h=21, audio=False)
    res = export_video(src, tmp_path / "o.mp4", None, ExportOptions(odd_size="pad", **FAST))
    assert res.pix_fmt == "yuv420p" and streams(tmp_path / "o.mp4")["video"][1:3] == (34, 22)


def test_overwrite_refused_and_input_protected(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=2, audio=False)
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    with pytest.raises(VideoError, match="already exists"):
        export_video(src, out, None, ExportOptions(**FAST))
    assert out.read_bytes() == b"keep me"
    with pytest.raises(VideoError, match="input"):
        export_video(src, src, None, ExportOptions(overwrite=True, **FAST))
    export_video(src, out, None, ExportOptions(overwrite=True, **FAST))
    assert streams(out)["video"][3] == 2


def test_cancel_leaves_nothing(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=20, audio=False)
    cancel = threading.Event()

    def slow(img):
        time.sleep(0.05)
        cancel.set()
        return img

    with pytest.raises(ExportCancelled):
        export_video(src, tmp_path / "o.mp4", slow, ExportOptions(**FAST), cancel=cancel)
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


class _FullDisk:
    """Wraps the output container: muxing fails with ENOSPC after a few packets."""

    def __init__(self, real, after):
        self._real, self._left = real, after

    def mux(self, packet):
        self._left -= 1
        if self._left < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._real.mux(packet)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_disk_full_is_clear_and_leaves_nothing(tmp_path, monkeypatch):
    src = make_clip(tmp_path / "in.mp4", n=30, audio=True)
    real_open = VideoFileSink._open

    def open_then_fill(self, h, w):
        real_open(self, h, w)
        self._out = _FullDisk(self._out, after=3)

    monkeypatch.setattr(VideoFileSink, "_open", open_then_fill)
    with pytest.raises(VideoError, match="disk full"):
        export_video(src, tmp_path / "o.mp4", None, ExportOptions(**FAST))
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_image_sequence_output(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=3, audio=False)
    res = export_video(src, tmp_path / "frames", _brighten, ExportOptions())
    assert res.frames == 3
    assert sorted(os.listdir(tmp_path / "frames")) == [f"frame_{i:06d}.png" for i in range(3)]


def test_cli_enhance_video(tmp_path, capsys):
    from engine.cli import main

    src = make_clip(tmp_path / "in.mp4", n=3)
    rc = main(["enhance", str(src), "-o", str(tmp_path / "o.mkv"), "--method", "gamma",
               "--preset", "ultrafast", "--audio", "aac"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "runtime" in err
    assert streams(tmp_path / "o.mkv")["video"][3] == 3
    rc = main(["enhance", str(src), "-o", str(tmp_path / "o.mkv"), "--method", "gamma"])
    assert rc == 1  # exists, no --overwrite


def test_bench_json_schema(capsys):
    import json

    from engine.cli import main

    assert main(["bench", "--quick", "--sizes", "32x24", "--methods", "gamma", "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    keys = {"method", "backend", "device", "path", "stage", "width", "height", "fps_median",
            "ms_p95", "rss_mb", "frames"}
    assert recs and all(keys <= set(r) for r in recs)
    assert {(r["path"], r["stage"]) for r in recs} == {
        ("fast", "enhance"), ("fast", "end_to_end"), ("reference", "enhance"), ("reference", "end_to_end")}
    assert all(r["fps_median"] > 0 and r["width"] == 32 for r in recs)


def test_cli_enhance_mixed_video_and_images(tmp_path):
    import cv2

    from engine.cli import main
    from tests.engine.video_clips import frame_image

    src = make_clip(tmp_path / "in.mp4", n=2, audio=False)
    img = tmp_path / "still.png"
    cv2.imwrite(str(img), frame_image(1)[:, :, ::-1])
    out = tmp_path / "out"
    assert main(["enhance", str(src), str(img), "-o", str(out), "--method", "gamma",
                 "--preset", "ultrafast"]) == 0
    assert (out / "in_enhanced.mp4").exists() and (out / "still.png").exists()
    assert main(["enhance", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "m.mp4"),
                 "--method", "gamma"]) == 1


def test_camera_unplugged_mid_stream_reaches_caller():
    from engine.video.sources import CameraSource
    from tests.engine.test_video_sources import FakeCapture

    errors, got = [], []
    src = CameraSource(0, capture_factory=lambda d: FakeCapture(5), max_failures=2)
    pipe = Pipeline(src, None, lambda a, b: got.append(b.index), mode="live", on_error=errors.append)
    with pytest.raises(VideoError, match="camera:0.*stopped"):
        pipe.run()
    assert len(errors) == 1 and not pipe.running and len(got) >= 1
