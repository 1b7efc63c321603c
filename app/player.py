"""The playback worker: reads a source, enhances each frame, hands results to the GUI.

:class:`Player` is a ``QThread``. Its ``run`` loop owns the :class:`engine.video.base.Source`
and the :class:`engine.stages.processor.FrameProcessor` objects; the GUI talks to it only through
the command methods (``play``, ``seek``, ``set_params``... which enqueue a command) and
receives results through Qt signals (queued into the GUI thread). The worker never
touches a widget.

Files are paced by their presentation times; when enhancement falls behind, frames are
skipped (latest frame wins) and counted as dropped. While paused, a parameter or method
change re-renders the frame on screen.

Each frame is enhanced in two halves (:meth:`FrameProcessor.begin` / ``finish``) by the
engine's :class:`~engine.stages.processor.TwoHalfRunner`: the worker reads and runs the
first half, the runner's thread (``lowlight-finish``, owned and joined by the worker) runs
the second and emits the bundle, so on two cores the next frame's first half overlaps
this frame's second half (about a quarter more frames per second, one frame more
latency). Frames still in the runner when the source is opened, closed or seeked are
dropped, not shown.

Two ways to lighten the load when the machine cannot keep up: a *smaller preview*
(:meth:`Player.set_preview_scale`: frames are reduced before enhancement, the export is not)
and *every frame* (:meth:`Player.set_every_frame`: nothing is dropped, playback runs slower
than real time instead).

Shutdown: :meth:`Player.stop` asks the worker to end; a worker still busy after the wait
(a model being loaded, a large frame being enhanced) is kept alive by
:func:`keep_until_finished`, and the process waits for every such thread with
:func:`wait_for_workers` before the interpreter tears down. A thread still running Python
while the interpreter finalises crashed the studio at exit (aborts, segmentation faults,
``bool_dealloc`` errors), so no thread may outlive that wait.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QThread, Signal

from engine import registry
from engine.frame import Frame
from engine.params import EnhanceParams
from engine.stages.processor import FrameProcessor, StagedFrame, TwoHalfRunner
from engine.video.base import Source, SourceInfo

__all__ = ["Player", "FrameBundle", "PlayerStats", "SourceFactory", "keep_until_finished",
           "wait_for_workers", "DROP_WINDOW_S", "PREVIEW_SCALES", "WORKER_THREAD_PREFIXES"]

#: the status line counts dropped frames over this many recent seconds
DROP_WINDOW_S = 10.0
#: preview sizes the player offers (fraction of the source's width and height)
PREVIEW_SCALES = (1.0, 0.5, 0.25)

_ORPHANS: set[QThread] = set()


def keep_until_finished(thread: QThread) -> None:
    """Hold a reference to a worker that did not stop in time, so it is not destroyed
    while running (Qt aborts on that); it is released when it finishes."""
    if not thread.isRunning():
        return
    thread.setParent(None)
    _ORPHANS.add(thread)
    thread.finished.connect(lambda t=thread: _ORPHANS.discard(t))


#: names of the Python threads the studio and the engine start that may call into Qt or a
#: codec (the pipeline's, the finisher, the full-quality still)
WORKER_THREAD_PREFIXES = ("lowlight-", "full-quality")


def wait_for_workers(timeout_s: float = 30.0) -> bool:
    """Wait up to ``timeout_s`` seconds for every worker that outlived its window (see
    :func:`keep_until_finished`) and every Python thread named with one of
    :data:`WORKER_THREAD_PREFIXES`. Call it before the process exits: True when none is
    left running (the interpreter may then finalise safely)."""
    deadline = time.monotonic() + timeout_s
    for t in list(_ORPHANS):
        left_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
        if t.isRunning() and not t.wait(left_ms):
            return False
    for th in threading.enumerate():
        if th is threading.current_thread() or not th.name.startswith(WORKER_THREAD_PREFIXES):
            continue
        th.join(max(0.0, deadline - time.monotonic()))
        if th.is_alive():
            return False
    return True

SourceFactory = Callable[[], Source]


@dataclass(frozen=True)
class FrameBundle:
    """One rendered frame for the viewer.

    Attributes:
        original: the source frame, uint8 (H, W, 3) RGB.
        enhanced: method A's result, uint8 (H, W, 3) RGB (the original when no method is set).
        enhanced_b: method B's result when A/B comparison is on, else None.
        index: frame index in the source.
        pts: presentation time in seconds (None when unknown).
        method, method_b: registry names of the methods that produced the results.
        params: method A's parameters used for ``enhanced`` (None without a method).
        serial: increases with every rendered bundle (lets tests wait for a fresh frame).
    """

    original: np.ndarray
    enhanced: np.ndarray
    enhanced_b: np.ndarray | None
    index: int
    pts: float | None
    method: str
    method_b: str | None
    serial: int
    params: EnhanceParams | None = None


@dataclass(frozen=True)
class _Job:
    """A frame between the worker (first halves) and the finisher (second halves)."""

    frame: Frame
    t_read: float
    a: tuple[FrameProcessor, StagedFrame] | None  # method A's processor and first half
    b: tuple[FrameProcessor, StagedFrame] | None  # method B's, when A/B is on
    name_a: str
    name_b: str | None
    playing: bool
    generation: int


@dataclass(frozen=True)
class PlayerStats:
    """Playback figures for the status line.

    Attributes:
        fps: rendered frames per second (moving average over about one second; 0 while paused).
        latency_ms: read-to-rendered time of the last frame, milliseconds.
        dropped: frames skipped since the source was opened (enhancement too slow, or a
            stream's frames that a newer one replaced before the player took them).
        runtime: ``enhancer.runtime_label()`` of method A ("" when none).
        runtime_b: same for method B when A/B is on, else "".
        dropped_recent: frames skipped in the last :data:`DROP_WINDOW_S` seconds.
        shown_recent: frames rendered in the last :data:`DROP_WINDOW_S` seconds.
        playing: whether playback was running when the figures were taken.
        window_s: seconds of playback the recent counts cover (at most
            :data:`DROP_WINDOW_S`; less just after opening or resuming).
    """

    fps: float
    latency_ms: float
    dropped: int
    runtime: str
    runtime_b: str
    dropped_recent: int = 0
    shown_recent: int = 0
    playing: bool = False
    window_s: float = 0.0


class Player(QThread):
    """Background playback and enhancement (see the module docstring).

    Signals:
        opened(SourceInfo): a source was opened.
        frame_ready(FrameBundle): a frame was rendered.
        stats_changed(PlayerStats): about twice a second while frames are rendered.
        playing_changed(bool): playback started or stopped.
        method_ready(str, str, str): (slot "a"/"b", method name, runtime label) after a switch.
        method_failed(str, str, str): (slot, method name, one-line reason) when a method
            cannot be created (e.g. missing weights); the slot keeps its previous method.
        error(str): a one-line user-facing message (bad file, camera gone, method failure).
        reached_end(): end of a file without looping.
    """

    opened = Signal(object)
    frame_ready = Signal(object)
    stats_changed = Signal(object)
    playing_changed = Signal(bool)
    method_ready = Signal(str, str, str)
    method_failed = Signal(str, str, str)
    error = Signal(str)
    reached_end = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._commands: "queue.Queue[tuple]" = queue.Queue()
        self._stop = threading.Event()
        self._pending = 0  # bundles emitted but not yet shown by the GUI
        self._pending_lock = threading.Lock()
        # worker-owned state (touched only inside run())
        self._source: Source | None = None
        self._info: SourceInfo | None = None
        self._proc: dict[str, FrameProcessor | None] = {"a": None, "b": None}
        self._names: dict[str, str | None] = {"a": None, "b": None}
        self._ab = False
        self._playing = False
        self._loop = True
        self._last: Frame | None = None
        self._clock0: float | None = None  # wall time at which pts 0 is due
        self._dropped = 0
        self._replaced_seen = 0  # the source's ``replaced`` count already counted
        self._serial = 0
        self._read_ms = 0.0  # source reading since the last first half (worker thread)
        self._fps = 0.0
        self._fps_t: list[float] = []
        self._stats_due = 0.0
        self._latency = 0.0
        self._rerender = False
        # the finisher: second halves, in order; jobs of an older generation are dropped
        self._generation = 0
        self._finisher: TwoHalfRunner[tuple[Frame, float], _Job, None] | None = None
        self._stats_lock = threading.Lock()  # _dropped: the worker and the finisher count
        self._drop_t: deque[float] = deque()  # times of recent drops (under _stats_lock)
        self._shown_t: deque[float] = deque()  # times of recent renders while playing
        self._window_t0 = 0.0  # start of the playback the recent counts cover
        self._scale = 1.0
        self._every_frame = False

    # -- commands (any thread) ----------------------------------------------------
    def open_source(self, factory: SourceFactory, play: bool | None = None) -> None:
        """Open the source built by ``factory()`` (called in the worker thread). ``play``:
        start playing it (True), stay paused (False), or keep playing if playback was on
        (None). Live sources always play."""
        self._commands.put(("open", factory, play))

    def close_source(self) -> None:
        self._commands.put(("close_source",))

    def play(self) -> None:
        self._commands.put(("play",))

    def pause(self) -> None:
        self._commands.put(("pause",))

    def toggle_play(self) -> None:
        self._commands.put(("toggle",))

    def step(self, frames: int = 1) -> None:
        """Pause and move ``frames`` frames forward (negative: backward, needs seeking)."""
        self._commands.put(("step", int(frames)))

    def seek(self, seconds: float) -> None:
        self._commands.put(("seek", float(seconds)))

    def set_loop(self, on: bool) -> None:
        self._commands.put(("loop", bool(on)))

    def set_method(self, slot: str, name: str, params: EnhanceParams | None = None) -> None:
        """Use method ``name`` in ``slot`` ("a" or "b") from the next frame; created in the worker."""
        self._commands.put(("method", slot, name, params))

    def set_params(self, slot: str, params: EnhanceParams) -> None:
        """New parameters for ``slot``; while paused the current frame is re-rendered."""
        self._commands.put(("params", slot, params))

    def set_ab(self, on: bool) -> None:
        self._commands.put(("ab", bool(on)))

    def set_preview_scale(self, scale: float) -> None:
        """Enhance and show frames reduced to ``scale`` (0 < scale <= 1) of the source's
        width and height: less work per frame when the machine cannot keep up. Exports
        and stills are not affected."""
        self._commands.put(("scale", float(min(1.0, max(0.05, scale)))))

    def set_every_frame(self, on: bool) -> None:
        """Show every frame (playback runs slower than real time when enhancement is
        slow) instead of dropping frames to keep time."""
        self._commands.put(("every", bool(on)))

    def rerender(self) -> None:
        self._commands.put(("rerender",))

    def frame_shown(self) -> None:
        """The GUI calls this after showing a bundle (lets the worker emit the next one)."""
        with self._pending_lock:
            self._pending = max(0, self._pending - 1)

    def stop(self, timeout_ms: int = 900) -> bool:
        """Ask the worker to finish and wait up to ``timeout_ms``; True when it ended."""
        self._stop.set()
        self._commands.put(("wake",))
        if not self.isRunning():
            return True
        done = self.wait(timeout_ms)
        if not done and self._source is not None:
            # a blocking read (e.g. a camera) holds the thread: closing unblocks it
            try:
                self._source.close()
            except Exception:  # noqa: BLE001 - shutting down anyway
                pass
            done = self.wait(100)
        if not done:
            keep_until_finished(self)
        return done

    # -- worker -------------------------------------------------------------------
    def run(self) -> None:  # noqa: C901 - one loop, kept readable by helpers below
        # one job waits at most between the halves: the worker keeps pace with the finisher
        self._finisher = TwoHalfRunner(self._begin_job, self._finish_job, stop=self._stop,
                                       name="lowlight-finish").start()
        try:
            while not self._stop.is_set():
                timeout = self._wait_time()
                try:
                    cmd = self._commands.get(timeout=timeout) if timeout != 0 else self._commands.get_nowait()
                except queue.Empty:
                    cmd = None
                if cmd is not None:
                    self._handle(cmd)
                    # drain everything already queued before rendering once
                    while not self._stop.is_set():
                        try:
                            self._handle(self._commands.get_nowait())
                        except queue.Empty:
                            break
                    if self._stop.is_set():
                        break
                if self._rerender and self._last is not None and not self._playing:
                    self._rerender = False
                    self._render(self._last, time.perf_counter())
                if self._playing and self._source is not None and self._due():
                    self._advance()
        finally:
            self._close_source()
            self._stop.set()
            # the finisher sees the stop within 50 ms, after the frame it is finishing;
            # it must have ended before this QThread does (see the module docstring)
            self._finisher.join()

    def _wait_time(self) -> float | None:
        """How long the loop may block on the command queue."""
        if self._rerender and not self._playing:
            return 0
        if not self._playing or self._source is None:
            return 0.25
        if self._info is not None and self._info.is_live:
            return 0
        nxt = self._next_due()
        if nxt is None:
            return 0
        return max(0.0, min(0.25, nxt - time.perf_counter()))

    def _next_due(self) -> float | None:
        if self._clock0 is None or self._last is None or self._last.pts is None or self._info is None:
            return None
        fps = self._info.fps if self._info.fps and self._info.fps > 0 else 25.0
        return self._clock0 + self._last.pts + 1.0 / fps

    def _due(self) -> bool:
        nxt = self._next_due()
        return nxt is None or time.perf_counter() >= nxt - 0.002

    def _handle(self, cmd: tuple) -> None:
        kind = cmd[0]
        try:
            if kind == "open":
                self._open(cmd[1], cmd[2])
            elif kind == "close_source":
                self._close_source()
                self._set_playing(False)
            elif kind == "play":
                self._set_playing(self._source is not None)
            elif kind == "pause":
                self._set_playing(False)
            elif kind == "toggle":
                self._set_playing(not self._playing and self._source is not None)
            elif kind == "step":
                self._step(cmd[1])
            elif kind == "seek":
                self._seek(cmd[1])
            elif kind == "loop":
                self._loop = cmd[1]
            elif kind == "method":
                self._set_method(cmd[1], cmd[2], cmd[3])
            elif kind == "params":
                proc = self._proc.get(cmd[1])
                if proc is not None:
                    proc.set_params(cmd[2])
                    self._rerender = True
            elif kind == "ab":
                self._ab = cmd[1]
                self._rerender = True
            elif kind == "rerender":
                self._rerender = True
            elif kind == "scale":
                if cmd[1] != self._scale:
                    self._scale = cmd[1]
                    for p in self._proc.values():
                        if p is not None:
                            p.reset()  # the maps were estimated at the other size
                    self._rerender = True
            elif kind == "every":
                self._every_frame = cmd[1]
                self._restart_window()
        except Exception as exc:  # noqa: BLE001 - any failure becomes a message, never a crash
            self._report(exc)

    def _report(self, exc: BaseException) -> None:
        msg = str(exc) or type(exc).__name__
        self.error.emit(msg.splitlines()[0] if msg else type(exc).__name__)

    def _set_playing(self, on: bool) -> None:
        if on and self._source is None:
            on = False
        if on != self._playing:
            self._playing = on
            self._clock0 = None
            if on and self._last is not None and self._last.pts is not None:
                self._clock0 = time.perf_counter() - self._last.pts
            if on:
                self._restart_window()
            self.playing_changed.emit(on)

    def _restart_window(self) -> None:
        """The recent drop counts start afresh (a pause, a seek or a mode change is not
        the machine falling behind)."""
        with self._stats_lock:
            self._drop_t.clear()
            self._shown_t.clear()
            self._window_t0 = time.perf_counter()

    def _count_drop(self, n: int = 1) -> None:
        with self._stats_lock:
            self._dropped += n
            self._drop_t.extend([time.perf_counter()] * n)

    def _open(self, factory: SourceFactory, play: bool | None = None) -> None:
        keep_playing = self._playing if play is None else play
        self._close_source()
        self._set_playing(False)
        self._last = None
        self._dropped = 0
        self._replaced_seen = 0
        src = factory()
        self._source = src
        self._info = src.info
        for p in self._proc.values():
            if p is not None:
                p.reset()
        self.opened.emit(self._info)
        frame = self._read()
        if frame is not None:
            self._render(frame, time.perf_counter())
        single = self._info.frame_count == 1  # a still picture does not play
        if self._info.is_live or (keep_playing and not single):
            self._set_playing(True)

    def _close_source(self) -> None:
        self._generation += 1  # frames of this source still being finished are not shown
        src, self._source = self._source, None
        if src is not None:
            try:
                src.close()
            except Exception:  # noqa: BLE001 - closing a broken source must not fail
                pass

    def _read(self) -> Frame | None:
        """Next frame from the source; a read failure pauses and reports."""
        assert self._source is not None
        t = time.perf_counter()
        try:
            frame = self._source.read()
        except Exception as exc:  # noqa: BLE001 - camera unplugged, corrupt data...
            self._set_playing(False)
            self._report(exc)
            return None
        finally:
            self._read_ms += (time.perf_counter() - t) * 1e3
        # a stream read on its own thread (LatestFrameSource) replaces the frames the
        # player was too slow to take: those are dropped frames too
        replaced = int(getattr(self._source, "replaced", 0) or 0)
        if self._playing and replaced > self._replaced_seen:  # replaced while paused: not missed
            self._count_drop(replaced - self._replaced_seen)
        self._replaced_seen = replaced
        return frame

    def _advance(self) -> None:
        t_read = time.perf_counter()
        frame = self._read()
        if frame is None:
            if self._source is None or not self._playing:
                return
            single = self._info is not None and self._info.frame_count == 1  # a still picture
            if self._loop and self._info is not None and self._info.seekable and not single:
                self._seek(0.0, keep_playing=True)
            else:
                self._set_playing(False)
                self.reached_end.emit()
            return
        # behind schedule by more than a frame: skip this one (latest frame wins)
        if (self._clock0 is not None and frame.pts is not None and self._info is not None
                and not self._info.is_live):
            fps = self._info.fps if self._info.fps and self._info.fps > 0 else 25.0
            late = time.perf_counter() - (self._clock0 + frame.pts)
            if self._every_frame:
                if late > 0:  # slower than real time: the clock follows the frames
                    self._clock0 += late
            elif late > 1.5 / fps:
                self._count_drop()
                self._last = frame
                return
        if self._clock0 is None and frame.pts is not None:
            self._clock0 = time.perf_counter() - frame.pts
        self._render(frame, t_read)

    def _step(self, frames: int) -> None:
        self._set_playing(False)
        if self._source is None:
            return
        if frames < 0 or frames > 1:
            if self._last is None or self._last.pts is None or self._info is None:
                return
            fps = self._info.fps if self._info.fps and self._info.fps > 0 else 25.0
            self._seek(max(0.0, self._last.pts + frames / fps))
            return
        frame = self._read()
        if frame is not None:
            self._render(frame, time.perf_counter())

    def _seek(self, seconds: float, keep_playing: bool | None = None) -> None:
        if self._source is None or self._info is None:
            return
        if not self._info.seekable:
            self.error.emit(f"{self._info.source_id} cannot seek")
            return
        self._source.seek(max(0.0, seconds))
        self._generation += 1  # frames from before the seek are not shown
        self._restart_window()
        for p in self._proc.values():
            if p is not None:
                p.reset()
        frame = self._read()
        if frame is not None:
            self._render(frame, time.perf_counter())
            if self._playing and frame.pts is not None:
                self._clock0 = time.perf_counter() - frame.pts

    def _set_method(self, slot: str, name: str, params: EnhanceParams | None) -> None:
        try:
            enhancer = registry.create(name)
        except Exception as exc:  # noqa: BLE001 - missing weights, unavailable runtime...
            msg = str(exc) or type(exc).__name__
            self.method_failed.emit(slot, name, msg.splitlines()[0])
            return
        proc = self._proc.get(slot)
        if proc is None:
            proc = FrameProcessor(enhancer, params)
            self._proc[slot] = proc
        else:
            proc.set_enhancer(enhancer, params)
        self._names[slot] = name
        self.method_ready.emit(slot, name, enhancer.runtime_label())
        self._rerender = True

    def _render(self, frame: Frame, t_read: float) -> None:
        """First halves here in the worker; the finisher does the rest (see the module
        docstring)."""
        self._last = frame
        assert self._finisher is not None
        if self._every_frame and self._playing:
            # the display takes each frame before the next is made (none is dropped)
            while not self._stop.is_set():
                with self._pending_lock:
                    if self._pending == 0:
                        break
                time.sleep(0.002)
        if self._scale < 1.0:
            frame = _scaled(frame, self._scale)
        try:
            self._finisher.submit((frame, t_read))
        except Exception as exc:  # noqa: BLE001 - a failing method must not kill playback
            self._set_playing(False)
            self._report(exc)

    def _begin_job(self, item: tuple[Frame, float]) -> _Job:
        """The first halves of methods A and B (the worker thread)."""
        frame, t_read = item
        pa, pb = self._proc["a"], self._proc["b"]
        pb = pb if self._ab else None
        # reading the source (skipped late frames included) shares this thread with the
        # first halves: the processors place their movable steps with it counted
        read_ms, self._read_ms = self._read_ms, 0.0
        for p in (pa, pb):
            if p is not None:
                p.note_front_work(read_ms)
        a = (pa, pa.begin(frame.image)) if pa is not None else None
        b = (pb, pb.begin(frame.image)) if pb is not None else None
        return _Job(frame, t_read, a, b, self._names["a"] or "",
                    self._names["b"] if pb is not None else None, self._playing, self._generation)

    def _finish_job(self, job: _Job) -> None:
        """The finisher thread: second halves, bundle, stats; a job of an older generation
        (opened, closed or seeked meanwhile) is dropped."""
        if job.generation != self._generation:
            return
        try:
            self._finish(job)
        except Exception as exc:  # noqa: BLE001 - a failing method must not kill playback
            self._commands.put(("pause",))
            self._report(exc)

    def _finish(self, job: _Job) -> None:
        img = job.frame.image
        out_a = job.a[0].finish(job.a[1]) if job.a is not None else img
        out_b = job.b[0].finish(job.b[1]) if job.b is not None else None
        now = time.perf_counter()
        self._latency = (now - job.t_read) * 1e3
        self._fps_t.append(now)
        while self._fps_t and now - self._fps_t[0] > 1.0:
            self._fps_t.pop(0)
        if len(self._fps_t) >= 2:
            self._fps = (len(self._fps_t) - 1) / max(1e-6, self._fps_t[-1] - self._fps_t[0])
        self._serial += 1
        with self._pending_lock:
            backed_up = self._pending >= 2 and job.playing
            if not backed_up:
                self._pending += 1
        if backed_up:
            self._count_drop()  # the display is behind: it gets the next one instead
        else:
            self.frame_ready.emit(FrameBundle(
                img, out_a, out_b, job.frame.index, job.frame.pts, job.name_a,
                job.name_b if out_b is not None else None, self._serial,
                job.a[1].params if job.a is not None else None))
        with self._stats_lock:
            if job.playing and not backed_up:
                self._shown_t.append(now)
            for d in (self._drop_t, self._shown_t):
                while d and now - d[0] > DROP_WINDOW_S:
                    d.popleft()
            dropped_recent, shown_recent = len(self._drop_t), len(self._shown_t)
            window = min(DROP_WINDOW_S, now - self._window_t0) if self._window_t0 else 0.0
        if now >= self._stats_due or not job.playing:
            self._stats_due = now + 0.5
            self.stats_changed.emit(PlayerStats(
                self._fps if job.playing else 0.0, self._latency, self._dropped,
                job.a[1].enhancer.runtime_label() if job.a is not None else "",
                job.b[1].enhancer.runtime_label() if job.b is not None else "",
                dropped_recent, shown_recent, job.playing, window))


def _scaled(frame: Frame, scale: float) -> Frame:
    """``frame`` with its picture reduced to ``scale`` of its width and height (area
    averaging; each side at least 2 pixels)."""
    import cv2

    h, w = frame.image.shape[:2]
    nw, nh = max(2, round(w * scale)), max(2, round(h * scale))
    return dataclasses.replace(frame, image=cv2.resize(frame.image, (nw, nh),
                                                       interpolation=cv2.INTER_AREA))
