"""Throughput benchmarks: enhance-only and end-to-end (decode → enhance → encode) per
method × frame size × backend × path (fast = estimate/apply through FrameProcessor,
reference = the full-resolution ``Enhancer.reference``), plus a long-run RSS soak.

Inputs are generated (the demo scene rendered at each size), so figures are comparable
between machines. Times are wall-clock; report the machine and its load with them.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from engine import registry
from engine.processor import FrameProcessor
from engine.video.demo import render_demo_frame
from engine.video.export import ExportOptions, VideoFileSink
from engine.video.pipeline import Pipeline
from engine.video.sources import VideoFileSource

__all__ = ["BenchRecord", "rss_mb", "make_clip", "bench", "soak", "SIZES"]

SIZES = {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


@dataclass
class BenchRecord:
    """One benchmark figure. ``fps_median`` is the median over repeats of frames/second;
    ``ms_p95`` the 95th percentile of per-frame milliseconds (end-to-end: pipeline
    latency); ``frames`` how many frames each repeat ran (capped for slow reference
    runs: ``capped`` is then True); ``rss_mb`` the process resident set after the runs."""

    method: str
    backend: str
    device: str
    path: str
    stage: str
    width: int
    height: int
    fps_median: float
    ms_p95: float
    rss_mb: float
    frames: int
    repeats: int
    capped: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux /proc; else peak RSS)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frames(width: int, height: int, n: int) -> list[np.ndarray]:
    # a few distinct demo frames (dark room, lamp on, street), cycled
    picks = [10, 70, 150, 40]
    return [render_demo_frame(picks[i % len(picks)], width, height) for i in range(min(n, 4))]


def make_clip(path: str | os.PathLike, width: int, height: int, frames: int, fps: int = 30) -> Path:
    """Write a ``frames``-long H.264 clip of the demo scene at ``width``×``height``."""
    import av
    from fractions import Fraction

    path = Path(path)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "20"}
        vs.codec_context.time_base = Fraction(1, fps)
        pool = _frames(width, height, frames)
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(pool[i % len(pool)], format="rgb24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return path


def _enhance_fn(method: str, backend: str, device: str, path: str,
                weights: str | None = None) -> tuple[Callable, str, str]:
    enh = registry.create(method, backend=backend, device=device, weights=weights)
    if path == "fast":
        fn = FrameProcessor(enh).process
    else:
        params = enh.descriptor.default_params()
        fn = lambda img: enh.reference(img, params)  # noqa: E731
    return fn, enh.backend, enh.device


def _backends(method: str, wanted: Iterable[str] | None) -> list[str]:
    bk = [b for b in registry.get(method).backends]
    if wanted:
        bk = [b for b in bk if b in wanted] or []
    return bk


def bench(methods: list[str] | None = None, sizes: list[tuple[int, int]] | None = None,
          backends: list[str] | None = None, paths: tuple[str, ...] = ("fast", "reference"),
          stages: tuple[str, ...] = ("enhance", "end_to_end"), frames: int = 30, repeat: int = 3,
          device: str = "auto", ref_seconds: float = 10.0,
          log: Callable[[str], None] | None = None,
          weights_dir: str | os.PathLike | None = None) -> list[BenchRecord]:
    """Run the benchmark grid; returns one :class:`BenchRecord` per cell.

    Args:
        frames: frames per repeat; reference runs stop early after ``ref_seconds`` per
            repeat (the record then says ``capped`` and how many frames ran).
        repeat: repeats per cell; the median is reported.
        weights_dir: folder holding checkpoints under the descriptors' file names, used
            instead of the shipped ones (throughput does not depend on the weights).
    """
    skipped: set[str] = set()
    methods = methods or registry.names()
    sizes = sizes or [SIZES["360p"], SIZES["720p"], SIZES["1080p"]]
    records: list[BenchRecord] = []
    with tempfile.TemporaryDirectory(prefix="lowlight-bench-") as tmp:
        for (w, h) in sizes:
            pool = _frames(w, h, frames)
            clip = make_clip(Path(tmp) / f"clip_{w}x{h}.mp4", w, h, frames) if "end_to_end" in stages else None
            for m in methods:
                for b in _backends(m, backends):
                    for path in paths:
                        wfile = registry.get(m).weights
                        wpath = str(Path(weights_dir) / wfile) if (weights_dir and wfile) else None
                        try:
                            fn, real_b, real_dev = _enhance_fn(m, b, device, path, wpath)
                        except Exception as exc:  # e.g. no ONNX graph for this method
                            key = f"{m}/{b}/{path}"
                            if log and key not in skipped:
                                log(f"skip {key}: {exc}")
                            skipped.add(key)
                            continue
                        cap = ref_seconds if path == "reference" else None
                        fn(pool[0])  # warm-up (lazy init, first-call allocations)
                        for stage in stages:
                            if stage == "enhance":
                                rec = _bench_enhance(fn, pool, frames, repeat, cap)
                            else:
                                rec = _bench_e2e(fn, clip, Path(tmp), frames, repeat, cap)
                            fps_runs, ms_all, n, capped = rec
                            r = BenchRecord(m, real_b, real_dev, path, stage, w, h,
                                            round(statistics.median(fps_runs), 2),
                                            round(float(np.percentile(ms_all, 95)), 2),
                                            round(rss_mb(), 1), n, repeat, capped)
                            records.append(r)
                            if log:
                                log(f"{m} {real_b}/{real_dev} {path} {stage} {w}x{h}: "
                                    f"{r.fps_median} fps, p95 {r.ms_p95} ms")
    return records


def _bench_enhance(fn, pool, frames, repeat, cap):
    fps_runs, ms_all = [], []
    n_done = frames
    capped = False
    for _ in range(repeat):
        t_run = time.perf_counter()
        n = 0
        for i in range(frames):
            t0 = time.perf_counter()
            fn(pool[i % len(pool)])
            ms_all.append((time.perf_counter() - t0) * 1e3)
            n += 1
            if cap is not None and time.perf_counter() - t_run > cap:
                capped = n < frames
                break
        fps_runs.append(n / (time.perf_counter() - t_run))
        n_done = min(n_done, n)
    return fps_runs, ms_all, n_done, capped


def _bench_e2e(fn, clip, tmp: Path, frames, repeat, cap):
    fps_runs, ms_all = [], []
    n_done = frames
    capped = False
    for r in range(repeat):
        src = VideoFileSource(clip)
        sink = VideoFileSink(tmp / f"out_{r}.mp4", fps=src.info.fps, time_base=src.time_base,
                             options=ExportOptions(preset="veryfast", overwrite=True, audio="none"))
        pipe = Pipeline(src, fn, sink, mode="export")
        t0 = time.perf_counter()
        pipe.start()
        while not pipe.wait(0.05):
            if cap is not None and time.perf_counter() - t0 > cap:
                pipe.close()
                break
        st = pipe.stats()
        n = st.frames_out
        capped = capped or n < frames
        fps_runs.append(n / max(time.perf_counter() - t0, 1e-9))
        ms_all.append(st.latency_p95_ms)
        n_done = min(n_done, n)
        try:
            os.unlink(tmp / f"out_{r}.mp4")
        except FileNotFoundError:
            pass
    return fps_runs, ms_all, n_done, capped


def soak(minutes: float, method: str, width: int = 1920, height: int = 1080, frames: int = 20,
         device: str = "auto", backend: str = "auto",
         log: Callable[[str], None] | None = None) -> list[dict]:
    """Export a ``frames``-long clip again and again for ``minutes``; return
    ``[{"t_s", "iteration", "rss_mb", "fps"}]`` sampled after each export (steady RSS
    means no leak)."""
    samples = []
    enh = registry.create(method, backend=backend, device=device)
    proc = FrameProcessor(enh)
    with tempfile.TemporaryDirectory(prefix="lowlight-soak-") as tmp:
        clip = make_clip(Path(tmp) / "soak.mp4", width, height, frames)
        t_start = time.perf_counter()
        it = 0
        while time.perf_counter() - t_start < minutes * 60.0 or it == 0:
            src = VideoFileSource(clip)
            sink = VideoFileSink(Path(tmp) / "out.mp4", fps=src.info.fps, time_base=src.time_base,
                                 options=ExportOptions(preset="veryfast", overwrite=True, audio="none"))
            proc.reset()
            st = Pipeline(src, proc, sink, mode="export").run()
            it += 1
            s = {"t_s": round(time.perf_counter() - t_start, 1), "iteration": it,
                 "rss_mb": round(rss_mb(), 1), "fps": round(st.fps, 2)}
            samples.append(s)
            if log:
                log(f"soak {s}")
    return samples
