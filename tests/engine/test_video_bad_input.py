"""Bad input, each made here: every case is a clear VideoError naming the file (or a
partial result with the problem reported), never a crash or a hang."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engine.video.base import VideoError
from engine.video.export import export_video
from engine.video.sources import CameraSource, VideoFileSource, open_source
from tests.engine.video_clips import frame_image, make_clip


def _faststart_clip(path: Path, frames: int = 20) -> Path:
    """An MP4 with its index first (as phones and web exports write them)."""
    import av

    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "10"}
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 10)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return path


def _audio_frames(stream, n: int = 5):
    import av

    for k in range(n):
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 48000, k * 1024
        yield from stream.encode(f)
    yield from stream.encode(None)


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_truncated_file_decodes_what_it_can_and_says_so(tmp_path, ext):
    full = _faststart_clip(tmp_path / "full.mp4") if ext == "mp4" else \
        make_clip(tmp_path / "full.mkv", frames=20, audio=None)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with VideoFileSource(cut) as src:
        frames = list(src)
        assert 0 < len(frames) < 20
        assert src.truncated and "truncated" in src.problems[0]
        assert f"{len(frames)} frames decoded" in src.problems[0]
    out = tmp_path / "out.mp4"
    res = export_video(cut, out, method="gamma")
    assert res.frames == len(frames) and any("truncated" in p for p in res.problems)


def test_mp4_cut_before_its_index_is_named(tmp_path):
    full = make_clip(tmp_path / "full.mp4", frames=20, audio=None)  # index at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[:4000])
    with pytest.raises(VideoError, match=r"cut\.mp4: truncated or unfinished MP4"):
        open_source(cut)


def test_corrupt_bytes(tmp_path):
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="noise.mp4: not a readable video file"):
        open_source(bad)


def test_corrupt_middle_still_decodes_every_frame_it_can(tmp_path):
    full = make_clip(tmp_path / "full.mkv", frames=20, audio=None)
    b = bytearray(full.read_bytes())
    rng = np.random.default_rng(1)
    mid = len(b) // 2
    b[mid:mid + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    bad = tmp_path / "mid.mkv"
    bad.write_bytes(bytes(b))
    with open_source(bad) as src:
        frames = list(src)
    assert len(frames) >= 15
    for f in frames:
        assert f.image.shape == (48, 64, 3)


def test_audio_only_file(tmp_path):
    import av

    p = tmp_path / "voice.m4a"
    with av.open(str(p), "w") as out:
        s = out.add_stream("aac", rate=48000, layout="mono")
        for pkt in _audio_frames(s):
            out.mux(pkt)
    with pytest.raises(VideoError, match="voice.m4a: no video stream .contains audio"):
        open_source(p)


def test_zero_frames(tmp_path):
    import av

    p = tmp_path / "empty.mkv"  # a video track with no frames in it (audio only in practice)
    with av.open(str(p), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=48000, layout="mono")
        for pkt in _audio_frames(a):
            out.mux(pkt)
    with pytest.raises(VideoError, match="empty.mkv: contains no video frames"):
        open_source(p)
    with pytest.raises(VideoError, match="empty.mkv"):
        export_video(p, tmp_path / "o.mp4", method="gamma")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["empty.mkv"]


def test_trim_past_the_end(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=5, audio=None)
    with pytest.raises(VideoError, match="no video frames after 9"):
        VideoFileSource(clip, start=9.0)


def test_missing_and_unreadable_paths(tmp_path):
    with pytest.raises(VideoError, match="missing.mp4: no such file"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="no such file"):
        export_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", method="gamma")
    clip = make_clip(tmp_path / "locked.mp4", frames=3, audio=None)
    os.chmod(clip, 0)
    try:
        if os.access(clip, os.R_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(VideoError, match="locked.mp4: permission denied"):
            open_source(clip)
    finally:
        os.chmod(clip, 0o644)


def test_a_non_video_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError, match="notes.txt: not a readable video file"):
        open_source(p)


def test_unsupported_codec(tmp_path):
    import av

    p = tmp_path / "m.avi"
    with av.open(str(p), "w") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")
            f.pts = i
            for pkt in vs.encode(f):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    data = p.read_bytes()
    assert b"FMP4" in data
    unknown = tmp_path / "alien.avi"
    unknown.write_bytes(data.replace(b"FMP4", b"ZQZQ"))  # a FourCC no decoder knows
    with pytest.raises(VideoError, match="alien.avi: unsupported video codec"):
        open_source(unknown)


def test_no_camera_and_camera_gone(tmp_path):
    class Closed:
        def isOpened(self):
            return False

        def release(self):
            pass

    with pytest.raises(VideoError, match="camera:2: no camera found"):
        CameraSource(2, capture_factory=lambda d: Closed())

    class Gone:
        n = 0

        def isOpened(self):
            return True

        def read(self):
            self.n += 1
            return (True, np.zeros((4, 4, 3), np.uint8)) if self.n <= 2 else (False, None)

        def get(self, prop):
            return 0.0

        def set(self, prop, value):
            return True

        def release(self):
            pass

    # in the pipeline the error reaches wait(), the threads end
    from engine.video.pipeline import Pipeline

    cam = CameraSource(0, capture_factory=lambda d: Gone(), max_failures=2)
    pipe = Pipeline(cam, None, on_frame=lambda f: None, mode="live").start()
    with pytest.raises(VideoError, match="camera:0: camera stopped delivering"):
        pipe.wait(timeout=5)
    assert not pipe.is_running()


def test_folder_given_as_video_and_empty_folder(tmp_path):
    with pytest.raises(VideoError, match="is a folder"):
        VideoFileSource(tmp_path)
    with pytest.raises(VideoError, match="no image files"):
        open_source(tmp_path)
