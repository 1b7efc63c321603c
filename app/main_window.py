"""The studio's main window: viewer, controls, transport, menus and status line.

The window owns one :class:`app.player.Player` worker. Everything it shows arrives
through the player's signals; everything the user does becomes a player command.
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox, QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow,
    QMessageBox, QPushButton, QScrollArea, QStyle, QToolButton,
    QVBoxLayout, QWidget,
)

from engine import registry
from engine.files.images import IMAGE_SUFFIXES, ImageError, write_image
from engine.video.base import Source, SourceInfo, VideoError
from engine.video.network import is_stream_url
from engine.video.sources import VIDEO_EXTENSIONS

from app import status_line
from app.about import studio_version, third_party_html
from app.controls import ControlsPanel
from app.full_quality import FullQualityStill
from app.player import PREVIEW_SCALES, FrameBundle, Player, PlayerStats
from app.scope_panel import KINDS, ScopePanel
from app.seek_bar import SeekBar
from app.settings import Settings
from app.timecodes import format_time
from app.viewer import WHEEL_STEP, Viewer

__all__ = ["MainWindow", "VIDEO_FILTER"]

# the open dialog offers every suffix the engine opens (its video and still-image lists)
VIDEO_FILTER = ("Video and images (" + " ".join(f"*{s}" for s in (*VIDEO_EXTENSIONS, *IMAGE_SUFFIXES))
                + ");;All files (*)")
SEEK_THROTTLE_MS = 60


def open_engine_source(spec: str) -> Source:
    """Open ``spec`` (path, folder, ``camera:N`` or ``demo``) through the engine."""
    try:
        from engine.video.sources import open_source
    except ImportError as exc:
        raise VideoError(f"{spec}: this engine build has no video sources ({exc})") from exc
    return open_source(spec)


class ErrorBanner(QFrame):
    """A dismissable one-line message shown above the viewer."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet("#errorBanner { background: #5a1e1e; border-radius: 4px; }"
                           "#errorBanner QLabel { color: #ffe4e4; }")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class MainWindow(QMainWindow):
    """Lowlight Studio's main window.

    Args:
        settings: where settings persist (a fresh :class:`Settings` when None).
        source_opener: ``spec -> Source`` (the engine's ``open_source`` by default;
            tests pass their own).

    Signals:
        frame_shown(object): after the viewer showed a :class:`FrameBundle`.
        closed(): the window was closed (the worker has stopped).
    """

    frame_shown = Signal(object)
    closed = Signal()

    def __init__(self, settings: Settings | None = None,
                 source_opener: Callable[[str], Source] | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self._opener = source_opener or open_engine_source
        self.setWindowTitle("Lowlight Studio")
        self.setAcceptDrops(True)
        self.source_spec: str | None = None
        self.source_info: SourceInfo | None = None
        self.last_bundle: FrameBundle | None = None
        self.last_stats: PlayerStats | None = None
        self.last_error: str = ""
        self.errors: list[str] = []  # recent messages, oldest first
        self.frames_shown = 0
        self.in_point: float | None = None
        self.out_point: float | None = None
        self._playing = False
        self._seeking = False
        self._runtime = {"a": "", "b": ""}
        self._export_dialog = None
        self._failed_methods: set[str] = set()
        self._fallback_chain: dict[str, list[str]] = {}

        self.player = Player()
        self.viewer = Viewer()
        self.full_quality = FullQualityStill(self)
        self.full_quality.finished.connect(self._full_quality_done)
        self.banner = ErrorBanner()
        self.controls = ControlsPanel(self.settings)

        self._build_transport()
        central = QWidget()
        v = QVBoxLayout(central)
        v.setContentsMargins(4, 4, 4, 2)
        v.setSpacing(4)
        v.addWidget(self.banner)
        v.addWidget(self.viewer, 1)
        v.addWidget(self.transport)
        self.setCentralWidget(central)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.controls)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controls.setMinimumWidth(230)
        scroll.setMaximumWidth(380)
        self.dock = QDockWidget("Enhancement", self)
        self.dock.setObjectName("controlsDock")
        self.dock.setWidget(scroll)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)

        from app.queue_panel import QueuePanel

        # the job queue (View ▸ Queue, Ctrl+B): items keep method A and parameters as added
        self.queue_panel = QueuePanel(self.settings, lambda: (self.controls.method, self.controls.params()))
        self.queue_dock = QDockWidget("Queue", self)
        self.queue_dock.setObjectName("queueDock")
        self.queue_dock.setWidget(self.queue_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.queue_dock)
        self.queue_dock.hide()
        self.queue_panel.item_updated.connect(
            lambda it: self._on_queue_item(it) if it.status in ("done", "failed") else None)
        self.queue_panel.run_finished.connect(self._on_queue_finished)
        self._quit_when_done = False  # the user chose "wait" when closing with running exports
        self._quit_confirmed = False
        self.falling_behind: str | None = None  # the warning shown while playback drops frames

        # the scope (View ▸ Scope): histogram or waveform of the enhanced frame, hidden at first
        self.scope_panel = ScopePanel(self.settings.scope_kind if self.settings.scope_kind in KINDS
                                      else "histogram")
        self.scope_panel.kind_combo.currentIndexChanged.connect(
            lambda _i: setattr(self.settings, "scope_kind", self.scope_panel.kind))
        self.scope_dock = QDockWidget("Scope", self)
        self.scope_dock.setObjectName("scopeDock")
        self.scope_dock.setWidget(self.scope_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.scope_dock)
        self.scope_dock.hide()

        self._build_status()
        from app.stream_dialog import StreamController

        self.streams = StreamController(self)  # File > Open stream…, Record, the stream banner
        self._build_actions()

        # throttled seeking while the seek bar is dragged
        self._seek_timer = QTimer(self)
        self._seek_timer.setSingleShot(True)
        self._seek_timer.setInterval(SEEK_THROTTLE_MS)
        self._seek_timer.timeout.connect(self._seek_to_slider)

        p = self.player
        p.opened.connect(self._on_opened)
        p.frame_ready.connect(self._on_frame)
        p.stats_changed.connect(self._on_stats)
        p.playing_changed.connect(self._on_playing)
        p.method_ready.connect(self._on_method_ready)
        p.method_failed.connect(self._on_method_failed)
        p.error.connect(self.show_error)
        p.reached_end.connect(lambda: self.statusBar().showMessage("End of clip", 3000))
        self.controls.method_changed.connect(self._on_method_changed)
        self.controls.params_changed.connect(self._on_params_changed)
        self.controls.params_b_changed.connect(self._on_params_b_changed)
        self.controls.preset_message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.viewer.zoom_changed.connect(self.zoom_action.setChecked)

        # restore settings
        geo = self.settings.geometry
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self._default_size()
        st = self.settings.window_state
        if st is not None:
            self.restoreState(st)
        self.loop_box.setChecked(self.settings.loop)
        p.set_loop(self.settings.loop)
        self.set_view(self.settings.view if self.settings.view in Viewer.MODES else "split")
        self.set_pane_layout(self.settings.pane_layout if self.settings.pane_layout in Viewer.LAYOUTS
                             else "auto")

        p.set_method("a", self.controls.method, self.controls.params())
        p.set_method("b", self.controls.method_b, self.controls.params_b())
        self._update_titles()
        p.start()

    # -- construction -------------------------------------------------------------
    def showEvent(self, e) -> None:  # noqa: N802, ANN001 - Qt API
        super().showEvent(e)
        if not getattr(self, "_dock_sized", False) and self.settings.window_state is None:
            self._dock_sized = True
            # the picture gets the room: controls take about a quarter of the width
            self.resizeDocks([self.dock], [max(240, min(320, self.width() // 4))],
                             Qt.Orientation.Horizontal)

    def _default_size(self) -> None:
        """1280×800, or the available screen when it is smaller."""
        w, h = 1280, 800
        screen = self.screen()
        if screen is not None:
            avail = screen.availableGeometry()
            w, h = min(w, avail.width()), min(h, avail.height())
        self.resize(w, h)

    def _build_transport(self) -> None:
        self.transport = QWidget()
        h = QHBoxLayout(self.transport)
        h.setContentsMargins(0, 0, 0, 0)
        st = self.style()
        self.play_btn = QToolButton()
        self.play_btn.setIcon(st.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_btn.setToolTip("Play / pause (Space)")
        self.back_btn = QToolButton()
        self.back_btn.setIcon(st.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.back_btn.setToolTip("Step one frame back (Left)")
        self.step_btn = QToolButton()
        self.step_btn.setIcon(st.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.step_btn.setToolTip("Step one frame forward (Right)")
        self.seek = SeekBar()
        self.seek.setRange(0, 0)
        self.seek.setToolTip("Seek")
        self.time_label = QLabel(format_time(None))
        self.time_label.setMinimumWidth(110)
        self.time_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loop_box = QCheckBox("Loop")
        self.loop_box.setToolTip("Loop files (L)")
        self.in_btn = QPushButton("In")
        self.in_btn.setToolTip("Set the export in point at the current frame (I)")
        self.out_btn = QPushButton("Out")
        self.out_btn.setToolTip("Set the export out point at the current frame (O)")
        for b in (self.in_btn, self.out_btn):
            b.setMaximumWidth(44)
        for w in (self.back_btn, self.play_btn, self.step_btn):
            h.addWidget(w)
        h.addWidget(self.seek, 1)
        h.addWidget(self.time_label)
        h.addWidget(self.in_btn)
        h.addWidget(self.out_btn)
        h.addWidget(self.loop_box)
        self.play_btn.clicked.connect(self.toggle_play)
        self.back_btn.clicked.connect(lambda: self.player.step(-1))
        self.step_btn.clicked.connect(lambda: self.player.step(1))
        self.seek.sliderPressed.connect(self._seek_pressed)
        self.seek.sliderReleased.connect(self._seek_released)
        self.seek.valueChanged.connect(self._seek_moved)
        self.loop_box.toggled.connect(self._loop_toggled)
        self.in_btn.clicked.connect(self.set_in_point)
        self.out_btn.clicked.connect(self.set_out_point)
        self._set_transport_enabled(False)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.fps_label = QLabel(status_line.PAUSED)
        self.latency_label = QLabel(status_line.latency_text(None))
        self.dropped_label = QLabel(status_line.dropped_text(None))
        self.device_label = QLabel("")
        self.fps_label.setToolTip("Rendered frames per second")
        self.latency_label.setToolTip("Time from reading a frame to having it enhanced")
        self.dropped_label.setToolTip("Frames skipped in the last 10 seconds of playing because "
                                      "enhancement or display fell behind, or a stream's frames "
                                      "came faster than they were taken (the total since opening "
                                      "is in the tooltip of the figures once playing)")
        self.device_label.setToolTip("Backend and device of the method(s) in use")
        for w in (self.fps_label, self.latency_label, self.dropped_label, self.device_label):
            sb.addPermanentWidget(w)

    def _act(self, text: str, slot: Callable, shortcut: str | QKeySequence | None = None,
             tip: str = "", checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        fm.addAction(self._act("&Open file…", self.open_file_dialog, QKeySequence.StandardKey.Open,
                               "Open a video, image or folder"))
        fm.addAction(self._act("Open &folder of images…", self.open_folder_dialog, "Ctrl+Shift+O",
                               "Play a folder of numbered images as a clip"))
        fm.addAction(self._act("Open &camera…", self.open_camera_dialog, "Ctrl+K", "Pick a camera"))
        fm.addAction(self.streams.open_action)
        fm.addAction(self._act("Open &demo clip", lambda: self.open_spec("demo"), "Ctrl+D",
                               "The built-in dark demo clip"))
        self.recent_menu = fm.addMenu("&Recent files")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        fm.addSeparator()
        self.export_action = self._act("&Export video…", self.open_export_dialog, "Ctrl+E",
                                       "Export the enhanced clip")
        fm.addAction(self.export_action)
        fm.addAction(self.streams.record_action)
        fm.addAction(self._act("Save &snapshot…", self.snapshot_dialog, "Ctrl+S",
                               "Save the frame shown at its own resolution (A and B in the A/B view)"))
        fm.addAction(self._act("Save &full-quality still…", self.full_quality_dialog, "Ctrl+Shift+S",
                               "Pause and save the current frame enhanced by the method's full-"
                               "resolution reference path (slower than the live picture; best quality)"))
        fm.addSeparator()
        fm.addAction(self._act("&Quit", self.close, QKeySequence.StandardKey.Quit))

        vm = mb.addMenu("&View")
        self.view_group = QActionGroup(self)
        self.view_actions: dict[str, QAction] = {}
        for i, mode in enumerate(Viewer.MODES, start=1):
            a = self._act(Viewer.LABELS[mode], lambda _c=False, m=mode: self.set_view(m), str(i),
                          checkable=True)
            self.view_group.addAction(a)
            vm.addAction(a)
            self.view_actions[mode] = a
        panes = vm.addMenu("Two-pane &layout")
        self.layout_group = QActionGroup(self)
        self.layout_actions: dict[str, QAction] = {}
        for layout in Viewer.LAYOUTS:
            a = self._act(Viewer.LAYOUT_LABELS[layout], lambda _c=False, m=layout: self.set_pane_layout(m),
                          tip="Where the side-by-side and A/B views put their two panes (automatic: "
                              "whichever shows the picture larger)", checkable=True)
            self.layout_group.addAction(a)
            panes.addAction(a)
            self.layout_actions[layout] = a
        vm.addSeparator()
        self.zoom_action = self._act("Zoom &100 %", self._toggle_zoom, "Z",
                                     "Actual pixels (double-click the picture to zoom on a point; "
                                     "the wheel zooms 25–800 % around the cursor)",
                                     checkable=True)
        vm.addAction(self.zoom_action)
        vm.addAction(self._act("&Fit to window", lambda: self.viewer.set_zoom_factor(None), "Ctrl+0",
                               "Show the whole picture"))
        vm.addAction(self._act("Zoom &in", lambda: self.viewer.set_zoom_factor(
            self.viewer.zoom_factor() * WHEEL_STEP), QKeySequence.StandardKey.ZoomIn))
        vm.addAction(self._act("Zoom &out", lambda: self.viewer.set_zoom_factor(
            self.viewer.zoom_factor() / WHEEL_STEP), QKeySequence.StandardKey.ZoomOut))
        vm.addAction(self.dock.toggleViewAction())
        self.queue_action = self.queue_dock.toggleViewAction()
        self.queue_action.setText("&Queue")
        self.queue_action.setShortcut(QKeySequence("Ctrl+B"))
        self.queue_action.setStatusTip("Enhance many clips one after another")
        self.addAction(self.queue_action)
        vm.addAction(self.queue_action)
        self.scope_action = self.scope_dock.toggleViewAction()
        self.scope_action.setText("&Scope")
        self.scope_action.setShortcut(QKeySequence("Ctrl+H"))
        self.scope_action.setStatusTip("Histogram or waveform of the enhanced picture, with clipped pixels")
        self.addAction(self.scope_action)
        vm.addAction(self.scope_action)

        pm = mb.addMenu("&Playback")
        pm.addAction(self._act("Play / pause", self.toggle_play, "Space"))
        pm.addAction(self._act("Step forward", lambda: self.player.step(1), "Right"))
        pm.addAction(self._act("Step back", lambda: self.player.step(-1), "Left"))
        pm.addAction(self._act("Go to start", lambda: self.player.seek(0.0), "Home"))
        pm.addAction(self._act("Toggle loop", self.loop_box.toggle, "L"))
        pm.addSeparator()
        pm.addAction(self._act("Set in point", self.set_in_point, "I"))
        pm.addAction(self._act("Set out point", self.set_out_point, "O"))
        pm.addAction(self._act("Clear in/out", self.clear_in_out, "Shift+X"))
        pm.addSeparator()
        sm = pm.addMenu("Preview &size")
        self.preview_group = QActionGroup(self)
        self.preview_actions: dict[float, QAction] = {}
        for scale in PREVIEW_SCALES:
            a = self._act("Full" if scale == 1.0 else f"1/{round(1 / scale)}",
                          lambda _c=False, f=scale: self.player.set_preview_scale(f),
                          tip="Enhance a reduced copy while playing when the machine cannot keep "
                              "up (exports keep the full size)", checkable=True)
            a.setChecked(scale == 1.0)
            self.preview_group.addAction(a)
            sm.addAction(a)
            self.preview_actions[scale] = a
        self.every_frame_action = self._act(
            "&Every frame (slower than real time)", lambda on: self.player.set_every_frame(on),
            tip="Show every frame instead of dropping frames to keep time", checkable=True)
        pm.addAction(self.every_frame_action)

        hm = mb.addMenu("&Help")
        hm.addAction(self._act("&About Lowlight Studio", self.show_about, "F1"))

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.addAction(self._act("Open", self.open_file_dialog, tip="Open a video, image or folder"))
        tb.addAction(self._act("Camera", self.open_camera_dialog, tip="Pick a camera"))
        tb.addAction(self._act("Demo", lambda: self.open_spec("demo"), tip="The built-in demo clip"))
        tb.addSeparator()
        for mode in Viewer.MODES:
            tb.addAction(self.view_actions[mode])
        tb.addSeparator()
        tb.addAction(self.export_action)
        tb.addAction(self.queue_action)
        tb.addAction(self._act("Snapshot", self.snapshot_dialog,
                              tip="Save the frame shown at its own resolution (A and B in the A/B view)"))

    # -- sources ------------------------------------------------------------------
    def open_spec(self, spec: str, play: bool | None = None) -> None:
        """Open a file path, folder, ``camera:N`` or ``demo`` in the player. ``play``: start
        playing (True), stay paused (False), or keep playing if it was (None)."""
        spec = str(spec)
        if is_stream_url(spec):  # read off the GUI thread, its drops shown in the banner
            self.streams.open_url(spec)
            return
        self.source_spec = spec
        self.in_point = self.out_point = None
        self.seek.set_marks(None, None)
        self.last_error = ""
        self.banner.hide()
        self.viewer.clear("Generating the demo clip (first use only)…" if spec == "demo" else "Opening…")
        opener = self._opener
        self.player.open_source(lambda: opener(spec), play)
        if os.path.exists(spec):
            self.settings.add_recent(os.path.abspath(spec))
            self.settings.last_folder = str(Path(spec).resolve().parent)
        self.setWindowTitle(f"Lowlight Studio — {self._spec_title(spec)}")

    @staticmethod
    def _spec_title(spec: str) -> str:
        if spec == "demo":
            return "demo clip"
        return os.path.basename(spec.rstrip("/")) or spec

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", self.settings.last_folder,
                                              VIDEO_FILTER)
        if path:
            self.open_spec(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder of images", self.settings.last_folder)
        if path:
            self.open_spec(path)

    def open_camera_dialog(self) -> None:
        from app.camera_dialog import CameraDialog

        dlg = CameraDialog(self)
        if dlg.exec() and dlg.spec:
            self.open_spec(dlg.spec)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = self.settings.recent_files
        for path in items:
            a = self.recent_menu.addAction(path)
            a.triggered.connect(lambda _c=False, p=path: self.open_spec(p))
        if not items:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self.settings.clear_recent)

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:  # noqa: N802 - Qt API
        for u in e.mimeData().urls():
            if u.isLocalFile():
                self.open_spec(u.toLocalFile())
                e.acceptProposedAction()
                return

    # -- player signals -----------------------------------------------------------
    def _on_opened(self, info: SourceInfo) -> None:
        self.source_info = info
        seekable = info.seekable and not info.is_live and (info.duration or 0) > 0
        self._set_transport_enabled(True, seekable=seekable)
        self.seek.blockSignals(True)
        self.seek.setRange(0, int(round((info.duration or 0) * 1000)) if seekable else 0)
        self.seek.setValue(0)
        self.seek.blockSignals(False)
        kind = "live" if info.is_live else f"{info.fps:.3g} fps"
        self.statusBar().showMessage(
            f"Opened {info.source_id}: {info.width}×{info.height}, {kind}"
            + (", audio" if info.has_audio else ""), 5000)

    def _on_frame(self, b: FrameBundle) -> None:
        self.last_bundle = b
        self.viewer.set_frames(b.original, b.enhanced, b.enhanced_b)
        self.scope_panel.set_frame(b.enhanced)
        self.player.frame_shown()
        self.frames_shown += 1
        if b.pts is not None and not self._seeking:
            self.seek.blockSignals(True)
            self.seek.setValue(int(round(b.pts * 1000)))
            self.seek.blockSignals(False)
        dur = self.source_info.duration if self.source_info else None
        self.time_label.setText(f"{format_time(b.pts)} / {format_time(dur)}")
        self.frame_shown.emit(b)

    def _on_stats(self, s: PlayerStats) -> None:
        self.last_stats = s
        self.fps_label.setText(status_line.fps_text(s, self._playing))
        self.latency_label.setText(status_line.latency_text(s))
        self.dropped_label.setText(status_line.dropped_text(s))
        self.dropped_label.setToolTip(f"{s.dropped} dropped since the source was opened")
        behind = status_line.falling_behind(s)
        if behind and not self.falling_behind:
            self.banner.show_message(behind)
            self.statusBar().showMessage("Falling behind: dropping frames (see the message above "
                                         "the picture)", 8000)
        self.falling_behind = behind

    def _on_playing(self, on: bool) -> None:
        self._playing = on
        if not on:
            self.fps_label.setText(status_line.PAUSED)
        self.play_btn.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPause if on else QStyle.StandardPixmap.SP_MediaPlay))

    def _on_method_ready(self, slot: str, name: str, runtime: str) -> None:
        self._runtime[slot] = runtime
        self._fallback_chain.pop(slot, None)
        if slot == "a":
            self.controls.set_runtime(runtime)
        self._update_device_label()

    def _on_method_failed(self, slot: str, name: str, message: str) -> None:
        """Say why ``name`` cannot run and move that slot to the next method that may.

        Method B only matters in the A/B view: elsewhere its problems go to the status bar."""
        self._failed_methods.add(name)
        chain = self._fallback_chain.setdefault(slot, [])
        if registry.get(name).title not in chain:
            chain.append(registry.get(name).title)
        title = ", ".join(chain)
        current = self.controls.method if slot == "a" else self.controls.method_b
        names = registry.names()
        nxt = None
        if current == name:
            i = names.index(name)
            order = names[i + 1:] + names[:i]
            if slot == "b":  # B is for comparing: prefer a method other than A
                order = [n for n in order if n != self.controls.method] + [self.controls.method]
            nxt = next((n for n in order if n not in self._failed_methods), None)
        verb = "are" if len(chain) > 1 else "is"
        text = (f"{title} {verb} unavailable ({message}); using {registry.get(nxt).title}."
                if nxt is not None else f"{title} {verb} unavailable: {message}")
        short = f"{title} {verb} unavailable" + (
            f"; using {registry.get(nxt).title}" if nxt is not None else "")
        prefix = "" if slot == "a" else "Method B: "
        if current != name:  # the user has already moved on to another method
            self.errors.append(text)
            self.statusBar().showMessage(prefix + short, 6000)
        elif slot == "a" or self.viewer.mode == "ab":
            self.show_error(text)
        else:
            self.errors.append(text)
            self.statusBar().showMessage(prefix + short, 6000)
        if nxt is not None:
            if slot == "a":
                self.controls.set_method(nxt)
            else:
                self.controls.set_method_b(nxt)
        elif slot == "a":
            self.controls.set_runtime("unavailable")

    def _update_device_label(self) -> None:
        text = f"A: {self._runtime['a']}" if self._runtime["a"] else ""
        if self.viewer.mode == "ab" and self._runtime["b"]:
            text += f"   B: {self._runtime['b']}"
        self.device_label.setText(text)

    def show_error(self, message: str) -> None:
        """Show a one-line problem in the window (never a crash)."""
        self.last_error = message
        self.errors.append(message)
        del self.errors[:-50]
        self.banner.show_message(message)
        if self.last_bundle is None:
            self.viewer.clear(message)

    # -- controls -----------------------------------------------------------------
    def _on_method_changed(self, slot: str, name: str, params: object) -> None:
        self.player.set_method(slot, name, params)  # type: ignore[arg-type]
        self._update_titles()

    def _on_params_changed(self, params: object) -> None:
        self.player.set_params("a", params)  # type: ignore[arg-type]
        self._update_titles()

    def _on_params_b_changed(self, params: object) -> None:
        self.player.set_params("b", params)  # type: ignore[arg-type]
        self._update_titles()

    def _update_titles(self) -> None:
        """Pane labels: the methods' names, and in the A/B view the settings that differ."""
        detail_a, detail_b = self.controls.difference()
        self.viewer.set_titles(registry.get(self.controls.method).title,
                               registry.get(self.controls.method_b).title, detail_a, detail_b)

    def set_view(self, mode: str) -> None:
        """Switch the viewer to ``mode`` (one of :attr:`Viewer.MODES`)."""
        self.viewer.set_mode(mode)
        self.view_actions[mode].setChecked(True)
        self.settings.view = mode
        self.player.set_ab(mode == "ab")
        self._update_device_label()

    def set_pane_layout(self, layout: str) -> None:
        """Where the two-pane views put their panes (one of :attr:`Viewer.LAYOUTS`)."""
        self.viewer.set_layout_mode(layout)
        self.layout_actions[layout].setChecked(True)
        self.settings.pane_layout = layout

    def _toggle_zoom(self) -> None:
        self.viewer.set_zoom(not self.viewer.zoomed)

    # -- transport ----------------------------------------------------------------
    def _set_transport_enabled(self, on: bool, seekable: bool = False) -> None:
        for w in (self.play_btn, self.step_btn):
            w.setEnabled(on)
        for w in (self.back_btn, self.seek, self.in_btn, self.out_btn):
            w.setEnabled(on and seekable)

    def toggle_play(self) -> None:
        self.player.toggle_play()

    def _seek_pressed(self) -> None:
        self._seeking = True

    def _seek_released(self) -> None:
        self._seeking = False
        self._seek_timer.stop()
        self._seek_to_slider()

    def _seek_moved(self, _v: int) -> None:
        if not self._seek_timer.isActive():
            self._seek_timer.start()

    def _seek_to_slider(self) -> None:
        self.player.seek(self.seek.value() / 1000.0)

    def _loop_toggled(self, on: bool) -> None:
        self.settings.loop = on
        self.player.set_loop(on)

    def _current_time(self) -> float | None:
        return self.last_bundle.pts if self.last_bundle is not None else None

    def set_in_point(self) -> None:
        self.in_point = self._current_time()
        self._show_range()

    def set_out_point(self) -> None:
        self.out_point = self._current_time()
        self._show_range()

    def clear_in_out(self) -> None:
        self.in_point = self.out_point = None
        self._show_range()

    def _show_range(self) -> None:
        self.seek.set_marks(*(None if t is None else int(round(t * 1000))
                              for t in (self.in_point, self.out_point)))
        self.statusBar().showMessage(
            f"Export range: {format_time(self.in_point) if self.in_point is not None else 'start'}"
            f" → {format_time(self.out_point) if self.out_point is not None else 'end'}", 5000)

    # -- export, snapshot, about --------------------------------------------------
    def open_export_dialog(self) -> None:
        from app.export_dialog import ExportDialog

        if not self.source_spec or (self.source_info is not None and self.source_info.is_live):
            self.show_error("Open a video file (or the demo clip) to export; cameras cannot be exported.")
            return
        dlg = ExportDialog(self.source_spec, self.controls.method, self.controls.params(),
                           self.settings, in_point=self.in_point, out_point=self.out_point,
                           has_audio=bool(self.source_info and self.source_info.has_audio),
                           submit=self._queue_export, parent=self)
        self._export_dialog = dlg
        dlg.finished.connect(lambda _r: setattr(self, "_export_dialog", None))
        dlg.show()  # not modal: the studio stays usable while the export is set up

    def _queue_export(self, request: object) -> None:
        """The export dialog's export runs in the queue, in the background."""
        self.queue_panel.add_export(request)
        self.queue_dock.show()
        self.statusBar().showMessage(f"Exporting in the background: {request.target}", 5000)  # type: ignore[attr-defined]

    def _on_queue_item(self, it: object) -> None:
        """A queue item ended: say so in the status line, with any note (a software
        encoder in place of an unavailable hardware one)."""
        status, out = getattr(it, "status", ""), os.path.basename(getattr(it, "output", ""))
        if status == "done":
            notes = getattr(it, "notes", ())
            self.statusBar().showMessage(f"Export done: {out}" + (f" — note: {notes[0]}" if notes else ""),
                                         15000 if notes else 6000)
        elif status == "failed":
            self.statusBar().showMessage(f"Export failed: {out}: {getattr(it, 'error', '')}", 10000)

    def _on_queue_finished(self) -> None:
        if self._quit_when_done:
            self._quit_confirmed = True
            self.close()

    def snapshot_frames(self) -> list[tuple[str, np.ndarray]]:
        """What a snapshot of the current view writes: (name suffix, frame) pairs, the
        frames uint8 (H, W, 3) RGB at the source's resolution, without labels or bars.

        Enhanced and original views: that frame (no suffix). Split wipe and side by side:
        ``-original`` and ``-enhanced``. A/B: ``-A`` and ``-B`` (B only once it is rendered).
        """
        b = self.last_bundle
        if b is None:
            return []
        mode = self.viewer.mode
        if mode == "original":
            return [("", b.original)]
        if mode == "enhanced":
            return [("", b.enhanced)]
        if mode == "ab":
            return [("-A", b.enhanced)] + ([("-B", b.enhanced_b)] if b.enhanced_b is not None else [])
        return [("-original", b.original), ("-enhanced", b.enhanced)]

    def save_snapshot(self, path: str) -> list[Path]:
        """Save the frame(s) of the current view (see :meth:`snapshot_frames`) through the
        engine's image writer; the format follows ``path``'s suffix, and in the comparison
        views each file gets its suffix before it (``snap.png`` -> ``snap-A.png``, ``snap-B.png``).
        Returns the files written (empty on failure, which is shown in the window)."""
        frames = self.snapshot_frames()
        if not frames:
            self.show_error("No frame to save: open a source first.")
            return []
        target = Path(path)
        written: list[Path] = []
        try:
            for suffix, frame in frames:
                written.append(write_image(target.with_name(target.stem + suffix + target.suffix), frame))
        except ImageError as exc:
            self.show_error(f"Could not save the snapshot: {exc}")
            return []
        note = ""
        if self.viewer.mode == "ab" and len(frames) == 1:
            note = " (method B was not rendered yet)"
        self.statusBar().showMessage(
            "Snapshot saved: " + ", ".join(p.name for p in written) + f" in {target.parent}" + note, 6000)
        return written

    def snapshot_dialog(self) -> None:
        name = time.strftime("snapshot-%Y%m%d-%H%M%S.png")
        folder = self.settings.last_folder or str(Path.home())
        suffixes = [s for s, _ in self.snapshot_frames()]
        title = "Save snapshot"
        if len(suffixes) > 1:
            title += " (two files: name" + " and name".join(suffixes) + ")"
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(folder) / name),
                                              "PNG image (*.png);;JPEG image (*.jpg);;TIFF image (*.tif)")
        if path:
            if not path.lower().endswith(IMAGE_SUFFIXES):
                path += ".png"
            self.save_snapshot(path)

    def save_full_quality(self, path: str) -> bool:
        """Save the current frame, enhanced by method A's reference path with the
        parameters it was shown with, to the picture ``path`` (in the background; the
        status line says when it is written). False when there is nothing to render."""
        b = self.last_bundle
        if b is None or not b.method:
            self.show_error("No enhanced frame to render: open a source and choose a method first.")
            return False
        if not self.full_quality.start(b.method, b.original, b.params, path):
            self.show_error("A full-quality still is still being rendered; try again when it is saved.")
            return False
        self.statusBar().showMessage(f"Rendering a full-quality still with {b.method}…")
        return True

    def full_quality_dialog(self) -> None:
        self.player.pause()
        name = time.strftime("still-%Y%m%d-%H%M%S.png")
        folder = self.settings.last_folder or str(Path.home())
        path, _ = QFileDialog.getSaveFileName(self, "Save full-quality still", str(Path(folder) / name),
                                              "PNG image (*.png)")
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self.save_full_quality(path)

    def _full_quality_done(self, path: str, error: str) -> None:
        if error:
            self.show_error(f"Could not save the full-quality still {path}: {error}")
        else:
            self.statusBar().showMessage(f"Full-quality still saved: {path}", 5000)

    def about_html(self) -> str:
        """About text: the chosen method's paper and licence first, then every registered
        method with its paper and licence (from descriptors)."""
        current = ""
        if self.controls.method in registry.names():
            d = registry.get(self.controls.method)
            current = (f"<p>Current method: <b>{html.escape(d.title)}</b><br><i>{html.escape(d.paper)}</i>"
                       f"<br>Licence: {html.escape(d.licence)}</p>")
        rows = []
        for d in registry.descriptors():
            rows.append(f"<li><b>{html.escape(d.title)}</b> ({html.escape(d.family)}) — "
                        f"{html.escape(d.summary)}<br><i>{html.escape(d.paper)}</i>"
                        f"<br>Licence: {html.escape(d.licence)}</li>")
        return (f"<h3>Lowlight Studio {html.escape(studio_version())}</h3>"
                "<p>Real-time enhancement of dark video.</p>" + current
                + "<p>Methods:</p><ul>" + "".join(rows) + "</ul>" + third_party_html())

    def show_about(self) -> None:
        QMessageBox.about(self, "About Lowlight Studio", self.about_html())

    # -- shutdown -----------------------------------------------------------------
    def ask_close_with_jobs(self, count: int) -> str:
        """Ask what to do with ``count`` running or waiting exports when the window closes:
        ``"wait"`` (quit when they are done), ``"cancel"`` (cancel them and quit) or
        ``"keep"`` (stay open)."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Exports are running")
        box.setText(f"{count} export{'s are' if count != 1 else ' is'} still running or waiting.")
        box.setInformativeText("Wait: the studio quits by itself when they are done.\n"
                               "Cancel jobs: stop them now (nothing half-written is kept) and quit.\n"
                               "Keep open: go back to the studio.")
        wait = box.addButton("Wait, then quit", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton("Cancel jobs and quit", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep open", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return {id(wait): "wait", id(cancel): "cancel"}.get(id(box.clickedButton()), "keep")

    def closeEvent(self, e: QCloseEvent) -> None:  # noqa: N802 - Qt API
        jobs = self.queue_panel.active_count()
        if jobs and not self._quit_confirmed:
            choice = self.ask_close_with_jobs(jobs)
            if choice != "cancel":
                e.ignore()
                if choice == "wait":
                    self._quit_when_done = True
                    self.player.pause()
                    self.queue_dock.show()
                    self.statusBar().showMessage("Quitting when the exports are done "
                                                 "(close again to change your mind)")
                return
        self._quit_confirmed = True
        self.hide()  # the window goes at once; the workers are stopped below
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.set_params_for(self.controls.method, self.controls.params())
        self.settings.sync()
        if self._export_dialog is not None:
            self._export_dialog.reject()
        self.queue_panel.shutdown(timeout_ms=400)
        if not self.player.stop(timeout_ms=500):
            # still busy (a model loading, a large frame): nothing it emits may reach this
            # window any more; the process waits for it (app.player.wait_for_workers)
            for sig in (self.player.opened, self.player.frame_ready, self.player.stats_changed,
                        self.player.playing_changed, self.player.method_ready,
                        self.player.method_failed, self.player.error, self.player.reached_end):
                try:
                    sig.disconnect()
                except (RuntimeError, TypeError):
                    pass
        super().closeEvent(e)
        self.closed.emit()

    def keyPressEvent(self, e) -> None:  # noqa: N802, ANN001 - Qt API
        if e.key() == Qt.Key.Key_Escape and self.viewer.zoomed:
            self.viewer.set_zoom(False)
            return
        super().keyPressEvent(e)
