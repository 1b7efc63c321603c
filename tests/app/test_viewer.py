"""Viewer geometry: fit without distortion, split divider dragging, 100 % zoom mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPoint, QPointF, Qt

from app.viewer import Viewer, to_qimage


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


def _wheel(viewer, pos: QPointF, notches: float) -> None:
    from PySide6.QtCore import QPoint as _P
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    ev = QWheelEvent(pos, viewer.mapToGlobal(pos), _P(0, 0), _P(0, int(120 * notches)),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewer, ev)


@pytest.mark.parametrize("mode", Viewer.MODES)
def test_wheel_zooms_around_the_cursor_in_every_view(viewer, mode):
    from app.viewer import ZOOM_MAX, ZOOM_MIN

    h, w = 600, 800
    o = np.zeros((h, w, 3), np.uint8)
    viewer.set_mode(mode)
    viewer.set_frames(o, o, o)
    pane = viewer._panes()[-1]
    pos = QPointF(pane.left() + pane.width() * 0.3, pane.top() + pane.height() * 0.6)
    before = viewer.widget_to_image(pos)
    assert before is not None
    _wheel(viewer, pos, 8)  # far enough that the picture overflows the pane both ways
    assert viewer.zoomed
    after = viewer.widget_to_image(pos)
    assert after.x() == pytest.approx(before.x(), abs=1.0) and after.y() == pytest.approx(before.y(), abs=1.0)
    # both panes show the same part of the picture (zoom and pan are shared)
    srcs = [viewer._mapping(p)[0] for p in viewer._panes()]
    assert all(s == srcs[0] for s in srcs)
    for _ in range(20):
        _wheel(viewer, pos, 1)
    assert viewer.zoom_factor() == pytest.approx(ZOOM_MAX)
    for _ in range(40):
        _wheel(viewer, pos, -1)
    assert viewer.zoom_factor() == pytest.approx(ZOOM_MIN)
    viewer.repaint()
    viewer.set_zoom(True)
    assert viewer.zoom_factor() == 1.0
    viewer.set_zoom_factor(None)
    assert not viewer.zoomed


def test_two_panes_stack_for_wide_frames_and_sit_together(qtbot, viewer):
    viewer.resize(900, 600)
    wide = np.zeros((400, 1600, 3), np.uint8)  # 4:1
    viewer.set_mode("ab")
    viewer.set_frames(wide, wide, wide)
    assert viewer.layout_mode == "auto" and viewer.stacked()
    top, bottom = (viewer._mapping(p)[1] for p in viewer._panes())
    assert top.width() == pytest.approx(900)  # the full width: no side bands
    assert bottom.top() - top.bottom() == pytest.approx(4.0)  # the pictures touch but for the gap
    viewer.set_layout_mode("columns")
    assert not viewer.stacked()
    left, right = (viewer._mapping(p)[1] for p in viewer._panes())
    assert right.left() - left.right() == pytest.approx(4.0)
    assert left.width() < top.width() / 1.9
    tall = np.zeros((800, 600, 3), np.uint8)
    viewer.set_layout_mode("auto")
    viewer.set_frames(tall, tall, tall)
    assert not viewer.stacked()
    viewer.set_layout_mode("rows")
    assert viewer.stacked()
    with pytest.raises(ValueError, match="pane layout"):
        viewer.set_layout_mode("grid")


def test_ab_labels_carry_the_differing_settings(viewer):
    o = np.zeros((60, 80, 3), np.uint8)
    viewer.set_mode("ab")
    viewer.set_frames(o, o, o)
    viewer.set_titles("SCI", "SCI", "strength 1.00", "strength 1.50")
    assert viewer.pane_labels() == ["A: SCI · strength 1.00", "B: SCI · strength 1.50"]
    viewer.set_mode("side")
    assert viewer.pane_labels() == ["Original", "SCI"]


@settings(max_examples=30, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 999))
def test_the_shown_image_has_the_frames_colours(h, w, seed) -> None:
    """The 32-bit image the viewer draws holds each pixel's RGB as it is."""
    frame = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img, buf = to_qimage(frame)
    assert (img.width(), img.height()) == (w, h) and buf.shape == (h, w, 4)
    for y, x in {(0, 0), (h - 1, w - 1), (h // 2, w // 3)}:
        c = img.pixelColor(x, y)
        assert (c.red(), c.green(), c.blue()) == tuple(int(v) for v in frame[y, x])
