"""Montages (``lowlight eval --montage``) and synthetic-pair options of ``lowlight eval``:
grid geometry, capped rows, unpaired sets, atomic writes, one-line errors, --write-pairs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import registry
from engine.lab import montage
from engine.cli import main
from engine.lab.evaluation import EvalImage, evaluate, load_folder_pairs
from engine.jobs.stills import read_image, write_image
from engine.lab.synthetic import SyntheticConfig, darken
from tests.engine.scenes import striped_scene

H = 60  # tile height used by the tests


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    """low/ and high/ with 5 pairs of 24x32 pictures."""
    for i in range(5):
        high = striped_scene(24, 32, i)
        for sub in ("low", "high"):
            (tmp_path / sub).mkdir(exist_ok=True)
        write_image(tmp_path / "low" / f"p{i}.png", darken(high, 0.08, rng=i))
        write_image(tmp_path / "high" / f"p{i}.png", high)
    return tmp_path


def _eval(folders: Path, out: Path, *extra: str) -> int:
    return main(["eval", "--low", str(folders / "low"), "--high", str(folders / "high"),
                 "--montage", str(out), "--montage-height", str(H), *extra])


def test_pick_rows_even_and_capped() -> None:
    assert montage.pick_rows(10, 3) == [0, 4, 9]
    assert montage.pick_rows(4, 6) == [0, 1, 2, 3]
    assert montage.pick_rows(7, 1) == [0]
    assert montage.pick_rows(0, 6) == [] and montage.pick_rows(5, 0) == []
    assert montage.pick_rows(100, 6) == [0, 20, 40, 59, 79, 99]


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 50), w=st.integers(1, 400), height=st.integers(16, 80))
def test_scale_to_height_any_shape(h: int, w: int, height: int) -> None:
    tile = montage.scale_to_height(np.zeros((h, w, 3), np.uint8), height)
    assert tile.dtype == np.uint8 and tile.flags.c_contiguous and tile.shape[2] == 3
    assert tile.shape[1] <= round(montage.MAX_ASPECT * height) and tile.shape[0] <= height
    if w <= montage.MAX_ASPECT * h:  # not too wide: exactly the tile height, aspect kept
        assert tile.shape[0] == height
        assert abs(tile.shape[1] - w * height / h) <= 1


@settings(max_examples=15, deadline=None)
@given(shapes=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 90)), min_size=1, max_size=4),
       cols=st.integers(1, 3), height=st.integers(16, 48))
def test_grid_any_tile_shapes(shapes: list[tuple[int, int]], cols: int, height: int) -> None:
    rows = [(f"dir/pic{i}.png", [montage.Cell(np.full((h, w, 3), 200, np.uint8), ["a", "b"])] * cols)
            for i, (h, w) in enumerate(shapes)]
    pic = montage.grid([f"c{c}" for c in range(cols)], rows, tile_height=height)
    widest = max(montage.scale_to_height(np.zeros((h, w, 3), np.uint8), height).shape[1] for h, w in shapes)
    assert pic.dtype == np.uint8 and pic.ndim == 3 and pic.flags.c_contiguous
    assert pic.shape[1] > cols * (widest + montage.GAP)
    assert pic.shape[0] > len(shapes) * (height + montage.GAP)
    # Every tile is drawn: the count of tile-coloured pixels is at least the tiles' area.
    area = sum(np.prod(montage.scale_to_height(np.zeros((h, w, 3), np.uint8), height).shape[:2])
               for h, w in shapes) * cols
    assert int(np.all(pic == 200, axis=2).sum()) >= area


def test_method_and_all_montages_grid(folders: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = folders / "m"
    assert _eval(folders, out, "-m", "all", "--montage-rows", "3") == 0
    methods = registry.names()
    assert f"wrote {len(methods) + 1} montages" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert names == {"all.png"} | {f"{m}.png" for m in methods}
    gamma = read_image(out / "gamma.png")
    everything = read_image(out / "all.png")
    # Tiles of 24x32 pictures at height 60 are 80 wide; all.png has a column for every
    # other method.
    cell = 80 + montage.GAP
    assert everything.shape[0] == gamma.shape[0]
    assert everything.shape[1] - gamma.shape[1] == (len(methods) - 1) * cell
    # Same label column: the gamma column of gamma.png is the gamma column of all.png.
    # Three rows: one fewer row is one row height less.
    two = folders / "m2"
    assert _eval(folders, two, "-m", "gamma", "--montage-rows", "2") == 0
    fewer = read_image(two / "gamma.png")
    assert fewer.shape[1] == gamma.shape[1]
    row_h = gamma.shape[0] - fewer.shape[0]
    assert row_h > H
    assert gamma.shape[0] == fewer.shape[0] + row_h and fewer.shape[0] - row_h > 0
    assert sorted(p.name for p in two.iterdir()) == ["all.png", "gamma.png"]


def test_tiles_are_the_pictures(folders: Path) -> None:
    """The input tile holds the input picture scaled to the tile height, at its place."""
    out = folders / "m"
    assert _eval(folders, out, "-m", "gamma", "--montage-rows", "1") == 0
    grid = read_image(out / "gamma.png")
    low = read_image(folders / "low" / "p0.png")
    tile = cv2.resize(low, (80, H), interpolation=cv2.INTER_NEAREST)
    # Find the tile (best match), then check that the pixels there are exactly the tile.
    res = cv2.matchTemplate(grid, tile, cv2.TM_SQDIFF)
    y, x = np.unravel_index(int(res.argmin()), res.shape)
    assert np.array_equal(grid[y:y + H, x:x + 80], tile)
    # Header above it, label column to its left, two more columns (gamma, target) to its right.
    assert y > montage.GAP and x > montage.GAP
    assert grid.shape[1] == x + 3 * (80 + montage.GAP)


def test_rows_capped_evenly() -> None:
    images = [EvalImage(f"im{i:02d}.png", striped_scene(12, 12, i)) for i in range(20)]
    col = montage.MontageCollector(images, rows=4, tile_height=20)
    assert col.names == ["im00.png", "im06.png", "im13.png", "im19.png"]
    row = evaluate(images, lambda x: x, method="input", title="Input", family="-", save=col.saver("input"))
    pics = col.montages([row])
    assert set(pics) == {"all"}  # no method rows: only the overview


def test_unpaired_montage(folders: Path) -> None:
    out = folders / "u"
    assert main(["eval", "--low", str(folders / "low"), "-m", "clahe", "--montage", str(out),
                 "--montage-height", str(H)]) == 0
    clahe = read_image(out / "clahe.png")
    everything = read_image(out / "all.png")
    # Two columns (input | clahe), no target: as wide as all.png with its one method.
    assert clahe.shape == everything.shape
    paired = folders / "p"
    assert _eval(folders, paired, "-m", "clahe") == 0
    with_target = read_image(paired / "clahe.png")
    assert with_target.shape[1] - clahe.shape[1] == 80 + montage.GAP
    assert with_target.shape[0] > clahe.shape[0]  # a PSNR/SSIM caption line more


def test_reference_path_and_synthetic(tmp_path: Path) -> None:
    (tmp_path / "well").mkdir()
    for i in range(3):
        write_image(tmp_path / "well" / f"{i}.png", striped_scene(20, 30, i))
    out = tmp_path / "m"
    save = tmp_path / "looks"
    assert main(["eval", "--synthetic", str(tmp_path / "well"), "--count", "3", "-m", "lime",
                 "--reference", "--montage", str(out), "--montage-height", "40",
                 "--save", str(save)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["all.png", "lime.png"]
    assert len(list((save / "lime").glob("*.png"))) == 3  # --save still gets every output


def test_montage_write_is_atomic(folders: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = folders / "m"
    out.mkdir()
    (out / "all.png").write_bytes(b"old")
    real_replace = os.replace
    calls: list[str] = []

    def failing_replace(src, dst):  # gamma.png is renamed into place, all.png fails (disk full)
        calls.append(Path(dst).name)
        if Path(dst).name == "all.png":
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr("engine.files.atomic.os.replace", failing_replace)
    rc = _eval(folders, out, "-m", "gamma", "--json", str(folders / "r.json"))
    err = [l for l in capsys.readouterr().err.splitlines() if not l.startswith("warning:")]
    assert rc == 2 and len(err) == 1 and "all.png" in err[0] and "No space left" in err[0]
    assert json.loads((folders / "r.json").read_text())["rows"]  # the figures came first
    assert calls[-2:] == ["gamma.png", "all.png"]  # (the JSON's rename came before)
    # No temporary left; the failed target keeps its old content, the written one is whole.
    assert sorted(p.name for p in out.iterdir()) == ["all.png", "gamma.png"]
    assert (out / "all.png").read_bytes() == b"old"
    assert read_image(out / "gamma.png").shape[0] > H


@pytest.mark.parametrize("argv,needle", [
    (["--montage", "{tmp}/blocker/sub"], "--montage"),
    (["--montage", "{tmp}/blocker"], "--montage"),
    (["--montage", "{tmp}/ok", "--montage-rows", "0"], "--montage-rows"),
    (["--montage", "{tmp}/ok", "--montage-height", "3"], "--montage-height"),
])
def test_bad_montage_options_one_line(folders: Path, capsys: pytest.CaptureFixture[str],
                                      argv: list[str], needle: str) -> None:
    (folders / "blocker").write_text("a file, not a folder")
    rc = main(["eval", "--low", str(folders / "low"), "-m", "gamma",
               *[a.format(tmp=folders) for a in argv]])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err and err.startswith("lowlight eval: error:")


def test_failed_method_gets_a_grey_column(folders: Path) -> None:
    images = load_folder_pairs(folders / "low", folders / "high")
    col = montage.MontageCollector(images, rows=2, tile_height=H)
    rows = [evaluate(images, lambda x: x, method="input", title="I", family="-", save=col.saver("input")),
            evaluate([EvalImage(i.name, i.high) for i in images], lambda x: x, method="target",
                     title="T", family="-", save=col.saver("target"))]

    def boom(x: np.ndarray) -> np.ndarray:
        raise RuntimeError("no weights")

    rows.append(evaluate(images, boom, method="net", title="N", family="learned", save=col.saver("net")))
    pics = col.montages(rows)
    assert set(pics) == {"net", "all"}
    assert pics["net"].shape == pics["all"].shape


# --- synthetic pair options -------------------------------------------------------------

@pytest.fixture
def well(tmp_path: Path) -> Path:
    (tmp_path / "well").mkdir()
    for i in range(4):
        write_image(tmp_path / "well" / f"w{i}.png", striped_scene(20, 30, i))
    return tmp_path / "well"


def test_jpeg_is_on_by_default() -> None:
    assert SyntheticConfig().jpeg_quality is not None


def test_write_pairs_reload_to_same_figures(well: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["eval", "--synthetic", str(well), "--count", "3", "--seed", "2", "-m", "gamma",
                 "--photons", "500,800", "--jpeg", "80", "--write-pairs", str(pairs),
                 "--json", str(a)]) == 0
    meta = json.loads((pairs / "pairs.json").read_text())
    assert meta["seed"] == 2 and meta["config"]["photons"] == [500.0, 800.0]
    assert len(meta["pairs"]) == 3
    for p in meta["pairs"]:
        assert p["jpeg_quality"] == 80 and 500 <= p["photons"] <= 800
        assert read_image(pairs / p["low"]).shape == read_image(pairs / p["high"]).shape
    assert main(["eval", "--low", str(pairs / "low"), "--high", str(pairs / "high"), "-m", "gamma",
                 "--json", str(b)]) == 0
    figures = ("images", "psnr", "ssim", "brightness", "colourfulness", "noise")
    ra, rb = json.loads(a.read_text())["rows"], json.loads(b.read_text())["rows"]
    assert [[r[f] for f in figures] for r in ra] == [[r[f] for f in figures] for r in rb]
    assert not [p for p in pairs.rglob(".*")]  # no temporaries left
    # Rerunning into the same folder replaces the files; a foreign picture there is refused.
    assert main(["eval", "--synthetic", str(well), "--count", "3", "--seed", "2", "-m", "gamma",
                 "--write-pairs", str(pairs)]) == 0
    write_image(pairs / "low" / "stranger.png", striped_scene(8, 8, 0))
    assert main(["eval", "--synthetic", str(well), "--count", "3", "-m", "gamma",
                 "--write-pairs", str(pairs)]) == 2


def test_ranges_change_the_pairs_and_seed_repeats(well: Path, tmp_path: Path) -> None:
    def pictures(*extra: str) -> list[dict]:
        out = tmp_path / "p.json"
        assert main(["eval", "--synthetic", str(well), "--count", "2", "-m", "gamma",
                     "--json", str(out), *extra]) == 0
        return json.loads(out.read_text())["pictures"]

    default = pictures()
    assert default == pictures()  # same seed, same settings
    assert all(70 <= p["jpeg_quality"] <= 95 for p in default)
    assert all(p["jpeg_quality"] is None for p in pictures("--no-jpeg"))
    narrow = pictures("--exposure-range", "0.1,0.1", "--read-noise", "0", "--photons", "1000")
    assert all(p["exposure"] == pytest.approx(0.1) and p["read_noise"] == 0 and p["photons"] == 1000
               for p in narrow)


@pytest.mark.parametrize("argv,needle", [
    (["--exposure-range", "0.5,0.1"], "--exposure-range"),
    (["--exposure-range", "0,0.1"], "--exposure-range"),
    (["--exposure-range", "0.1,2"], "--exposure-range"),
    (["--exposure-range", "a,b"], "--exposure-range"),
    (["--photons", "0,100"], "--photons"),
    (["--photons", "nan"], "--photons"),
    (["--read-noise=-1,2"], "--read-noise"),
    (["--read-noise", "-1"], "--read-noise"),
    (["--read-noise", "1,2,3"], "--read-noise"),
    (["--jpeg", "50,101"], "--jpeg"),
    (["--jpeg", "60.5,70"], "--jpeg"),
    (["--jpeg", "90,80"], "--jpeg"),
])
def test_bad_ranges_one_line(well: Path, capsys: pytest.CaptureFixture[str],
                             argv: list[str], needle: str) -> None:
    looks = well.parent / "looks"
    rc = main(["eval", "--synthetic", str(well), "-m", "gamma", "--montage", str(looks), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err
    assert not looks.exists()  # checked before anything is made


@pytest.mark.parametrize("option", [["--jpeg", "80"], ["--no-jpeg"], ["--write-pairs", "x"],
                                    ["--photons", "100"]])
def test_range_options_need_synthetic(folders: Path, capsys: pytest.CaptureFixture[str],
                                      option: list[str]) -> None:
    rc = main(["eval", "--low", str(folders / "low"), "-m", "gamma", *option])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "needs --synthetic" in err
