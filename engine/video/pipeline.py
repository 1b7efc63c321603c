"""Threaded frame pipeline: source thread → enhance worker → sink, joined by bounded queues.

A processor with two halves (:class:`engine.stages.processor.FrameStages`, e.g.
:class:`~engine.stages.processor.FrameProcessor`) gets two enhance threads, ``begin`` of
frame t+1 running while ``finish`` of frame t does, joined by a one-frame hand-off
(:class:`~engine.stages.processor.TwoHalfRunner`): on two cores about a quarter more frames
per second, the same output, one more frame of latency. :attr:`PipelineStats.enhance_threads`
says which way a run went.

Two modes:

- ``"export"``: every frame, in order, none dropped; a slow stage slows the others down
  (the queues block, so memory stays bounded).
- ``"live"``: latest frame wins. When the enhancer is busy, a newer frame replaces the one
  waiting and the replaced one is counted in :attr:`PipelineStats.dropped`; the same holds
  between the enhancer and a slow sink (a display). Cameras and preview use this.

Stopping: :meth:`Pipeline.stop` (or ``cancel``) sets an event every stage polls at least
every 50 ms, so every thread ends within a second even when a stage is blocked on a full
queue (a stage inside one long call, e.g. a camera read that never returns, ends when
that call does; the threads are daemons and never keep the process alive). An exception in any stage stops the others and reaches
the caller: :meth:`Pipeline.wait` re-raises it, and ``on_error`` (if given) receives it
from the failing thread. The sink is closed (finished) after a complete run and aborted
(nothing left behind) after a stop or an error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine.frame import Frame


def join_thread(t: threading.Thread, timeout: float | None = None) -> str:
    """Join ``t``, also when an interrupted :meth:`threading.Thread.start` (Ctrl-C or
    SIGTERM during the start) left it starting: such a thread still runs, so it is waited
    for, then joined. Returns ``"ended"``, ``"running"`` (``timeout`` seconds passed) or
    ``"never"`` (it was never started)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not t.is_alive() and t in threading.enumerate():  # handed to the OS, not yet running
        if deadline is not None and time.monotonic() >= deadline:
            return "running"
        time.sleep(0.001)
    try:
        t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    except RuntimeError:  # "cannot join thread before it is started"
        return "never"
    return "running" if t.is_alive() else "ended"
from engine.stages.processor import FrameStages, TwoHalfRunner
from engine.video.base import Sink, Source, VideoError

__all__ = ["Pipeline", "PipelineStats", "PipelineStopped", "CallbackSink"]

_POLL_S = 0.05
_END = object()  # end-of-stream marker passed down the queues


class PipelineStopped(VideoError):
    """The pipeline was stopped before the source ended (raised by ``wait(strict=True)``)."""


@dataclass(frozen=True)
class PipelineStats:
    """A snapshot of a running or finished pipeline.

    Attributes:
        frames_in: frames read from the source.
        frames_out: frames delivered to the sink.
        dropped: frames skipped in live mode (always 0 in export mode):
            ``dropped_enhance`` (replaced while waiting for the enhancer) plus
            ``dropped_write`` (enhanced, then replaced while waiting for the sink).
        fps: frames delivered per second of wall time since the start.
        decode_ms, enhance_ms, encode_ms: mean milliseconds per frame spent in the
            source's ``read``, the processor, and the sink's ``write``.
        latency_p50_ms, latency_p95_ms: time from a frame leaving the source to the sink
            having written it, over the last 256 frames (None before the first frame).
        elapsed_s: wall seconds since the start.
        running: False once every thread has ended.
        enhance_threads: threads the processor runs on: 2 for a
            :class:`~engine.stages.processor.FrameStages` (its halves overlap), else 1.
    """

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    fps: float = 0.0
    decode_ms: float = 0.0
    enhance_ms: float = 0.0
    encode_ms: float = 0.0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    elapsed_s: float = 0.0
    running: bool = False
    enhance_threads: int = 1
    dropped_enhance: int = 0
    dropped_write: int = 0


class CallbackSink(Sink):
    """A sink that hands every frame to ``callback(frame)`` (e.g. a display)."""

    def __init__(self, callback: Callable[[Frame], None]) -> None:
        self._cb = callback

    def write(self, frame: Frame) -> None:
        self._cb(frame)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _Latest:
    """A one-slot mailbox where a new item replaces the waiting one (live mode). The end
    marker never replaces a frame: the last frame is still delivered, then the end."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._item: object | None = None
        self._has = False
        self._ended = False

    def put(self, item: object) -> bool:
        """Store ``item``; True when it replaced an item nobody had taken (a drop)."""
        with self._cv:
            if item is _END:
                self._ended = True
                self._cv.notify()
                return False
            replaced = self._has
            self._item, self._has = item, True
            self._cv.notify()
            return replaced

    def get(self, timeout: float) -> object:
        with self._cv:
            if not self._has and not self._ended:
                self._cv.wait(timeout)
            if self._has:
                item, self._item, self._has = self._item, None, False
                return item
            if self._ended:
                return _END
            raise queue.Empty


class Pipeline:
    """Run ``source`` → ``processor`` → ``sink`` on three threads.

    Args:
        source: any :class:`~engine.video.base.Source` (closed by the pipeline at the end).
        processor: normally a :class:`engine.stages.processor.FrameStages` (e.g.
            :class:`~engine.stages.processor.FrameProcessor`), whose two halves run on two
            threads; any object with ``process(image) -> image`` (uint8 (H, W, 3) RGB in
            and out) runs whole on one; None passes frames through unchanged.
        sink: where enhanced frames go; alternatively ``on_frame``.
        on_frame: ``callback(frame)`` receiving each enhanced :class:`Frame` (wrapped in a
            :class:`CallbackSink`); called from the sink thread.
        mode: ``"export"`` (every frame) or ``"live"`` (latest frame wins).
        queue_size: capacity of each queue in export mode (frames).
        on_error: ``callback(exc)`` called once, from the failing thread, on the first error.
        on_finished: ``callback(stats)`` called once when every stage has ended normally
            (not after a stop or an error).
        pace: read at the speed of the frames' ``pts`` (playing a file as if live);
            cameras pace themselves.
        pause: while this event is set the source stage reads nothing (the frames in
            flight still finish); clearing it resumes exactly where it stopped, so the
            output equals an unpaused run's. ``stop`` still works while paused.

    Use: ``start()``, then ``wait()`` (re-raises a stage's error) or ``stop()``; or as a
    context manager (``close`` on exit). ``stats()`` may be called at any time.
    """

    def __init__(self, source: Source, processor: object | None = None, sink: Sink | None = None,
                 *, on_frame: Callable[[Frame], None] | None = None, mode: str = "export",
                 queue_size: int = 4, on_error: Callable[[BaseException], None] | None = None,
                 on_finished: Callable[[PipelineStats], None] | None = None,
                 pace: bool = False, pause: threading.Event | None = None) -> None:
        if mode not in ("export", "live"):
            raise ValueError(f"mode must be 'export' or 'live', got {mode!r}")
        if sink is None and on_frame is None:
            raise ValueError("give a sink or an on_frame callback")
        self.source = source
        self.processor = processor
        self.sink: Sink = sink if sink is not None else CallbackSink(on_frame)  # type: ignore[arg-type]
        self.mode = mode
        self.pace = pace
        self.pause_event = pause
        self._on_error = on_error
        self._on_finished = on_finished
        if mode == "live":
            self._q1: object = _Latest()
            self._q2: object = _Latest()
        else:
            self._q1 = queue.Queue(maxsize=max(1, queue_size))
            self._q2 = queue.Queue(maxsize=max(1, queue_size))
        self._two = isinstance(processor, FrameStages)
        self._stop = threading.Event()
        self._halves: TwoHalfRunner | None = None  # begin → finish, made by start()
        self._error: BaseException | None = None
        self._err_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._t_start: float | None = None
        self._t_end: float | None = None
        self._frames_in = self._frames_out = self._dropped = 0
        self._dropped_write = 0
        self._decode_s = self._enhance_s = self._encode_s = 0.0
        self._latency: deque[float] = deque(maxlen=256)
        self._completed = False
        self._finished_sink = False

    # ------------------------------------------------------------------ control
    def start(self) -> "Pipeline":
        """Start the threads (once): source, enhance, sink, and finish for a two-half
        processor."""
        if self._threads:
            raise RuntimeError("pipeline already started")
        self._t_start = time.perf_counter()
        stages = [("source", self._run_source), ("enhance", self._run_enhance), ("sink", self._run_sink)]
        for name, fn in stages:
            t = threading.Thread(target=fn, name=f"lowlight-{name}", daemon=True)
            self._threads.append(t)
        if self._two:  # the enhance thread begins, this runner's thread finishes
            self._halves = TwoHalfRunner(self._begin, self._finish, deliver=self._deliver,
                                         on_end=self._end_of_stream, on_error=self._fail,
                                         stop=self._stop, name="lowlight-finish")
            self._threads.append(self._halves.thread)
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Ask every stage to end now (frames in flight are discarded, the sink aborted).
        Returns at once; use :meth:`wait` or :meth:`join` to wait for the threads."""
        # The source is closed by its own thread once its current read returns: closing it
        # from here would wait for that read (the sources lock), and stop() must not block
        # the caller (often a GUI thread).
        self._stop.set()

    cancel = stop

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called or a stage failed."""
        return self._stop.is_set()

    @property
    def completed(self) -> bool:
        """True when the source ended and the sink finished normally."""
        return self._completed

    @property
    def error(self) -> BaseException | None:
        return self._error

    def is_running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the threads; True when all have ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            join_thread(t, left)
        return not self.is_running()

    def join_sink(self, timeout: float | None = None) -> bool:
        """Wait for the sink thread only (it finishes or aborts the output); True when it
        has ended. Lets a caller return as soon as the output is settled even while an
        enhancer is still inside one long frame. False too when the sink thread was never
        started (an interrupted :meth:`start`): nothing will abort the output but its owner."""
        if len(self._threads) < 3:
            return False  # start() not called or cut short before the sink thread: its owner aborts the sink
        return join_thread(self._threads[2], timeout) == "ended"

    def wait(self, timeout: float | None = None, *, strict: bool = False) -> PipelineStats:
        """Wait until every stage has ended and return the final stats.

        Raises:
            the first stage error (as raised there, e.g. :class:`VideoError`);
            :class:`PipelineStopped` with ``strict=True`` when stopped before the end;
            TimeoutError when ``timeout`` passes first.
        """
        if not self.join(timeout):
            raise TimeoutError("pipeline still running")
        if self._error is not None:
            raise self._error
        if strict and not self._completed:
            raise PipelineStopped("pipeline stopped before the end of the source")
        return self.stats()

    def close(self, timeout: float = 1.0) -> None:
        """Stop and wait (at most ``timeout`` seconds) for the threads; never raises the
        stage error (read :attr:`error`)."""
        self.stop()
        self.join(timeout)

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ stats
    def stats(self) -> PipelineStats:
        with self._stats_lock:
            now = self._t_end or time.perf_counter()
            elapsed = (now - self._t_start) if self._t_start else 0.0
            lat = np.array(self._latency) * 1e3 if self._latency else None
            n_in, n_out = max(self._frames_in, 1), max(self._frames_out, 1)
            return PipelineStats(
                frames_in=self._frames_in, frames_out=self._frames_out, dropped=self._dropped,
                fps=self._frames_out / elapsed if elapsed > 0 else 0.0,
                decode_ms=self._decode_s * 1e3 / n_in,
                enhance_ms=self._enhance_s * 1e3 / max(self._frames_in - self._dropped, 1)
                if self.mode == "live" else self._enhance_s * 1e3 / n_in,
                encode_ms=self._encode_s * 1e3 / n_out,
                latency_p50_ms=float(np.percentile(lat, 50)) if lat is not None else None,
                latency_p95_ms=float(np.percentile(lat, 95)) if lat is not None else None,
                elapsed_s=elapsed, running=self.is_running(), enhance_threads=2 if self._two else 1,
                dropped_enhance=self._dropped - self._dropped_write, dropped_write=self._dropped_write)

    # ------------------------------------------------------------------ stages
    def _fail(self, exc: BaseException) -> None:
        with self._err_lock:
            first = self._error is None
            if first:
                self._error = exc
        self.stop()
        if first and self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception:
                pass

    def _put(self, q: object, item: object) -> bool:
        """Put ``item``; False when stopped first. Live mailboxes never block."""
        if isinstance(q, _Latest):
            if q.put(item):
                with self._stats_lock:
                    self._dropped += 1
                    if q is self._q2:
                        self._dropped_write += 1
            return not self._stop.is_set()
        assert isinstance(q, queue.Queue)
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: object) -> object | None:
        """Next item, or None when stopped first."""
        while not self._stop.is_set():
            try:
                return q.get(timeout=_POLL_S)  # type: ignore[attr-defined]
            except queue.Empty:
                continue
        return None

    def _run_source(self) -> None:
        clock0: tuple[float, float] | None = None
        try:
            while not self._stop.is_set():
                if self.pause_event is not None and self.pause_event.is_set():
                    time.sleep(_POLL_S)
                    continue
                t0 = time.perf_counter()
                frame = self.source.read()
                t1 = time.perf_counter()
                if frame is not None and self.pace and frame.pts is not None:
                    if clock0 is None:
                        clock0 = (t1, frame.pts)
                    due = clock0[0] + (frame.pts - clock0[1])
                    while not self._stop.is_set() and time.perf_counter() < due:
                        time.sleep(min(_POLL_S, max(0.0, due - time.perf_counter())))
                    t1 = time.perf_counter()
                if frame is None:
                    if not self._stop.is_set():
                        self._put(self._q1, _END)
                    return
                with self._stats_lock:
                    self._frames_in += 1
                    self._decode_s += t1 - t0
                if not self._put(self._q1, (frame, t1)):
                    return
        except BaseException as exc:
            if not self._stop.is_set():
                self._fail(exc)
        finally:
            try:
                self.source.close()
            except Exception:
                pass

    def _run_enhance(self) -> None:
        """Every frame of the source queue through the processor: its first half (the
        runner's thread does the second), or all of it."""
        try:
            while True:
                item = self._get(self._q1)
                if item is None:
                    return
                if item is _END:
                    if self._halves is not None:
                        self._halves.end()  # its thread flushes after the last finish
                    else:
                        self._end_of_stream()
                    return
                if self._halves is not None:
                    if not self._halves.submit(item):
                        return
                elif not self._put(self._q2, self._whole(item)):
                    return
        except BaseException as exc:
            self._fail(exc)

    def _timed(self, t0: float) -> None:
        with self._stats_lock:
            self._enhance_s += time.perf_counter() - t0

    def _whole(self, item: tuple) -> tuple:
        frame, t_read = item
        t0 = time.perf_counter()
        if self.processor is not None:
            frame = frame.with_image(self.processor.process(frame.image))  # type: ignore[attr-defined]
        self._timed(t0)
        return frame, t_read

    def _begin(self, item: tuple) -> tuple:
        frame, t_read = item
        t0 = time.perf_counter()
        staged = self.processor.begin(frame.image)  # type: ignore[union-attr]
        self._timed(t0)
        return frame, staged, t_read

    def _finish(self, item: tuple) -> tuple:
        frame, staged, t_read = item
        t0 = time.perf_counter()
        out = frame.with_image(self.processor.finish(staged))  # type: ignore[union-attr]
        self._timed(t0)
        return out, t_read

    def _deliver(self, item: tuple) -> None:
        self._put(self._q2, item)

    def _end_of_stream(self) -> None:
        """After the last frame: the processor's ``flush``, then the end marker to the sink."""
        end = getattr(self.processor, "flush", None)
        if end is not None:
            end()
        self._put(self._q2, _END)

    def _run_sink(self) -> None:
        finished = False
        try:
            while True:
                item = self._get(self._q2)
                if item is None:
                    return
                if item is _END:
                    self.sink.close()
                    finished = True
                    self._completed = True
                    return
                frame, t_read = item  # type: ignore[misc]
                t0 = time.perf_counter()
                self.sink.write(frame)
                t1 = time.perf_counter()
                with self._stats_lock:
                    self._frames_out += 1
                    self._encode_s += t1 - t0
                    self._latency.append(t1 - t_read)
        except BaseException as exc:
            self._fail(exc)
        finally:
            if not finished:
                try:
                    self.sink.abort()
                except Exception:
                    pass
            with self._stats_lock:
                self._t_end = time.perf_counter()
            if finished and self._on_finished is not None:
                try:
                    self._on_finished(self.stats())
                except Exception:
                    pass
