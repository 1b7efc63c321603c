"""A queue of video-enhancement jobs (Qt-free; the CLI's ``lowlight batch`` and the
studio drive it).

A :class:`JobQueue` holds :class:`QueueItem` s (input, output, :class:`JobSettings`,
status, progress). :meth:`JobQueue.run` works through the pending items in order with
``jobs`` workers; a failing item is marked ``failed`` with its one-line error and the
queue goes on. :meth:`JobQueue.pause` / :meth:`JobQueue.resume` pause every running export
in place (the output is the same as an unpaused run's); :meth:`JobQueue.cancel` cancels one
item or the whole queue. Items may be added, moved and removed while the queue runs
(running items cannot be moved or removed; cancel them).

Each job is :func:`run_job`, a plain function of picklable arguments, so the same job
runs in a worker thread here or as a Ray task (:mod:`engine.jobs.ray_cluster`).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.video.export import ExportCancelled, ExportOptions, ExportProgress, export_video

__all__ = ["JobSettings", "QueueItem", "JobQueue", "QueueProgress", "run_job", "STATUSES",
           "output_for"]

#: the life of an item: pending → running (⇄ paused) → done | failed | cancelled
STATUSES = ("pending", "running", "paused", "done", "failed", "cancelled")


@dataclass(frozen=True)
class JobSettings:
    """How to process one clip (picklable: crosses to Ray workers).

    Attributes:
        method: registry name (``"gamma"``, ``"sci"``...); None copies frames unchanged.
        params: parameter overrides by name (None/missing = the method's defaults).
        options: output options (codec, quality, audio, trim, overwrite).
        backend, device, weights: runtime of learned methods.
        segment_seconds: journaled, resumable export in segments of this length (None =
            one pass). A re-run queue then resumes interrupted items.
    """

    method: str | None = "gamma"
    params: dict[str, Any] | None = None
    options: ExportOptions = field(default_factory=ExportOptions)
    backend: str = "auto"
    device: str = "auto"
    weights: str | None = None
    segment_seconds: float | None = None


@dataclass
class QueueItem:
    """One job in the queue (read its fields; change it only through the queue).

    Attributes:
        id: unique within the queue.
        input, output: paths.
        settings: the :class:`JobSettings`.
        status: one of :data:`STATUSES`.
        frames_done, frames_total: progress in frames (total None when unknown).
        fraction: 0..1 (1.0 when done).
        fps, eta_s: current speed and estimate of the item.
        error: one-line reason when failed or cancelled.
        seconds: wall time the item took.
        resumed_frames: frames taken from an earlier interrupted run.
        problems: decode problems of a done item (a truncated input), one line each.
        notes: what a done item's output does differently from what was asked (a hardware
            encoder replaced by software), one line each.
    """

    id: int
    input: str
    output: str
    settings: JobSettings
    status: str = "pending"
    frames_done: int = 0
    frames_total: int | None = None
    fraction: float = 0.0
    fps: float = 0.0
    eta_s: float | None = None
    error: str = ""
    seconds: float = 0.0
    resumed_frames: int = 0
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


@dataclass(frozen=True)
class QueueProgress:
    """The whole queue: counts by status, fraction of frames done (items of unknown
    length count as the mean known length), and an ETA from the progress rate so far."""

    counts: dict[str, int]
    fraction: float
    eta_s: float | None
    elapsed_s: float


def output_for(input_path: str, out_dir: str, codec: str = "h264") -> str:
    """``OUT_DIR/<stem>_enhanced.mp4`` (``.mkv`` for ffv1)."""
    stem = os.path.splitext(os.path.basename(input_path.rstrip("/")))[0] or "video"
    return os.path.join(out_dir, f"{stem}_enhanced{'.mkv' if codec == 'ffv1' else '.mp4'}")


def run_job(input_path: str, output_path: str, settings: JobSettings, *,
            progress: Callable[[ExportProgress], None] | None = None,
            cancel: threading.Event | None = None, pause: threading.Event | None = None) -> dict[str, Any]:
    """Enhance one clip. Returns a summary dict (frames, seconds, fps, audio,
    resumed_frames, path, problems: a list of one-line decode problems, notes: what the
    output does differently, e.g. a software encoder in place of an unavailable hardware
    one, encoder: the FFmpeg encoder used). Raises VideoError/ExportCancelled like
    :func:`export_video`."""
    from engine import registry
    from engine.stages.processor import FrameProcessor

    processor = None
    if settings.method is not None:
        desc = registry.get(settings.method)
        params = desc.params_from(dict(settings.params or {}))
        enh = registry.create(settings.method, backend=settings.backend, device=settings.device,
                              weights=settings.weights)
        processor = FrameProcessor(enh, params)
    res = export_video(input_path, output_path, processor=processor, options=settings.options,
                       progress=progress, cancel=cancel, pause=pause, weights=settings.weights,
                       segment_seconds=settings.segment_seconds)
    return {"frames": res.frames, "seconds": res.seconds, "fps": res.fps, "audio": res.audio,
            "resumed_frames": res.resumed_frames, "path": str(res.path),
            "problems": list(res.problems), "notes": list(res.notes), "encoder": res.encoder}


class JobQueue:
    """An ordered job queue. Thread-safe; ``on_change(item)`` (if given) is called from
    worker threads after every status or progress change of an item."""

    def __init__(self, on_change: Callable[[QueueItem], None] | None = None) -> None:
        self._items: list[QueueItem] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._pause = threading.Event()
        self._stop = threading.Event()
        self.on_change = on_change
        self._t0: float | None = None
        self._running = False

    # ------------------------------------------------------------------ editing
    def add(self, input_path: str, output_path: str, settings: JobSettings | None = None) -> QueueItem:
        """Append a pending item and return it."""
        item = QueueItem(next(self._ids), os.fspath(input_path), os.fspath(output_path),
                         settings or JobSettings())
        with self._lock:
            self._items.append(item)
        return item

    @property
    def items(self) -> list[QueueItem]:
        """The items in queue order (a copy of the list; the items are live)."""
        with self._lock:
            return list(self._items)

    def get(self, item_id: int) -> QueueItem:
        with self._lock:
            for it in self._items:
                if it.id == item_id:
                    return it
        raise KeyError(f"no queue item {item_id}")

    def remove(self, item_id: int) -> None:
        """Remove an item that is not running (cancel a running one first)."""
        with self._lock:
            it = self.get(item_id)
            if it.status in ("running", "paused"):
                raise ValueError(f"item {item_id} is running; cancel it first")
            self._items.remove(it)

    def move(self, item_id: int, index: int) -> None:
        """Move an item to position ``index`` (clipped to the list)."""
        with self._lock:
            it = self.get(item_id)
            self._items.remove(it)
            self._items.insert(max(0, min(index, len(self._items))), it)

    # ------------------------------------------------------------------ control
    def pause(self) -> None:
        """Pause every running export (in place) and start no new item."""
        self._pause.set()
        with self._lock:
            for it in self._items:
                if it.status == "running":
                    it.status = "paused"
                    self._changed(it)

    def resume(self) -> None:
        with self._lock:
            for it in self._items:
                if it.status == "paused":
                    it.status = "running"
                    self._changed(it)
        self._pause.clear()

    def toggle_pause(self) -> bool:
        """Pause when running, resume when paused; returns True when now paused."""
        if self._pause.is_set():
            self.resume()
            return False
        self.pause()
        return True

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def cancel(self, item_id: int | None = None) -> None:
        """Cancel one item (pending or running), or with None the whole queue (running
        items are cancelled, pending ones marked cancelled, :meth:`run` returns)."""
        with self._lock:
            targets = [self.get(item_id)] if item_id is not None else list(self._items)
            if item_id is None:
                self._stop.set()
            for it in targets:
                if it.status == "pending":
                    it.status = "cancelled"
                    it.error = "cancelled before it started"
                    self._changed(it)
                it._cancel.set()

    # ------------------------------------------------------------------ progress
    def progress(self) -> QueueProgress:
        with self._lock:
            items = list(self._items)
        counts = {s: 0 for s in STATUSES}
        done = total = 0.0
        known = [it.frames_total for it in items if it.frames_total]
        typical = sum(known) / len(known) if known else 1.0  # items not started yet
        for it in items:
            counts[it.status] += 1
            if it.status == "cancelled" and it.frames_done == 0:
                continue
            n = float(it.frames_total or typical)
            total += n
            done += n if it.status in ("done", "failed", "cancelled") else it.fraction * n
        el = time.perf_counter() - self._t0 if self._t0 else 0.0
        frac = done / total if total else 1.0
        eta = el * (1 - frac) / frac if frac > 0 and el > 0 and frac < 1 else (0.0 if frac >= 1 else None)
        return QueueProgress(counts, frac, eta, el)

    def _changed(self, it: QueueItem) -> None:
        if self.on_change is not None:
            try:
                self.on_change(it)
            except Exception:
                pass

    # ------------------------------------------------------------------ running
    def _next(self) -> QueueItem | None:
        with self._lock:
            if self._stop.is_set():
                return None
            for it in self._items:
                if it.status == "pending":
                    it.status = "running"
                    return it
        return None

    def _run_item(self, it: QueueItem) -> None:
        t0 = time.perf_counter()

        def progress(p: ExportProgress) -> None:
            it.frames_done, it.frames_total = p.frames_done, p.frames_total
            it.fraction = p.fraction if p.fraction is not None else it.fraction
            it.fps, it.eta_s = p.fps, p.eta_s
            self._changed(it)

        self._changed(it)
        try:
            res = run_job(it.input, it.output, it.settings, progress=progress, cancel=it._cancel,
                          pause=self._pause)
            it.status, it.fraction, it.resumed_frames = "done", 1.0, int(res["resumed_frames"])
            it.frames_done = it.frames_total = int(res["frames"])
            it.problems = tuple(res.get("problems", ()))
            it.notes = tuple(res.get("notes", ()))
        except ExportCancelled as exc:
            it.status, it.error = "cancelled", str(exc)
        except KeyboardInterrupt:
            it.status, it.error = "cancelled", "interrupted"
            raise
        except Exception as exc:  # one failing clip never stops the queue
            it.status, it.error = "failed", (str(exc).strip("'\"") or type(exc).__name__)
        finally:
            it.seconds = time.perf_counter() - t0
            self._changed(it)

    def run(self, jobs: int = 1) -> list[QueueItem]:
        """Process pending items (in order, ``jobs`` at a time) until none is left or the
        queue is cancelled. Blocks; returns the items. Items added meanwhile are run.

        On Ctrl-C (KeyboardInterrupt, also a CLI's SIGTERM/SIGHUP) the queue is cancelled
        and the worker threads are joined before the exception goes on, so every running
        export has removed its temporary output (finished segments stay) and no native
        encoder thread is torn down mid-work at interpreter exit."""
        if self._running:
            raise RuntimeError("the queue is already running")
        self._running = True
        self._stop.clear()
        self._t0 = self._t0 or time.perf_counter()

        def worker() -> None:
            while True:
                while self._pause.is_set() and not self._stop.is_set():
                    time.sleep(0.05)
                it = self._next()
                if it is None:
                    return
                self._run_item(it)

        threads: list[threading.Thread] = []
        try:
            if jobs <= 1:
                worker()
            else:
                threads = [threading.Thread(target=worker, name=f"lowlight-batch-{i}", daemon=True)
                           for i in range(jobs)]
                for t in threads:
                    t.start()
                for t in threads:
                    while t.is_alive():
                        t.join(0.2)
        except KeyboardInterrupt:
            self.cancel()
            _join_all(threads, CANCEL_JOIN_S)
            raise
        finally:
            self._running = False
        return self.items


#: seconds a cancelled queue waits for its workers to settle their outputs
CANCEL_JOIN_S = 60.0


def _join_all(threads: list[threading.Thread], limit_s: float) -> None:
    """Join ``threads`` for at most ``limit_s`` seconds; a further Ctrl-C meanwhile does
    not cut the wait short (the workers are removing their temporary files)."""
    from engine.video.pipeline import join_thread

    deadline = time.monotonic() + limit_s
    for t in threads:
        while time.monotonic() < deadline:
            try:
                if join_thread(t, 0.2) != "running":
                    break
            except KeyboardInterrupt:
                continue
