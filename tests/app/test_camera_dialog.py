"""Camera picker: lists what the engine finds, says so plainly when there is none."""

from __future__ import annotations

import sys
import types

import pytest

from app.camera_dialog import CameraDialog


@pytest.fixture
def fake_cameras(monkeypatch):
    """Replace the engine's camera listing with a controllable one."""
    found: list[dict] = []
    mod = types.ModuleType("engine.video.sources")
    mod.list_cameras = lambda: list(found)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.video.sources", mod)
    return found


def test_no_camera_message(qtbot, fake_cameras):
    d = CameraDialog()
    qtbot.addWidget(d)
    qtbot.waitUntil(lambda: d.refresh_btn.isEnabled(), timeout=5000)
    assert "No camera found" in d.status.text()
    assert d.list.count() == 0


def test_lists_cameras_and_picks_one(qtbot, fake_cameras):
    fake_cameras.append({"spec": "camera:2", "name": "/dev/video2", "width": 640, "height": 480})
    d = CameraDialog()
    qtbot.addWidget(d)
    qtbot.waitUntil(lambda: d.list.count() == 1, timeout=5000)
    assert "640×480" in d.list.item(0).text()
    d._accept()
    assert d.spec == "camera:2"


def test_drop_a_file_opens_it(qtbot, fake_opener, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from app.main_window import MainWindow
    from app.settings import Settings

    w = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w)
    f = tmp_path / "dropped.mp4"
    f.write_bytes(b"x")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    w.dropEvent(ev)
    assert w.source_spec == str(f)
    w.close()
