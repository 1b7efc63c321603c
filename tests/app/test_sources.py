"""The studio on real engine sources: the demo clip and a generated file; the CLI."""

from __future__ import annotations

import pytest

from PySide6.QtGui import QImage

from app import cli_studio
from app.main_window import MainWindow
from app.settings import Settings


def _window(qtbot) -> MainWindow:
    w = MainWindow(Settings())
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    return w


def test_opens_generated_file_and_seeks(qtbot, tiny_clip):
    w = _window(qtbot)
    w.open_spec(tiny_clip)
    qtbot.waitUntil(lambda: w.last_bundle is not None, timeout=20000)
    assert w.last_bundle.original.shape == (48, 64, 3)
    assert w.source_info.frame_count in (None, 10)
    assert w.seek.isEnabled() and w.seek.maximum() > 0
    w.player.seek(0.5)
    qtbot.waitUntil(lambda: w.last_bundle.index >= 4, timeout=10000)
    w.player.step(1)
    idx = w.last_bundle.index
    qtbot.waitUntil(lambda: w.last_bundle.index == idx + 1, timeout=10000)
    assert Settings().recent_files[0].endswith("tiny.mp4")
    w.close()


@pytest.mark.slow
def test_opens_demo_clip(qtbot):
    w = _window(qtbot)
    w.open_spec("demo")
    qtbot.waitUntil(lambda: w.last_bundle is not None, timeout=120000)
    info = w.source_info
    assert info.source_id == "demo" and info.seekable
    assert w.last_bundle.original.shape == (info.height, info.width, 3)
    w.player.play()
    qtbot.waitUntil(lambda: w.last_bundle.index >= 3, timeout=20000)
    w.close()


def test_cli_studio_screenshot(tiny_clip, tmp_path, qapp):
    png = tmp_path / "shot.png"
    code = cli_studio.main([tiny_clip, "--screenshot", str(png), "--after", "3", "--size", "800x560"])
    assert code == 0
    img = QImage(str(png))
    assert (img.width(), img.height()) == (800, 560)


def test_cli_studio_bad_source_exits_nonzero(tmp_path, qapp):
    png = tmp_path / "shot.png"
    code = cli_studio.main([str(tmp_path / "missing.mp4"), "--screenshot", str(png), "--after", "2"])
    assert code == 1
    assert png.exists()  # the window, showing the error, was still captured
