"""Full-quality stills: a paused frame enhanced by the method's reference path (the network
at full resolution, e.g. NAFNet's whole-frame run instead of its real-time grid) and saved
as a picture, in a background thread.

:class:`FullQualityStill` is a QObject living in the GUI thread; :meth:`start` runs the
engine in a Python thread and reports through its ``finished`` signal only (queued to the
GUI thread), so no widget is touched from the worker.
"""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.params import EnhanceParams

__all__ = ["FullQualityStill", "render_full_quality"]


def render_full_quality(method: str, frame: np.ndarray, params: EnhanceParams | None) -> np.ndarray:
    """``frame`` (uint8 (H, W, 3) RGB) through ``method``'s reference path with ``params``,
    then the same noise-aware spatial denoise as the fast path's still; uint8 (H, W, 3)."""
    from engine import registry
    from engine.stages.processor import enhance_still

    return enhance_still(registry.create(method), frame, params, reference=True)


class FullQualityStill(QObject):
    """Render and save one full-quality still at a time.

    Signals:
        finished(path, error): ``error`` is "" on success, else one line saying why.
    """

    finished = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, method: str, frame: np.ndarray, params: EnhanceParams | None, path: str) -> bool:
        """Begin rendering ``frame`` with ``method`` into the picture file ``path`` (format
        from its suffix). Returns False (and does nothing) while a still is being made."""
        if self.busy:
            return False
        frame = frame.copy()  # the player may reuse its buffer

        def work() -> None:
            from engine.files.images import write_image

            error = ""
            try:
                write_image(path, render_full_quality(method, frame, params))
            except Exception as exc:  # noqa: BLE001 - reported to the user, one line
                error = (str(exc).splitlines() or [type(exc).__name__])[0]
            try:
                self.finished.emit(path, error)
            except RuntimeError:  # the window was closed meanwhile
                pass

        self._thread = threading.Thread(target=work, name="full-quality-still", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current still is written (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)
