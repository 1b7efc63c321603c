"""The transport's seek bar: a slider in milliseconds that also shows the export in/out points.

The in point is drawn as a green bar, the out point as a red one, and the span between
them (from the start when only the out point is set, to the end when only the in point
is) is tinted, so the range an export of "in/out points" covers is visible at a glance.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QSlider, QStyle, QStyleOptionSlider, QWidget

__all__ = ["SeekBar", "IN_COLOR", "OUT_COLOR"]

IN_COLOR = QColor(60, 200, 90)
OUT_COLOR = QColor(230, 70, 60)
_SPAN_COLOR = QColor(240, 190, 60, 90)


class SeekBar(QSlider):
    """A horizontal slider over the clip in milliseconds with in/out markers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(22)
        self._in: int | None = None
        self._out: int | None = None

    def set_marks(self, in_ms: int | None, out_ms: int | None) -> None:
        """Show the in and out points (milliseconds on the slider's scale; None: not set)."""
        self._in = None if in_ms is None else int(in_ms)
        self._out = None if out_ms is None else int(out_ms)
        self._update_tip()
        self.update()

    def marks(self) -> tuple[int | None, int | None]:
        """(in, out) in milliseconds, None where not set."""
        return self._in, self._out

    def _update_tip(self) -> None:
        if self._in is None and self._out is None:
            self.setToolTip("Seek")
        else:
            def t(ms: int | None, none: str) -> str:
                return none if ms is None else f"{ms / 1000:.2f} s"
            self.setToolTip(f"Seek. Export range: {t(self._in, 'start')} → {t(self._out, 'end')}")

    def mark_x(self, ms: int) -> float:
        """Widget x of the handle's centre when the slider is at ``ms``."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        st = self.style()
        groove = st.subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                   QStyle.SubControl.SC_SliderGroove, self)
        handle = st.subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                   QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        lo, hi = self.minimum(), self.maximum()
        v = min(max(int(ms), lo), hi)
        pos = QStyle.sliderPositionFromValue(lo, hi, v, span, opt.upsideDown)
        return groove.left() + handle.width() / 2 + pos

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if (self._in is None and self._out is None) or self.maximum() <= self.minimum():
            return
        p = QPainter(self)
        h = float(self.height())
        x0 = self.mark_x(self._in if self._in is not None else self.minimum())
        x1 = self.mark_x(self._out if self._out is not None else self.maximum())
        if x1 > x0:
            p.fillRect(QRectF(x0, h * 0.3, x1 - x0, h * 0.4), _SPAN_COLOR)
        for ms, color in ((self._in, IN_COLOR), (self._out, OUT_COLOR)):
            if ms is None:
                continue
            x = self.mark_x(ms)
            p.fillRect(QRectF(x - 1.5, 1, 3, h - 2), color)
        p.end()
