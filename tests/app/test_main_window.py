"""The main window with a synthetic source: frames, sliders, methods, views, A/B,
presets, settings, snapshot, errors and shutdown."""

from __future__ import annotations

import html
import time

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from app.main_window import MainWindow
from app.settings import Settings
from app.viewer import Viewer
from engine import registry

from conftest import fresh_bundle, open_and_wait, usable_methods


def _method_with(param: str) -> str:
    for name in usable_methods():
        if registry.get(name).spec(param) is not None:
            return name
    pytest.skip(f"no registered method has a {param!r} parameter")


def test_opens_fake_source_and_plays(qtbot, window):
    open_and_wait(qtbot, window)
    b = window.last_bundle
    assert b.original.shape == (48, 64, 3) and b.enhanced.shape == (48, 64, 3)
    assert window.seek.isEnabled()
    window.player.play()
    qtbot.waitUntil(lambda: window.last_bundle.index >= 5, timeout=10000)
    assert window.last_stats is not None


def test_slider_move_changes_next_frame_while_paused(qtbot, window):
    name = _method_with("strength")
    window.controls.set_method(name)
    open_and_wait(qtbot, window)
    assert window.last_bundle.method == name  # commands run in order: method before source
    before = window.last_bundle.enhanced.copy()
    slider = window.controls.slider("strength")
    spec = slider.spec
    target = spec.minimum if slider.value() != spec.minimum else spec.maximum
    slider.slider.setValue(int(round((target - spec.minimum) / spec.step)))
    after = fresh_bundle(qtbot, window, lambda b: b.params.strength == pytest.approx(target)).enhanced
    assert not np.array_equal(before, after)
    assert window.controls.params().strength == pytest.approx(target)


def test_strength_zero_shows_original(qtbot, window):
    name = _method_with("strength")
    if registry.get(name).spec("strength").minimum != 0:
        pytest.skip("strength does not reach 0")
    window.controls.set_method(name, {"strength": 0.0})
    open_and_wait(qtbot, window)
    b = fresh_bundle(qtbot, window, lambda b: b.params is not None and b.params.strength == 0.0) \
        if window.last_bundle.params is None or window.last_bundle.params.strength != 0.0 else window.last_bundle
    assert np.abs(b.enhanced.astype(int) - b.original.astype(int)).max() <= 1


def test_sliders_follow_the_registry(qtbot, window):
    for d in registry.descriptors():
        window.controls.set_method(d.name)
        window.controls.set_method_b(d.name)
        names = {s.name for s in d.params}
        assert set(window.controls._a.sliders) == names
        assert set(window.controls._b.sliders) == names  # B has its own sliders, from the registry too
        for s in d.params:
            w = window.controls.slider(s.name)
            assert w.slider.maximum() == round((s.maximum - s.minimum) / s.step)
            assert w.value() == pytest.approx(s.clamp(getattr(window.controls.params(), s.name)))
            assert s.help in w.toolTip()


def test_switch_method_and_view(qtbot, window):
    names = usable_methods()
    if len(names) < 2:
        pytest.skip("needs two registered methods")
    open_and_wait(qtbot, window)
    window.controls.set_method(names[1])
    b = fresh_bundle(qtbot, window, lambda b: b.method == names[1])
    assert b.method == names[1]
    qtbot.waitUntil(lambda: window.controls.runtime_label.text() not in ("", "loading…"), timeout=10000)
    for mode in Viewer.MODES:
        window.set_view(mode)
        assert window.viewer.mode == mode
        assert window.view_actions[mode].isChecked()
        window.viewer.repaint()


def test_ab_shows_two_methods(qtbot, window):
    names = usable_methods()
    if len(names) < 2:
        pytest.skip("needs two registered methods")
    window.controls.set_method(names[0])
    window.controls.set_method_b(names[-1])
    open_and_wait(qtbot, window)
    window.set_view("ab")
    b = fresh_bundle(qtbot, window, lambda b: b.enhanced_b is not None and b.method_b == names[-1])
    assert b.method == names[0] and b.method_b == names[-1]
    assert b.enhanced_b.shape == b.enhanced.shape
    assert not np.array_equal(b.enhanced, b.enhanced_b)
    window.set_view("split")
    b = fresh_bundle(qtbot, window, lambda b: b.enhanced_b is None)


def test_source_error_is_shown_not_fatal(qtbot, window):
    open_and_wait(qtbot, window, "fake-broken")
    qtbot.waitUntil(lambda: any("unplugged" in m for m in window.errors), timeout=10000)
    assert window.banner.isVisible()
    # the studio still works afterwards
    window.last_bundle = None
    open_and_wait(qtbot, window, "fake")


def test_bad_file_is_shown(qtbot, window, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    window.open_spec(str(bad))
    qtbot.waitUntil(lambda: any("broken.mp4" in m for m in window.errors), timeout=10000)
    assert window.banner.isVisible()


def test_close_while_playing_is_quick(qtbot, fake_opener):
    w = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w)
    w.show()
    open_and_wait(qtbot, w, "fake-long")
    w.player.play()
    qtbot.waitUntil(lambda: w.last_bundle.index >= 3, timeout=10000)
    t0 = time.perf_counter()
    w.close()
    elapsed = time.perf_counter() - t0
    assert not w.player.isRunning()
    assert elapsed < 1.0


def test_close_with_hanging_camera_is_quick(qtbot, fake_opener):
    w = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w)
    w.show()
    open_and_wait(qtbot, w, "fake-hang")
    t0 = time.perf_counter()
    w.close()
    assert time.perf_counter() - t0 < 1.0
    assert not w.player.isRunning()


def test_settings_persist(qtbot, fake_opener, tmp_path):
    names = usable_methods()
    w = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w)
    w.controls.set_method(names[-1])
    w.set_view("side")
    d = registry.get(names[-1])
    spec = d.params[0] if d.params else None
    if spec is not None:
        w.controls.slider(spec.name).set_value(spec.maximum)
        w.controls._slider_moved(spec.name, spec.maximum)
        qtbot.waitUntil(lambda: Settings().params_for(names[-1]).get(spec.name) == spec.maximum,
                        timeout=2000)
    w.settings.last_folder = str(tmp_path)
    w.close()
    w2 = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w2)
    assert w2.controls.method == names[-1]
    assert w2.viewer.mode == "side"
    assert w2.settings.last_folder == str(tmp_path)
    if spec is not None:
        assert getattr(w2.controls.params(), spec.name) == spec.maximum
    w2.close()


def test_presets_save_and_load(qtbot, window):
    names = usable_methods()
    d = registry.get(names[0])
    window.controls.set_method(d.name)
    spec = d.params[0] if d.params else None
    if spec is not None:
        window.controls.slider(spec.name).set_value(spec.maximum)
        window.controls._values[spec.name] = spec.maximum
    window.controls.save_preset("night")
    window.controls.set_method(names[-1])
    if spec is not None and names[-1] == names[0]:
        window.controls.slider(spec.name).set_value(spec.minimum)
        window.controls._values[spec.name] = spec.minimum
    assert window.controls.load_preset("night")
    assert window.controls.method == d.name
    if spec is not None:
        assert getattr(window.controls.params(), spec.name) == spec.maximum
    assert "night" in Settings().presets()


def test_snapshot_png(qtbot, window, tmp_path):
    open_and_wait(qtbot, window)
    path = tmp_path / "snap.png"
    window.set_view("enhanced")
    assert window.save_snapshot(str(path)) == [path]
    img = QImage(str(path))
    assert not img.isNull() and img.width() == window.last_bundle.enhanced.shape[1]


def test_zoom_on_point_and_back(qtbot, window):
    open_and_wait(qtbot, window)
    v = window.viewer
    pt = v.widget_to_image(QPointF(v.width() / 2, v.height() / 2))
    assert pt is not None
    v.set_zoom(True, pt)
    assert v.zoomed and window.zoom_action.isChecked()
    v.repaint()
    v.set_zoom(False)
    assert not window.zoom_action.isChecked()


def test_about_lists_every_method_and_paper(window):
    text = window.about_html()
    for d in registry.descriptors():
        assert d.title in text
        assert html.escape(d.paper) in text


def test_recent_files(qtbot, window, tmp_path):
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x")
    window.open_spec(str(f))
    assert Settings().recent_files[0] == str(f)
    window._fill_recent()
    assert any(a.text() == str(f) for a in window.recent_menu.actions())


def test_keyboard_shortcuts(qtbot, window):
    from PySide6.QtCore import Qt

    open_and_wait(qtbot, window)
    window.activateWindow()
    window.viewer.setFocus()
    for i, mode in enumerate(Viewer.MODES, start=1):
        qtbot.keyClick(window.viewer, getattr(Qt.Key, f"Key_{i}"))
        assert window.viewer.mode == mode
    idx = window.last_bundle.index
    qtbot.keyClick(window.viewer, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.last_bundle.index == idx + 1, timeout=5000)
    qtbot.keyClick(window.viewer, Qt.Key.Key_Z)
    assert window.viewer.zoomed
    qtbot.keyClick(window.viewer, Qt.Key.Key_Escape)
    assert not window.viewer.zoomed


def test_unavailable_method_falls_back_with_a_message(qtbot, fake_opener, monkeypatch):
    usable = usable_methods()
    names = registry.names()
    broken = names[0]
    real_create = registry.create

    def create(name, **kw):
        if name == broken:
            raise FileNotFoundError(f"{name}: weights file not found: /nowhere/{name}.pt")
        return real_create(name, **kw)

    monkeypatch.setattr(registry, "create", create)
    s = Settings()
    s.method = broken
    w = MainWindow(s, source_opener=fake_opener)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: any("weights file not found" in m for m in w.errors), timeout=10000)
    qtbot.waitUntil(lambda: w.controls.method != broken, timeout=10000)
    assert w.banner.isVisible()
    assert registry.get(broken).title in w.banner.label.text()
    open_and_wait(qtbot, w)
    qtbot.waitUntil(lambda: w.last_bundle.method in usable, timeout=10000)
    w.close()
