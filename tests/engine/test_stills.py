"""Still images: reading every layout, clear errors, atomic writes, batch enhancement."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from engine import registry
from engine.params import EnhanceParams
from engine.jobs.stills import (StillError, collect_inputs, enhance_images, read_image,
                           write_image)


def _rgb(h: int = 12, w: int = 9, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_read_16bit_grey_alpha_and_tiny(tmp_path: Path) -> None:
    rgb16 = np.zeros((4, 5, 3), np.uint16)
    rgb16[..., 0] = 65535  # red, stored as BGR by OpenCV
    cv2.imwrite(str(tmp_path / "a16.png"), rgb16[:, :, ::-1].copy())
    out = read_image(tmp_path / "a16.png")
    assert out.dtype == np.uint8 and out.shape == (4, 5, 3)
    assert out[0, 0].tolist() == [255, 0, 0]

    grey = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    g = read_image(tmp_path / "g.png")
    assert g.shape == (4, 5, 3) and np.array_equal(g[:, :, 1], grey) and np.array_equal(g[:, :, 0], g[:, :, 2])

    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 0] = 200  # blue
    bgra[..., 3] = 17
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    assert read_image(tmp_path / "alpha.png")[1, 1].tolist() == [0, 0, 200]

    cv2.imwrite(str(tmp_path / "one.png"), np.array([[[1, 2, 3]]], np.uint8))
    assert read_image(tmp_path / "one.png").tolist() == [[[3, 2, 1]]]

    grey16 = np.full((2, 2), 257 * 100, np.uint16)
    cv2.imwrite(str(tmp_path / "g16.tif"), grey16)
    assert read_image(tmp_path / "g16.tif").tolist() == [[[100] * 3] * 2] * 2


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff", ".PNG"])
def test_lossless_roundtrip(tmp_path: Path, suffix: str) -> None:
    img = _rgb()
    p = write_image(tmp_path / f"x{suffix}", img)
    assert np.array_equal(read_image(p), img)


def test_jpeg_roundtrip_close(tmp_path: Path) -> None:
    img = np.full((16, 16, 3), (200, 80, 30), np.uint8)
    out = read_image(write_image(tmp_path / "x.jpg", img))
    assert np.abs(out.astype(int) - img).max() <= 8


def test_corrupt_empty_truncated_missing_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    data = cv2.imencode(".jpg", _rgb(64, 64))[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    png = cv2.imencode(".png", _rgb(64, 64))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    for name in ["junk.png", "empty.jpg", "cut.jpg", "cut.png", "missing.png"]:
        with pytest.raises(StillError) as info:
            read_image(tmp_path / name)
        msg = str(info.value)
        assert name in msg and "\n" not in msg


def test_write_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    write_image(target, _rgb())
    assert np.array_equal(read_image(target), _rgb())
    with pytest.raises(StillError, match="out.gif"):
        write_image(tmp_path / "out.gif", _rgb())
    with pytest.raises(StillError, match="nofolder"):
        write_image(tmp_path / "nofolder" / "x.png", _rgb())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_collect_inputs(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for rel in ["d/b.png", "d/a.JPG", "d/sub/c.tif", "d/notes.txt", "d/.hidden.png"]:
        (tmp_path / rel).write_bytes(b"x")
    got = collect_inputs([tmp_path / "d", tmp_path / "d" / "b.png"])
    assert [str(rel) for _, rel in got] == ["a.JPG", "b.png", "sub/c.tif"]
    with pytest.raises(StillError, match="nope"):
        collect_inputs([tmp_path / "nope"])


def test_batch_continues_past_bad_file(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_image(src / "a.png", _rgb(10, 14, 1) // 4)
    write_image(src / "sub" / "b.jpg", _rgb(7, 5, 2) // 4)
    (src / "bad.png").write_bytes(b"broken")
    lines: list[str] = []
    enh = registry.create("lime")
    ok, failed = enhance_images([src], tmp_path / "out", enh, EnhanceParams(), log=lines.append)
    assert (ok, failed) == (2, 1)
    errors = [l for l in lines if l.startswith("error:")]
    assert len(errors) == 1 and "bad.png" in errors[0]
    assert read_image(tmp_path / "out" / "a.png").shape == (10, 14, 3)
    assert read_image(tmp_path / "out" / "sub" / "b.jpg").shape == (7, 5, 3)
    # A second run refuses to overwrite, unless asked to.
    ok, failed = enhance_images([src / "a.png"], tmp_path / "out", enh, EnhanceParams(), log=lines.append)
    assert (ok, failed) == (0, 1) and "exists" in lines[-1]
    ok, failed = enhance_images([src / "a.png"], tmp_path / "out", enh, EnhanceParams(),
                                overwrite=True, reference=True, log=lines.append)
    assert (ok, failed) == (1, 0)
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


def test_single_file_output_and_never_overwrites_input(tmp_path: Path) -> None:
    img = _rgb(9, 9, 3) // 4
    write_image(tmp_path / "x.png", img)
    enh = registry.create("gamma")
    ok, failed = enhance_images([tmp_path / "x.png"], tmp_path / "y.bmp", enh, EnhanceParams(), log=lambda s: None)
    assert (ok, failed) == (1, 0) and read_image(tmp_path / "y.bmp").mean() > img.mean()
    lines: list[str] = []
    ok, failed = enhance_images([tmp_path / "x.png"], tmp_path / "x.png", enh, EnhanceParams(),
                                overwrite=True, log=lines.append)
    assert (ok, failed) == (0, 1) and "input" in lines[-1]
    ok, failed = enhance_images([tmp_path], tmp_path, enh, EnhanceParams(), overwrite=True, log=lines.append)
    assert ok == 0 and failed == 2
    assert np.array_equal(read_image(tmp_path / "x.png"), img)
    with pytest.raises(StillError, match="no images"):
        (tmp_path / "empty").mkdir()
        enhance_images([tmp_path / "empty"], tmp_path / "o", enh, EnhanceParams(), log=lines.append)
