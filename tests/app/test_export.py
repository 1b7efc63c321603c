"""Exports as background jobs, through the engine on short generated clips: the export
dialog hands the job to the queue with the in/out range, the studio keeps playing while
it runs; Open folder / Play result ask the desktop for the right URL; a software fallback
is reported; closing the window with a running export asks (wait / cancel jobs / keep
open); a failure is a message; the demo command's CLI fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QUrl

import app.queue_panel as queue_panel_module
from app import cli_demo
from app.export_dialog import ExportRequest
from app.main_window import MainWindow
from conftest import make_clip, show_studio
from engine import registry
from engine.video.codecs import probe_encoders
from engine.video.export import ExportOptions


def _frames(path: str) -> int:
    from engine.video.sources import open_source

    with open_source(path) as src:
        return sum(1 for _ in src)


@pytest.fixture
def studio(qtbot, fake_opener):
    w = show_studio(qtbot, fake_opener)
    yield w
    w.queue_panel.cancel()
    w._quit_confirmed = True
    w.close()


def _open(qtbot, w: MainWindow, spec: str) -> None:
    w.open_spec(spec)
    qtbot.waitUntil(lambda: w.last_bundle is not None and w.source_info is not None, timeout=20000)


def _export_through_dialog(qtbot, w: MainWindow, target: Path):
    w.open_export_dialog()
    d = w._export_dialog
    assert d is not None and not d.isModal()
    d.target_edit.setText(str(target))
    d.select_codec("h264")
    assert d.start()
    (item,) = [it for it in w.queue_panel.queue.items if it.output == str(target)]
    return item


def test_export_runs_in_the_background_with_the_in_out_range(qtbot, studio, tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "clip.mp4", frames=150, fps=30)
    _open(qtbot, studio, clip)
    studio.player.seek(1.0)
    qtbot.waitUntil(lambda: abs((studio.last_bundle.pts or 0) - 1.0) < 0.05, timeout=10000)
    studio.set_in_point()
    studio.player.seek(3.0)
    qtbot.waitUntil(lambda: abs((studio.last_bundle.pts or 0) - 3.0) < 0.05, timeout=10000)
    studio.set_out_point()
    target = tmp_path / "part.mp4"
    item = _export_through_dialog(qtbot, studio, target)
    assert (item.settings.options.start, item.settings.options.end) == (1.0, 3.0)
    assert studio.queue_dock.isVisible() and studio.queue_panel.running
    assert "1.0" in studio.queue_panel.table.item(0, 1).text()  # the range shows in the row
    # the studio stays usable: it plays while the export runs
    studio.player.play()
    shown = studio.frames_shown
    qtbot.waitUntil(lambda: studio.frames_shown >= shown + 5, timeout=20000)
    qtbot.waitUntil(lambda: item.status in ("done", "failed"), timeout=120000)
    assert item.status == "done", item.error
    assert 55 <= _frames(str(target)) <= 65  # 2 s at 30 fps
    qtbot.waitUntil(lambda: "Export done" in studio.statusBar().currentMessage(), timeout=5000)
    asked: list[QUrl] = []
    monkeypatch.setattr(queue_panel_module, "open_url", lambda url: asked.append(url) or True)
    panel = studio.queue_panel
    panel.select_id(item.id)
    assert panel.open_folder_btn.isEnabled() and panel.play_btn.isEnabled()
    assert panel.open_output_folder() and panel.play_result()
    assert asked == [QUrl.fromLocalFile(str(tmp_path)), QUrl.fromLocalFile(str(target))]


def test_open_folder_and_play_need_a_done_item(qtbot, studio, monkeypatch):
    asked: list[QUrl] = []
    monkeypatch.setattr(queue_panel_module, "open_url", lambda url: asked.append(url) or True)
    panel = studio.queue_panel
    assert not panel.open_folder_btn.isEnabled() and not panel.play_btn.isEnabled()
    assert not panel.open_output_folder() and not panel.play_result() and asked == []


def _unavailable_hevc() -> str:
    for e in probe_encoders():
        if e.hardware and not e.available and e.key.startswith("hevc"):
            return e.key
    pytest.skip("every HEVC hardware encoder opens on this machine")


def test_software_fallback_is_reported_in_the_queue_and_the_status_line(qtbot, studio, tmp_path):
    key = _unavailable_hevc()
    clip = make_clip(tmp_path / "clip.mp4", frames=6)
    target = tmp_path / "hw.mp4"
    name = "gamma"
    item = studio.queue_panel.add_export(ExportRequest(
        clip, str(target), name, registry.get(name).default_params(), ExportOptions(codec=key)))
    qtbot.waitUntil(lambda: item.status in ("done", "failed"), timeout=60000)
    assert item.status == "done", item.error
    assert item.notes and "software, x265" in item.notes[0]
    panel = studio.queue_panel
    qtbot.waitUntil(lambda: panel.table.item(0, 2).text() == "Done (note)", timeout=5000)
    assert "software, x265" in panel.table.item(0, 2).toolTip()
    assert "note:" in panel.summary.text()
    qtbot.waitUntil(lambda: "software, x265" in studio.statusBar().currentMessage(), timeout=5000)


def _long_export(qtbot, w: MainWindow, tmp_path: Path):
    clip = make_clip(tmp_path / "long.mp4", frames=600, fps=30)
    target = tmp_path / "long_out.mp4"
    item = w.queue_panel.add_export(ExportRequest(
        clip, str(target), "gamma", registry.get("gamma").default_params(), ExportOptions()))
    qtbot.waitUntil(lambda: item.frames_done > 0, timeout=60000)
    return item, target


def test_closing_with_a_running_export_asks_and_keep_open_keeps_it(qtbot, studio, tmp_path, monkeypatch):
    item, target = _long_export(qtbot, studio, tmp_path)
    asked: list[int] = []
    monkeypatch.setattr(studio, "ask_close_with_jobs", lambda n: asked.append(n) or "keep")
    assert not studio.close()
    assert asked == [1] and studio.isVisible() and studio.queue_panel.running
    assert item.status in ("running", "done")


def test_closing_with_wait_quits_when_the_export_is_done(qtbot, studio, tmp_path, monkeypatch):
    item, target = _long_export(qtbot, studio, tmp_path)
    monkeypatch.setattr(studio, "ask_close_with_jobs", lambda n: "wait")
    assert not studio.close() and studio.isVisible()
    with qtbot.waitSignal(studio.closed, timeout=180000):
        pass
    assert item.status == "done" and _frames(str(target)) == 600
    assert not studio.isVisible()


def test_closing_with_cancel_jobs_leaves_no_file(qtbot, studio, tmp_path, monkeypatch):
    item, target = _long_export(qtbot, studio, tmp_path)
    monkeypatch.setattr(studio, "ask_close_with_jobs", lambda n: "cancel")
    with qtbot.waitSignal(studio.closed, timeout=10000):
        studio.close()
    qtbot.waitUntil(lambda: not studio.queue_panel.running, timeout=30000)
    if item.status != "done":
        assert item.status == "cancelled"
        assert not target.exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".long_out")]


def test_export_failure_is_a_message(qtbot, studio, tmp_path):
    item = studio.queue_panel.add_export(ExportRequest(
        str(tmp_path / "missing.mp4"), str(tmp_path / "x.mp4"), "gamma",
        registry.get("gamma").default_params(), ExportOptions()))
    qtbot.waitUntil(lambda: item.status in ("done", "failed"), timeout=30000)
    assert item.status == "failed" and item.error
    qtbot.waitUntil(lambda: "Export failed" in studio.statusBar().currentMessage(), timeout=5000)
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
