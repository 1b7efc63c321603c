"""Network streams and recording in the studio: File ▸ Open stream… (:class:`StreamDialog`),
the stream's state in the window's banner, and File ▸ Record (:class:`Recorder`).

- A stream is opened in the player's worker thread (never the GUI thread) as an
  :class:`engine.video.network.NetworkSource` read on its own thread
  (:class:`engine.video.live.LatestFrameSource`), so a stream that stalls or reconnects never
  holds up the window: the player keeps showing the last picture, the banner says the
  connection was lost and is being retried, and it goes away when the picture comes back.
- Recent addresses are remembered without their password (the user part stays, the
  password is asked again) and with password-like query values hidden; nothing shown,
  remembered or logged contains the password.
- Record writes the enhanced picture shown (method A, at the preview size) into an H.264
  file on a worker thread, with the source's timestamps; stopping finishes the file.
"""

from __future__ import annotations

import json
import queue
import threading
from fractions import Fraction
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QLabel, QLineEdit, QWidget,
)

from engine.video.network import is_stream_url, redact_url, split_password, with_password

__all__ = ["StreamDialog", "StreamController", "Recorder", "remember_url", "recent_urls"]

MAX_RECENT_URLS = 10
_KEY = "streams/recent"


def recent_urls(settings: Any) -> list[str]:
    """The remembered stream addresses (no passwords), newest first."""
    try:
        items = json.loads(str(settings.qs.value(_KEY, "[]")))
    except (TypeError, ValueError):
        return []
    return [str(u) for u in items if isinstance(u, str)][:MAX_RECENT_URLS]


def remember_url(settings: Any, url: str) -> str:
    """Put ``url`` first in the recent list without its password (and with password-like
    query values hidden); returns what was stored."""
    safe, _password = split_password(url)
    base, sep, query = safe.partition("?")
    if sep:  # a secret in the query cannot be kept apart from the address: hide it
        safe = base + "?" + redact_url(safe).partition("?")[2]
    items = [u for u in recent_urls(settings) if u != safe]
    settings.qs.setValue(_KEY, json.dumps([safe] + items[:MAX_RECENT_URLS - 1]))
    return safe


class StreamDialog(QDialog):
    """Ask for a stream address (with the recent ones offered), an optional password and the
    RTSP transport. After ``exec()`` returns Accepted, :attr:`url` holds the full address
    (the password in it, in memory only) and :attr:`transport` ``"tcp"`` or ``"udp"``."""

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open stream")
        self.settings = settings
        self.url: str | None = None
        self.transport = "tcp"
        form = QFormLayout(self)
        self.address = QComboBox()
        self.address.setEditable(True)
        self.address.addItems(recent_urls(settings))
        self.address.setCurrentText("")
        self.address.lineEdit().setPlaceholderText("rtsp://camera/stream, udp://0.0.0.0:5000, http://…")
        self.address.setMinimumWidth(380)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("only if the address has a user (user@host)")
        self.transport_box = QComboBox()
        self.transport_box.addItems(["TCP", "UDP"])
        self.transport_box.setToolTip("RTSP transport: TCP passes firewalls and loses nothing; UDP "
                                      "can be lower latency on a clean network")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        form.addRow("Address", self.address)
        form.addRow("Password", self.password)
        form.addRow("RTSP transport", self.transport_box)
        form.addRow(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def _accept(self) -> None:
        text = self.address.currentText().strip()
        if not is_stream_url(text):
            self.message.setText("Give a stream address: rtsp://, http(s)://, udp:// or tcp://")
            return
        typed = self.password.text()
        base, embedded = split_password(text)
        self.url = with_password(base, typed or embedded) if (typed or embedded) else text
        self.transport = self.transport_box.currentText().lower()
        remember_url(self.settings, text)
        self.accept()


class _Relay(QObject):
    """Carries a stream's status from its reading thread to the GUI (queued signal)."""

    status = Signal(object)


class Recorder(QObject):
    """Write the enhanced frames shown into a video file on a worker thread.

    Signals:
        finished(str, int, str): (path, frames written, error message or "").

    Frames come from the player's ``frame_ready`` (a :class:`app.player.FrameBundle`);
    a frame of another size than the first (the preview size changed) is skipped and
    counted; when the writer falls behind, frames are skipped too (:attr:`skipped`).
    """

    finished = Signal(str, int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path: str | None = None
        self.skipped = 0
        self._q: queue.Queue = queue.Queue(maxsize=8)
        self._thread: threading.Thread | None = None
        self._t0: float | None = None
        self._last_pts: float | None = None
        self._size: tuple[int, int] | None = None

    @property
    def recording(self) -> bool:
        return self._thread is not None

    def start(self, path: str, fps: float) -> None:
        """Start writing into ``path`` (replaced if it exists)."""
        from engine.video.export import ExportOptions
        from engine.video.sinks import VideoFileSink

        sink = VideoFileSink(path, ExportOptions(preset="ultrafast", overwrite=True),
                             fps=fps or 30.0, time_base=Fraction(1, 90000))
        self.path, self.skipped, self._t0, self._last_pts, self._size = path, 0, None, None, None
        self._q = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._write, args=(sink, path), name="lowlight-record",
                                        daemon=True)
        self._thread.start()

    def add(self, bundle: Any) -> None:
        """Queue one shown frame (GUI thread; never blocks)."""
        if self._thread is None or bundle.pts is None or bundle.pts == self._last_pts:
            return  # a repeated picture (a stalled stream) is not a new frame
        img = bundle.enhanced
        size = (img.shape[1], img.shape[0])
        if self._size is None:
            self._size = size
        if size != self._size:
            self.skipped += 1
            return
        if self._t0 is None:
            self._t0 = bundle.pts
        self._last_pts = bundle.pts
        try:
            self._q.put_nowait((img, bundle.pts - self._t0, bundle.index))
        except queue.Full:
            self.skipped += 1

    def stop(self) -> None:
        """Finish the file (waits for the writer); ``finished`` follows."""
        t, self._thread = self._thread, None
        if t is not None:
            self._q.put(None)
            t.join()

    def _write(self, sink: Any, path: str) -> None:
        from engine.frame import Frame

        frames, error = 0, ""
        try:
            while True:
                item = self._q.get()
                if item is None:
                    break
                img, t, index = item
                sink.write(Frame(img, index, t, "studio"))
                frames += 1
            if frames:
                sink.close()
            else:
                sink.abort()
                error = "nothing was recorded (no frames)"
        except Exception as exc:  # noqa: BLE001 - reported, never a crash
            sink.abort()
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.finished.emit(path, frames, error)


class StreamController(QObject):
    """The studio's stream and record features for one main window.

    Creates the actions :attr:`open_action` (File ▸ Open stream…) and :attr:`record_action`
    (File ▸ Record, checkable), opens streams in the window's player (:meth:`open_url`),
    shows a dropped connection in the window's banner and hides it when the picture is back.
    """

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.relay = _Relay(self)
        self.relay.status.connect(self._on_status)
        self.recorder = Recorder(self)
        self.recorder.finished.connect(self._on_recorded)
        self.fps = 30.0
        self.lost = False
        self.open_action = QAction("Open &stream…", window)
        self.open_action.setShortcut("Ctrl+Shift+K")
        self.open_action.setStatusTip("Open a network stream: RTSP, HTTP (MJPEG, HLS), UDP or TCP MPEG-TS")
        self.open_action.triggered.connect(self.open_dialog)
        self.record_action = QAction("&Record…", window)
        self.record_action.setCheckable(True)
        self.record_action.setShortcut("Ctrl+R")
        self.record_action.setStatusTip("Record the enhanced picture while you watch (stop to finish the file)")
        self.record_action.toggled.connect(self._record_toggled)
        window.player.opened.connect(self._on_opened)
        window.closed.connect(self.stop_recording)  # closing the window finishes the file
        window.player.frame_ready.connect(self.recorder.add, Qt.ConnectionType.QueuedConnection)

    # -- streams ----------------------------------------------------------------
    def open_dialog(self) -> None:
        dlg = StreamDialog(self.window.settings, self.window)
        if dlg.exec() == QDialog.DialogCode.Accepted and dlg.url:
            self.open_url(dlg.url, dlg.transport)

    def open_url(self, url: str, transport: str = "tcp") -> None:
        """Open ``url`` in the player (connects in the player's thread; returns at once)."""
        w = self.window
        safe = redact_url(url)
        w.source_spec = safe
        w.in_point = w.out_point = None
        w.seek.set_marks(None, None)
        w.last_error = ""
        w.banner.hide()
        self.lost = False
        w.viewer.clear(f"Connecting to {safe}…")
        emit = self.relay.status.emit
        w.player.open_source(lambda: _open_stream(url, transport, emit), True)
        w.setWindowTitle(f"Lowlight Studio — {safe}")

    def _on_status(self, status: Any) -> None:
        if status.state in ("lost", "retrying"):
            self.lost = True
            self.window.show_error(status.message)
        elif status.state == "playing" and self.lost:
            self.lost = False
            self.window.banner.hide()
            self.window.statusBar().showMessage(status.message, 5000)

    def _on_opened(self, info: Any) -> None:
        self.fps = float(getattr(info, "fps", 0) or 30.0)

    # -- recording --------------------------------------------------------------
    def start_recording(self, path: str) -> None:
        """Record into ``path`` from the next frame shown."""
        try:
            self.recorder.start(path, self.fps)
        except Exception as exc:  # noqa: BLE001 - a bad target is a message
            self.window.show_error(str(exc).splitlines()[0])
            self.record_action.blockSignals(True)
            self.record_action.setChecked(False)
            self.record_action.blockSignals(False)
            return
        self.window.statusBar().showMessage(f"Recording to {path}…")

    def stop_recording(self) -> None:
        self.recorder.stop()

    def _record_toggled(self, on: bool) -> None:
        if not on:
            self.stop_recording()
            return
        path, _ = QFileDialog.getSaveFileName(self.window, "Record to", self.window.settings.last_folder,
                                              "Video (*.mp4 *.mkv *.mov)")
        if not path:
            self.record_action.blockSignals(True)
            self.record_action.setChecked(False)
            self.record_action.blockSignals(False)
            return
        self.start_recording(path)

    def _on_recorded(self, path: str, frames: int, error: str) -> None:
        if error:
            self.window.show_error(f"Recording {path}: {error}")
        else:
            self.window.statusBar().showMessage(f"Recorded {frames} frames to {path}", 8000)


def _open_stream(url: str, transport: str, on_status: Any) -> Any:
    """The player's source for ``url`` (called in the player's worker thread)."""
    from engine.video.live import LatestFrameSource
    from engine.video.network import NetworkSource

    return LatestFrameSource(NetworkSource(url, transport=transport, on_status=on_status))
