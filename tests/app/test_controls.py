"""Controls built from the registry; slider moves are coalesced into one update."""

from __future__ import annotations

import pytest

from app.controls import ControlsPanel, ParamSlider
from app.settings import Settings
from engine import registry
from engine.params import ParamSpec


@pytest.fixture
def panel(qtbot):
    p = ControlsPanel(Settings())
    qtbot.addWidget(p)
    return p


def test_method_lists_come_from_registry(panel):
    names = [panel.method_combo.itemData(i) for i in range(panel.method_combo.count())]
    assert names == registry.names()
    names_b = [panel.method_b_combo.itemData(i) for i in range(panel.method_b_combo.count())]
    assert names_b == registry.names()


def test_slider_moves_are_coalesced(qtbot, panel):
    d = next((d for d in registry.descriptors() if d.params), None)
    if d is None:
        pytest.skip("no method with parameters")
    panel.set_method(d.name)
    spec = d.params[0]
    s = panel.slider(spec.name)
    seen = []
    panel.params_changed.connect(seen.append)
    with qtbot.waitSignal(panel.params_changed, timeout=2000):
        for tick in range(0, s.slider.maximum() + 1, max(1, s.slider.maximum() // 10)):
            s.slider.setValue(tick)
    qtbot.wait(100)
    assert len(seen) == 1
    assert getattr(seen[0], spec.name) == pytest.approx(s.value())


@pytest.mark.parametrize("spec", [
    ParamSpec("iterations", 8, 1, 16, 1, "curve applications"),
    ParamSpec("strength", 1.0, 0.0, 2.0, 0.05, "amount"),
    ParamSpec("smoothing", 0.3, 0.0, 1.0, 0.1, "temporal"),
])
def test_param_slider_round_trips_values(qtbot, spec):
    s = ParamSlider(spec, spec.default)
    qtbot.addWidget(s)
    assert s.value() == pytest.approx(spec.default)
    s.set_value(spec.maximum + 100)
    assert s.value() == spec.maximum
    s.set_value(spec.minimum - 100)
    assert s.value() == spec.minimum
    assert isinstance(s.value(), int) == spec.is_int
    assert spec.help in s.toolTip()
