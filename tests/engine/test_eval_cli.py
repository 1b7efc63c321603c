"""``lowlight eval`` on tiny generated folders: table, JSON and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import registry
from engine.cli import main
from engine.lab.evaluation import evaluate, load_folder_pairs
from engine.enhancer import MethodDescriptor
from engine.jobs.stills import write_image
from engine.lab.synthetic import darken
from tests.engine.scenes import striped_scene


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    """low/ and high/ with mixed sizes, a subfolder, a JPEG target and one bad file."""
    for i, (h, w) in enumerate([(24, 32), (31, 17), (40, 40)]):
        high = striped_scene(h, w, i)
        sub = "sub/" if i == 2 else ""
        (tmp_path / "low" / sub).mkdir(parents=True, exist_ok=True)
        (tmp_path / "high" / sub).mkdir(parents=True, exist_ok=True)
        write_image(tmp_path / "low" / f"{sub}{i}.png", darken(high, 0.08, rng=i))
        write_image(tmp_path / "high" / f"{sub}{i}.{'jpg' if i == 1 else 'png'}", high)
    (tmp_path / "low" / "broken.png").write_bytes(b"nope")
    return tmp_path


def test_eval_with_targets_table_and_json(pairs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = pairs / "res" / "eval.json"
    rc = main(["eval", "--low", str(pairs / "low"), "--high", str(pairs / "high"),
               "--method", "all", "--json", str(out_json)])
    cap = capsys.readouterr()
    assert rc == 0
    lines = cap.out.splitlines()
    names = [l.split()[0] for l in lines[3:] if l and not l.startswith("wrote")]
    classical = [d.name for d in registry.descriptors() if d.family == "classical"]
    assert names[0] == "input" and set(classical) <= set(names)
    assert "broken.png" in cap.err  # the unreadable file is reported, the rest evaluated
    data = json.loads(out_json.read_text())
    rows = {r["method"]: r for r in data["rows"]}
    assert rows["input"]["images"] == 3 and len(data["pictures"]) == 3
    assert rows["target"]["psnr"] is None and rows["target"]["brightness"] > rows["input"]["brightness"]
    for name in ["input", *classical]:
        r = rows[name]
        assert r["error"] is None and r["images"] == 3
        assert 0 < r["brightness"] < 1 and r["psnr"] is not None and -1 <= r["ssim"] <= 1
    # Enhancing the darkened pictures brings them closer to their targets.
    for name in classical:
        assert rows[name]["psnr"] > rows["input"]["psnr"]
        assert rows[name]["brightness"] > rows["input"]["brightness"]
    assert not list((pairs / "res").glob("*.tmp"))


def test_eval_save_writes_outputs(pairs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save = pairs / "looks"
    assert main(["eval", "--low", str(pairs / "low"), "--high", str(pairs / "high"), "-m", "clahe",
                 "--save", str(save)]) == 0
    got = sorted(p.relative_to(save).as_posix() for p in save.rglob("*.png"))
    names = ["0.png", "1.png", "sub/2.png"]
    assert got == sorted(f"{m}/{n}" for m in ("input", "target", "clahe") for n in names)
    blocker = pairs / "file"
    blocker.write_text("x")
    capsys.readouterr()
    assert main(["eval", "--low", str(pairs / "low"), "-m", "gamma", "--save", str(blocker / "x")]) == 2
    errors = [l for l in capsys.readouterr().err.splitlines() if not l.startswith("warning:")]
    assert len(errors) == 1 and "cannot create folder" in errors[0]


def test_eval_without_targets(pairs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json = pairs / "nr.json"
    assert main(["eval", "--low", str(pairs / "low"), "-m", "lime", "--strength", "0",
                 "--denoise", "0", "--json", str(out_json)]) == 0
    rows = json.loads(out_json.read_text())["rows"]
    assert [r["method"] for r in rows] == ["input", "lime"]  # no target row without targets
    assert rows[1]["psnr"] is None and rows[1]["ssim"] is None
    assert rows[1]["brightness"] == pytest.approx(rows[0]["brightness"])  # strength 0 = original
    assert "no targets" in capsys.readouterr().out


def test_eval_synthetic(tmp_path: Path) -> None:
    (tmp_path / "well").mkdir()
    for i in range(3):
        write_image(tmp_path / "well" / f"{i}.png", striped_scene(20, 30, i))
    outs = []
    for k in range(2):
        p = tmp_path / f"s{k}.json"
        assert main(["eval", "--synthetic", str(tmp_path / "well"), "--count", "2", "--seed", "4",
                     "-m", "gamma", "--json", str(p)]) == 0
        outs.append(json.loads(p.read_text()))
    # Same seed, same pairs: every figure except the timing repeats exactly.
    figures = ("psnr", "ssim", "brightness", "colourfulness", "noise")
    for a, b in zip(outs[0]["rows"], outs[1]["rows"]):
        assert [a[f] for f in figures] == [b[f] for f in figures]
    assert outs[0]["pictures"] == outs[1]["pictures"] and len(outs[0]["pictures"]) == 2
    assert 0.03 <= outs[0]["pictures"][0]["exposure"] <= 0.3
    rows = {r["method"]: r for r in outs[0]["rows"]}
    assert rows["input"]["psnr"] < rows["gamma"]["psnr"]


@pytest.mark.parametrize("argv,needle", [
    (["--low", "{tmp}/missing"], "missing"),
    (["--low", "{tmp}/empty"], "no readable pictures"),
    (["--low", "{tmp}/empty", "--high", "{tmp}/missing"], "missing"),
    (["--synthetic", "{tmp}/empty"], "no well-exposed"),
    ([], "--low"),
])
def test_eval_errors_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              argv: list[str], needle: str) -> None:
    (tmp_path / "empty").mkdir()
    rc = main(["eval", *[a.format(tmp=tmp_path) for a in argv]])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert len(err.splitlines()) == 1 and needle in err


def test_failing_method_is_reported_not_fatal(pairs: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def no_weights(**_: object):
        raise FileNotFoundError("weights/fake.pt not found")

    fake = MethodDescriptor("fakenet", "Fake", "learned", "none", "none", "needs weights",
                            (), no_weights, weights="fake.pt")
    monkeypatch.setitem(registry._REGISTRY, "fakenet", fake)
    out_json = pairs / "f.json"
    assert main(["eval", "--low", str(pairs / "low"), "--json", str(out_json)]) == 0
    rows = {r["method"]: r for r in json.loads(out_json.read_text())["rows"]}
    assert "fake.pt" in rows["fakenet"]["error"] and rows["lime"]["error"] is None
    assert "fake.pt" in capsys.readouterr().out


def test_evaluate_records_enhance_failure(pairs: Path) -> None:
    images = load_folder_pairs(pairs / "low", pairs / "high")
    def boom(x: np.ndarray) -> np.ndarray:
        raise RuntimeError("backend exploded\nsecond line")
    r = evaluate(images, boom, method="m", title="M", family="learned")
    assert r.error == "RuntimeError: backend exploded" and r.images == 0
