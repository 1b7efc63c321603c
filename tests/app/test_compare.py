"""A true A/B: method B has its own method and sliders, one method can be compared with
itself at two settings (labels say what differs), *Link A and B* moves both sides, and all
of it persists."""

from __future__ import annotations

import numpy as np
import pytest

from app.controls import ControlsPanel, describe_difference
from app.main_window import MainWindow
from app.settings import Settings
from engine import registry

from conftest import usable_methods


def _method_with(param: str) -> str:
    for name in usable_methods():
        if registry.get(name).spec(param) is not None:
            return name
    pytest.skip(f"no usable method has a {param!r} parameter")


@pytest.fixture
def panel(qtbot):
    p = ControlsPanel(Settings())
    qtbot.addWidget(p)
    return p


def test_b_has_its_own_sliders(qtbot, panel):
    name = _method_with("strength")
    panel.set_method(name)
    panel.set_method_b(name)
    assert panel.slider_b("strength") is not None
    assert panel.slider_b("strength") is not panel.slider("strength")
    a_before = panel.params()
    seen_a, seen_b = [], []
    panel.params_changed.connect(seen_a.append)
    panel.params_b_changed.connect(seen_b.append)
    with qtbot.waitSignal(panel.params_b_changed, timeout=2000):
        panel.slider_b("strength").set_value(1.5)
        panel.slider_b("strength").slider.setValue(panel.slider_b("strength").slider.value() + 2)
    qtbot.wait(100)
    assert panel.params_b().strength == pytest.approx(1.6)
    assert panel.params() == a_before  # A did not move
    assert seen_a == [] and len(seen_b) == 1
    assert panel.difference() == (f"strength {a_before.strength:.2f}", "strength 1.60")


def test_link_moves_both_sides_of_one_method(qtbot, panel):
    name = _method_with("strength")
    panel.set_method(name)
    panel.set_method_b(name)
    s_a = panel.slider("strength")
    panel.set_linked(True)
    with qtbot.waitSignal(panel.params_b_changed, timeout=2000):
        s_a.slider.setValue(s_a.slider.maximum())
    assert panel.params_b().strength == panel.params().strength == s_a.spec.maximum
    assert panel.same_label.isVisibleTo(panel)  # identical sides are pointed out
    panel.set_linked(False)
    with qtbot.waitSignal(panel.params_changed, timeout=2000):
        s_a.slider.setValue(0)
    qtbot.wait(80)
    assert panel.params().strength == s_a.spec.minimum
    assert panel.params_b().strength == s_a.spec.maximum
    assert not panel.same_label.isVisibleTo(panel)


def test_describe_difference_lists_shared_parameters_only():
    d = registry.get(_method_with("strength"))
    pa = d.default_params()
    assert describe_difference(d, pa, d, pa) == ("", "")
    pb = pa.replace(strength=1.25)
    assert describe_difference(d, pa, d, pb) == (f"strength {pa.strength:.2f}", "strength 1.25")


def test_ab_of_one_method_at_two_settings(qtbot, fake_opener):
    name = _method_with("strength")
    w = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    try:
        w.controls.set_method(name)
        w.controls.set_method_b(name)
        w.set_view("ab")
        w.open_spec("fake")
        qtbot.waitUntil(lambda: w.last_bundle is not None and w.last_bundle.enhanced_b is not None,
                        timeout=10000)
        sb = w.controls.slider_b("strength")
        sb.slider.setValue(0)  # B: strength 0 shows the original
        start = w.last_bundle.serial
        qtbot.waitUntil(lambda: w.last_bundle.serial > start and w.last_bundle.enhanced_b is not None
                        and np.array_equal(w.last_bundle.enhanced_b, w.last_bundle.original),
                        timeout=10000)
        b = w.last_bundle
        assert b.method == b.method_b == name
        assert not np.array_equal(b.enhanced, b.enhanced_b)  # the two halves differ
        labels = w.viewer.pane_labels()
        title = registry.get(name).title
        assert labels[0].startswith(f"A: {title} · ") and "strength" in labels[0]
        assert labels[1] == f"B: {title} · strength 0.00"
    finally:
        w.close()


def test_b_settings_link_and_layout_persist(qtbot, fake_opener):
    name = _method_with("strength")
    w = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w)
    w.controls.set_method_b(name)
    w.controls.set_linked(True)
    w.set_pane_layout("rows")
    sb = w.controls.slider_b("strength")
    sb.set_value(1.75)
    w.controls._slider_moved("strength", 1.75, w.controls._b)
    qtbot.waitUntil(lambda: Settings().params_b_for(name).get("strength") == 1.75, timeout=2000)
    w.close()
    w2 = MainWindow(Settings(), source_opener=fake_opener)
    qtbot.addWidget(w2)
    try:
        assert w2.controls.method_b == name
        assert w2.controls.params_b().strength == 1.75
        assert w2.controls.linked
        assert w2.viewer.layout_mode == "rows"
        assert w2.layout_actions["rows"].isChecked()
    finally:
        w2.close()
