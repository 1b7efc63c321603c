"""Enhancement controls built from the method registry.

The method lists, the sliders (range, step, default, tooltip) and the About text all come
from :func:`engine.registry.descriptors`; nothing here names a method or a range.
Method A and method B (the A/B view's second side) each have their own method and their
own sliders, so one method can be compared with itself at two settings. *Link A and B*
makes a slider move on one side move the same parameter on the other side (every
parameter when both sides use the same method). Slider moves are coalesced by a short
timer and leave as one ``params_changed`` (A) or ``params_b_changed`` (B) signal.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QInputDialog, QLabel, QPushButton,
    QSizePolicy, QSlider, QVBoxLayout, QWidget,
)

from engine import registry
from engine.params import EnhanceParams, ParamSpec
from engine.enhancer import MethodDescriptor

__all__ = ["ControlsPanel", "ParamSlider", "THROTTLE_MS", "describe_difference", "format_value"]

THROTTLE_MS = 40  # slider moves within this window reach the worker as one update


def format_value(spec: ParamSpec, value: float | int) -> str:
    """A parameter value as the sliders show it (integers plain, others with 2 decimals)."""
    return str(int(value)) if spec.is_int else f"{float(value):.2f}"


def describe_difference(a: MethodDescriptor, params_a: EnhanceParams,
                        b: MethodDescriptor, params_b: EnhanceParams) -> tuple[str, str]:
    """The settings in which A and B differ, as two short texts for the panes' labels.

    Only parameters both methods have are compared (each side's own are its method's
    business), in A's descriptor order, e.g. ``("strength 1.00", "strength 1.50")``.
    Two empty texts when they agree on all of them.
    """
    left, right = [], []
    for spec in a.params:
        spec_b = b.spec(spec.name)
        if spec_b is None:
            continue
        va, vb = getattr(params_a, spec.name), getattr(params_b, spec.name)
        if format_value(spec, va) != format_value(spec_b, vb):
            left.append(f"{spec.name} {format_value(spec, va)}")
            right.append(f"{spec.name} {format_value(spec_b, vb)}")
    return ", ".join(left), ", ".join(right)


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
        self.value_label.setText(format_value(self.spec, v))

    def _moved(self, _tick: int) -> None:
        v = self.value()
        self._show(v)
        self.value_changed.emit(self.spec.name, v)


def _title(d: MethodDescriptor) -> str:
    return f"{d.title}" + ("" if d.family == "learned" else " (classical)")


class _Side:
    """One side's controls (method A or B): a method combo and that method's sliders."""

    def __init__(self, slot: str, descs: dict[str, MethodDescriptor], box: QGroupBox) -> None:
        self.slot = slot
        self.box = box
        self.combo = QComboBox()
        for d in descs.values():
            self.combo.addItem(_title(d), d.name)
            self.combo.setItemData(self.combo.count() - 1, f"{d.summary}\n{d.paper}",
                                   Qt.ItemDataRole.ToolTipRole)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.values: dict[str, Any] = {}
        self.sliders: dict[str, ParamSlider] = {}
        self.dirty = False

    @property
    def method(self) -> str:
        return str(self.combo.currentData())


class ControlsPanel(QWidget):
    """Method pickers and parameter sliders for A and B, the link, runtime line and presets.

    Signals:
        method_changed(str, str, object): (slot "a"/"b", method name, EnhanceParams).
        params_changed(object): new EnhanceParams for method A, at most once per ``THROTTLE_MS``.
        params_b_changed(object): same for method B.
        preset_message(str): a short status message about presets.
    """

    method_changed = Signal(str, str, object)
    params_changed = Signal(object)
    params_b_changed = Signal(object)
    preset_message = Signal(str)

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._descs = {d.name: d for d in registry.descriptors()}
        self._pending_values: dict[str, Any] | None = None
        self._throttle = QTimer(self)
        self._throttle.setSingleShot(True)
        self._throttle.setInterval(THROTTLE_MS)
        self._throttle.timeout.connect(self._flush)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        self.params_box = QGroupBox("Method A")
        self._a = _Side("a", self._descs, self.params_box)
        va = QVBoxLayout(self.params_box)
        self.method_combo = self._a.combo
        self.method_combo.setToolTip("Enhancement method (A): the picture in every view")
        va.addWidget(self.method_combo)
        va.addLayout(self._a.form)
        self.params_form = self._a.form
        rt = QFormLayout()
        self.runtime_label = QLabel("–")
        self.runtime_label.setWordWrap(True)
        self.runtime_label.setToolTip("Runtime and device the method runs on")
        rt.addRow("Runtime", self.runtime_label)
        va.addLayout(rt)
        self.reset_btn = QPushButton("Reset A")
        self.reset_btn.setToolTip("Method A's parameters back to the method's defaults")
        va.addWidget(self.reset_btn)
        outer.addWidget(self.params_box)

        self.params_b_box = QGroupBox("Method B (A/B view)")
        self._b = _Side("b", self._descs, self.params_b_box)
        vb = QVBoxLayout(self.params_b_box)
        self.method_b_combo = self._b.combo
        self.method_b_combo.setToolTip("Second side of the A/B view: another method, or the same "
                                       "method at other settings")
        vb.addWidget(self.method_b_combo)
        self.link_box = QCheckBox("Link A and B")
        self.link_box.setToolTip("A slider move on one side moves the same parameter on the other "
                                 "(all of them when A and B use the same method)")
        vb.addWidget(self.link_box)
        vb.addLayout(self._b.form)
        self.same_label = QLabel("B is the same as A: move a B slider (or pick another method) "
                                 "to compare.")
        self.same_label.setWordWrap(True)
        self.same_label.setStyleSheet("color: #c9a227;")
        vb.addWidget(self.same_label)
        self.reset_b_btn = QPushButton("Reset B")
        self.reset_b_btn.setToolTip("Method B's parameters back to the method's defaults")
        vb.addWidget(self.reset_b_btn)
        outer.addWidget(self.params_b_box)

        pbox = QGroupBox("Presets (method A)")
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
        outer.addStretch(1)

        self._refresh_presets()
        first = next(iter(self._descs))
        start_a = settings.method if settings.method in self._descs else first
        others = [n for n in self._descs if n != start_a]
        start_b = settings.method_b if settings.method_b in self._descs else (others[0] if others else start_a)
        self.method_combo.setCurrentIndex(self.method_combo.findData(start_a))
        self.method_b_combo.setCurrentIndex(self.method_b_combo.findData(start_b))
        self.link_box.setChecked(bool(settings.link_ab))
        self._build_sliders(self._a, start_a, settings.params_for(start_a))
        self._build_sliders(self._b, start_b, self._stored_b(start_b))

        self.method_combo.currentIndexChanged.connect(self._method_a_picked)
        self.method_b_combo.currentIndexChanged.connect(self._method_b_picked)
        self.link_box.toggled.connect(self._link_toggled)
        self.preset_combo.activated.connect(self._preset_picked)
        self.save_preset_btn.clicked.connect(self._save_preset_dialog)
        self.delete_preset_btn.clicked.connect(self._delete_preset)
        self.reset_btn.clicked.connect(self.reset_params)
        self.reset_b_btn.clicked.connect(self.reset_params_b)

    # -- state --------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self._a.method

    @property
    def method_b(self) -> str:
        return self._b.method

    @property
    def _values(self) -> dict[str, Any]:
        """Method A's current values (the dict itself: tests and presets write into it)."""
        return self._a.values

    @property
    def linked(self) -> bool:
        return self.link_box.isChecked()

    def set_linked(self, on: bool) -> None:
        self.link_box.setChecked(on)

    def descriptor(self, name: str | None = None) -> MethodDescriptor:
        return self._descs[name or self.method]

    def params(self) -> EnhanceParams:
        """Method A's parameters as shown on A's sliders (clamped)."""
        return self.descriptor().params_from(self._a.values)

    def params_b(self) -> EnhanceParams:
        """Method B's parameters as shown on B's sliders (clamped)."""
        return self.descriptor(self.method_b).params_from(self._b.values)

    def slider(self, name: str) -> ParamSlider | None:
        """Method A's slider for parameter ``name`` (None when A has no such parameter)."""
        return self._a.sliders.get(name)

    def slider_b(self, name: str) -> ParamSlider | None:
        """Method B's slider for parameter ``name``."""
        return self._b.sliders.get(name)

    def difference(self) -> tuple[str, str]:
        """The settings in which A and B differ (see :func:`describe_difference`)."""
        return describe_difference(self.descriptor(), self.params(),
                                   self.descriptor(self.method_b), self.params_b())

    def set_runtime(self, text: str) -> None:
        self.runtime_label.setText(text)

    def _stored_b(self, method: str) -> dict[str, Any]:
        """B's last values for ``method``; A's last ones for it when B never used it."""
        return self.settings.params_b_for(method) or self.settings.params_for(method)

    # -- building -----------------------------------------------------------------
    def _build_sliders(self, side: _Side, method: str, values: dict[str, Any]) -> None:
        form = side.form
        while form.rowCount():
            form.removeRow(0)
        side.sliders.clear()
        d = self._descs[method]
        params = d.params_from(values)
        side.values.clear()
        side.values.update(params.as_dict())
        for spec in d.params:
            s = ParamSlider(spec, getattr(params, spec.name))
            s.value_changed.connect(lambda n, v, sd=side: self._slider_moved(n, v, sd))
            label = QLabel(spec.name.capitalize())
            label.setToolTip(spec.help)
            form.addRow(label, s)
            side.sliders[spec.name] = s
        if not d.params:
            form.addRow(QLabel("This method has no parameters."))
        side.box.setToolTip(f"{d.title}: {d.summary}")
        self._show_same()

    def _show_same(self) -> None:
        if not hasattr(self, "same_label") or not self._b.values or not self._a.values:
            return
        self.same_label.setVisible(self.method == self.method_b and self.params() == self.params_b())

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
        """Select method B (with the values B last used for it)."""
        if name not in self._descs:
            raise ValueError(f"unknown method {name!r}")
        self.method_b_combo.setCurrentIndex(self.method_b_combo.findData(name))

    def _method_a_picked(self, _idx: int) -> None:
        name = self.method
        values, self._pending_values = self._pending_values, None
        if values is None:
            values = self.settings.params_for(name)
        self._build_sliders(self._a, name, values)
        self.settings.method = name
        self.runtime_label.setText("loading…")
        self.method_changed.emit("a", name, self.params())

    def _method_b_picked(self, _idx: int) -> None:
        name = self.method_b
        self._build_sliders(self._b, name, self._stored_b(name))
        self.settings.method_b = name
        self.method_changed.emit("b", name, self.params_b())

    def _link_toggled(self, on: bool) -> None:
        self.settings.link_ab = on

    def _slider_moved(self, name: str, value: Any, side: _Side | None = None) -> None:
        side = side or self._a
        side.values[name] = value
        side.dirty = True
        other = self._b if side is self._a else self._a
        if self.linked and name in other.sliders:
            s = other.sliders[name]
            s.set_value(value)  # clamped to the other method's range; emits nothing
            other.values[name] = s.value()
            other.dirty = True
        if not self._throttle.isActive():
            self._throttle.start()

    def _flush(self) -> None:
        if self._a.dirty or not self._b.dirty:
            self._a.dirty = False
            p = self.params()
            self.settings.set_params_for(self.method, p)
            self.params_changed.emit(p)
        if self._b.dirty:
            self._b.dirty = False
            pb = self.params_b()
            self.settings.set_params_b_for(self.method_b, pb)
            self.params_b_changed.emit(pb)
        self._show_same()

    def _reset(self, side: _Side) -> None:
        d = self.descriptor(side.method)
        for spec in d.params:
            s = side.sliders.get(spec.name)
            if s is not None:
                s.set_value(spec.default)
        side.values.clear()
        side.values.update(d.default_params().as_dict())
        side.dirty = True
        self._flush()

    def reset_params(self) -> None:
        """Method A's parameters back to its method's defaults."""
        self._reset(self._a)

    def reset_params_b(self) -> None:
        """Method B's parameters back to its method's defaults."""
        self._reset(self._b)

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
