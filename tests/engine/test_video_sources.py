"""Sources: video files (VFR, rotation, trim, seek), image sequences, cameras (fake
capture), the demo clip, and every kind of bad input."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from engine.video import VideoError, open_source
from engine.video.sources import CameraSource, ImageSequenceSource, VideoFileSource
from tests.engine.video_clips import frame_image, make_audio_only, make_clip


def test_file_frames_rgb_pts_vfr(tmp_path):
    p = make_clip(tmp_path / "v.mp4", n=10, vfr=True)
    with open_source(p) as src:
        info = src.info
        frames = list(src)
    assert (info.width, info.height, info.has_audio, info.codec) == (64, 48, True, "h264")
    assert len(frames) == 10
    expect, t = [], 0
    for i in range(10):
        expect.append(t / 1000)
        t += 20 if i % 2 else 70
    assert [f.pts for f in frames] == pytest.approx(expect, abs=1e-3)
    for i, f in enumerate(frames):
        assert f.image.dtype == np.uint8 and f.image.shape == (48, 64, 3) and f.image.flags.c_contiguous
        assert abs(float(f.image[30:, 30:].mean()) - (10 + 8 * i)) < 4
        assert f.index == i


@pytest.mark.parametrize("rot", [90, -90, 180])
def test_rotation_metadata_gives_upright_frames(tmp_path, rot):
    p = make_clip(tmp_path / "r.mp4", n=3, rotation=rot, audio=False)
    with VideoFileSource(p) as src:
        f = src.read()
        assert src.info.rotation == (-rot) % 360
    expect = np.ascontiguousarray(np.rot90(frame_image(0), rot // 90))
    assert f.image.shape == expect.shape
    # the red marker ends up where the display rotation puts it
    assert np.abs(f.image.astype(int) - expect).mean() < 6


def test_trim_and_seek(tmp_path):
    p = make_clip(tmp_path / "v.mp4", n=20, audio=False)  # 25 fps: frame i at 0.04 i
    with VideoFileSource(p, start=0.2, end=0.4) as src:
        pts = [f.pts for f in src]
    assert pts == pytest.approx([0.2, 0.24, 0.28, 0.32, 0.36], abs=1e-6)
    with VideoFileSource(p) as src:
        src.seek(0.48)
        f = src.read()
        assert f.pts == pytest.approx(0.48)
        assert abs(float(f.image[30:, 30:].mean()) - (10 + 8 * 12)) < 4


def test_image_folder_and_pattern(tmp_path):
    for i in (1, 2, 10):
        cv2.imwrite(str(tmp_path / f"frame_{i:04d}.png"), frame_image(i)[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "grey_0099.png"), np.full((5, 7), 99, np.uint16) * 257)
    with open_source(str(tmp_path / "frame_%04d.png"), fps=10) as src:
        frames = list(src)
    assert [f.pts for f in frames] == pytest.approx([0, 0.1, 0.2])
    assert [int(f.image[40, 40, 0]) for f in frames] == [18, 26, 90]  # natural order
    with open_source(str(tmp_path)) as src:
        assert src.info.frame_count == 4
        shapes = [f.image.shape for f in src]
    assert (5, 7, 3) in shapes  # 16-bit grey converted at the source


class FakeCapture:
    """OpenCV VideoCapture stand-in: delivers ``n`` frames then fails (unplugged)."""

    def __init__(self, n: int, opened: bool = True) -> None:
        self.n, self.opened, self.released = n, opened, False

    def isOpened(self):
        return self.opened

    def read(self):
        if self.n <= 0:
            return False, None
        self.n -= 1
        return True, np.zeros((48, 64, 3), np.uint8)

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop, value):
        return True

    def release(self):
        self.released = True


def test_camera_reads_then_disappears():
    cap = FakeCapture(3)
    src = CameraSource(0, capture_factory=lambda d: cap, max_failures=3)
    assert src.info.is_live and src.info.source_id == "camera:0"
    assert src.read().image.shape == (48, 64, 3)
    src.read(), src.read()
    with pytest.raises(VideoError, match="camera:0.*stopped"):
        src.read()
    src.close()
    assert cap.released


def test_no_camera_is_clear_error():
    with pytest.raises(VideoError, match="camera:7: no camera"):
        CameraSource(7, capture_factory=lambda d: FakeCapture(0, opened=False))
    with pytest.raises(VideoError, match="/dev/video99"):
        open_source("/dev/video99")


def test_demo_clip_cached_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("LOWLIGHT_CACHE", str(tmp_path))
    from engine.video import demo

    monkeypatch.setattr(demo, "DEMO_FRAMES", 6)
    real = demo.write_demo_clip
    monkeypatch.setattr(demo, "write_demo_clip", lambda p: real(p, frames=6, width=64, height=36))
    with open_source("demo") as src:
        assert src.info.source_id == "demo" and src.info.has_audio
        n = len(list(src))
    assert n == 6
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]  # no temp left
    assert np.array_equal(demo.render_demo_frame(3, 32, 18), demo.render_demo_frame(3, 32, 18))
    dark = demo.render_demo_frame(10).mean()
    assert dark < 40  # a dark scene
    assert demo.render_demo_frame(demo.DEMO_LIGHT_FRAME + 3).mean() > dark  # the light goes on


# ---------------------------------------------------------------- bad input
def test_truncated_video_decodes_what_it_can(tmp_path):
    p = make_clip(tmp_path / "v.mkv", n=20, audio=False)
    data = p.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with open_source(cut) as src:
        n = len(list(src))
    assert 0 < n < 20


def test_corrupt_middle_is_skipped_and_reported(tmp_path):
    p = make_clip(tmp_path / "v.mkv", n=20, audio=False)
    data = bytearray(p.read_bytes())
    rng = np.random.default_rng(0)
    lo = len(data) // 2
    data[lo: lo + 400] = rng.integers(0, 256, 400, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(bytes(data))
    with open_source(bad) as src:
        n = len(list(src))
    assert n >= 5  # everything before the damage at least


def test_audio_only_file(tmp_path):
    p = make_audio_only(tmp_path / "a.m4a")
    with pytest.raises(VideoError, match="no video stream.*audio"):
        open_source(p)


def test_zero_frames(tmp_path):
    import av

    p = tmp_path / "empty.mkv"
    with av.open(str(p), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
    with pytest.raises(VideoError, match="empty.mkv"):
        open_source(p)


def test_unreadable_and_missing_paths(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        open_source(tmp_path / "missing.mp4")
    p = make_clip(tmp_path / "v.mp4", n=2, audio=False)
    if os.geteuid() != 0:  # root reads anything
        os.chmod(p, 0)
        with pytest.raises(VideoError, match="permission denied"):
            open_source(p)


def test_not_a_video(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="notes.mp4"):
        open_source(p)
    with pytest.raises(VideoError, match="no image files"):
        ImageSequenceSource(str(tmp_path / "nothing_%04d.png"))
