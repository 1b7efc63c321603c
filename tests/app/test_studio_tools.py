"""Studio tools around the picture: in/out markers on the seek bar, snapshots of the frames
themselves (not the viewer), and the scope dock."""

from __future__ import annotations

import numpy as np
import pytest

from app.main_window import MainWindow
from app.seek_bar import IN_COLOR, OUT_COLOR
from app.settings import Settings
from engine.files.images import read_image


@pytest.fixture
def window(qtbot, fake_opener):
    w = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    yield w
    w.close()


def _open(qtbot, w: MainWindow, spec: str = "fake") -> None:
    w.open_spec(spec)
    qtbot.waitUntil(lambda: w.last_bundle is not None, timeout=10000)


def _fresh(qtbot, w: MainWindow, check=lambda b: True, timeout: int = 10000):
    start = w.last_bundle.serial if w.last_bundle is not None else 0
    qtbot.waitUntil(lambda: w.last_bundle is not None and w.last_bundle.serial > start
                    and check(w.last_bundle), timeout=timeout)
    return w.last_bundle


def _near(c, ref, tol: int = 40) -> bool:
    return abs(c.red() - ref.red()) < tol and abs(c.green() - ref.green()) < tol and abs(c.blue() - ref.blue()) < tol


def test_in_out_points_are_drawn_on_the_seek_bar(qtbot, window):
    _open(qtbot, window)  # 10 frames at 25 fps: 0.4 s
    window.player.seek(0.08)
    _fresh(qtbot, window, lambda b: b.index == 2)
    window.set_in_point()
    window.player.seek(0.32)
    _fresh(qtbot, window, lambda b: b.index == 8)
    window.set_out_point()
    assert window.seek.marks() == (80, 320)
    img = window.seek.grab().toImage()
    xi, xo = int(round(window.seek.mark_x(80))), int(round(window.seek.mark_x(320)))
    assert xo > xi
    assert _near(img.pixelColor(xi, 2), IN_COLOR)
    assert _near(img.pixelColor(xo, 2), OUT_COLOR)
    assert not _near(img.pixelColor((xi + xo) // 2, 2), IN_COLOR)
    window.clear_in_out()
    assert window.seek.marks() == (None, None)
    img = window.seek.grab().toImage()
    assert not _near(img.pixelColor(xi, 2), IN_COLOR)
    window.set_in_point()
    window.open_spec("fake")  # a new source has no in/out points
    assert window.seek.marks() == (None, None)
