"""engine.files.atomic: temporary beside the target, renamed on success, removed on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.files.atomic import replacing


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_replacing_writes_target_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    with replacing(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.suffix == ".json"
        tmp.write_text("new")
        assert target.read_text() == "old"  # nothing visible before the end
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_replacing_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with replacing(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_replaced_file_gets_usual_permissions(tmp_path: Path) -> None:
    """Regression: temporary files made with tempfile.mkstemp are 0600, and the renamed
    result (e.g. an enhanced still or an eval JSON) kept that mode."""
    old = os.umask(0o022)
    try:
        with replacing(tmp_path / "a.png", suffix=".tmp") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.png") == 0o644


def test_replacing_needs_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        with replacing(tmp_path / "missing" / "x.txt"):
            pass
