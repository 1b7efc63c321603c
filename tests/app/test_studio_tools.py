"""Studio tools around the picture: in/out markers on the seek bar, snapshots of the frames
themselves (not the viewer), and the scope dock."""

from __future__ import annotations

import numpy as np
import pytest

from app.seek_bar import IN_COLOR, OUT_COLOR
from engine.files.images import read_image

from conftest import fresh_bundle, open_and_wait


def _near(c, ref, tol: int = 40) -> bool:
    return abs(c.red() - ref.red()) < tol and abs(c.green() - ref.green()) < tol and abs(c.blue() - ref.blue()) < tol


def test_in_out_points_are_drawn_on_the_seek_bar(qtbot, window):
    open_and_wait(qtbot, window)  # 10 frames at 25 fps: 0.4 s
    window.player.seek(0.08)
    fresh_bundle(qtbot, window, lambda b: b.index == 2)
    window.set_in_point()
    window.player.seek(0.32)
    fresh_bundle(qtbot, window, lambda b: b.index == 8)
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


def test_snapshot_is_the_enhanced_frame_not_the_viewer(qtbot, window, tmp_path):
    open_and_wait(qtbot, window)
    window.set_view("enhanced")
    window.viewer.set_zoom_factor(3.0)  # zoom, letterbox bars and labels must not matter
    b = window.last_bundle
    path = tmp_path / "snap.png"
    assert window.save_snapshot(str(path)) == [path]
    saved = read_image(path)
    assert saved.shape == b.enhanced.shape == (48, 64, 3)
    assert np.array_equal(saved, b.enhanced)


@pytest.mark.parametrize("mode,suffixes", [("ab", ("-A", "-B")), ("side", ("-original", "-enhanced")),
                                           ("split", ("-original", "-enhanced"))])
def test_snapshot_in_compare_views_saves_both_sides(qtbot, window, tmp_path, mode, suffixes):
    window.set_view(mode)
    open_and_wait(qtbot, window)
    if mode == "ab":
        qtbot.waitUntil(lambda: window.last_bundle.enhanced_b is not None, timeout=10000)
        b = window.last_bundle
        expected = (b.enhanced, b.enhanced_b)
    else:
        b = window.last_bundle
        expected = (b.original, b.enhanced)
    written = window.save_snapshot(str(tmp_path / "shot.png"))
    assert [p.name for p in written] == [f"shot{s}.png" for s in suffixes]
    for p, frame in zip(written, expected):
        assert np.array_equal(read_image(p), frame)
    assert not (tmp_path / "shot.png").exists()
    assert "Snapshot saved" in window.statusBar().currentMessage()


def test_snapshot_failure_is_shown(qtbot, window, tmp_path):
    assert window.save_snapshot(str(tmp_path / "none.png")) == []  # nothing opened yet
    open_and_wait(qtbot, window)
    window.set_view("enhanced")
    assert window.save_snapshot(str(tmp_path / "missing-folder" / "x.png")) == []
    assert "Could not save the snapshot" in window.last_error


def test_scope_dock_shows_the_enhanced_frame_with_clipping(qtbot, window):
    from engine.lab.scope import measure

    assert not window.scope_dock.isVisible()
    assert window.scope_action.text().replace("&", "") == "Scope"
    window.scope_action.trigger()
    assert window.scope_dock.isVisible()
    open_and_wait(qtbot, window)
    panel = window.scope_panel
    qtbot.waitUntil(lambda: panel.scope is not None, timeout=3000)
    expected = measure(window.last_bundle.enhanced)
    assert np.array_equal(panel.scope.histogram, expected.histogram)
    assert panel.clip_label.text().startswith("Clipped: ") and "at 0" in panel.clip_label.text()
    img = panel.view.grab().toImage()
    colours = {img.pixelColor(x, y).rgb() for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 3  # curves were drawn, not only the background
    panel.set_kind("waveform")
    assert window.settings.scope_kind == "waveform"
    img = panel.view.grab().toImage()
    assert len({img.pixelColor(x, y).rgb() for x in range(0, img.width(), 5)
                for y in range(0, img.height(), 5)}) > 3
    window.scope_action.trigger()
    assert not window.scope_dock.isVisible()


def test_scope_is_rate_limited_and_idle_when_hidden(qtbot, window):
    from app.scope_panel import INTERVAL_MS

    open_and_wait(qtbot, window, "fake-long")
    panel = window.scope_panel
    window.player.play()
    qtbot.wait(600)
    assert panel.measurements == 0  # hidden: nothing measured
    window.scope_dock.show()
    shown0, m0 = window.frames_shown, panel.measurements
    qtbot.wait(1500)
    window.player.pause()
    frames, meas = window.frames_shown - shown0, panel.measurements - m0
    assert 1 <= meas <= 1500 / INTERVAL_MS + 2
    assert frames > meas  # not once per frame
