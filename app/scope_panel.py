"""The scope dock's contents: histogram (R, G, B and luma) or luma waveform of the enhanced
frame, and the share of clipped pixels.

The figures come from :func:`engine.lab.scope.measure` (a strided copy of at most
``MAX_PIXELS`` pixels: a few milliseconds for a 1080p frame). The panel only keeps a
reference to the newest frame when one is shown; a timer measures it at most
``1000 / INTERVAL_MS`` times a second, and not at all while the dock is hidden, so the
scope never holds up playback.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.lab.scope import Scope, measure

__all__ = ["ScopePanel", "ScopeView", "INTERVAL_MS", "MAX_PIXELS", "KINDS"]

INTERVAL_MS = 200  # at most five measurements a second
MAX_PIXELS = 160_000
KINDS = {"histogram": "Histogram (R, G, B, luma)", "waveform": "Waveform (luma)"}
_CHANNEL_COLORS = (QColor(235, 70, 70, 110), QColor(70, 210, 90, 110), QColor(80, 130, 255, 110))


class ScopeView(QWidget):
    """Draws one :class:`engine.lab.scope.Scope` as a histogram or a waveform."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(200, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._scope: Scope | None = None
        self._kind = "histogram"
        self._wave_image: QImage | None = None
        self._wave_pixels: np.ndarray | None = None  # keeps the QImage's buffer alive

    def set_scope(self, scope: Scope | None, kind: str) -> None:
        self._scope, self._kind = scope, kind
        self._wave_image = None
        if scope is not None and kind == "waveform":
            self._wave_image = self._waveform_image(scope.waveform)
        self.update()

    def _waveform_image(self, wf: np.ndarray) -> QImage:
        """The (256, columns) counts as a greenish intensity picture, white at the top."""
        col_total = np.maximum(1, wf.sum(axis=0, keepdims=True))
        # square-root of each column's share: faint traces stay visible, strong ones saturate
        v = np.sqrt(wf / col_total) * 4.0
        g = np.clip(v * 255, 0, 255).astype(np.uint8)[::-1]  # row 0 = white (255)
        rgb = np.stack([g // 3, g, g // 2], axis=-1)
        self._wave_pixels = np.ascontiguousarray(rgb)
        h, w = self._wave_pixels.shape[:2]
        return QImage(self._wave_pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(2, 2, -2, -2)
        p.fillRect(self.rect(), QColor(18, 18, 20))
        p.setPen(QPen(QColor(60, 60, 64), 1))
        for i in range(1, 4):  # quarter lines of the level axis
            if self._kind == "histogram":
                x = r.left() + r.width() * i / 4
                p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            else:
                y = r.top() + r.height() * i / 4
                p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        s = self._scope
        if s is None:
            p.setPen(QColor(150, 150, 150))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "No frame")
            return
        if self._kind == "waveform" and self._wave_image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Plus)
            p.drawImage(r, self._wave_image)
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        h = s.histogram.astype(np.float64)
        # the level-0 and level-255 bins often dwarf the rest: scale by the inner bins
        top = max(1.0, float(h[:, 1:255].max()) * 1.1)
        xs = r.left() + (np.arange(256) + 0.5) * r.width() / 256
        for row in range(4):
            ys = r.bottom() - np.minimum(h[row] / top, 1.0) * r.height()
            path = QPainterPath(QPointF(r.left(), r.bottom()))
            for x, y in zip(xs, ys):
                path.lineTo(QPointF(float(x), float(y)))
            if row < 3:
                path.lineTo(QPointF(r.right(), r.bottom()))
                path.closeSubpath()
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(_CHANNEL_COLORS[row])
                p.drawPath(path)
            else:
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.setPen(QPen(QColor(235, 235, 235), 1.2))
                p.drawPath(path)


class ScopePanel(QWidget):
    """Scope kind picker, the scope drawing and the clipped-pixel line.

    Call :meth:`set_frame` with every frame shown (cheap: it keeps a reference); the panel
    measures the newest one at most every ``INTERVAL_MS`` while it is visible.

    Signals:
        measured(object): a new :class:`engine.lab.scope.Scope` was drawn.
    """

    measured = Signal(object)

    def __init__(self, kind: str = "histogram", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind_combo = QComboBox()
        for k, label in KINDS.items():
            self.kind_combo.addItem(label, k)
        self.kind_combo.setToolTip("What the scope shows of the enhanced frame (method A)")
        self.view = ScopeView()
        self.clip_label = QLabel("Clipped: –")
        self.clip_label.setToolTip("Share of pixels with a channel at 0 (crushed shadows) and at 255 "
                                   "(clipped highlights), measured on a reduced copy")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.kind_combo, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.clip_label)
        self._frame: np.ndarray | None = None
        self._fresh = False
        self.scope: Scope | None = None
        self.measurements = 0
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self.set_kind(kind)
        self.kind_combo.currentIndexChanged.connect(lambda _i: self._kind_picked())

    @property
    def kind(self) -> str:
        return str(self.kind_combo.currentData())

    def set_kind(self, kind: str) -> None:
        """Show ``kind`` (a key of :data:`KINDS`)."""
        if kind not in KINDS:
            raise ValueError(f"unknown scope {kind!r}; choose from {', '.join(KINDS)}")
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(kind))
        self.view.set_scope(self.scope, kind)

    def _kind_picked(self) -> None:
        self.view.set_scope(self.scope, self.kind)

    def set_frame(self, frame: np.ndarray | None) -> None:
        """The newest enhanced frame, uint8 (H, W, 3) RGB (None: no source)."""
        self._frame = frame
        self._fresh = frame is not None
        if frame is None:
            self.scope = None
            self.view.set_scope(None, self.kind)
            self.clip_label.setText("Clipped: –")

    def _tick(self) -> None:
        if not self._fresh or self._frame is None or not self.isVisible():
            return
        self._fresh = False
        self.update_now()

    def update_now(self) -> None:
        """Measure the newest frame now (the timer calls this; tests too)."""
        if self._frame is None:
            return
        s = measure(self._frame, MAX_PIXELS)
        self.scope = s
        self.measurements += 1
        self.view.set_scope(s, self.kind)
        self.clip_label.setText(f"Clipped: {_pct(s.at_0)} at 0, {_pct(s.at_255)} at 255")
        self.measured.emit(s)


def _pct(f: float) -> str:
    """A share as a percentage that still shows a few stray pixels."""
    v = f * 100
    if v == 0:
        return "0 %"
    if v < 0.1:
        return "<0.1 %"
    return f"{v:.1f} %"
