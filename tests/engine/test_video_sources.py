"""Video sources: files (PyAV), image sequences, cameras (fake capture), the demo clip."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.frame import check_rgb8
from engine.video import demo
from engine.video.base import VideoError
from engine.video.sources import (CameraSource, ImageSequenceSource, VideoFileSource, list_cameras,
                                  open_source, rotate_upright)
from tests.engine.video_clips import frame_image, make_clip

VFR_MS = [0, 100, 250, 300, 500, 600, 650, 800, 900, 1000]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("src")
    return {
        "vfr": make_clip(d / "vfr.mp4", pts_ms=VFR_MS, audio="aac"),
        "odd": make_clip(d / "odd.mkv", frames=6, width=65, height=47, audio=None),
        "rot": make_clip(d / "rot.mp4", frames=4, width=64, height=48, rotation_ccw=90, audio=None),
    }


def test_file_source_frames_follow_contract_and_keep_vfr_pts(clips):
    with open_source(clips["vfr"]) as src:
        assert isinstance(src, VideoFileSource)
        info = src.info
        assert (info.width, info.height) == (64, 48)
        assert info.has_audio and info.codec == "h264" and info.frame_count == 10
        frames = list(src)
    assert len(frames) == 10
    assert [f.index for f in frames] == list(range(10))
    assert [round(f.pts, 3) for f in frames] == [t / 1000 for t in VFR_MS]
    for f in frames:
        check_rgb8(f.image)
    # the red level encodes the frame number (lossy, so a tolerance)
    assert abs(int(frames[3].image[40, 40, 0]) - (10 + 8 * 3)) <= 4


def test_odd_width_frames_are_contiguous(clips):
    with open_source(clips["odd"]) as src:
        frames = list(src)
    assert len(frames) == 6
    for f in frames:
        assert f.image.shape == (47, 65, 3)
        assert f.image.flags.c_contiguous


def test_rotation_metadata_gives_upright_frames(clips):
    with open_source(clips["rot"]) as src:
        assert (src.info.width, src.info.height) == (48, 64)  # portrait once rotated
        assert src.rotation_ccw == 90
        img = src.read().image
    assert img.shape == (64, 48, 3)
    expected = rotate_upright(frame_image(0, 64, 48), 90)
    # the bright marker (top-left of the coded picture) is where a player shows it
    assert np.abs(img.astype(int) - expected.astype(int)).mean() < 6


def test_seek_and_trim(clips):
    with open_source(clips["vfr"]) as src:
        src.seek(0.5)
        assert src.read().pts == pytest.approx(0.5)
        src.seek(0.0)
        assert src.read().pts == pytest.approx(0.0)
    with VideoFileSource(clips["vfr"], start=0.25, end=0.8) as src:
        pts = [round(f.pts, 3) for f in src]
    assert pts == [0.25, 0.3, 0.5, 0.6, 0.65]


def test_image_folder_and_pattern(tmp_path):
    for i in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"f_{i:04d}.png"), frame_image(i, 9, 7)[:, :, ::-1])
    (tmp_path / "notes.txt").write_text("x")
    with open_source(tmp_path, fps=5) as src:
        assert isinstance(src, ImageSequenceSource)
        frames = list(src)
    assert [f.pts for f in frames] == [0.0, 0.2, 0.4]
    assert np.array_equal(frames[2].image, frame_image(10, 9, 7))  # natural order: 10 last
    with open_source(str(tmp_path / "f_%04d.png")) as src:
        assert src.info.frame_count == 3
        check_rgb8(src.read().image)
    with pytest.raises(VideoError, match="no image files"):
        open_source(str(tmp_path / "g_%04d.png"))


class FakeCapture:
    """OpenCV VideoCapture look-alike: ``frames`` good reads, then failures."""

    def __init__(self, frames: int = 1000, opened: bool = True) -> None:
        self.left = frames
        self.opened = opened
        self.released = False

    def isOpened(self) -> bool:
        return self.opened

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.full((6, 8, 3), 40, np.uint8)

    def get(self, prop):
        return 0.0

    def set(self, prop, value):
        return True

    def release(self) -> None:
        self.released = True


def test_camera_source_reads_from_a_capture():
    cap = FakeCapture()
    with CameraSource(0, capture_factory=lambda d: cap) as cam:
        assert cam.info.is_live and not cam.info.seekable
        f = cam.read()
        check_rgb8(f.image)
        assert f.image.shape == (6, 8, 3) and f.source_id == "camera:0"
    assert cap.released


def test_no_camera_is_a_clear_error():
    with pytest.raises(VideoError, match="no camera"):
        CameraSource(3, capture_factory=lambda d: FakeCapture(opened=False))
    if not os.path.exists("/dev/video7"):
        with pytest.raises(VideoError, match="camera:7"):
            open_source("camera:7")


def test_camera_disappearing_mid_stream_raises_video_error():
    cap = FakeCapture(frames=2)  # one read by the constructor, one more, then unplugged
    cam = CameraSource(0, capture_factory=lambda d: cap, max_failures=3)
    got = [cam.read(), cam.read()]
    assert all(g is not None for g in got)
    with pytest.raises(VideoError, match="stopped delivering"):
        cam.read()
    cam.close()

    class Exploding(FakeCapture):
        def read(self):
            if self.left < 1000:
                raise cv2.error("device gone")
            return super().read()

    cam = CameraSource(0, capture_factory=lambda d: Exploding())
    cam.read()
    with pytest.raises(VideoError, match="camera:0"):
        cam.read()
    cam.close()


def test_list_cameras_returns_a_list():
    cams = list_cameras()
    assert isinstance(cams, list)
    for c in cams:
        assert c["spec"].startswith("camera:")


def test_demo_frames_are_deterministic_dark_with_light_and_cut():
    a = demo.render_demo_frame(10, 64, 36)
    assert np.array_equal(a, demo.render_demo_frame(10, 64, 36))
    check_rgb8(a)
    assert a.mean() < 60  # dark
    before = demo.render_demo_frame(demo.DEMO_LIGHT_FRAME - 1, 64, 36).mean()
    after = demo.render_demo_frame(demo.DEMO_LIGHT_FRAME + 3, 64, 36).mean()
    assert after > before + 3  # the lamp is switched on
    cut_a = demo.render_demo_frame(demo.DEMO_CUT_FRAME - 1, 64, 36).astype(float)
    cut_b = demo.render_demo_frame(demo.DEMO_CUT_FRAME, 64, 36).astype(float)
    assert np.abs(cut_a - cut_b).mean() > 5  # a scene cut


def test_demo_clip_is_cached_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("LOWLIGHT_CACHE", str(tmp_path))
    calls = []
    real = demo.write_demo_clip

    def small(path, **kw):  # the real recipe, fewer and smaller frames (test speed)
        calls.append(path)
        return real(path, frames=8, width=64, height=36)

    monkeypatch.setattr(demo, "write_demo_clip", small)
    p = demo.demo_clip_path()
    assert p.exists() and p.parent == tmp_path
    assert demo.demo_clip_path() == p and len(calls) == 1  # cached
    assert [f.name for f in tmp_path.iterdir()] == [p.name]  # no temp file left
    with open_source("demo") as src:
        assert src.info.source_id == "demo" and src.info.has_audio
        assert len(list(src)) == 8


def _late_ts(tmp_path: Path) -> Path:
    """An MPEG-TS clip whose timestamps start at 1.4 s (as FFmpeg's TS muxer writes them),
    3 s at 10 fps with one keyframe and AAC audio: FFmpeg's timestamp search in it lands
    seconds after a seek target, even after a seek to 0 s."""
    return make_clip(tmp_path / "late.ts", pts_ms=[1400 + 100 * i for i in range(30)], fps=10,
                     width=64, height=48)


def test_trim_and_seek_in_a_ts_whose_search_overshoots(tmp_path):
    src = VideoFileSource(_late_ts(tmp_path), start=1.0, end=2.0)
    times = []
    while (f := src.read()) is not None:
        times.append(round(f.pts, 3))
    assert times == [round(1.0 + 0.1 * i, 3) for i in range(10)]
    src = VideoFileSource(tmp_path / "late.ts")
    for t in (2.0, 0.5, 2.5, 0.0):
        src.seek(t)
        assert src.read().pts == pytest.approx(t, abs=1e-6)
    src.seek(5.0)  # past the end: nothing, found without decoding the clip again
    assert src.read() is None


def test_a_trimmed_ts_exports_its_frames_and_audio(tmp_path):
    import subprocess
    import sys

    from tests.engine.video_clips import probe

    clip = _late_ts(tmp_path)
    out = tmp_path / "out.mp4"
    r = subprocess.run([sys.executable, "-m", "engine", "enhance", str(clip), "-o", str(out), "-m", "gamma",
                        "--start", "1", "--end", "2"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    info = probe(out)
    assert info["frames"] == 10 and info["audio"] is not None
    assert info["audio_end"] - info["audio_start"] == pytest.approx(1.0, abs=0.1)
