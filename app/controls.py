"""Enhancement controls built from the method registry.

The method lists, the sliders (range, step, default, tooltip) and the About text all come
from :func:`engine.registry.descriptors`; nothing here names a method or a range.
Slider moves are coalesced by a short timer and leave as one ``params_changed`` signal.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QInputDialog, QLabel, QPushButton,
    QSizePolicy, QSlider, QVBoxLayout, QWidget,
)

from engine import registry
from engine.params import EnhanceParams, ParamSpec
from engine.enhancer import MethodDescriptor

__all__ = ["ControlsPanel", "ParamSlider", "THROTTLE_MS"]

THROTTLE_MS = 40  # slider moves within this window reach the worker as one update


class ParamSlider(QWidget):
    """A labelled slider for one :class:`ParamSpec` (integer ticks of ``spec.step``).

    Signal ``value_changed(str, object)``: (parameter name, value as int or float).
    """

    value_changed = Signal(str, object)

    def __init__(self, spec: ParamSpec, value: float | int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._ticks = max(1, int(round((spec.maximum - spec.minimum) / spec.step)))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self._ticks)
        self.slider.setPageStep(max(1, self._ticks // 10))
        self.slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.value_label = QLabel()
        self.value_label.setMinimumWidth(38)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.value_label)
        tip = (f"{spec.help}\nRange {spec.minimum}…{spec.maximum}, step {spec.step}, "
               f"default {spec.default}. Double-click the label to reset.")
        self.setToolTip(tip)
        self.slider.setToolTip(tip)
        self.set_value(value)
        self.slider.valueChanged.connect(self._moved)

    def value(self) -> float | int:
        return self.spec.clamp(self.spec.minimum + self.slider.value() * self.spec.step)

    def set_value(self, value: float | int) -> None:
        v = self.spec.clamp(value)
        tick = int(round((v - self.spec.minimum) / self.spec.step))
        self.slider.blockSignals(True)
        self.slider.setValue(tick)
        self.slider.blockSignals(False)
        self._show(self.value())

    def _show(self, v: float | int) -> None:
        self.value_label.setText(str(v) if self.spec.is_int else f"{v:.2f}")

    def _moved(self, _tick: int) -> None:
        v = self.value()
        self._show(v)
        self.value_changed.emit(self.spec.name, v)


def _title(d: MethodDescriptor) -> str:
    return f"{d.title}" + ("" if d.family == "learned" else " (classical)")


class ControlsPanel(QWidget):
    """Method pickers (A and B), parameter sliders, runtime line and presets.

    Signals:
        method_changed(str, str, object): (slot "a"/"b", method name, EnhanceParams).
        params_changed(object): new EnhanceParams for method A (B follows, clamped to
            its own ranges), at most once per ``THROTTLE_MS``.
        preset_message(str): a short status message about presets.
    """

    method_changed = Signal(str, str, object)
    params_changed = Signal(object)
    preset_message = Signal(str)

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._descs = {d.name: d for d in registry.descriptors()}
        self._values: dict[str, Any] = {}
        self._sliders: dict[str, ParamSlider] = {}
        self._pending_values: dict[str, Any] | None = None
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._throttle.timeout.connect(self._flush)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        box = QGroupBox("Method")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.method_combo = QComboBox()
        self.method_b_combo = QComboBox()
        for d in self._descs.values():
            for c in (self.method_combo, self.method_b_combo):
                c.addItem(_title(d), d.name)
                c.setItemData(c.count() - 1, f"{d.summary}\n{d.paper}", Qt.ItemDataRole.ToolTipRole)
        self.method_combo.setToolTip("Enhancement method (A)")
        self.method_b_combo.setToolTip("Second method for the A/B view")
        form.addRow("A", self.method_combo)
        form.addRow("B", self.method_b_combo)
        self.runtime_label = QLabel("–")
        self.runtime_label.setWordWrap(True)
        self.runtime_label.setToolTip("Runtime and device the method runs on")
        form.addRow("Runtime", self.runtime_label)
        outer.addWidget(box)

        self.params_box = QGroupBox("Parameters")
        self.params_form = QFormLayout(self.params_box)
        self.params_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addWidget(self.params_box)

        pbox = QGroupBox("Presets")
        pv = QVBoxLayout(pbox)
        play = QHBoxLayout()
        self.preset_combo = QComboBox()
        self.preset_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.preset_combo.setToolTip("Load a saved preset")
        self.save_preset_btn = QPushButton("Save…")
        self.save_preset_btn.setToolTip("Save the current method and parameters as a named preset")
        self.delete_preset_btn = QPushButton("Delete")
        pv.addWidget(self.preset_combo)
        pv.addLayout(play)
        play.addWidget(self.save_preset_btn)
        play.addWidget(self.delete_preset_btn)
        outer.addWidget(pbox)
        self.reset_btn = QPushButton("Reset parameters")
        outer.addWidget(self.reset_btn)
        outer.addStretch(1)

        self._refresh_presets()
        first = next(iter(self._descs))
        start_a = settings.method if settings.method in self._descs else first
        others = [n for n in self._descs if n != start_a]
        start_b = settings.method_b if settings.method_b in self._descs else (others[0] if others else start_a)
        self.method_combo.setCurrentIndex(self.method_combo.findData(start_a))
        self.method_b_combo.setCurrentIndex(self.method_b_combo.findData(start_b))
        self._build_sliders(start_a, settings.params_for(start_a))

        self.method_combo.currentIndexChanged.connect(self._method_a_picked)
        self.method_b_combo.currentIndexChanged.connect(self._method_b_picked)
        self.preset_combo.activated.connect(self._preset_picked)
        self.save_preset_btn.clicked.connect(self._save_preset_dialog)
        self.delete_preset_btn.clicked.connect(self._delete_preset)
        self.reset_btn.clicked.connect(self.reset_params)

    # -- state --------------------------------------------------------------------
    @property
    def method(self) -> str:
        return str(self.method_combo.currentData())

    @property
    def method_b(self) -> str:
        return str(self.method_b_combo.currentData())

    def descriptor(self, name: str | None = None) -> MethodDescriptor:
        return self._descs[name or self.method]

    def params(self) -> EnhanceParams:
        """Method A's parameters as shown on the sliders (clamped)."""
        return self.descriptor().params_from(self._values)

    def params_b(self) -> EnhanceParams:
        """Method B's parameters: A's values clamped to B's ranges (B's defaults for the rest)."""
        return self.descriptor(self.method_b).params_from(self._values)

    def slider(self, name: str) -> ParamSlider | None:
        return self._sliders.get(name)

    def set_runtime(self, text: str) -> None:
        self.runtime_label.setText(text)

    # -- building -----------------------------------------------------------------
    def _build_sliders(self, method: str, values: dict[str, Any]) -> None:
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self._sliders.clear()
        d = self._descs[method]
        params = d.params_from(values)
        self._values = params.as_dict()
        for spec in d.params:
            s = ParamSlider(spec, getattr(params, spec.name))
            s.value_changed.connect(self._slider_moved)
            label = QLabel(spec.name.capitalize())
            label.setToolTip(spec.help)
            self.params_form.addRow(label, s)
            self._sliders[spec.name] = s
        if not d.params:
            self.params_form.addRow(QLabel("This method has no parameters."))
        self.params_box.setToolTip(f"{d.title}: {d.summary}")

    def set_method(self, name: str, values: dict[str, Any] | None = None) -> None:
        """Select method A (and its parameter values; None: the last ones used)."""
        if name not in self._descs:
            raise ValueError(f"unknown method {name!r}")
        if values is not None:
            self._pending_values = values
        idx = self.method_combo.findData(name)
        if idx == self.method_combo.currentIndex():
            self._method_a_picked(idx)
        else:
            self.method_combo.setCurrentIndex(idx)

    def set_method_b(self, name: str) -> None:
        self.method_b_combo.setCurrentIndex(self.method_b_combo.findData(name))

    def _method_a_picked(self, _idx: int) -> None:
        name = self.method
        values, self._pending_values = self._pending_values, None
        if values is None:
            values = self.settings.params_for(name)
        self._build_sliders(name, values)
        self.settings.method = name
        self.runtime_label.setText("loading…")
        self.method_changed.emit("a", name, self.params())
        # B follows A's shared parameters
        self.method_changed.emit("b", self.method_b, self.params_b())

    def _method_b_picked(self, _idx: int) -> None:
        self.settings.method_b = self.method_b
        self.method_changed.emit("b", self.method_b, self.params_b())

    def _slider_moved(self, name: str, value: Any) -> None:
        self._values[name] = value
        if not self._throttle.isActive():
            self._throttle.start()

    def _flush(self) -> None:
        p = self.params()
        self.settings.set_params_for(self.method, p)
        self.params_changed.emit(p)

    def reset_params(self) -> None:
        d = self.descriptor()
        for spec in d.params:
            s = self._sliders.get(spec.name)
            if s is not None:
                s.set_value(spec.default)
        self._values = d.default_params().as_dict()
        self._flush()

    # -- presets ------------------------------------------------------------------
    def _refresh_presets(self, select: str | None = None) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        self.preset_combo.addItem("Load preset…", None)
        for name in sorted(self.settings.presets()):
            self.preset_combo.addItem(name, name)
        if select:
            self.preset_combo.setCurrentIndex(self.preset_combo.findData(select))
        self.preset_combo.blockSignals(False)
        self.delete_preset_btn.setEnabled(self.preset_combo.count() > 1)

    def save_preset(self, name: str) -> None:
        """Store the current method and parameters as preset ``name``."""
        name = name.strip()
        if not name:
            return
        self.settings.save_preset(name, self.method, self.params())
        self._refresh_presets(select=name)
        self.preset_message.emit(f"Preset “{name}” saved")

    def load_preset(self, name: str) -> bool:
        """Apply preset ``name``; False when it is missing or names an unknown method."""
        p = self.settings.presets().get(name)
        if not p or p["method"] not in self._descs:
            self.preset_message.emit(f"Preset “{name}” cannot be loaded here")
            return False
        self.set_method(p["method"], dict(p.get("params") or {}))
        self.settings.set_params_for(self.method, self.params())
        self._refresh_presets(select=name)
        self.preset_message.emit(f"Preset “{name}” loaded")
        return True

    def _preset_picked(self, idx: int) -> None:
        name = self.preset_combo.itemData(idx)
        if name:
            self.load_preset(str(name))

    def _save_preset_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:")
        if ok:
            self.save_preset(name)

    def _delete_preset(self) -> None:
        name = self.preset_combo.currentData()
        if name:
            self.settings.delete_preset(str(name))
            self._refresh_presets()
            self.preset_message.emit(f"Preset “{name}” deleted")
