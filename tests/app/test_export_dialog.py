"""Export dialog and worker behaviour with a scripted job (no engine export needed):
progress display, cancel, failure, responsiveness; the demo command's display detection."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from app import cli_demo
from app.export_dialog import ExportDialog, ExportWorker
from app.settings import Settings
from engine import registry
from engine.video.export import ExportProgress, ExportResult


def _scripted_job(target: Path, frames: int, gate: threading.Event | None = None):
    """Writes ``target`` via a temporary file, frame by frame; honours cancel."""

    def job(progress, cancel: threading.Event):
        tmp = target.with_name(target.name + ".part")
        with open(tmp, "wb") as f:
            for i in range(frames):
                if cancel.is_set():
                    break
                if gate is not None:
                    gate.wait(5)
                f.write(b"x")
                progress(ExportProgress(i + 1, frames, (i + 1) / frames, 100.0, (frames - i - 1) / 100.0))
                time.sleep(0.001)
        if cancel.is_set():
            tmp.unlink()
            raise RuntimeError("cancelled")
        tmp.replace(target)
        return ExportResult(target, frames, 0.01, 100.0)

    return job


def _dialog(qtbot, tmp_path, monkeypatch, job) -> ExportDialog:
    name = registry.names()[-1]
    d = ExportDialog("clip.mp4", name, registry.get(name).default_params(), Settings(),
                     in_point=1.0, out_point=2.0)
    monkeypatch.setattr(d, "_make_job", lambda target: job)
    qtbot.addWidget(d)
    d.target_edit.setText(str(tmp_path / "out.mp4"))
    d.show()
    return d


def test_dialog_shows_progress_and_finishes(qtbot, tmp_path, monkeypatch):
    d = _dialog(qtbot, tmp_path, monkeypatch, _scripted_job(tmp_path / "out.mp4", 20))
    assert d.range_inout.isChecked() and d.selected_range() == (1.0, 2.0)
    d.start()
    qtbot.waitUntil(lambda: d.state == "done", timeout=10000)
    assert "Saved" in d.status.text()
    assert d.progress.value() == d.progress.maximum()
    assert (tmp_path / "out.mp4").read_bytes() == b"x" * 20


def test_dialog_cancel_leaves_no_file_and_gui_stays_responsive(qtbot, tmp_path, monkeypatch):
    gate = threading.Event()
    d = _dialog(qtbot, tmp_path, monkeypatch, _scripted_job(tmp_path / "out.mp4", 1000, gate))
    d.start()
    gate.set()
    qtbot.waitUntil(lambda: "Frame" in d.status.text(), timeout=10000)
    assert "fps" in d.status.text() and "ETA" in d.status.text()
    # the event loop keeps running while the worker exports
    ticks = []
    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, lambda: ticks.append(1))
    qtbot.waitUntil(lambda: ticks == [1], timeout=2000)
    d.cancel_or_close()
    qtbot.waitUntil(lambda: d.state != "running", timeout=10000)
    assert d.state == "cancelled"
    assert list(tmp_path.iterdir()) == [] or all(p.suffix == ".ini" for p in tmp_path.iterdir())


def test_dialog_failure_is_a_message(qtbot, tmp_path, monkeypatch):
    def job(progress, cancel):
        raise OSError("disk full while writing out.mp4")

    d = _dialog(qtbot, tmp_path, monkeypatch, job)
    d.start()
    qtbot.waitUntil(lambda: d.state == "failed", timeout=10000)
    assert "disk full" in d.status.text()
    assert d.start_btn.isEnabled()


def test_worker_reports_through_signals(qtbot):
    seen: list = []

    def job(progress, cancel: threading.Event) -> ExportResult:
        for i in range(3):
            progress(i)
        return ExportResult(Path("done.mp4"), 3, 0.01, 300.0)

    w = ExportWorker(job)
    w.progress.connect(seen.append)
    with qtbot.waitSignal(w.succeeded, timeout=5000) as sig:
        w.start()
    assert sig.args == ["done.mp4"] and seen == [0, 1, 2]
    w.wait(1000)


def test_has_display():
    assert cli_demo.has_display({"DISPLAY": ":0"})
    assert cli_demo.has_display({"WAYLAND_DISPLAY": "wayland-0"})
    assert cli_demo.has_display({"QT_QPA_PLATFORM": "offscreen"})
    assert not cli_demo.has_display({})
