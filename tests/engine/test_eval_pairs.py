"""``lowlight eval --pairs`` on LOL-style folders (low/N.webp ↔ high/N.jpg), the recorded
validation split (``--split val``), ``--only`` lists, and every registered method's row."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli import main
from engine.lab.evaluation import load_folder_pairs
from engine.runtime.weights import update_manifest_entry

from paired_helpers import PAIRED, write_paired_checkpoint
from tests.engine.scenes import striped_scene


@pytest.fixture
def lol(tmp_path: Path) -> Path:
    """low/N.webp (lossless) and high/N.jpg, N = 1..6, as LOL ships them."""
    (tmp_path / "low").mkdir()
    (tmp_path / "high").mkdir()
    for n in range(1, 7):
        high = striped_scene(20, 30, n)
        low = (high.astype(np.float32) * 0.15).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "low" / f"{n}.webp"), low[..., ::-1], [cv2.IMWRITE_WEBP_QUALITY, 101])
        cv2.imwrite(str(tmp_path / "high" / f"{n}.jpg"), high[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return tmp_path


def _rows(path: Path) -> dict:
    return {r["method"]: r for r in json.loads(path.read_text())["rows"]}


def test_pairs_is_low_and_high(lol: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["eval", "--pairs", str(lol / "low"), str(lol / "high"), "-m", "gamma", "--json", str(a)]) == 0
    assert main(["eval", "--low", str(lol / "low"), "--high", str(lol / "high"), "-m", "gamma",
                 "--json", str(b)]) == 0
    ra, rb = _rows(a), _rows(b)
    assert ra["gamma"]["images"] == 6 and ra["gamma"]["psnr"] == rb["gamma"]["psnr"]
    assert ra["input"]["psnr"] is not None  # webp ↔ jpg matched by name


def test_split_val_uses_the_manifest_list(lol: Path, tmp_path: Path, monkeypatch) -> None:
    w = tmp_path / "weights"
    w.mkdir()
    (w / "nafnet.pt").write_bytes(b"x")
    update_manifest_entry({"file": "nafnet.pt", "kind": "checkpoint", "method": "nafnet",
                           "data": {"validation_pairs": ["2", "5"]}}, w)
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(w))
    out = tmp_path / "v.json"
    assert main(["eval", "--pairs", str(lol / "low"), str(lol / "high"), "--split", "val",
                 "-m", "gamma", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert sorted(p["name"] for p in data["pictures"]) == ["2.webp", "5.webp"]
    assert data["source"]["split"] == "val"
    # --only narrows it further; a name outside the folder is reported, not fatal
    lst = tmp_path / "list.txt"
    lst.write_text("# picked by hand\n5.webp\n9\n", encoding="utf-8")
    assert main(["eval", "--pairs", str(lol / "low"), str(lol / "high"), "--split", "val",
                 "--only", str(lst), "-m", "gamma", "--json", str(out)]) == 0
    assert [p["name"] for p in json.loads(out.read_text())["pictures"]] == ["5.webp"]


def test_only_without_split(lol: Path, tmp_path: Path, capsys) -> None:
    lst = tmp_path / "list.txt"
    lst.write_text("1\n3.png\n42\n", encoding="utf-8")
    out = tmp_path / "o.json"
    assert main(["eval", "--pairs", str(lol / "low"), str(lol / "high"), "--only", str(lst),
                 "-m", "gamma", "--json", str(out)]) == 0
    assert sorted(p["name"] for p in json.loads(out.read_text())["pictures"]) == ["1.webp", "3.webp"]
    assert "1 selected picture(s) not found" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--split", "val"], "records no validation pairs"),
    (["--low", "X"], "replaces --low/--high"),
])
def test_errors_are_one_line(lol: Path, tmp_path: Path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(tmp_path))  # no manifest here
    assert main(["eval", "--pairs", str(lol / "low"), str(lol / "high"), "-m", "gamma", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_only_filters_before_reading(lol: Path) -> None:
    (lol / "low" / "7.webp").write_bytes(b"not a picture")  # never read, so never reported
    warnings: list[str] = []
    got = load_folder_pairs(lol / "low", lol / "high", only={"4"}, warn=warnings.append)
    assert [im.name for im in got] == ["4.webp"] and warnings == []


def test_every_method_gets_a_row(lol: Path, tmp_path: Path, monkeypatch) -> None:
    """The whole registry is compared: paired methods with their weights give figures,
    and a method whose weights are missing gets an error row instead of stopping the run."""
    w = tmp_path / "weights"
    for m in PAIRED[:2]:
        write_paired_checkpoint(w, m)
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(w))
    out = tmp_path / "all.json"
    assert main(["eval", "--pairs", str(lol / "low"), str(lol / "high"), "--json", str(out)]) == 0
    rows = _rows(out)
    for m in PAIRED[:2]:
        assert rows[m]["error"] is None and rows[m]["images"] == 6 and rows[m]["psnr"] is not None
    assert "weights file not found" in rows["jin2023"]["error"]
    assert "\n" not in rows["jin2023"]["error"]
    assert rows["sci"]["error"] is not None and rows["gamma"]["error"] is None


def test_split_val_refuses_disagreeing_lists(lol: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    w = tmp_path / "weights"
    w.mkdir()
    for name, val in (("nafnet.pt", ["1"]), ("jin2023.pt", ["2"])):
        (w / name).write_bytes(name.encode())
        update_manifest_entry({"file": name, "kind": "checkpoint", "data": {"validation_pairs": val}}, w)
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(w))
    assert main(["eval", "--pairs", str(lol / "low"), str(lol / "high"), "--split", "val", "-m", "gamma"]) == 2
    assert "record different validation pairs" in capsys.readouterr().err
