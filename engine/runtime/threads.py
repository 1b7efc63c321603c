"""How many threads the encoder of an export gets, and OpenCV while two halves run.

An export runs decode → enhance (the processor's two halves on two threads) → encode, all
at once (:mod:`engine.video.pipeline`). :func:`export_threads` is the one place that says
what the x264/x265 encoder gets, and :func:`halves_opencv_threads` what OpenCV gets while a
processor's two halves run at once (:class:`engine.stages.processor.TwoHalfRunner`: exports,
``lowlight enhance`` on videos, live runs, the studio's player). The other parts keep their
own settings, for measured reasons (docs/performance.md, "Threads of an export"):

- FFmpeg's decoder keeps its own frame threads (one per core plus one): one thread made
  the decode stage of a 720p export take 25 instead of 9 ms per frame and the export no
  faster on two cores;
- ONNX Runtime keeps ``LOWLIGHT_THREADS`` / the usable cores
  (:mod:`engine.runtime.environment`): one intra-op thread gave the same CPU time per frame
  and no faster run;
- OpenCV keeps its count (one thread per core) for one-thread work (stills, ``process``),
  and runs one thread while two halves run on a machine of up to two cores: both halves
  already keep both cores busy, and OpenCV's helper thread then mostly waits for a core and
  spins (SCI at 1080p: 14 % less CPU per frame and 4 % more frames per second; see
  :func:`halves_opencv_threads`).

The encoder gets one thread per core on small machines, so the thread count does not
depend on how PyAV or FFmpeg set up the codec (x264's own choice is 1.5 per core with
frame threads, 1 per core with the sliced threads PyAV asks for today).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import cv2

from engine.runtime.environment import cpu_count

__all__ = ["ExportThreads", "export_threads", "halves_opencv_threads", "halves_opencv_count",
           "hold_halves_threads"]

# Up to this many cores the encoder gets one thread per core; above it, its own choice
# (which then leaves the enhance threads room anyway).
_SMALL_MACHINE = 4
# Up to this many cores OpenCV runs one thread while two halves run (measured on 2 cores;
# larger machines keep OpenCV's own count, which has idle cores to use there).
_HALVES_ONE_THREAD = 2


@dataclass(frozen=True)
class ExportThreads:
    """Thread counts of one export.

    Attributes:
        cores: the cores the plan was made for.
        encoder: x264/x265 threads (0 = the encoder's own choice).
    """

    cores: int
    encoder: int


def export_threads(cores: int | None = None) -> ExportThreads:
    """The encoder threads of an export on ``cores`` cores (default: the cores this
    process may use, :func:`engine.runtime.environment.cpu_count`)."""
    n = max(1, int(cores)) if cores is not None else cpu_count()
    return ExportThreads(n, n if n <= _SMALL_MACHINE else 0)


def halves_opencv_threads(cores: int | None = None) -> int | None:
    """OpenCV's thread count while a processor's two halves run at once on ``cores`` cores
    (default: the cores this process may use): 1 on machines of up to two cores, None
    (leave OpenCV's count as it is) on larger ones.

    On two cores the halves (and the decoder, and the encoder of an export) already keep
    both cores busy; OpenCV's helper thread then mostly waits for a core and spins after
    each call. Measured on 2 cores with SCI at every default, one OpenCV thread against
    two: the two-thread path at 1080p ran 4 % more frames per second on 14 % less CPU
    (720p: 2 %, 7 %); exporting a real 1080p clip ran 4 % faster on 7 % less CPU; a live
    1080p30 stream lost fewer frames. Frames are bit-identical (OpenCV's results do not
    depend on its thread count)."""
    n = max(1, int(cores)) if cores is not None else cpu_count()
    return 1 if n <= _HALVES_ONE_THREAD else None


def halves_opencv_count(current: int, cores: int | None = None) -> int:
    """The thread count OpenCV runs while two halves run, given its count ``current`` now:
    :func:`halves_opencv_threads` where that is lower, else ``current`` (what
    :func:`hold_halves_threads` sets, and ``lowlight bench`` reports)."""
    plan = halves_opencv_threads(cores)
    return current if plan is None else min(current, plan)


class _HalvesLease:
    """The process-wide OpenCV setting of the two-half runs in progress: the first hold
    applies :func:`halves_opencv_threads`, the last release puts back the count OpenCV had
    before (unless something else changed it meanwhile)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: int | None = None  # OpenCV's count before the first hold, when changed
        self._applied: int | None = None

    def hold(self) -> Callable[[], None]:
        with self._lock:
            if self._holders == 0:
                now = cv2.getNumThreads()
                plan = halves_opencv_count(now)
                if plan < now:
                    cv2.setNumThreads(plan)
                    self._saved, self._applied = now, plan
                else:
                    self._saved = self._applied = None
            self._holders += 1
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._saved is not None:
                    if cv2.getNumThreads() == self._applied:
                        cv2.setNumThreads(self._saved)
                    self._saved = self._applied = None

        return release


_LEASE = _HalvesLease()


def hold_halves_threads() -> Callable[[], None]:
    """Apply :func:`halves_opencv_threads` while a two-half run lasts; returns the function
    that ends the hold (calling it again does nothing). Runs that overlap share the
    setting, and OpenCV's earlier count comes back when the last one ends. OpenCV's count is
    process-wide: work on other threads meanwhile (a still, a thumbnail) runs with it too."""
    return _LEASE.hold()
