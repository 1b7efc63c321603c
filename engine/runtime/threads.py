"""How many threads the encoder of an export gets.

An export runs decode → enhance (the processor's two halves on two threads) → encode, all
at once (:mod:`engine.video.pipeline`). :func:`export_threads` is the one place that says
what the x264/x265 encoder gets; the other parts keep their own settings, for measured
reasons (docs/performance.md, "Threads of an export"):

- FFmpeg's decoder keeps its own frame threads (one per core plus one): one thread made
  the decode stage of a 720p export take 25 instead of 9 ms per frame and the export no
  faster on two cores;
- OpenCV and ONNX Runtime keep ``LOWLIGHT_THREADS`` / the usable cores
  (:mod:`engine.runtime.environment`): one thread each gave the same CPU time per frame
  and no faster export, and both are process-wide, shared with the studio's player.

The encoder gets one thread per core on small machines, so the thread count does not
depend on how PyAV or FFmpeg set up the codec (x264's own choice is 1.5 per core with
frame threads, 1 per core with the sliced threads PyAV asks for today).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.runtime.environment import cpu_count

__all__ = ["ExportThreads", "export_threads"]

# Up to this many cores the encoder gets one thread per core; above it, its own choice
# (which then leaves the enhance threads room anyway).
_SMALL_MACHINE = 4


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
