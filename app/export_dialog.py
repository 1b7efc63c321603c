"""Export dialog: target, encoder, speed/size profile, quality, audio and range; hands the
export to the queue.

The dialog only sets an export up. **Export** builds an :class:`ExportRequest` and gives it
to ``submit`` (the studio's queue panel, :meth:`app.queue_panel.QueuePanel.add_export`),
which runs it in the background with progress, pause and cancel while the studio stays
usable; nothing runs inside the dialog, so closing it never discards an export.

Encoders are listed by what they are (``engine.video.codecs.encoder_label``: "H.264
(NVIDIA GPU)", "H.265 (software, x265)"). Which of them open on this machine is probed
once per process (``engine.video.codecs.probe_encoders``) on a worker thread; until the
answer comes the hardware ones are shown as being checked, then those that do not open
stay listed but disabled ("unavailable on this machine").
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
    QLabel, QLineEdit, QMessageBox, QPushButton, QRadioButton, QSpinBox, QVBoxLayout, QWidget,
)

from app.timecodes import format_time
from engine.params import EnhanceParams
from engine.video.codecs import CODECS, HARDWARE_CODECS, UNAVAILABLE, EncoderInfo, encoder_label
from engine.video.export import DEFAULT_ENCODE, ENCODE_PROFILES, ExportOptions

__all__ = ["ExportDialog", "ExportRequest", "AUDIO_MODES", "CRF_LIMITS", "CHECKING"]

AUDIO_MODES = (("copy", "Copy from source"), ("aac", "Re-encode (AAC)"), ("none", "No audio"))
CRF_LIMITS = (0, 51)  # the CRF / constant-quality scale of every listed encoder: lower is better
#: shown beside a hardware encoder until the probe has answered
CHECKING = "checking…"


@dataclass(frozen=True)
class ExportRequest:
    """One export, as set up in the dialog.

    Attributes:
        source: what the player has open (path or ``demo``).
        target: the file to write.
        method: registry name of method A; params: its parameters.
        options: codec, quality, audio, range (``start``/``end`` in seconds) and overwrite.
    """

    source: str
    target: str
    method: str
    params: EnhanceParams
    options: ExportOptions


class _Probe(QObject):
    """Probes the encoders on a worker thread; ``done`` carries the list to the GUI thread."""

    done = Signal(object)  # list[EncoderInfo]

    def start(self) -> None:
        from engine.video.codecs import probe_encoders

        def work() -> None:
            found = probe_encoders()
            try:
                self.done.emit(found)
            except RuntimeError:  # the dialog was closed meanwhile
                pass

        threading.Thread(target=work, name="lowlight-encoder-probe", daemon=True).start()


class ExportDialog(QDialog):
    """Set up an export of ``source_spec`` enhanced with ``method``/``params``.

    Args:
        source_spec: what the player has open (path or ``demo``).
        method, params: method A and its parameters at the time the dialog opens.
        settings: :class:`app.settings.Settings` (last folder).
        in_point, out_point: the transport's in/out points in seconds (None: not set).
        has_audio: whether the source has an audio stream.
        submit: receives the :class:`ExportRequest` when the user presses Export (the
            studio passes its queue panel's ``add_export``).

    Signals:
        encoders_ready(): the encoder list shows the probe's answer.
    """

    encoders_ready = Signal()

    def __init__(self, source_spec: str, method: str, params: EnhanceParams, settings: Any, *,
                 in_point: float | None = None, out_point: float | None = None,
                 has_audio: bool = False, submit: Callable[[ExportRequest], Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export enhanced video")
        self.setMinimumWidth(480)
        self.source_spec = source_spec
        self.method = method
        self.params = params
        self.settings = settings
        self.in_point, self.out_point = in_point, out_point
        self._submit = submit
        self.request: ExportRequest | None = None
        self.message = ""
        self.encoders: dict[str, EncoderInfo] = {}

        form = QFormLayout()
        self.target_edit = QLineEdit(self._default_target())
        self.browse_btn = QPushButton("Browse…")
        self.browse_btn.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.target_edit, 1)
        row.addWidget(self.browse_btn)
        form.addRow("Target", row)

        self.codec_combo = QComboBox()
        self.codec_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        for key in CODECS:
            hw = key in HARDWARE_CODECS
            self.codec_combo.addItem(encoder_label(key) + (f" — {CHECKING}" if hw else ""), key)
            if hw:
                self._set_item_enabled(self.codec_combo.count() - 1, False, CHECKING)
        self.codec_combo.setToolTip("The video encoder. Hardware encoders that do not open on this "
                                    "machine are listed but cannot be chosen.")
        form.addRow("Encoder", self.codec_combo)

        # named speed/size profiles (engine.video.export.ENCODE_PROFILES); the CRF box
        # below starts at the chosen profile's value and stays an expert override
        self.encode_combo = QComboBox()
        for p in ENCODE_PROFILES.values():
            self.encode_combo.addItem(p.label, p.name)
            self.encode_combo.setItemData(self.encode_combo.count() - 1, p.summary,
                                          Qt.ItemDataRole.ToolTipRole)
        self.encode_combo.setCurrentIndex(self.encode_combo.findData(DEFAULT_ENCODE))
        self.encode_combo.setToolTip("Export speed against file size (software encoders; "
                                     "hardware encoders keep their own settings)")
        form.addRow("Speed / size", self.encode_combo)

        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(*CRF_LIMITS)
        self.quality_spin.setValue(self._profile_crf("h264"))
        self.quality_spin.setToolTip("Constant rate factor: lower is better quality and larger files")
        form.addRow("Quality (CRF)", self.quality_spin)
        self.codec_combo.currentIndexChanged.connect(self._codec_changed)
        self.encode_combo.currentIndexChanged.connect(self._codec_changed)

        self.audio_combo = QComboBox()
        for key, label in AUDIO_MODES:
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

        self.status = QLabel("The export runs in the background (View ▸ Queue shows it); "
                             "the studio stays usable meanwhile.")
        self.status.setWordWrap(True)

        self.buttons = QDialogButtonBox()
        self.start_btn = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_btn.setToolTip("Hand the export to the queue and close this dialog")
        self.cancel_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.reject)

        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(f"Source: {source_spec}    Method: {method}"))
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)

        self._probe = _Probe(self)
        self._probe.done.connect(self.set_encoders)
        self._probe.start()

    # -- encoders -----------------------------------------------------------------
    def _set_item_enabled(self, row: int, on: bool, tip: str) -> None:
        model = self.codec_combo.model()
        assert isinstance(model, QStandardItemModel)
        item = model.item(row)
        flags = item.flags()
        item.setFlags(flags | Qt.ItemFlag.ItemIsEnabled if on else flags & ~Qt.ItemFlag.ItemIsEnabled)
        item.setToolTip(tip)

    def set_encoders(self, found: list[EncoderInfo]) -> None:
        """Show the probe's answer: available encoders selectable, the others disabled
        with "unavailable on this machine" beside their name (the reason in the tooltip); a chosen encoder that turned out unavailable
        is replaced by the software one of the same format."""
        self.encoders = {e.key: e for e in found}
        for row in range(self.codec_combo.count()):
            key = str(self.codec_combo.itemData(row))
            e = self.encoders.get(key)
            if e is None:
                continue
            self.codec_combo.setItemText(row, e.label if e.available else f"{e.label} — {UNAVAILABLE}")
            self._set_item_enabled(row, e.available, e.encoder if e.available else e.reason)
        view = self.codec_combo.view()
        view.setMinimumWidth(view.sizeHintForColumn(0) + 24)  # the popup shows whole names
        cur = self.codec_key
        if cur in self.encoders and not self.encoders[cur].available:
            from engine.video.codecs import software_fallback

            self.select_codec(software_fallback(cur) if cur in HARDWARE_CODECS else "h264")
        self.encoders_ready.emit()

    def available(self, key: str) -> bool:
        """Whether the encoder ``key`` can be chosen now."""
        row = self.codec_combo.findData(key)
        if row < 0:
            return False
        model = self.codec_combo.model()
        assert isinstance(model, QStandardItemModel)
        return bool(model.item(row).flags() & Qt.ItemFlag.ItemIsEnabled)

    def select_codec(self, key: str) -> bool:
        """Choose encoder ``key``; False (nothing changes) when it is not available."""
        if not self.available(key):
            return False
        self.codec_combo.setCurrentIndex(self.codec_combo.findData(key))
        return True

    @property
    def codec_key(self) -> str:
        return str(self.codec_combo.currentData())

    @property
    def encode_profile(self) -> str:
        """The chosen :data:`engine.video.export.ENCODE_PROFILES` name."""
        return str(self.encode_combo.currentData())

    def _profile_crf(self, codec: str) -> int:
        """The CRF the chosen profile gives ``codec``, else the codec's default (20 when none)."""
        crf = ENCODE_PROFILES[self.encode_profile].crf_for(codec)
        return crf if crf is not None else (CODECS.get(codec, ("", None))[1] or 20)

    def _codec_changed(self) -> None:
        """Follow the codec and profile: the profile's CRF (the codec's default for hardware
        encoders, none for lossless) and a fitting extension."""
        crf = CODECS.get(self.codec_key, ("", None))[1]
        if crf is not None:
            crf = self._profile_crf(self.codec_key)
        self.quality_spin.setEnabled(crf is not None)
        if crf is not None:
            self.quality_spin.setValue(crf)
        t = Path(self.target_edit.text())
        want = ".mkv" if crf is None else ".mp4"
        if t.suffix.lower() in (".mp4", ".mkv") and t.suffix.lower() != want:
            self.target_edit.setText(str(t.with_suffix(want)))

    # -- options ------------------------------------------------------------------
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
        """(start, end) in seconds of the chosen range; None for the clip's own ends."""
        if self.range_inout.isChecked():
            a, b = self.in_point, self.out_point
            if a is not None and b is not None and b < a:
                a, b = b, a
            return a, b
        return None, None

    def confirm_replace(self, target: str) -> bool:
        """Ask whether the existing ``target`` may be replaced."""
        answer = QMessageBox.question(self, "Replace file?", f"{target} exists. Replace it?")
        return answer == QMessageBox.StandardButton.Yes

    def build_request(self) -> ExportRequest:
        """The export as set up now. Raises ValueError on a missing or refused target."""
        target = self.target_edit.text().strip()
        if not target:
            raise ValueError("Choose a target file")
        overwrite = False
        if Path(target).exists():
            if not self.confirm_replace(target):
                raise ValueError(f"{target} exists; choose another name")
            overwrite = True
        start, end = self.selected_range()
        crf = self.quality_spin.value() if self.quality_spin.isEnabled() else None
        options = ExportOptions(codec=self.codec_key, crf=crf, audio=str(self.audio_combo.currentData()),
                                start=start, end=end, overwrite=overwrite, encode=self.encode_profile)
        return ExportRequest(self.source_spec, os.path.abspath(target), self.method, self.params, options)

    # -- handing over -------------------------------------------------------------
    def start(self) -> bool:
        """Hand the export to ``submit`` and close; False (the dialog stays, with the
        reason shown) when the setup is refused."""
        try:
            req = self.build_request()
            if self._submit is not None:
                self._submit(req)
        except Exception as exc:  # noqa: BLE001 - bad options become a message
            self.message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.status.setText(self.message)
            return False
        self.request = req
        self.settings.last_folder = str(Path(req.target).parent)
        self.message = f"Queued {req.target}"
        self.accept()
        return True
