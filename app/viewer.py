"""The frame viewer: fits frames without distortion and shows the comparison views.

Views (``Viewer.MODES``): ``enhanced``, ``original``, ``split`` (wipe with a draggable
divider: original left, enhanced right), ``side`` (original | enhanced) and ``ab``
(method A | method B on the same frame). Double-click zooms to 100 % on the clicked
point (1 image pixel = 1 screen pixel) and back; at 100 % dragging pans.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["Viewer", "to_qimage"]


def to_qimage(frame: np.ndarray) -> QImage:
    """Wrap a uint8 (H, W, 3) RGB C-contiguous array as a QImage (no copy: keep the
    array alive as long as the image)."""
    h, w = frame.shape[:2]
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)


class Viewer(QWidget):
    """Shows the latest :class:`app.player.FrameBundle` in the chosen view.

    Signals:
        zoom_changed(bool): 100 % zoom switched on or off.
        split_changed(float): divider position, 0..1 of the picture width.
    """

    MODES = ("enhanced", "original", "split", "side", "ab")
    LABELS = {"enhanced": "Enhanced", "original": "Original", "split": "Split wipe",
              "side": "Side by side", "ab": "A/B methods"}

    zoom_changed = Signal(bool)
    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 160)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._mode = "split"
        self._split = 0.5
        self._zoom = False
        self._center = QPointF(0, 0)  # image coordinates shown at each pane's centre at 100 %
        self._arrays: dict[str, np.ndarray | None] = {"original": None, "enhanced": None, "b": None}
        self._images: dict[str, QImage | None] = {"original": None, "enhanced": None, "b": None}
        self._titles = {"a": "", "b": ""}
        self._message = "No source"
        self._drag: str | None = None
        self._drag_from = QPointF()
        self._drag_center = QPointF()

    # -- state --------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"unknown view {mode!r}; choose from {', '.join(self.MODES)}")
        self._mode = mode
        self.update()

    @property
    def split(self) -> float:
        return self._split

    def set_split(self, x: float) -> None:
        self._split = float(min(1.0, max(0.0, x)))
        self.split_changed.emit(self._split)
        self.update()

    @property
    def zoomed(self) -> bool:
        return self._zoom

    def set_zoom(self, on: bool, center: QPointF | None = None) -> None:
        """100 % zoom on (centred on ``center`` in image pixels, default: the middle) or fit."""
        size = self.image_size()
        if center is None:
            center = QPointF(size.width() / 2, size.height() / 2) if size else QPointF()
        self._center = QPointF(center)
        if on != self._zoom:
            self._zoom = on
            self.zoom_changed.emit(on)
        self.update()

    def set_titles(self, a: str, b: str) -> None:
        """Display names of method A and method B (drawn as labels)."""
        self._titles = {"a": a, "b": b}
        self.update()

    def set_message(self, text: str) -> None:
        """Text shown when there is no frame (e.g. "No camera found")."""
        self._message = text
        self.update()

    def set_frames(self, original: np.ndarray, enhanced: np.ndarray,
                   enhanced_b: np.ndarray | None = None) -> None:
        """Show new frames: uint8 (H, W, 3) RGB arrays, all the same size."""
        self._arrays = {"original": original, "enhanced": enhanced, "b": enhanced_b}
        self._images = {k: (to_qimage(v) if v is not None else None) for k, v in self._arrays.items()}
        self.update()

    def clear(self, message: str = "No source") -> None:
        self._arrays = {"original": None, "enhanced": None, "b": None}
        self._images = {"original": None, "enhanced": None, "b": None}
        self._message = message
        self.update()

    def image_size(self) -> QSize | None:
        img = self._images["original"]
        return img.size() if img is not None else None

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(800, 480)

    # -- geometry -----------------------------------------------------------------
    def _panes(self) -> list[QRectF]:
        r = QRectF(self.rect())
        if self._mode in ("side", "ab"):
            gap = 4.0
            w = (r.width() - gap) / 2
            return [QRectF(r.left(), r.top(), w, r.height()),
                    QRectF(r.left() + w + gap, r.top(), w, r.height())]
        return [r]

    def _mapping(self, pane: QRectF) -> tuple[QRectF, QRectF]:
        """(source rect in image pixels, target rect in widget pixels) for ``pane``."""
        size = self.image_size()
        if size is None:
            return QRectF(), QRectF()
        iw, ih = size.width(), size.height()
        if not self._zoom:
            s = min(pane.width() / iw, pane.height() / ih)
            tw, th = iw * s, ih * s
            target = QRectF(pane.left() + (pane.width() - tw) / 2,
                            pane.top() + (pane.height() - th) / 2, tw, th)
            return QRectF(0, 0, iw, ih), target
        # 100 %: one image pixel per device pixel
        s = 1.0 / max(1e-6, self.devicePixelRatioF())
        vw, vh = pane.width() / s, pane.height() / s  # visible image pixels
        sw, sh = min(iw, vw), min(ih, vh)
        cx = min(max(self._center.x(), sw / 2), iw - sw / 2)
        cy = min(max(self._center.y(), sh / 2), ih - sh / 2)
        src = QRectF(cx - sw / 2, cy - sh / 2, sw, sh)
        tw, th = sw * s, sh * s
        target = QRectF(pane.left() + (pane.width() - tw) / 2,
                        pane.top() + (pane.height() - th) / 2, tw, th)
        return src, target

    def widget_to_image(self, pos: QPointF) -> QPointF | None:
        """Image pixel under widget point ``pos`` (None outside the picture)."""
        for pane in self._panes():
            if pane.contains(pos):
                src, tgt = self._mapping(pane)
                if tgt.isEmpty() or not tgt.contains(pos):
                    return None
                return QPointF(src.left() + (pos.x() - tgt.left()) * src.width() / tgt.width(),
                               src.top() + (pos.y() - tgt.top()) * src.height() / tgt.height())
        return None

    def _divider_x(self) -> float | None:
        if self._mode != "split" or self.image_size() is None:
            return None
        _, tgt = self._mapping(self._panes()[0])
        return tgt.left() + self._split * tgt.width()

    # -- painting -----------------------------------------------------------------
    def _label(self, p: QPainter, rect: QRectF, text: str, right: bool = False,
               bottom: bool = False) -> None:
        if not text:
            return
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 6
        x = rect.right() - w - 8 if right else rect.left() + 8
        y = rect.bottom() - h - 8 if bottom else rect.top() + 8
        box = QRectF(x, y, w, h)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor(235, 235, 235))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 26))
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not self._zoom)
        f = QFont(p.font())
        f.setPointSizeF(max(8.0, f.pointSizeF() * 0.95))
        p.setFont(f)
        orig, enh, b = self._images["original"], self._images["enhanced"], self._images["b"]
        if orig is None or enh is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        a_title = self._titles["a"] or "Enhanced"
        panes = self._panes()
        if self._mode in ("enhanced", "original"):
            img = enh if self._mode == "enhanced" else orig
            src, tgt = self._mapping(panes[0])
            p.drawImage(tgt, img, src)
            self._label(p, tgt, a_title if self._mode == "enhanced" else "Original")
        elif self._mode == "split":
            src, tgt = self._mapping(panes[0])
            x = tgt.left() + self._split * tgt.width()
            p.save()
            p.setClipRect(QRectF(tgt.left(), tgt.top(), x - tgt.left(), tgt.height()))
            p.drawImage(tgt, orig, src)
            p.setClipRect(QRectF(x, tgt.top(), tgt.right() - x, tgt.height()))
            p.drawImage(tgt, enh, src)
            p.restore()
            p.setPen(QPen(QColor(255, 255, 255, 220), 2))
            p.drawLine(QPointF(x, tgt.top()), QPointF(x, tgt.bottom()))
            p.setBrush(QColor(255, 255, 255, 220))
            p.drawEllipse(QPointF(x, tgt.center().y()), 7, 7)
            self._label(p, tgt, "Original")
            self._label(p, tgt, a_title, right=True)
        else:
            if self._mode == "side":
                pairs = [(orig, "Original"), (enh, a_title)]
            else:
                pairs = [(enh, "A: " + a_title),
                         (b, "B: " + (self._titles["b"] or "?"))]
            for pane, (img, title) in zip(panes, pairs):
                src, tgt = self._mapping(pane)
                if img is None:
                    p.setPen(QColor(170, 170, 170))
                    p.drawText(pane, Qt.AlignmentFlag.AlignCenter, "Preparing method B…")
                    continue
                p.drawImage(tgt, img, src)
                self._label(p, tgt, title)
        if self._zoom:
            self._label(p, QRectF(self.rect()), "100 % (double-click or Esc: fit)", bottom=True)

    # -- mouse --------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if e.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(e)
        pos = e.position()
        dx = self._divider_x()
        if dx is not None and abs(pos.x() - dx) <= 10:
            self._drag = "split"
        elif self._zoom:
            self._drag = "pan"
            self._drag_from = QPointF(pos)
            self._drag_center = QPointF(self._center)
        e.accept()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        pos = e.position()
        if self._drag == "split":
            _, tgt = self._mapping(self._panes()[0])
            if tgt.width() > 0:
                self.set_split((pos.x() - tgt.left()) / tgt.width())
        elif self._drag == "pan":
            s = 1.0 / max(1e-6, self.devicePixelRatioF())
            d = (pos - self._drag_from) / s
            size = self.image_size()
            c = self._drag_center - d
            if size is not None:
                c = QPointF(min(max(c.x(), 0), size.width()), min(max(c.y(), 0), size.height()))
            self._center = c
            self.update()
        else:
            dx = self._divider_x()
            near = dx is not None and abs(pos.x() - dx) <= 10
            self.setCursor(Qt.CursorShape.SplitHCursor if near else
                           (Qt.CursorShape.OpenHandCursor if self._zoom else Qt.CursorShape.ArrowCursor))

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._drag = None

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._zoom:
            self.set_zoom(False)
            return
        pt = self.widget_to_image(e.position())
        if pt is not None:
            self.set_zoom(True, pt)
