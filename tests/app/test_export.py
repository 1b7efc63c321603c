"""Export through the engine on a short generated clip: completes; in/out range; cancel
leaves no file; failure is a message; the demo command's CLI fallback."""

from __future__ import annotations

from pathlib import Path

import pytest


from app import cli_demo
from app.export_dialog import ExportDialog
from app.settings import Settings
from conftest import make_clip, usable_methods
from engine import registry


def _dialog(qtbot, clip: str, target: Path, **kw) -> ExportDialog:
    name = usable_methods()[0]
    d = ExportDialog(clip, name, registry.get(name).default_params(), Settings(), **kw)
    qtbot.addWidget(d)
    d.target_edit.setText(str(target))
    d.show()
    return d


def test_export_runs_to_completion(qtbot, tiny_clip, tmp_path):
    target = tmp_path / "out.mp4"
    d = _dialog(qtbot, tiny_clip, target)
    d.start()
    assert d.state == "running"
    qtbot.waitUntil(lambda: d.state != "running", timeout=60000)
    assert d.state == "done", d.message
    assert target.exists() and target.stat().st_size > 0
    assert d.progress.value() == d.progress.maximum()
    assert d.close_btn.isVisible()
    from engine.video.sources import open_source

    with open_source(str(target)) as src:
        assert sum(1 for _ in src) == 10


def test_export_range_from_in_out(qtbot, tiny_clip, tmp_path):
    target = tmp_path / "part.mp4"
    d = _dialog(qtbot, tiny_clip, target, in_point=0.2, out_point=0.6)
    assert d.range_inout.isChecked()
    d.start()
    qtbot.waitUntil(lambda: d.state != "running", timeout=60000)
    assert d.state == "done", d.message
    from engine.video.sources import open_source

    with open_source(str(target)) as src:
        n = sum(1 for _ in src)
    assert 2 <= n <= 6


def test_cancel_leaves_no_file(qtbot, tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=300, w=64, h=48, fps=30)
    target = tmp_path / "cancelled.mp4"
    d = _dialog(qtbot, clip, target)
    d.start()
    qtbot.waitUntil(lambda: d.progress.value() > 0 or d.state != "running", timeout=60000)
    d.cancel_or_close()
    qtbot.waitUntil(lambda: d.state != "running", timeout=30000)
    if d.state == "done":
        pytest.skip("the export finished before the cancel arrived")
    assert d.state == "cancelled", d.message
    assert not target.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("cancelled")]


def test_export_failure_is_a_message(qtbot, tmp_path):
    d = _dialog(qtbot, str(tmp_path / "missing.mp4"), tmp_path / "x.mp4")
    d.start()
    qtbot.waitUntil(lambda: d.state != "running", timeout=30000)
    assert d.state == "failed" and d.message
    assert not (tmp_path / "x.mp4").exists()


def test_demo_cli_fallback_without_display(tmp_path, monkeypatch, capsys):
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(k, raising=False)
    out = tmp_path / "demo-out.mp4"
    code = cli_demo.main(["--output", str(out)])
    assert code == 0
    assert out.exists() and out.stat().st_size > 0
    assert str(out) in capsys.readouterr().out


def test_demo_cli_default_output_is_replaced_on_rerun(tmp_path, monkeypatch, capsys):
    """Regression: a second `lowlight demo` without a display failed because its own
    default output already existed; a target the user names is still never replaced."""
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli_demo.main(["--method", "gamma"]) == 0
    first = tmp_path / "out" / "lowlight-demo-gamma.mp4"
    assert first.exists() and first.stat().st_size > 0
    assert cli_demo.main(["--method", "gamma"]) == 0
    named = tmp_path / "mine.mp4"
    named.write_bytes(b"keep")
    assert cli_demo.main(["--method", "gamma", "--output", str(named)]) == 1
    assert named.read_bytes() == b"keep"
