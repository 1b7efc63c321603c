"""Camera picker: lists the cameras the engine finds (probed off the GUI thread)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout,
    QWidget,
)

__all__ = ["CameraDialog"]


class _Probe(QObject):
    """Carries the probe result from the worker thread to the dialog (queued signal)."""

    done = Signal(object, str)  # (list of camera dicts, error message)


class CameraDialog(QDialog):
    """Pick a camera from :func:`engine.video.sources.list_cameras`.

    After ``exec()`` returns Accepted, ``spec`` holds the chosen source spec (``camera:N``).
    When nothing is found the dialog says so plainly and offers Refresh.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open camera")
        self.spec: str | None = None
        self.cameras: list[dict] = []
        lay = QVBoxLayout(self)
        self.status = QLabel("Looking for cameras…")
        self.status.setWordWrap(True)
        self.list = QListWidget()
        lay.addWidget(self.status)
        lay.addWidget(self.list, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.refresh_btn = QPushButton("Refresh")
        self.buttons.addButton(self.refresh_btn, QDialogButtonBox.ButtonRole.ActionRole)
        lay.addWidget(self.buttons)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        self.refresh_btn.clicked.connect(self.refresh)
        self.list.itemDoubleClicked.connect(lambda _i: self._accept())
        self._probe = _Probe(self)
        self._probe.done.connect(self._found)
        self.resize(380, 260)
        self.refresh()

    def refresh(self) -> None:
        """Probe cameras again in a background thread."""
        self.list.clear()
        self.status.setText("Looking for cameras…")
        self.refresh_btn.setEnabled(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(False)
        probe = self._probe

        def work() -> None:
            try:
                from engine.video.sources import list_cameras

                result, error = list_cameras(), ""
            except Exception as exc:  # noqa: BLE001 - shown in the dialog
                result, error = [], str(exc) or type(exc).__name__
            try:
                probe.done.emit(result, error)
            except RuntimeError:  # the dialog was closed meanwhile
                pass

        threading.Thread(target=work, name="camera-probe", daemon=True).start()

    def _found(self, cams: list, error: str) -> None:
        self.cameras = list(cams)
        self.refresh_btn.setEnabled(True)
        for cam in self.cameras:
            text = f"{cam.get('name', cam['spec'])}  ({cam.get('width', '?')}×{cam.get('height', '?')})"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, cam["spec"])
            self.list.addItem(item)
        if error:
            self.status.setText(f"Could not list cameras: {error}")
        elif not self.cameras:
            self.status.setText("No camera found. Connect a camera (and check that no other "
                                "program is using it), then press Refresh.")
        else:
            self.status.setText(f"{len(self.cameras)} camera(s) found:")
            self.list.setCurrentRow(0)
        self.buttons.button(QDialogButtonBox.StandardButton.Open).setEnabled(bool(self.cameras))

    def _accept(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        self.spec = str(item.data(Qt.ItemDataRole.UserRole))
        self.accept()
