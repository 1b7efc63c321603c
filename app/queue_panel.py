"""Queue panel: many clips enhanced one after another (the studio side of ``lowlight batch``).

The queue is the engine's :class:`engine.jobs.queue.JobQueue`. It runs in a :class:`QueueRunner`
(``QThread``) whose only contact with the widgets is Qt signals: the queue's
``on_change`` callback (called on the worker thread) emits a snapshot of the item
through :class:`_Bridge`, and Qt delivers it to the panel on the GUI thread.

Each item keeps the method A and parameters that were current when it was added
(shown in its row). Outputs go to ``OUTPUT_FOLDER/<name>_enhanced.mp4``; the folder is
chosen once and remembered in the settings. The export dialog hands its export here too
(:meth:`QueuePanel.add_export`: its own target, encoder and in/out range), and the queue
starts at once, so every export runs in the background.

A done item's output opens from the panel (**Open folder**, **Play result**, or a
double-click) through :func:`open_url` (``QDesktopServices``: the desktop's file manager and
player). What an output does differently from what was asked (a software encoder in place
of an unavailable hardware one) shows in its row and the summary line, never silently.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QSize, Qt, QThread, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar,
    QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine import registry
from engine.jobs.queue import JobQueue, JobSettings, QueueItem, output_for
from engine.params import EnhanceParams
from engine.video.codecs import encoder_label
from engine.video.export import ENCODE_PROFILES, ExportOptions

from app.timecodes import format_eta, format_time

__all__ = ["QueuePanel", "QueueRunner", "COLUMNS", "settings_summary", "open_url"]

COLUMNS = ("File", "Method and settings", "Status", "Progress")
STATUS_LABELS = {"pending": "Waiting", "running": "Running", "paused": "Paused", "done": "Done",
                 "failed": "Failed", "cancelled": "Cancelled"}
VIDEO_FILES = "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.mts *.ts *.mpg);;All files (*)"


def open_url(url: QUrl) -> bool:
    """Ask the desktop to open ``url`` (a folder in the file manager, a video in the
    player). Tests replace this function to see what was asked."""
    return QDesktopServices.openUrl(url)


def settings_summary(settings: JobSettings) -> str:
    """``"Gamma: gamma 2.2, strength 1"``: the method's title and the values of the
    parameters it uses (others are ignored by the method and not shown), then the range
    (``"· 0:01.0 → 0:02.5"``), the encoder and the speed/size profile when they are not
    the defaults."""
    if settings.method is None:
        text = "copy (no enhancement)"
    else:
        desc = registry.get(settings.method)
        params = desc.params_from(dict(settings.params or {}))
        vals = ", ".join(f"{s.name} {getattr(params, s.name):.3g}" for s in desc.params)
        text = f"{desc.title}: {vals}" if vals else desc.title
    o = settings.options
    if o.start is not None or o.end is not None:
        a = format_time(o.start) if o.start is not None else "start"
        b = format_time(o.end) if o.end is not None else "end"
        text += f" · {a} → {b}"
    if o.codec != ExportOptions().codec:
        text += f" · {encoder_label(o.codec)}"
    if o.encode != ExportOptions().encode and o.encode in ENCODE_PROFILES:
        text += f" · {ENCODE_PROFILES[o.encode].label}"
    return text


def _unique(path: str, taken: set[str]) -> str:
    """``path``, or ``stem_2.ext``, ``stem_3.ext``... when another queued item writes it."""
    if path not in taken:
        return path
    stem, ext = os.path.splitext(path)
    n = 2
    while f"{stem}_{n}{ext}" in taken:
        n += 1
    return f"{stem}_{n}{ext}"


class _Bridge(QObject):
    """Lives on the GUI thread; the queue's worker thread emits through it."""

    item_changed = Signal(object)  # a copy of the QueueItem


class QueueRunner(QThread):
    """Runs ``queue.run(jobs)`` off the GUI thread. ``finished`` (QThread's) ends it;
    ``crashed(str)`` reports an unexpected error of the queue itself (items' own errors
    are the items' ``failed`` status)."""

    crashed = Signal(str)

    def __init__(self, queue: JobQueue, jobs: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.queue, self.jobs = queue, jobs

    def run(self) -> None:
        try:
            self.queue.run(jobs=self.jobs)
        except Exception as exc:  # noqa: BLE001 - shown in the panel, never a crash
            self.crashed.emit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


class QueuePanel(QWidget):
    """The job queue: a table of items and the buttons that drive it.

    Args:
        settings: :class:`app.settings.Settings` (output folder, last folder).
        current: ``() -> (method, EnhanceParams)``: method A and its parameters now; each
            added item keeps a copy.

    Signals:
        item_updated(object): a snapshot (copy) of an item after a change, on the GUI thread.
        run_finished(): the queue stopped (all done, or cancelled).
    """

    item_updated = Signal(object)
    run_finished = Signal()

    def __init__(self, settings: Any, current: Callable[[], tuple[str, EnhanceParams]],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._current = current
        self._bridge = _Bridge(self)
        self._bridge.item_changed.connect(self._on_item_changed)
        self.queue = JobQueue(on_change=self._emit_change)
        self.runner: QueueRunner | None = None
        self.last_error = ""

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setAlternatingRowColors(True)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(3, 110)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.add_files_btn = QPushButton("Add files…")
        self.add_folder_btn = QPushButton("Add folder…")
        self.remove_btn = QPushButton("Remove")
        self.up_btn = QPushButton("Move up")
        self.down_btn = QPushButton("Move down")
        self.run_btn = QPushButton("Run")
        self.pause_btn = QPushButton("Pause")
        self.cancel_btn = QPushButton("Cancel")
        self.add_files_btn.setToolTip("Add videos with the current method and parameters")
        self.add_folder_btn.setToolTip("Add the videos in a folder with the current method and parameters")
        self.cancel_btn.setToolTip("Cancel the running item and every waiting one (nothing half-written is kept)")
        self.open_folder_btn = QPushButton("Open folder")
        self.open_folder_btn.setToolTip("Show the selected item's output in the file manager")
        self.play_btn = QPushButton("Play result")
        self.play_btn.setToolTip("Play the selected item's output in the desktop's video player "
                                 "(or double-click a done row)")
        self.open_folder_btn.clicked.connect(self.open_output_folder)
        self.play_btn.clicked.connect(self.play_result)
        self.table.cellDoubleClicked.connect(lambda _r, _c: self.play_result())
        self.add_files_btn.clicked.connect(self.add_files_dialog)
        self.add_folder_btn.clicked.connect(self.add_folder_dialog)
        self.remove_btn.clicked.connect(self.remove_selected)
        self.up_btn.clicked.connect(lambda: self.move_selected(-1))
        self.down_btn.clicked.connect(lambda: self.move_selected(1))
        self.run_btn.clicked.connect(self.run)
        self.pause_btn.clicked.connect(self.toggle_pause)
        self.cancel_btn.clicked.connect(self.cancel)

        self.folder_edit = QLineEdit(settings.queue_output_folder)
        self.folder_edit.setPlaceholderText("choose an output folder")
        self.folder_edit.setReadOnly(True)
        self.folder_edit.setToolTip("Items are written here as <name>_enhanced.mp4 (applies to items added afterwards)")
        self.folder_btn = QPushButton("Output folder…")
        self.folder_btn.clicked.connect(self.choose_output_folder)

        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall.setValue(0)
        self.overall.setTextVisible(False)
        self.overall.setMaximumHeight(10)
        self.summary = QLabel("Queue empty")

        row1 = QHBoxLayout()
        for b in (self.add_files_btn, self.add_folder_btn, self.remove_btn, self.up_btn, self.down_btn):
            row1.addWidget(b)
        row1.addStretch(1)
        for b in (self.run_btn, self.pause_btn, self.cancel_btn):
            row1.addWidget(b)
        row2 = QHBoxLayout()
        row2.addWidget(self.open_folder_btn)
        row2.addWidget(self.play_btn)
        row2.addWidget(QLabel("Output"))
        row2.addWidget(self.folder_edit, 1)
        row2.addWidget(self.folder_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row1)
        lay.addWidget(self.table, 1)
        lay.addLayout(row2)
        lay.addWidget(self.overall)
        lay.addWidget(self.summary)
        self._update_buttons()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        # a docked queue should leave the picture most of the height
        return QSize(720, 230)

    # -- worker side: only signals ------------------------------------------------
    def _emit_change(self, item: QueueItem) -> None:
        """Called by the queue on its worker thread: hand a copy to the GUI thread."""
        self._bridge.item_changed.emit(copy.copy(item))

    # -- state --------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.runner is not None and self.runner.isRunning()

    def active_count(self) -> int:
        """Items running, paused or waiting to run while the queue works (0 when idle):
        what closing the window would cancel."""
        if not self.running:
            return 0
        return sum(1 for it in self.queue.items if it.status in ("running", "paused", "pending"))

    @property
    def output_folder(self) -> str:
        return self.folder_edit.text()

    def set_output_folder(self, folder: str) -> None:
        """Use ``folder`` for items added from now on and remember it in the settings."""
        self.folder_edit.setText(folder)
        self.settings.queue_output_folder = folder

    def choose_output_folder(self) -> bool:
        start = self.output_folder or self.settings.last_folder or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Queue output folder", start)
        if path:
            self.set_output_folder(path)
        return bool(path)

    # -- editing ------------------------------------------------------------------
    def add_paths(self, paths: list[str]) -> list[QueueItem]:
        """Queue ``paths`` (folders expand to the videos directly inside them) with the
        current method A and parameters. Needs an output folder (asks once when unset)."""
        from engine.cli.batch import expand_inputs

        if not self.output_folder and not self.choose_output_folder():
            return []
        method, params = self._current()
        desc = registry.get(method)
        job = JobSettings(method=method,
                          params={s.name: getattr(params, s.name) for s in desc.params})
        taken = {it.output for it in self.queue.items}
        added = []
        for p in expand_inputs([os.fspath(p) for p in paths]):
            out = _unique(output_for(p, self.output_folder, job.options.codec), taken)
            taken.add(out)
            added.append(self.queue.add(p, out, job))
        if not added:
            self.last_error = "no video files found"
            self.summary.setText("No video files found there")
        self._rebuild()
        return added

    def add_export(self, request: Any) -> QueueItem:
        """Queue one export set up in the export dialog (an
        :class:`app.export_dialog.ExportRequest`: source, target, method, parameters,
        encoder, quality, audio and in/out range) and start the queue when it is idle.
        Returns the item; it is selected in the table."""
        job = JobSettings(method=request.method, params=request.params.as_dict(),
                          options=request.options)
        item = self.queue.add(request.source, request.target, job)
        self._rebuild()
        self.select_id(item.id)
        self.run()
        return item

    def add_files_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add videos to the queue",
                                                self.settings.last_folder, VIDEO_FILES)
        if paths:
            self.settings.last_folder = str(Path(paths[0]).parent)
            self.add_paths(paths)

    def add_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a folder of videos", self.settings.last_folder)
        if path:
            self.settings.last_folder = path
            self.add_paths([path])

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        cell = self.table.item(rows[0].row(), 0)
        return int(cell.data(Qt.ItemDataRole.UserRole)) if cell is not None else None

    def select_id(self, item_id: int) -> None:
        for r in range(self.table.rowCount()):
            cell = self.table.item(r, 0)
            if cell is not None and cell.data(Qt.ItemDataRole.UserRole) == item_id:
                self.table.selectRow(r)
                return

    def _selected_done(self) -> QueueItem | None:
        item_id = self.selected_id()
        if item_id is None:
            return None
        try:
            it = self.queue.get(item_id)
        except KeyError:
            return None
        return it if it.status == "done" else None

    def open_output_folder(self) -> bool:
        """Open the folder holding the selected done item's output (False when none)."""
        it = self._selected_done()
        if it is None:
            return False
        return open_url(QUrl.fromLocalFile(os.path.dirname(os.path.abspath(it.output))))

    def play_result(self) -> bool:
        """Open the selected done item's output in the desktop's player (False when none)."""
        it = self._selected_done()
        if it is None:
            return False
        return open_url(QUrl.fromLocalFile(os.path.abspath(it.output)))

    def remove_selected(self) -> None:
        item_id = self.selected_id()
        if item_id is None:
            return
        try:
            self.queue.remove(item_id)
        except (KeyError, ValueError) as exc:
            self.summary.setText(str(exc).strip("'\""))
            return
        self._rebuild()

    def move_selected(self, step: int) -> None:
        item_id = self.selected_id()
        if item_id is None:
            return
        ids = [it.id for it in self.queue.items]
        self.queue.move(item_id, ids.index(item_id) + step)
        self._rebuild()
        self.select_id(item_id)

    # -- control ------------------------------------------------------------------
    def run(self) -> bool:
        """Start working through the waiting items (False when already running or none waits)."""
        if self.running or not any(it.status == "pending" for it in self.queue.items):
            return False
        self.runner = QueueRunner(self.queue, parent=self)
        self.runner.finished.connect(self._on_run_finished)
        self.runner.crashed.connect(self._on_crashed)
        self.runner.start()
        self._update_buttons()
        self._update_summary()
        return True

    def toggle_pause(self) -> bool:
        """Pause every running export in place (and start no new item) or resume; True when paused."""
        paused = self.queue.toggle_pause()
        self.pause_btn.setText("Resume" if paused else "Pause")
        self._update_summary()
        return paused

    def cancel(self) -> None:
        """Cancel the running item and every waiting one; no partial output is kept."""
        self.queue.cancel()
        if self.queue.paused:  # let the worker see the cancel (and start nothing)
            self.queue.resume()
            self.pause_btn.setText("Pause")
        self._rebuild()

    def shutdown(self, timeout_ms: int = 800) -> None:
        """Window closing: cancel a running queue and wait up to ``timeout_ms``."""
        if not self.running:
            return
        self.cancel()
        assert self.runner is not None
        if not self.runner.wait(timeout_ms):
            from app.player import keep_until_finished

            keep_until_finished(self.runner)  # the engine honours cancel at its next frame

    # -- display ------------------------------------------------------------------
    def _on_item_changed(self, snap: QueueItem) -> None:
        self._update_row(snap)
        self._update_summary()
        self.item_updated.emit(snap)

    def _on_run_finished(self) -> None:
        if self.queue.paused:
            self.queue.resume()
            self.pause_btn.setText("Pause")
        self._rebuild()
        self.run_finished.emit()

    def _on_crashed(self, message: str) -> None:
        self.last_error = message
        self.summary.setText(f"Queue stopped: {message}")

    def _rebuild(self) -> None:
        keep = self.selected_id()
        items = self.queue.items
        self.table.setRowCount(len(items))
        for r, it in enumerate(items):
            name = QTableWidgetItem(os.path.basename(it.input) or it.input)
            name.setData(Qt.ItemDataRole.UserRole, it.id)
            name.setToolTip(f"{it.input}\n→ {it.output}")
            self.table.setItem(r, 0, name)
            summ = settings_summary(it.settings)
            cell = QTableWidgetItem(summ)
            cell.setToolTip(summ)
            self.table.setItem(r, 1, cell)
            self.table.setItem(r, 2, QTableWidgetItem())
            self.table.setItem(r, 3, QTableWidgetItem())
            self._fill_status(r, it)
        if keep is not None:
            self.select_id(keep)
        self._update_summary()

    def _update_row(self, snap: QueueItem) -> None:
        for r in range(self.table.rowCount()):
            cell = self.table.item(r, 0)
            if cell is not None and cell.data(Qt.ItemDataRole.UserRole) == snap.id:
                self._fill_status(r, snap)
                return

    def _fill_status(self, row: int, it: QueueItem) -> None:
        status = self.table.item(row, 2)
        text = STATUS_LABELS.get(it.status, it.status)
        if it.status == "done" and it.notes:
            text += " (note)"
        status.setText(text)
        status.setData(Qt.ItemDataRole.UserRole, it.status)
        status.setToolTip(it.error or "\n".join(it.notes))
        if it.status == "done" and it.notes:
            status.setForeground(Qt.GlobalColor.darkYellow)
        if it.status == "failed":
            status.setForeground(Qt.GlobalColor.red)
        pct = self.table.item(row, 3)
        if it.status in ("done", "failed", "cancelled") or it.fraction > 0:
            pct.setText(f"{(1.0 if it.status == 'done' else it.fraction) * 100:.0f} %")
        else:
            pct.setText("–")
        pct.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if it.status == "failed":
            pct.setText("–")
            pct.setToolTip(it.error)

    def _update_summary(self) -> None:
        items = self.queue.items
        if not items:
            self.summary.setText("Queue empty: add files or a folder")
            self.overall.setValue(0)
            self._update_buttons()
            return
        p = self.queue.progress()
        c = p.counts
        self.overall.setValue(int(round(p.fraction * 1000)))
        parts = [f"{c['done']}/{len(items)} done"]
        if c["failed"]:
            last = [it for it in items if it.status == "failed"][-1]
            why = last.error if len(last.error) <= 70 else last.error[:69] + "…"
            parts.append(f"{c['failed']} failed (last: {os.path.basename(last.input)}: {why})")
        if c["cancelled"]:
            parts.append(f"{c['cancelled']} cancelled")
        noted = [it for it in items if it.status == "done" and it.notes]
        if noted:
            parts.append(f"note: {os.path.basename(noted[-1].output)}: {noted[-1].notes[0]}")
        if self.running:
            parts.append(f"{p.fraction * 100:.0f} %")
            parts.append("paused" if self.queue.paused else f"ETA {format_eta(p.eta_s)}")
        elif c["pending"]:
            parts.append(f"{c['pending']} waiting")
        self.summary.setText("  ·  ".join(parts))
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.running
        sel = self.selected_id()
        st = None
        if sel is not None:
            try:
                st = self.queue.get(sel).status
            except KeyError:
                st = None
        self.remove_btn.setEnabled(sel is not None and st not in ("running", "paused"))
        self.up_btn.setEnabled(sel is not None)
        self.down_btn.setEnabled(sel is not None)
        self.run_btn.setEnabled(not running and any(it.status == "pending" for it in self.queue.items))
        self.pause_btn.setEnabled(running)
        self.cancel_btn.setEnabled(running)
        self.open_folder_btn.setEnabled(st == "done")
        self.play_btn.setEnabled(st == "done")
