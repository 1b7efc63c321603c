"""Viewer geometry: fit without distortion, split divider dragging, 100 % zoom mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPoint, QPointF, Qt

from app.viewer import Viewer


@pytest.fixture
def viewer(qtbot):
    v = Viewer()
    qtbot.addWidget(v)
    v.resize(400, 300)
    v.show()
    return v


def _frames(h: int, w: int):
    o = np.zeros((h, w, 3), np.uint8)
    e = np.full((h, w, 3), 200, np.uint8)
    return o, e


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 3000), w=st.integers(1, 3000), mode=st.sampled_from(Viewer.MODES))
def test_fit_keeps_aspect_ratio(viewer, h, w, mode):
    viewer.set_mode(mode)
    o, e = _frames(h, w)
    viewer.set_frames(o, e, e)
    for pane in viewer._panes():
        src, tgt = viewer._mapping(pane)
        assert src.width() == w and src.height() == h
        assert tgt.width() / tgt.height() == pytest.approx(w / h, rel=1e-6)
        assert pane.contains(tgt.center())
        assert tgt.width() <= pane.width() + 1e-6 and tgt.height() <= pane.height() + 1e-6
    viewer.repaint()


def test_split_divider_drags(qtbot, viewer):
    o, e = _frames(300, 400)
    viewer.set_mode("split")
    viewer.set_frames(o, e)
    x = int(viewer._divider_x())
    y = viewer.height() // 2
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.mouseMove(viewer, QPoint(x + 100, y))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(x + 100, y))
    assert viewer.split > 0.6
    # what is painted follows: left of the divider original (black), right enhanced
    img = viewer.grab().toImage()
    assert img.pixelColor(int(viewer._divider_x()) - 20, y).red() < 50
    assert img.pixelColor(int(viewer._divider_x()) + 20, y).red() > 150


def test_zoom_100_shows_image_pixels(qtbot, viewer):
    h, w = 1000, 1600
    o = np.zeros((h, w, 3), np.uint8)
    o[500:510, 800:810] = 255  # a 10x10 white square at the centre
    viewer.set_mode("original")
    viewer.set_frames(o, o)
    pt = viewer.widget_to_image(QPointF(viewer.width() / 2, viewer.height() / 2))
    assert pt.x() == pytest.approx(w / 2, abs=3) and pt.y() == pytest.approx(h / 2, abs=3)
    viewer.set_zoom(True, QPointF(805, 505))
    src, tgt = viewer._mapping(viewer._panes()[0])
    dpr = viewer.devicePixelRatioF()
    assert tgt.width() == pytest.approx(src.width() / dpr)
    assert src.contains(QPointF(805, 505))
    qtbot.mouseDClick(viewer, Qt.MouseButton.LeftButton, pos=QPoint(10, 10))
    assert not viewer.zoomed


def test_double_click_zooms_on_point(qtbot, viewer):
    o, e = _frames(900, 1200)
    viewer.set_mode("enhanced")
    viewer.set_frames(o, e)
    qtbot.mouseDClick(viewer, Qt.MouseButton.LeftButton, pos=QPoint(50, 150))
    assert viewer.zoomed
    src, _ = viewer._mapping(viewer._panes()[0])
    assert src.left() == 0  # clicked near the left edge: the view is clamped to the picture


def test_unknown_mode_is_rejected(viewer):
    with pytest.raises(ValueError, match="unknown view"):
        viewer.set_mode("mosaic")
