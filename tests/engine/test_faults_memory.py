"""Pictures and videos too big for the memory a job may use are refused before they are
decoded, with one line naming the size, the estimate and the limit. Huge sizes are
simulated with crafted headers: nothing of that size is ever allocated."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli import main
from engine.jobs import memory
from engine.runtime import environment


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def crafted_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says ``width`` × ``height`` (8-bit RGB) but which holds only a
    few rows of pixel data: a few hundred bytes on disk."""
    rows = zlib.compress((b"\x00" + bytes(3 * min(width, 64))) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + _chunk(b"IDAT", rows) + _chunk(b"IEND", b""))
    return path


def crafted_jpeg(path: Path, width: int, height: int) -> Path:
    """A JPEG start: SOI, an APP0 segment, then a baseline SOF0 naming the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes(9)
    path.write_bytes(b"\xff\xd8" + app0 + sof + b"\xff\xd9")
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Make any decode of a still fail loudly: a refused picture must not reach it."""
    import engine.jobs.stills as stills

    def refuse(path):
        raise AssertionError(f"{path} was decoded")

    monkeypatch.setattr(stills, "read_image", refuse)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp", ".tif", ".ppm", ".pgm"])
def test_image_size_reads_headers(tmp_path, ext):
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    p = tmp_path / ("a" + ext)
    assert cv2.imwrite(str(p), img[..., 0] if ext == ".pgm" else img)
    assert memory.image_size(p) == (53, 37)


def test_image_size_of_crafted_headers(tmp_path):
    assert memory.image_size(crafted_png(tmp_path / "h.png", 20000, 20000)) == (20000, 20000)
    assert memory.image_size(crafted_jpeg(tmp_path / "h.jpg", 30000, 12000)) == (30000, 12000)
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    assert memory.image_size(tmp_path / "junk.png") is None


@pytest.mark.parametrize("maker,name", [(crafted_png, "huge.png"), (crafted_jpeg, "huge.jpg")])
def test_huge_picture_refused_before_decoding(tmp_path, monkeypatch, capsys, no_decoding, maker, name):
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "16G")
    src = maker(tmp_path / name, 20000, 20000)
    out = tmp_path / "out"
    assert main(["enhance", str(src), "-o", str(out), "-m", "gamma"]) == 1
    err = capsys.readouterr().err
    line = [x for x in err.splitlines() if "20000x20000" in x]
    assert len(line) == 1 and "37.3 GB" in line[0] and "16.0 GB set by LOWLIGHT_MEMORY_LIMIT" in line[0]
    assert not out.exists() or not any(out.iterdir())


def test_default_limit_is_the_available_memory(tmp_path, monkeypatch, no_decoding):
    monkeypatch.delenv("LOWLIGHT_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(environment, "available_memory", lambda: 1 << 30)
    src = crafted_png(tmp_path / "six.png", 6000, 6000)
    with pytest.raises(memory.MemoryLimitError, match=r"6000x6000 picture needs about 3\.4 GB.*"
                                                      r"1\.0 GB of memory available \(MemAvailable\)"):
        memory.check_frame_memory(src, 6000, 6000, video=False)
    memory.check_frame_memory(src, 2000, 2000, video=False)  # 0.4 GB: fine


def _picture(path: Path, w: int = 200, h: int = 100) -> Path:
    cv2.imwrite(str(path), np.full((h, w, 3), 30, np.uint8))
    return path


def test_limit_refuses_a_real_picture_and_off_lets_it_through(tmp_path, monkeypatch, capsys):
    src = _picture(tmp_path / "a.png")  # 20000 px: 2 MB fast, 8 MB reference
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "1M")
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.png"), "-m", "gamma"]) == 1
    assert "200x100 picture needs about 1.9 MB" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "4M")
    assert main(["enhance", str(src), "-o", str(tmp_path / "o.png"), "-m", "gamma"]) == 0
    assert main(["enhance", str(src), "-o", str(tmp_path / "r.png"), "-m", "gamma", "--reference"]) == 1
    assert "on the reference path" in capsys.readouterr().err
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "off")
    assert main(["enhance", str(src), "-o", str(tmp_path / "r.png"), "-m", "gamma", "--reference"]) == 0


def test_batch_goes_on_after_a_picture_too_big(tmp_path, monkeypatch, capsys):
    import engine.jobs.stills as stills
    from engine.files.images import read_image

    def only_small(path):
        assert "huge" not in str(path), f"{path} was decoded"
        return read_image(path)

    monkeypatch.setattr(stills, "read_image", only_small)
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "1G")
    folder = tmp_path / "in"
    folder.mkdir()
    crafted_png(folder / "a_huge.png", 20000, 20000)
    _picture(folder / "b_small.png")
    assert main(["enhance", str(folder), "-o", str(tmp_path / "out"), "-m", "gamma"]) == 1
    assert (tmp_path / "out" / "b_small.png").exists() and not (tmp_path / "out" / "a_huge.png").exists()
    err = capsys.readouterr().err
    assert "a_huge.png: a 20000x20000 picture needs about 37.3 GB" in err and "was decoded" not in err


def test_video_frames_too_big_refused(tmp_path, monkeypatch, capsys):
    from tests.engine.video_clips import make_clip

    src = make_clip(tmp_path / "in.mp4", frames=4, audio=None)  # 64x48: 768 KB estimated
    out = tmp_path / "o.mp4"
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "500K")
    assert main(["enhance", str(src), "-o", str(out), "-m", "gamma", "-q"]) == 1
    err = capsys.readouterr().err
    assert "64x48 video frames need about 0.7 MB" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".o.partial-*"))
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "1M")  # enough for the fast path, not the reference
    assert main(["enhance", str(src), "-o", str(out), "-m", "gamma", "-q", "--reference"]) == 1
    assert "64x48 video frames need about 1.3 MB to enhance on the reference path" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".o.partial-*"))
    assert main(["enhance", str(src), "-o", str(out), "-m", "gamma", "-q"]) == 0


def test_numbered_pictures_too_big_refused(tmp_path, monkeypatch):
    from engine.video.base import VideoError
    from engine.video.sources import ImageSequenceSource

    for i in range(2):
        crafted_png(tmp_path / f"f_{i:03d}.png", 20000, 20000)
    monkeypatch.setenv("LOWLIGHT_MEMORY_LIMIT", "8G")
    with pytest.raises(VideoError, match="20000x20000 video frames need"):
        ImageSequenceSource(str(tmp_path / "f_%03d.png"))
