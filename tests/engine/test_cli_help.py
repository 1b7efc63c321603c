"""The CLI's method options: each shared parameter described once, per-method values on
request (``-m M --help``, ``lowlight methods``), option names and parsing unchanged."""

from __future__ import annotations

import json
import re

import pytest

from engine import registry
from engine.cli import build_parser, main
from engine.cli.options import params_from_args
from engine.models.common_params import DENOISE, SMOOTHING


@pytest.fixture(autouse=True)
def _fixed_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps help to the terminal width


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 0
    return capsys.readouterr().out


def _squash(text: str) -> str:
    """``text`` as one line: argparse's wrapping undone (it breaks after hyphens too)."""
    return " ".join(re.sub(r"-\n\s*", "-", text).split())


def test_enhance_help_is_short_and_says_each_option_once(capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(capsys, "enhance", "--help")
    assert len(out.splitlines()) <= 150
    flat = _squash(out)
    for spec in (DENOISE, SMOOTHING):
        assert flat.count(_squash(spec.help)) == 1
    # the range most methods share, then only the exceptions and the methods without it
    assert ("Range 1..4, default 1 (zerodce: 1..16, default 8; zerodce++: 1..16, default 8); "
            "not used by nafnet, mirnetv2, gamma, clahe, lime") in flat
    assert "Range 0..0.8, default 0.42; not used by nafnet, mirnetv2, clahe, lime" in flat
    for name in ("--iterations", "--strength", "--smoothing", "--denoise", "--exposure", "--method"):
        assert name in out


@pytest.mark.parametrize("command", ["eval", "flicker", "batch"])
def test_other_commands_help_is_short(capsys: pytest.CaptureFixture[str], command: str) -> None:
    out = _help(capsys, command, "--help")
    assert len(out.splitlines()) <= 150 and _squash(out).count(_squash(DENOISE.help)) == 1


@pytest.mark.parametrize("argv", [["-m", "lime", "--help"], ["--help", "-m", "lime"],
                                  ["--help", "--method=lime"]])
def test_method_help_shows_that_methods_values(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    flat = _squash(_help(capsys, "enhance", *argv))
    lime = registry.get("lime")
    assert _squash(lime.spec("strength").help) in flat and "Range 0..2, default 1" in flat
    assert "--exposure EXPOSURE not used by LIME" in flat
    assert _squash(lime.paper) in flat
    assert "(sci: 1..4, default 1)" not in flat


def test_method_options_parse_as_before() -> None:
    args = build_parser().parse_args(["enhance", "in.mp4", "-o", "out.mp4", "-m", "zerodce",
                                      "--iterations", "3", "--strength", "1.5"])
    assert args.method == "zerodce" and args.iterations == 3 and isinstance(args.iterations, int)
    p = params_from_args(args.method, args)
    assert (p.iterations, p.strength, p.exposure) == (3, 1.5, registry.get("zerodce").spec("exposure").default)
    args = build_parser().parse_args(["enhance", "in.mp4", "-o", "o.mp4", "--iterations", "9"])
    assert args.method == "sci"
    with pytest.raises(ValueError, match="out of range for sci: 1..4"):  # refused, not clamped
        params_from_args("sci", args)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["enhance", "in.mp4", "-o", "o.mp4", "-m", "nope"])


def test_methods_table_lists_every_method(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("(range"))
    rows = {line.split()[0]: line.split() for line in lines[1:end]}
    assert len(rows) == len(registry.names())
    for d in registry.descriptors():
        assert rows[d.name][1] == d.family
        assert f"licence: {d.licence}"[:40] in _squash(out)
    assert rows["sci"][2] == "1..4" and rows["sci"][3] == "[1]"
    assert rows["lime"][2] == "-"


def test_methods_json_and_details(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods", "--json"]) == 0
    data = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(data) == set(registry.names())
    for d in registry.descriptors():
        got = {p["name"]: p for p in data[d.name]["params"]}
        for s in d.params:
            assert (got[s.name]["minimum"], got[s.name]["maximum"], got[s.name]["default"]) == \
                (s.minimum, s.maximum, s.default)
        assert data[d.name]["paper"] == d.paper and data[d.name]["licence"] == d.licence
    assert main(["methods", "zerodce++"]) == 0
    flat = _squash(capsys.readouterr().out)
    assert _squash(registry.get("zerodce++").spec("iterations").help) in flat and "weights zerodcepp.pt" in flat
    assert main(["methods", "nope"]) == 2
    assert "unknown method" in capsys.readouterr().err
