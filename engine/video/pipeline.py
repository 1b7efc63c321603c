"""The threaded video pipeline: source thread → enhance worker → sink thread, joined by
bounded queues.

- ``mode="export"``: every frame, in order, none dropped (the source waits on a full queue).
- ``mode="live"``: latest frame wins; frames replaced before the enhancer took them are
  counted in :attr:`PipelineStats.dropped`.

``stop()`` / ``close()`` end every thread within a second (each blocking wait polls a stop
event every 50 ms). An exception in any stage stops the pipeline and is re-raised from
``wait()`` (and handed to ``on_error`` when given); nothing hangs.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

from engine.frame import Frame
from engine.processor import FrameProcessor
from engine.video.base import Sink, Source

__all__ = ["Pipeline", "PipelineStats"]

_POLL = 0.05
_END = object()

Enhance = Union[FrameProcessor, Callable[[np.ndarray], np.ndarray], None]
SinkLike = Union[Sink, Callable[[Frame, Frame], None], None]


@dataclass
class PipelineStats:
    """A snapshot of pipeline progress.

    Attributes:
        frames_in: frames read from the source.
        frames_out: frames delivered to the sink.
        dropped: frames skipped (live mode only).
        fps: output frames per second since the start.
        decode_ms, enhance_ms, encode_ms: mean wall-clock milliseconds per frame per stage.
        latency_p50_ms, latency_p95_ms: time from a frame being read to it being delivered,
            over the last 200 frames.
        running: whether the threads are still working.
    """

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    fps: float = 0.0
    decode_ms: float = 0.0
    enhance_ms: float = 0.0
    encode_ms: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    running: bool = False
    elapsed_s: float = 0.0
    extra: dict = field(default_factory=dict)


class Pipeline:
    """Run ``source`` through ``enhance`` into ``sink`` on three threads.

    Args:
        source: where frames come from (the pipeline closes it when done).
        enhance: a :class:`FrameProcessor`, any ``fn(uint8 (H, W, 3)) -> uint8 (H, W, 3)``,
            or None (pass-through).
        sink: a :class:`Sink` (closed on success, aborted on error/cancel) or a callback
            ``fn(original: Frame, enhanced: Frame)`` (the studio emits a Qt signal from it).
        mode: ``"export"`` or ``"live"``.
        queue_size: capacity of each queue in export mode.
        on_error: called once with the first exception raised by any stage.
        max_frames: stop after this many source frames (None = to the end).
    """

    def __init__(self, source: Source, enhance: Enhance = None, sink: SinkLike = None, *,
                 mode: str = "export", queue_size: int = 4,
                 on_error: Callable[[BaseException], None] | None = None,
                 max_frames: int | None = None) -> None:
        if mode not in ("export", "live"):
            raise ValueError(f"mode must be 'export' or 'live', got {mode!r}")
        self.source, self.sink, self.mode = source, sink, mode
        if isinstance(enhance, FrameProcessor):
            self._fn = enhance.process
        elif enhance is None:
            self._fn = lambda img: img
        else:
            self._fn = enhance
        self.on_error = on_error
        self.max_frames = max_frames
        size = 1 if mode == "live" else max(1, queue_size)
        self._q_in: queue.Queue = queue.Queue(size)
        self._q_out: queue.Queue = queue.Queue(size)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._err_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._lat: deque[float] = deque(maxlen=200)
        self._n_in = self._n_out = self._dropped = 0
        self._t_dec = self._t_enh = self._t_enc = 0.0
        self._n_enh = 0
        self._t_start = 0.0
        self._t_end: float | None = None
        self._finished = threading.Event()
        self._completed = False

    # ------------------------------------------------------------------ control
    def start(self) -> "Pipeline":
        """Start the three threads; returns self."""
        self._t_start = time.perf_counter()
        for name, fn in (("source", self._run_source), ("enhance", self._run_enhance),
                         ("sink", self._run_sink)):
            t = threading.Thread(target=fn, name=f"lowlight-{name}", daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def stop(self) -> None:
        """Ask every thread to end (returns at once; ``wait`` joins them)."""
        self._stop.set()

    cancel = stop

    def wait(self, timeout: float | None = None) -> bool:
        """Join the threads; re-raise the first stage error. Returns True when finished
        (False when ``timeout`` ran out first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(left)
            if t.is_alive():
                return False
        if self._error is not None:
            raise self._error
        return True

    def close(self, timeout: float = 1.0) -> None:
        """Stop and join (errors are not re-raised here)."""
        self.stop()
        for t in self._threads:
            t.join(timeout)

    def run(self) -> PipelineStats:
        """Start, wait to the end, return the final stats (raises a stage's error)."""
        self.start()
        try:
            self.wait()
        except BaseException:
            self.close()
            raise
        return self.stats()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def completed(self) -> bool:
        """True when every source frame reached the sink and the sink closed cleanly."""
        return self._completed

    @property
    def error(self) -> BaseException | None:
        return self._error

    def stats(self) -> PipelineStats:
        """Current statistics (safe to call from any thread while running)."""
        end = self._t_end if self._t_end is not None else time.perf_counter()
        el = max(end - self._t_start, 1e-9) if self._t_start else 0.0
        lat = np.array(self._lat, np.float64) if self._lat else None
        return PipelineStats(
            frames_in=self._n_in, frames_out=self._n_out, dropped=self._dropped,
            fps=self._n_out / el if el else 0.0,
            decode_ms=1e3 * self._t_dec / max(self._n_in, 1),
            enhance_ms=1e3 * self._t_enh / max(self._n_enh, 1),
            encode_ms=1e3 * self._t_enc / max(self._n_out, 1),
            latency_p50_ms=float(np.percentile(lat, 50)) * 1e3 if lat is not None else 0.0,
            latency_p95_ms=float(np.percentile(lat, 95)) * 1e3 if lat is not None else 0.0,
            running=self.running, elapsed_s=el)

    # ------------------------------------------------------------------ internals
    def _fail(self, exc: BaseException) -> None:
        with self._err_lock:
            first = self._error is None
            if first:
                self._error = exc
        self._stop.set()
        if first and self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:
                pass

    def _put(self, q: queue.Queue, item: object, *, latest_wins: bool) -> bool:
        """Put ``item``; False when stopping. Live mode replaces a waiting item."""
        if latest_wins and item is not _END:
            while True:
                try:
                    q.put_nowait(item)
                    return True
                except queue.Full:
                    try:
                        old = q.get_nowait()
                        if old is _END:  # never lose the end marker
                            q.put_nowait(old)
                            return True
                        self._dropped += 1
                    except queue.Empty:
                        pass
                if self._stop.is_set():
                    return False
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue) -> object:
        while not self._stop.is_set():
            try:
                return q.get(timeout=_POLL)
            except queue.Empty:
                continue
        return _END

    def _run_source(self) -> None:
        live = self.mode == "live"
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and self._n_in >= self.max_frames:
                    break
                t0 = time.perf_counter()
                frame = self.source.read()
                self._t_dec += time.perf_counter() - t0
                if frame is None:
                    break
                self._n_in += 1
                if not self._put(self._q_in, (frame, time.perf_counter()), latest_wins=live):
                    return
            self._put(self._q_in, _END, latest_wins=False)
        except BaseException as exc:
            self._fail(exc)
        finally:
            try:
                self.source.close()
            except Exception:
                pass

    def _run_enhance(self) -> None:
        live = self.mode == "live"
        try:
            while True:
                item = self._get(self._q_in)
                if item is _END:
                    if not self._stop.is_set():
                        self._put(self._q_out, _END, latest_wins=False)
                    return
                frame, t_read = item
                t0 = time.perf_counter()
                out = self._fn(frame.image)
                self._t_enh += time.perf_counter() - t0
                self._n_enh += 1
                if not self._put(self._q_out, (frame, frame.with_image(out), t_read), latest_wins=live):
                    return
        except BaseException as exc:
            self._fail(exc)

    def _run_sink(self) -> None:
        sink = self.sink
        try:
            while True:
                item = self._get(self._q_out)
                if item is _END:
                    break
                frame, enhanced, t_read = item
                t0 = time.perf_counter()
                if isinstance(sink, Sink):
                    sink.write(enhanced)
                elif sink is not None:
                    sink(frame, enhanced)
                now = time.perf_counter()
                self._t_enc += now - t0
                self._lat.append(now - t_read)
                self._n_out += 1
            if isinstance(sink, Sink):
                if self._stop.is_set() or self._error is not None:
                    sink.abort()
                else:
                    sink.close()
                    self._completed = True
            elif not self._stop.is_set():
                self._completed = True
        except BaseException as exc:
            self._fail(exc)
            if isinstance(sink, Sink):
                try:
                    sink.abort()
                except Exception:
                    pass
        finally:
            self._t_end = time.perf_counter()
