"""The frame viewer: fits frames without distortion and shows the comparison views.

Views (``Viewer.MODES``): ``enhanced``, ``original``, ``split`` (wipe with a draggable
divider: original left, enhanced right), ``side`` (original | enhanced) and ``ab``
(method A | method B on the same frame). The two-pane views put their panes left and
right or top and bottom (``Viewer.LAYOUTS``; ``auto`` picks whichever shows the picture
larger) and push the two pictures together, so the free space is around the pair, not
between them.

Zoom is shared by every pane (the panes always show the same part of the picture): fit,
or a factor from ``ZOOM_MIN`` to ``ZOOM_MAX`` where 1.0 is 100 % (one image pixel per
device pixel). The wheel zooms around the cursor (the image point under it stays put),
double-click zooms to 100 % on the clicked point and back to fit; when zoomed, dragging pans.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["Viewer", "to_qimage", "ZOOM_MIN", "ZOOM_MAX", "WHEEL_STEP"]

ZOOM_MIN = 0.25  # 25 %
ZOOM_MAX = 8.0   # 800 %
WHEEL_STEP = 1.25  # zoom factor per wheel notch (120 eighths of a degree)
PANE_GAP = 4.0  # widget pixels between the two panes


def to_qimage(frame: np.ndarray) -> tuple[QImage, np.ndarray]:
    """A QImage of a uint8 (H, W, 3) RGB array in Qt's native 32-bit format, and the BGRA
    buffer (H, W, 4) behind it (the image does not copy it: keep the buffer alive as long
    as the image). Qt draws that format reduced smoothly about 3.5 times as fast as RGB888
    (a 478×850 frame into 415×740: 0.39 against 1.36 ms of the GUI thread, which shares
    the cores with the enhancement); the conversion costs 0.03 ms."""
    h, w = frame.shape[:2]
    buf = cv2.cvtColor(frame, cv2.COLOR_RGB2BGRA)
    return QImage(buf.data, w, h, 4 * w, QImage.Format.Format_RGB32), buf


class Viewer(QWidget):
    """Shows the latest :class:`app.player.FrameBundle` in the chosen view.

    Signals:
        zoom_changed(bool): zoomed (any factor) or back to fit.
        zoom_factor_changed(float): the zoom factor now shown (1.0 = 100 %; the fit
            factor when fitting).
        split_changed(float): divider position, 0..1 of the picture width.
    """

    MODES = ("enhanced", "original", "split", "side", "ab")
    LABELS = {"enhanced": "Enhanced", "original": "Original", "split": "Split wipe",
              "side": "Side by side", "ab": "A/B methods"}
    LAYOUTS = ("auto", "columns", "rows")
    LAYOUT_LABELS = {"auto": "Panes: automatic", "columns": "Panes: left and right",
                     "rows": "Panes: top and bottom"}

    zoom_changed = Signal(bool)
    zoom_factor_changed = Signal(float)
    split_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 160)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self._mode = "split"
        self._layout = "auto"
        self._split = 0.5
        self._zoom: float | None = None  # None: fit; else the factor (1.0 = 100 %)
        self._center = QPointF(0, 0)  # image point shown at each pane's centre when zoomed
        self._arrays: dict[str, np.ndarray | None] = {"original": None, "enhanced": None, "b": None}
        self._images: dict[str, QImage | None] = {"original": None, "enhanced": None, "b": None}
        self._buffers: list[np.ndarray] = []  # the BGRA pixels behind _images (to_qimage)
        self._titles = {"a": "", "b": ""}
        self._details = {"a": "", "b": ""}
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
    def layout_mode(self) -> str:
        """How the two-pane views place their panes: one of :attr:`LAYOUTS`."""
        return self._layout

    def set_layout_mode(self, layout: str) -> None:
        if layout not in self.LAYOUTS:
            raise ValueError(f"unknown pane layout {layout!r}; choose from {', '.join(self.LAYOUTS)}")
        self._layout = layout
        self.update()

    def stacked(self) -> bool:
        """True when the two-pane views put their panes top and bottom now (``auto``:
        when that shows the picture larger than left and right)."""
        if self._layout != "auto":
            return self._layout == "rows"
        size = self.image_size()
        if size is None:
            return False
        iw, ih = size.width(), size.height()
        w, h = float(self.width()), float(self.height())
        s_cols = min((w - PANE_GAP) / 2 / iw, h / ih)
        s_rows = min(w / iw, (h - PANE_GAP) / 2 / ih)
        return s_rows > s_cols * 1.0001

    @property
    def split(self) -> float:
        return self._split

    def set_split(self, x: float) -> None:
        self._split = float(min(1.0, max(0.0, x)))
        self.split_changed.emit(self._split)
        self.update()

    @property
    def zoomed(self) -> bool:
        """True at any zoom factor, False when fitting."""
        return self._zoom is not None

    def zoom_factor(self) -> float:
        """The factor shown now: 1.0 = 100 %; when fitting, the fit's factor (1.0 without a picture)."""
        if self._zoom is not None:
            return self._zoom
        size = self.image_size()
        if size is None:
            return 1.0
        pane = self._panes()[0]
        s = min(pane.width() / size.width(), pane.height() / size.height())
        return s * self.devicePixelRatioF()

    def set_zoom(self, on: bool, center: QPointF | None = None) -> None:
        """100 % zoom on (centred on ``center`` in image pixels, default: the middle) or fit."""
        self.set_zoom_factor(1.0 if on else None, center=center)

    def set_zoom_factor(self, factor: float | None, center: QPointF | None = None,
                        anchor: QPointF | None = None) -> None:
        """Zoom to ``factor`` (clamped to ``ZOOM_MIN``..``ZOOM_MAX``; None: fit).

        ``anchor`` (widget pixels) keeps the image point under it in place, as the wheel
        does; else ``center`` (image pixels) goes to the panes' centre; else the centre stays.
        """
        size = self.image_size()
        was = self._zoom
        if factor is None:
            self._zoom = None
        else:
            new = float(min(ZOOM_MAX, max(ZOOM_MIN, factor)))
            if anchor is not None and size is not None:
                pane = self._pane_at(anchor)
                pt = self._image_point(pane, anchor)
                self._zoom = new
                s = self._scale(pane)
                self._center = QPointF(pt.x() - (anchor.x() - pane.center().x()) / s,
                                       pt.y() - (anchor.y() - pane.center().y()) / s)
            else:
                if center is None and was is None and size is not None:
                    center = QPointF(size.width() / 2, size.height() / 2)
                if center is not None:
                    self._center = QPointF(center)
                self._zoom = new
            self._center = self._effective_center(self._panes()[0])
        if (was is None) != (self._zoom is None):
            self.zoom_changed.emit(self._zoom is not None)
        if was != self._zoom:
            self.zoom_factor_changed.emit(self.zoom_factor())
        self.update()

    def set_titles(self, a: str, b: str, detail_a: str = "", detail_b: str = "") -> None:
        """Display names of method A and method B (drawn as labels); ``detail_a`` and
        ``detail_b`` (e.g. the settings in which A and B differ) follow the names in the
        A/B view's labels."""
        self._titles = {"a": a, "b": b}
        self._details = {"a": detail_a, "b": detail_b}
        self.update()

    def pane_labels(self) -> list[str]:
        """The labels drawn on the panes of the current view, left/top first."""
        a_title = self._titles["a"] or "Enhanced"
        if self._mode == "enhanced":
            return [a_title]
        if self._mode == "original":
            return ["Original"]
        if self._mode in ("split", "side"):
            return ["Original", a_title]

        def full(slot: str, title: str) -> str:
            d = self._details[slot]
            return f"{slot.upper()}: {title}" + (f" · {d}" if d else "")

        return [full("a", a_title), full("b", self._titles["b"] or "?")]

    def set_message(self, text: str) -> None:
        """Text shown when there is no frame (e.g. "No camera found")."""
        self._message = text
        self.update()

    def set_frames(self, original: np.ndarray, enhanced: np.ndarray,
                   enhanced_b: np.ndarray | None = None) -> None:
        """Show new frames: uint8 (H, W, 3) RGB arrays, all the same size."""
        self._arrays = {"original": original, "enhanced": enhanced, "b": enhanced_b}
        shown = {k: (to_qimage(v) if v is not None else None) for k, v in self._arrays.items()}
        self._images = {k: (q[0] if q is not None else None) for k, q in shown.items()}
        self._buffers = [q[1] for q in shown.values() if q is not None]  # what the images show
        self.update()

    def clear(self, message: str = "No source") -> None:
        self._arrays = {"original": None, "enhanced": None, "b": None}
        self._images = {"original": None, "enhanced": None, "b": None}
        self._buffers = []
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
            if self.stacked():
                h = (r.height() - PANE_GAP) / 2
                return [QRectF(r.left(), r.top(), r.width(), h),
                        QRectF(r.left(), r.top() + h + PANE_GAP, r.width(), h)]
            w = (r.width() - PANE_GAP) / 2
            return [QRectF(r.left(), r.top(), w, r.height()),
                    QRectF(r.left() + w + PANE_GAP, r.top(), w, r.height())]
        return [r]

    def _pane_at(self, pos: QPointF) -> QRectF:
        panes = self._panes()
        for pane in panes:
            if pane.contains(pos):
                return pane
        return panes[0]

    def _align(self, pane: QRectF) -> tuple[float, float]:
        """Share of a pane's free space put before the picture, (x, y): the two panes'
        pictures are pushed towards each other."""
        r = QRectF(self.rect())
        if self._mode not in ("side", "ab"):
            return 0.5, 0.5
        if self.stacked():
            return 0.5, (1.0 if pane.bottom() < r.bottom() - 1 else 0.0)
        return (1.0 if pane.right() < r.right() - 1 else 0.0), 0.5

    def _scale(self, pane: QRectF) -> float:
        """Widget pixels per image pixel in ``pane``."""
        size = self.image_size()
        if size is None:
            return 1.0
        if self._zoom is None:
            return min(pane.width() / size.width(), pane.height() / size.height())
        return self._zoom / max(1e-6, self.devicePixelRatioF())

    def _effective_center(self, pane: QRectF) -> QPointF:
        """The zoom centre clamped so the view stays on the picture."""
        size = self.image_size()
        if size is None:
            return QPointF(self._center)
        iw, ih = size.width(), size.height()
        s = self._scale(pane)
        sw, sh = min(iw, pane.width() / s), min(ih, pane.height() / s)
        return QPointF(min(max(self._center.x(), sw / 2), iw - sw / 2),
                       min(max(self._center.y(), sh / 2), ih - sh / 2))

    def _mapping(self, pane: QRectF) -> tuple[QRectF, QRectF]:
        """(source rect in image pixels, target rect in widget pixels) for ``pane``."""
        size = self.image_size()
        if size is None:
            return QRectF(), QRectF()
        iw, ih = size.width(), size.height()
        s = self._scale(pane)
        if self._zoom is None:  # the whole picture, exactly
            sw, sh = float(iw), float(ih)
            src = QRectF(0, 0, sw, sh)
        else:
            sw, sh = min(iw, pane.width() / s), min(ih, pane.height() / s)
            c = self._effective_center(pane)
            src = QRectF(c.x() - sw / 2, c.y() - sh / 2, sw, sh)
        tw, th = sw * s, sh * s
        ax, ay = self._align(pane)
        target = QRectF(pane.left() + (pane.width() - tw) * ax,
                        pane.top() + (pane.height() - th) * ay, tw, th)
        return src, target

    def _image_point(self, pane: QRectF, pos: QPointF) -> QPointF:
        """Image point under widget point ``pos`` in ``pane``, clamped to the picture."""
        src, tgt = self._mapping(pane)
        if tgt.isEmpty():
            return QPointF()
        x = src.left() + (pos.x() - tgt.left()) * src.width() / tgt.width()
        y = src.top() + (pos.y() - tgt.top()) * src.height() / tgt.height()
        return QPointF(min(max(x, src.left()), src.right()), min(max(y, src.top()), src.bottom()))

    def widget_to_image(self, pos: QPointF) -> QPointF | None:
        """Image pixel under widget point ``pos`` (None outside the picture)."""
        for pane in self._panes():
            if pane.contains(pos):
                src, tgt = self._mapping(pane)
                if tgt.isEmpty() or not tgt.contains(pos):
                    return None
                return self._image_point(pane, pos)
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
        w = min(w, max(40.0, rect.width() - 16))  # a long label is elided, not spilled
        x = rect.right() - w - 8 if right else rect.left() + 8
        y = rect.bottom() - h - 8 if bottom else rect.top() + 8
        box = QRectF(x, y, w, h)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor(235, 235, 235))
        shown = fm.elidedText(text, Qt.TextElideMode.ElideRight, int(w - 8))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, shown)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 26))
        # actual pixels from 100 % up (for pixel peeping); smooth when reducing
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform,
                        self._zoom is None or self._zoom < 1.0)
        f = QFont(p.font())
        f.setPointSizeF(max(8.0, f.pointSizeF() * 0.95))
        p.setFont(f)
        orig, enh, b = self._images["original"], self._images["enhanced"], self._images["b"]
        if orig is None or enh is None:
            p.setPen(QColor(170, 170, 170))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        labels = self.pane_labels()
        panes = self._panes()
        if self._mode in ("enhanced", "original"):
            img = enh if self._mode == "enhanced" else orig
            src, tgt = self._mapping(panes[0])
            p.drawImage(tgt, img, src)
            self._label(p, tgt, labels[0])
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
            self._label(p, tgt, labels[0])
            self._label(p, tgt, labels[1], right=True)
        else:
            imgs = [orig, enh] if self._mode == "side" else [enh, b]
            for pane, img, title in zip(panes, imgs, labels):
                src, tgt = self._mapping(pane)
                if img is None:
                    p.setPen(QColor(170, 170, 170))
                    p.drawText(pane, Qt.AlignmentFlag.AlignCenter, "Preparing method B…")
                    continue
                p.drawImage(tgt, img, src)
                self._label(p, tgt, title)
        if self._zoom is not None:
            self._label(p, QRectF(self.rect()),
                        f"{self._zoom * 100:.0f} % (double-click or Esc: fit)", bottom=True)

    # -- mouse --------------------------------------------------------------------
    def wheelEvent(self, e: QWheelEvent) -> None:  # noqa: N802 - Qt API
        steps = e.angleDelta().y() / 120.0
        if not steps or self.image_size() is None:
            return super().wheelEvent(e)
        self.set_zoom_factor(self.zoom_factor() * WHEEL_STEP ** steps, anchor=e.position())
        e.accept()

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if e.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(e)
        pos = e.position()
        dx = self._divider_x()
        if dx is not None and abs(pos.x() - dx) <= 10:
            self._drag = "split"
        elif self._zoom is not None:
            self._drag = "pan"
            self._drag_from = QPointF(pos)
            self._drag_center = self._effective_center(self._panes()[0])
        e.accept()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        pos = e.position()
        if self._drag == "split":
            _, tgt = self._mapping(self._panes()[0])
            if tgt.width() > 0:
                self.set_split((pos.x() - tgt.left()) / tgt.width())
        elif self._drag == "pan":
            pane = self._panes()[0]
            d = (pos - self._drag_from) / self._scale(pane)
            self._center = self._drag_center - d
            self._center = self._effective_center(pane)
            self.update()
        else:
            dx = self._divider_x()
            near = dx is not None and abs(pos.x() - dx) <= 10
            self.setCursor(Qt.CursorShape.SplitHCursor if near else
                           (Qt.CursorShape.OpenHandCursor if self._zoom is not None
                            else Qt.CursorShape.ArrowCursor))

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        self._drag = None

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if self._zoom is not None:
            self.set_zoom(False)
            return
        pt = self.widget_to_image(e.position())
        if pt is not None:
            self.set_zoom(True, pt)
