"""Image files have one owner (engine.files.images): the still-image batch and image-sequence
sources accept the same suffixes (WebP included), apply a JPEG's EXIF orientation and
refuse a truncated JPEG alike."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.files.images import IMAGE_SUFFIXES, ImageError, is_image_path, read_image, write_image
from engine.jobs import stills
from engine.video.base import VideoError
from engine.video.sources import ImageSequenceSource, open_source


def _rgb(h: int = 12, w: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _marked(h: int = 16, w: int = 24) -> np.ndarray:
    """A dark picture with a bright 4×4 block in its top-left corner."""
    img = np.full((h, w, 3), 20, np.uint8)
    img[:4, :4] = 250
    return img


def _jpeg_with_orientation(img: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``img`` (RGB) carrying an EXIF orientation tag (6: show turned 90° clockwise)."""
    data = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 100])[1].tobytes()
    ifd = struct.pack(">HHHIHH", 1, 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return data[:2] + app1 + data[2:]


def _bright_block(img: np.ndarray) -> tuple[int, int, int, int]:
    """First and last row, first and last column of the bright block."""
    ys, xs = np.nonzero(img[..., 0] > 200)
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def test_one_list_of_suffixes_for_every_reader() -> None:
    assert stills.is_image_path is is_image_path
    assert stills.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    for name in ["a.png", "b.JPG", "c.jpeg", "d.bmp", "e.tif", "f.TIFF", "g.webp", "h.ppm", "i.pgm"]:
        assert is_image_path(name), name
    for name in ["clip.mp4", "notes.txt", "png", "frame_%04d"]:
        assert not is_image_path(name), name


@pytest.mark.parametrize("suffix", [".webp", ".WEBP", ".ppm"])
def test_webp_and_ppm_round_trip_losslessly(tmp_path: Path, suffix: str) -> None:
    img = _rgb()
    assert np.array_equal(read_image(write_image(tmp_path / f"x{suffix}", img)), img)


def test_pgm_holds_the_luma(tmp_path: Path) -> None:
    img = _rgb()
    out = read_image(write_image(tmp_path / "x.pgm", img))
    luma = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    assert all(np.array_equal(out[..., c], luma) for c in range(3))


def test_webp_goes_through_the_batch_and_the_sequence_source(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    frames = [_rgb(10, 14, seed) // 4 for seed in range(3)]
    for i, f in enumerate(frames):
        write_image(folder / f"f_{i}.webp", f)
    assert [str(rel) for _, rel in stills.collect_inputs([folder])] == ["f_0.webp", "f_1.webp", "f_2.webp"]
    from engine import registry
    from engine.params import EnhanceParams

    ok, failed = stills.enhance_images([folder], tmp_path / "out", registry.create("gamma"), EnhanceParams(),
                                       log=lambda line: None)
    assert (ok, failed) == (3, 0) and read_image(tmp_path / "out" / "f_1.webp").shape == (10, 14, 3)
    with open_source(str(folder)) as src:
        assert isinstance(src, ImageSequenceSource)
        got = [src.read().image for _ in range(3)]
    assert all(np.array_equal(g, f) for g, f in zip(got, frames))


def test_exif_orientation_is_applied_by_both_readers(tmp_path: Path) -> None:
    img = _marked()
    (tmp_path / "turned.jpg").write_bytes(_jpeg_with_orientation(img, 6))
    (tmp_path / "plain.jpg").write_bytes(_jpeg_with_orientation(img, 1))
    assert _bright_block(read_image(tmp_path / "plain.jpg")) == (0, 3, 0, 3)
    upright = read_image(tmp_path / "turned.jpg")
    assert upright.shape == (24, 16, 3)
    assert _bright_block(upright) == (0, 3, 12, 15)  # turned clockwise: the corner goes top right
    assert np.array_equal(stills.read_image(tmp_path / "turned.jpg"), upright)
    with ImageSequenceSource([str(tmp_path / "turned.jpg"), str(tmp_path / "plain.jpg")]) as src:
        assert (src.info.width, src.info.height) == (16, 24)
        assert np.array_equal(src.read().image, upright)
        assert _bright_block(src.read().image) == (0, 3, 0, 3)


def _truncated_jpeg(path: Path) -> Path:
    data = cv2.imencode(".jpg", _rgb(64, 64))[1].tobytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


@pytest.fixture(params=["strict", "lenient"])
def jpeg_decoder(request, monkeypatch) -> str:  # noqa: ANN001 - pytest fixtures
    """The installed decoder ("strict": OpenCV 5 refuses a cut JPEG), or one that decodes
    it anyway with the missing rows filled ("lenient": libjpeg's own behaviour, OpenCV 4's)."""
    if request.param == "lenient":
        decode = cv2.imdecode

        def filling(buf: np.ndarray, flags: int) -> np.ndarray | None:
            img = decode(buf, flags)
            return img if img is not None else np.full((64, 64, 3), 128, np.uint8)

        monkeypatch.setattr(cv2, "imdecode", filling)
    return request.param


def test_a_truncated_jpeg_is_refused_by_both_readers(tmp_path: Path, jpeg_decoder: str) -> None:
    cut = _truncated_jpeg(tmp_path / "cut.jpg")
    why = "truncated JPEG" if jpeg_decoder == "lenient" else "(truncated JPEG|not a readable image)"
    with pytest.raises(ImageError, match=f"cut.jpg: {why}"):
        read_image(cut)
    with pytest.raises(stills.StillError, match=f"cut.jpg: {why}"):
        stills.read_image(cut)
    # as the first frame of a sequence (opening fails) and as a later one (reading fails)
    with pytest.raises(VideoError, match=f"cut.jpg: {why}"):
        ImageSequenceSource([str(cut)])
    write_image(tmp_path / "good.png", _rgb())
    with ImageSequenceSource([str(tmp_path / "good.png"), str(cut)]) as src:
        src.read()
        with pytest.raises(VideoError, match=f"cut.jpg: {why}") as info:
            src.read()
    assert "\n" not in str(info.value)


def test_the_batch_reports_a_truncated_jpeg_and_goes_on(tmp_path: Path, jpeg_decoder: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _truncated_jpeg(folder / "cut.jpg")
    write_image(folder / "good.png", _rgb() // 4)
    from engine import registry
    from engine.params import EnhanceParams

    lines: list[str] = []
    ok, failed = stills.enhance_images([folder], tmp_path / "out", registry.create("gamma"), EnhanceParams(),
                                       log=lines.append)
    assert (ok, failed) == (1, 1)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {folder / 'cut.jpg'}: ")
    if jpeg_decoder == "lenient":
        assert errors[0].endswith("truncated JPEG (no end-of-image marker)")


def test_sequence_frames_convert_16_bit_grey_and_alpha_like_the_stills(tmp_path: Path) -> None:
    rgb16 = (np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 1000)
    cv2.imwrite(str(tmp_path / "a.png"), rgb16[:, :, ::-1].copy())
    cv2.imwrite(str(tmp_path / "b.png"), (np.arange(20, dtype=np.uint8).reshape(4, 5) * 10))
    bgra = np.dstack([_rgb(4, 5)[:, :, ::-1], np.full((4, 5), 17, np.uint8)])
    cv2.imwrite(str(tmp_path / "c.png"), bgra)
    files = [str(tmp_path / n) for n in ("a.png", "b.png", "c.png")]
    with ImageSequenceSource(files) as src:
        for f in files:
            assert np.array_equal(src.read().image, read_image(f))


def test_missing_folder_and_unwritable_name_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="nope.png: no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        read_image(tmp_path)
    with pytest.raises(ImageError, match="out.gif: unsupported image format"):
        write_image(tmp_path / "out.gif", _rgb())
