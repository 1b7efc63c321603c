"""Export dialog: target, codec, quality, audio and range; progress, ETA, fps, pause and cancel.

The export itself is the engine's ``export_video``, run in an :class:`ExportWorker`
(``QThread``). The worker reports through signals only; cancelling sets the engine's
cancel event, and the engine leaves no file behind. Pause sets the engine's pause event
(reading stops, nothing is lost; the output equals an unpaused run's).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
    QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton, QRadioButton, QSpinBox, QVBoxLayout,
    QWidget,
)

from app.timecodes import format_eta, format_time
from engine.params import EnhanceParams

__all__ = ["ExportDialog", "ExportWorker", "ExportJob"]

# job(progress_callback, cancel_event) -> path written; raises on failure
ExportJob = Callable[[Callable[[Any], None], threading.Event], Any]


# -- the engine's export API, in one place ------------------------------------------
# Display names for the engine's codec keys (the keys themselves come from the engine).
CODEC_LABELS = {"h264": "H.264 (.mp4)", "h265": "H.265 / HEVC (.mp4)", "ffv1": "FFV1 lossless (.mkv)"}
AUDIO_MODES = (("copy", "Copy from source"), ("aac", "Re-encode (AAC)"), ("none", "No audio"))
CRF_LIMITS = (0, 51)  # libx264/libx265 CRF scale: lower is better


def engine_codecs() -> dict[str, tuple[str, int | None]]:
    """The engine's codecs: ``{key: (FFmpeg encoder, default CRF or None)}``."""
    from engine.video.codecs import CODECS

    return dict(CODECS)


def build_export_job(source_spec: str, target: str, method: str, params: EnhanceParams, *,
                     codec: str = "h264", crf: int | None = None, audio: str = "copy",
                     start: float | None = None, end: float | None = None,
                     overwrite: bool = False, pause: threading.Event | None = None) -> ExportJob:
    """A job that exports ``source_spec`` enhanced by ``method``/``params`` to ``target``
    through :func:`engine.video.export.export_video` (the engine writes a temporary file and
    renames it on success; cancel or failure leaves neither target nor temporary file).
    While ``pause`` is set the export idles (see ``export_video``)."""
    from engine.video.export import ExportOptions, export_video

    options = ExportOptions(codec=codec, crf=crf, audio=audio, start=start, end=end,
                            overwrite=overwrite)

    def job(progress: Callable[[Any], None], cancel: threading.Event) -> Any:
        return export_video(source_spec, target, method=method, params=params, options=options,
                            progress=progress, cancel=cancel, pause=pause)

    return job


def progress_figures(p: Any) -> dict[str, Any]:
    """Display figures from an :class:`engine.video.ExportProgress`: done, total, fraction
    (0..1 or None when the length is unknown), fps, eta_text, final."""
    done, total = int(p.frames_done), p.frames_total
    frac = p.fraction if p.fraction is not None else (min(1.0, done / total) if total else None)
    return {"done": done, "total": total, "fraction": frac, "fps": float(p.fps or 0.0),
            "eta_text": format_eta(p.eta_s), "final": bool(p.finished)}


class ExportWorker(QThread):
    """Runs one export job off the GUI thread.

    Signals:
        progress(object): the engine's progress record, as reported.
        succeeded(str): the written file.
        failed(str): a one-line message.
        cancelled(): the job stopped on request (nothing was written).
    """

    progress = Signal(object)
    succeeded = Signal(str)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, job: ExportJob, parent: Any = None) -> None:
        super().__init__(parent)
        self._job = job
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:
        try:
            result = self._job(self.progress.emit, self.cancel_event)
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never a crash
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                msg = str(exc) or type(exc).__name__
                self.failed.emit(msg.splitlines()[0])
            return
        if self.cancel_event.is_set():
            self.cancelled.emit()
        else:
            self.succeeded.emit(str(result.path))


class ExportDialog(QDialog):
    """Set up and run an export of ``source_spec`` enhanced with ``method``/``params``.

    Args:
        source_spec: what the player has open (path or ``demo``).
        method, params: method A and its parameters at the time the dialog opens.
        settings: :class:`app.settings.Settings` (last folder).
        in_point, out_point: the transport's in/out points in seconds (None: not set).
        has_audio: whether the source has an audio stream.
    """

    def __init__(self, source_spec: str, method: str, params: EnhanceParams, settings: Any, *,
                 in_point: float | None = None, out_point: float | None = None,
                 has_audio: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export enhanced video")
        self.setMinimumWidth(460)
        self.source_spec = source_spec
        self.method = method
        self.params = params
        self.settings = settings
        self.in_point, self.out_point = in_point, out_point
        self.worker: ExportWorker | None = None
        self.result_path: str | None = None
        self.state = "idle"  # idle | running | done | failed | cancelled
        self.message = ""
        self._t0 = 0.0
        self.pause_event = threading.Event()  # passed to the engine's export as ``pause``
        self._last_fig: dict[str, Any] | None = None

        form = QFormLayout()
        self.target_edit = QLineEdit(self._default_target())
        self.browse_btn = QPushButton("Browse…")
        self.browse_btn.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.target_edit, 1)
        row.addWidget(self.browse_btn)
        form.addRow("Target", row)

        self.codec_combo = QComboBox()
        for key, label in self._codecs():
            self.codec_combo.addItem(label, key)
        form.addRow("Codec", self.codec_combo)

        self.quality_spin = QSpinBox()
        lo, hi, default = self._quality_range()
        self.quality_spin.setRange(lo, hi)
        self.quality_spin.setValue(default)
        self.quality_spin.setToolTip("Constant rate factor: lower is better quality and larger files")
        form.addRow("Quality (CRF)", self.quality_spin)
        self.codec_combo.currentIndexChanged.connect(self._codec_changed)

        self.audio_combo = QComboBox()
        for key, label in self._audio_modes():
            self.audio_combo.addItem(label, key)
        if not has_audio:
            self.audio_combo.setCurrentIndex(self.audio_combo.findData("none"))
            self.audio_combo.setEnabled(False)
            self.audio_combo.setToolTip("The source has no audio")
        form.addRow("Audio", self.audio_combo)

        self.range_whole = QRadioButton("Whole clip")
        self.range_inout = QRadioButton(self._range_text())
        group = QButtonGroup(self)
        group.addButton(self.range_whole)
        group.addButton(self.range_inout)
        has_range = in_point is not None or out_point is not None
        self.range_inout.setEnabled(has_range)
        (self.range_inout if has_range else self.range_whole).setChecked(True)
        rr = QVBoxLayout()
        rr.addWidget(self.range_whole)
        rr.addWidget(self.range_inout)
        form.addRow("Range", rr)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("Ready")
        self.status.setWordWrap(True)

        self.buttons = QDialogButtonBox()
        self.start_btn = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.pause_btn = self.buttons.addButton("Pause", QDialogButtonBox.ButtonRole.ActionRole)
        self.pause_btn.setToolTip("Pause the export (nothing is lost); press again to resume")
        self.pause_btn.hide()
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.close_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_btn.hide()
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel_or_close)
        self.close_btn.clicked.connect(self.accept)

        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Source: {source_spec}    Method: {method}"))
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)

    # -- options ------------------------------------------------------------------
    def _codecs(self) -> tuple[tuple[str, str], ...]:
        return tuple((k, CODEC_LABELS.get(k, k.upper())) for k in engine_codecs())

    def _quality_range(self) -> tuple[int, int, int]:
        default = engine_codecs().get("h264", ("", 18))[1] or 18
        return CRF_LIMITS[0], CRF_LIMITS[1], default

    def _audio_modes(self) -> tuple[tuple[str, str], ...]:
        return AUDIO_MODES

    def _codec_changed(self) -> None:
        """Follow the codec: its default CRF (none for lossless) and a fitting extension."""
        key = str(self.codec_combo.currentData())
        crf = engine_codecs().get(key, ("", None))[1]
        self.quality_spin.setEnabled(crf is not None)
        if crf is not None:
            self.quality_spin.setValue(crf)
        t = Path(self.target_edit.text())
        want = ".mkv" if crf is None else ".mp4"
        if t.suffix.lower() in (".mp4", ".mkv") and t.suffix.lower() != want:
            self.target_edit.setText(str(t.with_suffix(want)))

    def _make_job(self, target: str) -> ExportJob:
        start, end = self.selected_range()
        overwrite = False
        if Path(target).exists():
            answer = QMessageBox.question(self, "Replace file?",
                                          f"{target} exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                raise ValueError(f"{target} exists; choose another name")
            overwrite = True
        crf = self.quality_spin.value() if self.quality_spin.isEnabled() else None
        return build_export_job(self.source_spec, target, self.method, self.params,
                                codec=str(self.codec_combo.currentData()), crf=crf,
                                audio=str(self.audio_combo.currentData()), start=start, end=end,
                                overwrite=overwrite, pause=self.pause_event)

    def _on_progress(self, p: Any) -> None:
        if self.state != "running":
            return
        fig = progress_figures(p)
        self._last_fig = fig
        if fig["fraction"] is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(round(fig["fraction"] * 1000)))
        else:
            self.progress.setRange(0, 0)  # busy indicator: length unknown
        self._show_figures(fig)

    def _show_figures(self, fig: dict[str, Any]) -> None:
        total = f" / {fig['total']}" if fig["total"] else ""
        tail = "paused" if self.paused else f"{fig['fps']:.1f} fps  ·  ETA {fig['eta_text']}"
        self.status.setText(f"Frame {fig['done']}{total}  ·  {tail}")

    @property
    def paused(self) -> bool:
        return self.pause_event.is_set()

    @property
    def frames_done(self) -> int:
        """Frames written so far by the running (or last) export, as last reported."""
        return int(self._last_fig["done"]) if self._last_fig else 0

    def toggle_pause(self) -> bool:
        """Pause or resume the running export; returns True when now paused."""
        if self.state != "running":
            return False
        if self.pause_event.is_set():
            self.pause_event.clear()
        else:
            self.pause_event.set()
        self.pause_btn.setText("Resume" if self.paused else "Pause")
        if self._last_fig is not None:
            self._show_figures(self._last_fig)
        else:
            self.status.setText("Paused" if self.paused else "Starting…")
        return self.paused

    def _default_target(self) -> str:
        stem = "demo" if self.source_spec == "demo" else Path(self.source_spec).stem
        folder = self.settings.last_folder or (
            str(Path(self.source_spec).parent) if os.path.exists(self.source_spec) else str(Path.home()))
        return str(Path(folder) / f"{stem}-{self.method}.mp4")

    def _range_text(self) -> str:

        a = format_time(self.in_point) if self.in_point is not None else "start"
        b = format_time(self.out_point) if self.out_point is not None else "end"
        return f"In → out ({a} → {b})"

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.target_edit.text(),
                                              "Video (*.mp4 *.mkv *.mov);;All files (*)")
        if path:
            self.target_edit.setText(path)

    def selected_range(self) -> tuple[float | None, float | None]:
        if self.range_inout.isChecked():
            a, b = self.in_point, self.out_point
            if a is not None and b is not None and b < a:
                a, b = b, a
            return a, b
        return None, None

    # -- running ------------------------------------------------------------------
    def start(self) -> None:
        """Start the export in a worker thread (no-op while one runs)."""
        if self.worker is not None:
            return
        target = self.target_edit.text().strip()
        if not target:
            self._finish("failed", "Choose a target file")
            return
        try:
            job = self._make_job(target)
        except Exception as exc:  # noqa: BLE001 - bad options become a message
            self._finish("failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        self.settings.last_folder = str(Path(target).resolve().parent)
        self.state = "running"
        self.message = ""
        self._t0 = time.perf_counter()
        self.pause_event.clear()
        self._last_fig = None
        self.pause_btn.setText("Pause")
        self.pause_btn.show()
        self.progress.setValue(0)
        self.status.setText("Starting…")
        self._quality_was_enabled = self.quality_spin.isEnabled()
        self._audio_was_enabled = self.audio_combo.isEnabled()
        for w in (self.start_btn, self.target_edit, self.browse_btn, self.codec_combo,
                  self.quality_spin, self.audio_combo, self.range_whole, self.range_inout):
            w.setEnabled(False)
        self.cancel_btn.setText("Cancel export")
        self.worker = ExportWorker(job, self)
        self.worker.progress.connect(self._on_progress)
        self.worker.succeeded.connect(lambda p: self._finish("done", f"Saved {p}", p))
        self.worker.failed.connect(lambda m: self._finish("failed", f"Export failed: {m}"))
        self.worker.cancelled.connect(lambda: self._finish("cancelled", "Export cancelled; nothing was written"))
        self.worker.start()

    def cancel_or_close(self) -> None:
        if self.worker is not None and self.worker.isRunning():
            self.worker.cancel()
            self.pause_event.clear()  # the engine stops while paused too; do not leave it idle
            self.status.setText("Cancelling…")
            self.cancel_btn.setEnabled(False)
        else:
            self.reject()

    def shutdown(self, timeout_ms: int = 400) -> None:
        """Cancel a running export and wait up to ``timeout_ms`` (window closing)."""
        if self.worker is not None and self.worker.isRunning():
            self.worker.cancel()
            self.pause_event.clear()
            if not self.worker.wait(timeout_ms):
                from app.player import keep_until_finished

                keep_until_finished(self.worker)  # the engine honours cancel at its next frame

    def _finish(self, state: str, message: str, path: str | None = None) -> None:
        self.state = state
        self.message = message
        self.result_path = path
        self.pause_event.clear()
        self.pause_btn.hide()
        self.status.setText(message)
        self.progress.setRange(0, 1000)  # leave the busy indicator of unknown lengths
        if state == "done":
            self.progress.setValue(1000)
        self.start_btn.setEnabled(state != "done")
        for w in (self.target_edit, self.browse_btn, self.codec_combo, self.range_whole):
            w.setEnabled(True)
        self.quality_spin.setEnabled(getattr(self, "_quality_was_enabled", True))
        self.audio_combo.setEnabled(getattr(self, "_audio_was_enabled", True))
        self.range_inout.setEnabled(self.in_point is not None or self.out_point is not None)
        self.cancel_btn.setEnabled(True)
        self.cancel_btn.setText("Cancel")
        self.cancel_btn.setVisible(state != "done")
        self.close_btn.setVisible(state == "done")
        if self.worker is not None:
            self.worker.wait(2000)
            self.worker = None

    def closeEvent(self, e: Any) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(e)

    def reject(self) -> None:
        if self.worker is not None and self.worker.isRunning():
            self.cancel_or_close()
            return
        super().reject()
