"""Throughput and memory measurements behind ``lowlight bench``.

What is measured (every figure is wall-clock on this machine, at the thread counts
reported by :func:`thread_info`):

* stage ``"enhance"``: frames already in memory (a generated clip, see
  :func:`synthetic_clip`) go through one method. Path ``"fast"`` is the product path,
  :class:`engine.stages.processor.FrameProcessor` (temporal denoise → estimate on a downscaled
  copy → temporal smoothing → apply at full size → spatial denoise); path ``"reference"`` is
  ``enhancer.reference`` (the network at full resolution, no temporal stages).
  The fast path is measured twice: with the method's default parameters
  (``params_mode="defaults"``: smoothing and denoise 0.5, so the temporal stages run)
  and per frame (``params_mode="per_frame"``: smoothing = denoise = 0), which is what
  per-frame speed targets mean. ``fps_two_stage`` is the same clip through
  :class:`engine.stages.processor.TwoStage` (the processor's two halves on two threads, as the
  video pipeline and the studio run them): frames / wall time, median over the runs.
* stage ``"end_to_end"``: a generated clip is written once to an H.264 file, then
  :func:`engine.video.export.export_video` decodes it, enhances it (fast path, method
  defaults, the processor's two halves on two threads as in every export) and encodes it
  to H.264 at the export's default quality and preset; fps = frames / wall time of the
  export call (after one untimed warm-up export).
* :func:`soak`: the export repeated on a 1080p clip for minutes while the resident set
  size (VmRSS) is sampled, to show whether memory grows.

A record's ``fps_median`` is the median over ``repeat`` runs of (frames in the run /
run seconds); ``ms_p95`` the 95th percentile of the per-frame latencies of all runs
(end-to-end: of the intervals between frames leaving the enhance stage of the pipeline);
``rss_mb`` the process's resident set after the record's runs.

``stage_fractions`` says where the time goes, so the next bottleneck is visible (shares
0..1 that sum to 1):

* fast enhance rows: ``estimate``, ``smooth``, ``apply``, ``denoise`` (the temporal
  denoiser), ``spatial`` (the spatial denoiser) and ``other`` (conversions and the rest)
  of one thread's wall time per frame (the median step times of ``steps_ms`` against
  1000 / ``fps_median``);
* end-to-end rows: ``decode``, ``enhance`` (both halves) and ``encode`` of the summed
  busy time of the pipeline's stages per frame (``steps_ms`` holds the milliseconds: the
  stages run at once on their own threads, so the largest share is the stage the others
  wait for). ``encode`` is the sink thread's time in the encoder call; x264's own worker
  threads run beside it.

Reference rows have none (the network is one step).
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import cv2
import numpy as np

from engine import registry
from engine.enhancer import MethodDescriptor
from engine.files.atomic import replacing
from engine.lab.metrics import psnr
from engine.params import EnhanceParams
from engine.runtime.environment import cpu_count as usable_cpus
from engine.runtime.threads import export_threads, halves_opencv_count
from engine.stages.processor import FrameProcessor, StagedFrame, TwoStage

__all__ = [
    "BenchError",
    "BenchConfig",
    "BenchRecord",
    "Ratio",
    "SoakResult",
    "DEFAULT_SIZES",
    "QUICK_SIZES",
    "RATIO_TARGETS",
    "PSNR_TARGET_DB",
    "parse_sizes",
    "set_threads",
    "thread_info",
    "rss_mb",
    "peak_rss_mb",
    "synthetic_clip",
    "write_clip",
    "export_clip",
    "END_TO_END_NOTE",
    "ENHANCE_STAGES",
    "EXPORT_STAGES",
    "enhance_fractions",
    "export_fractions",
    "run_bench",
    "ratios",
    "soak",
]

DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((640, 360), (1280, 720), (1920, 1080))
QUICK_SIZES: tuple[tuple[int, int], ...] = ((96, 54), (160, 90))
#: fast/reference speed-ratio targets per method (issue 4; NAFNet and MIRNetv2: issue 18;
#: others have none)
RATIO_TARGETS: dict[str, float] = {"sci": 10.0, "zerodce++": 10.0, "zerodce": 100.0,
                                    "nafnet": 10.0, "mirnetv2": 10.0}
#: issue 4's fast-vs-reference output PSNR target, dB
PSNR_TARGET_DB = 35.0
PATHS = ("fast", "reference")
STAGES = ("enhance", "end_to_end")
BACKENDS = ("torch", "onnx", "numpy")
#: frames of the reference path whose outputs are kept for the fast-vs-reference PSNR
PSNR_FRAMES = 3
END_TO_END_NOTE = ("export_video: H.264 at the export defaults; ms_p95 = intervals between frames "
                   "leaving the enhance stage")
#: the shares of an enhance row's ``stage_fractions``, in pipeline order
ENHANCE_STAGES = ("estimate", "smooth", "apply", "denoise", "spatial", "other")
#: the shares of an end-to-end row's ``stage_fractions``
EXPORT_STAGES = ("decode", "enhance", "encode")


class BenchError(ValueError):
    """Bad benchmark input (unknown method, malformed size...); the message is one line."""


# --------------------------------------------------------------------------- settings

def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"640x360,1280x720"`` → ``[(640, 360), (1280, 720)]`` (width × height, pixels >= 2).

    Raises :class:`BenchError` naming the bad entry."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        w, sep, h = part.partition("x")
        try:
            if not sep:
                raise ValueError
            size = (int(w), int(h))
        except ValueError:
            raise BenchError(f"bad size {part!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None
        if min(size) < 2 or max(size) > 16384:
            raise BenchError(f"bad size {part!r}: each side must be 2..16384 pixels")
        sizes.append(size)
    if not sizes:
        raise BenchError(f"no sizes in {text!r}: expected e.g. 640x360,1280x720")
    return sizes


def set_threads(threads: int | None = None) -> int:
    """Use ``threads`` (default: the cores this process may run on) for PyTorch's
    intra-op pool, OpenCV and ONNX Runtime sessions created from now on
    (``LOWLIGHT_THREADS``, read by :func:`engine.runtime.onnx_runtime.cpu_threads`).
    Returns the count used."""
    n = max(1, int(threads)) if threads else usable_cpus()
    os.environ["LOWLIGHT_THREADS"] = str(n)
    cv2.setNumThreads(n)
    import torch

    torch.set_num_threads(n)
    return n


def thread_info() -> dict[str, int]:
    """The thread counts in effect: cpu_count (machine), affinity (cores usable by this
    process), torch (intra-op), onnx_intra_op (new sessions), cv2 (one-thread work),
    ``cv2_two_halves`` (OpenCV while a processor's two halves run: the two-thread rows,
    exports, live runs; :func:`engine.runtime.threads.halves_opencv_count`), and what an
    export gives its x264/x265 encoder (``export_encoder``; 0 = the encoder's own choice,
    see :func:`engine.runtime.threads.export_threads`; the decoder keeps FFmpeg's own)."""
    import torch

    from engine.runtime.onnx_runtime import cpu_threads

    plan = export_threads()
    cv = cv2.getNumThreads()
    return {"cpu_count": os.cpu_count() or 1, "affinity": usable_cpus(),
            "torch": torch.get_num_threads(), "onnx_intra_op": cpu_threads(),
            "cv2": cv, "cv2_two_halves": halves_opencv_count(cv), "export_encoder": plan.encoder}


def _status_mb(key: str) -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:  # pragma: no cover - not on Linux
        pass
    import resource  # fallback: peak only (ru_maxrss is kB on Linux)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """Resident set size of this process now, MiB (VmRSS)."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (VmHWM)."""
    return _status_mb("VmHWM")


# --------------------------------------------------------------------------- the clip

def synthetic_clip(width: int, height: int, frames: int, *, seed: int = 0) -> list[np.ndarray]:
    """A deterministic dark clip: ``frames`` uint8 (height, width, 3) RGB frames.

    A textured, smoothly shaded scene (mean level about 10 % of full scale) pans by
    one pixel per frame in x, a lit disk moves across it, and fresh Gaussian sensor
    noise (sigma 2.5 grey levels) is added to every frame. Same seed → same frames.
    """
    if width < 1 or height < 1 or frames < 1:
        raise BenchError(f"clip size {width}x{height}x{frames} must be positive")
    rng = np.random.default_rng(seed)
    pad = frames + 1
    cw = width + pad
    y, x = np.mgrid[0:height, 0:cw].astype(np.float32)
    s = float(max(width, height))
    base = np.empty((height, cw, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(1.0, 3.0), rng.uniform(1.0, 3.0), rng.uniform(0.0, 6.3)
        base[:, :, c] = 0.5 + 0.5 * np.sin(2 * np.pi * (fx * x + fy * y) / s + ph)
    # fine texture (edges for the estimate/apply split to preserve), fixed per clip
    tex = rng.random((max(1, height // 4 + 1), max(1, cw // 4 + 1)), dtype=np.float32)
    tex = cv2.resize(tex, (cw, height), interpolation=cv2.INTER_NEAREST)
    base = (0.04 + 0.10 * base * (0.6 + 0.4 * tex[:, :, None])) * 255.0
    out = []
    r = max(1.0, 0.12 * min(width, height))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(frames):
        img = base[:, pad - 1 - i: pad - 1 - i + width].copy()
        cx = width * (0.2 + 0.6 * i / max(1, frames - 1))
        cy = height * (0.5 + 0.2 * math.sin(i / 5.0))
        disk = np.clip(1.0 - np.hypot(xx - cx, yy - cy) / r, 0.0, 1.0)
        img += (disk * 70.0)[:, :, None] * np.array([1.0, 0.8, 0.6], np.float32)
        img += rng.normal(0.0, 2.5, img.shape).astype(np.float32)
        out.append(np.ascontiguousarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)))
    return out


def write_clip(path: str | os.PathLike[str], frames: Sequence[np.ndarray], fps: int = 30) -> Path:
    """Encode ``frames`` (uint8 (H, W, 3) RGB, even W and H for 4:2:0) to an H.264 file
    (libx264, CRF 18, preset veryfast) through a temporary file renamed on success."""
    import av

    p = Path(path)
    h, w = frames[0].shape[:2]
    with replacing(p) as tmp, av.open(str(tmp), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.options = {"crf": "18", "preset": "veryfast"}
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return p


# --------------------------------------------------------------------------- export

class _TimedProcessor(FrameProcessor):
    """A :class:`engine.stages.processor.FrameProcessor` that also records when each frame
    leaves it (perf_counter seconds, at the end of ``finish``), for the end-to-end per-frame
    intervals. Its halves are the processor's, so the export runs them on two threads as the
    product does."""

    def __init__(self, enhancer: Any, params: EnhanceParams) -> None:
        super().__init__(enhancer, params)
        self.done: list[float] = []

    def finish(self, staged: StagedFrame) -> np.ndarray:
        out = super().finish(staged)
        self.done.append(time.perf_counter())
        return out


def export_clip(src: str | os.PathLike[str], dst: str | os.PathLike[str], enhancer: Any,
                params: EnhanceParams, *, cancel: threading.Event | None = None,
                results: list[Any] | None = None) -> tuple[int, float, list[float]]:
    """Export ``src`` through :func:`engine.video.export.export_video` (decode → FrameProcessor
    with ``enhancer`` and ``params`` → H.264 at the export's default profile, quality and
    threads) into ``dst`` (replaced).

    Returns (frames written, wall seconds of the export call, per-frame intervals in ms
    between frames leaving the enhance stage); the export's
    :class:`engine.video.export.ExportResult` is appended to ``results`` when given.
    Raises ``ExportCancelled`` when ``cancel`` is set, ``VideoError`` on failure.
    """
    from engine.video.export import ExportOptions, export_video

    proc = _TimedProcessor(enhancer, params)
    t0 = time.perf_counter()
    res = export_video(str(src), str(dst), processor=proc, options=ExportOptions(overwrite=True),
                       cancel=cancel)
    dt = time.perf_counter() - t0
    if results is not None:
        results.append(res)
    stamps = [t0] + proc.done
    return res.frames, dt, [(b - a) * 1e3 for a, b in zip(stamps[1:], stamps[2:])]


# --------------------------------------------------------------------------- records

@dataclass
class BenchRecord:
    """One measured configuration (see the module docstring for the figures)."""

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
    repeat: int
    params_mode: str
    params: dict[str, Any]
    runtime: str = ""
    threads: dict[str, int] = field(default_factory=dict)
    note: str = ""
    steps_ms: dict[str, float] = field(default_factory=dict)
    fps_two_stage: float | None = None
    stage_fractions: dict[str, float] = field(default_factory=dict)
    encoder: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Ratio:
    """Fast vs reference for one method, backend and size (enhance stage, per-frame params)."""

    method: str
    backend: str
    width: int
    height: int
    fast_fps: float
    reference_fps: float
    ratio: float
    ratio_target: float | None
    psnr_db: float | None
    psnr_target_db: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchConfig:
    """What :func:`run_bench` measures.

    Attributes:
        methods: registry names (default: all registered).
        sizes: (width, height) pairs.
        backends: subset of ``("torch", "onnx", "numpy")``; classical methods run as numpy.
        paths: subset of ``("fast", "reference")``.
        stages: subset of ``("enhance", "end_to_end")``; end-to-end runs the fast path.
        frames: frames per run; repeat: runs per configuration (median over runs).
        reference_budget: seconds of timed reference frames per configuration (at least
            one frame is always timed).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        params: overrides of the method defaults (e.g. ``{"iterations": 4}``).
    """

    methods: list[str] | None = None
    sizes: list[tuple[int, int]] = field(default_factory=lambda: list(DEFAULT_SIZES))
    backends: list[str] = field(default_factory=lambda: list(BACKENDS))
    paths: list[str] = field(default_factory=lambda: list(PATHS))
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    frames: int = 30
    repeat: int = 3
    reference_budget: float = 20.0
    device: str = "cpu"
    params: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise :class:`BenchError` for unknown names or non-positive counts."""
        known = registry.names()
        for m in self.methods or []:
            if m.lower() not in known:
                raise BenchError(f"unknown method {m!r}; choose from {', '.join(known)}")
        for name, values, allowed in (("backend", self.backends, BACKENDS), ("path", self.paths, PATHS),
                                      ("stage", self.stages, STAGES)):
            for v in values:
                if v not in allowed:
                    raise BenchError(f"unknown {name} {v!r}; choose from {', '.join(allowed)}")
        if self.frames < 1 or self.repeat < 1:
            raise BenchError("--frames and --repeat must be at least 1")
        if not self.reference_budget > 0:
            raise BenchError("--reference-budget must be positive")
        if "end_to_end" in self.stages:
            odd = [f"{w}x{h}" for w, h in self.sizes if w % 2 or h % 2]
            if odd:
                raise BenchError(f"end-to-end needs even sizes (H.264 4:2:0), not {', '.join(odd)}; "
                                 "use --stages enhance for odd sizes")
        if self.device not in ("auto", "cpu", "cuda"):
            raise BenchError(f"unknown device {self.device!r}; choose from auto, cpu, cuda")


def _p95(values: Sequence[float]) -> float:
    return float(np.percentile(np.asarray(values, np.float64), 95)) if values else float("nan")


def _time_runs(frames: Sequence[np.ndarray], step: Callable[[np.ndarray], np.ndarray], repeat: int,
               reset: Callable[[], None] | None = None, budget: float | None = None,
               keep: int = 0) -> tuple[list[float], list[float], int, list[np.ndarray]]:
    """Run ``step`` over ``frames`` ``repeat`` times after one untimed warm-up frame.

    Returns (fps of each run, every per-frame latency in ms, frames timed, the outputs of
    the first ``keep`` frames of the first run). With ``budget`` (seconds) timing stops
    once that much time was spent (after at least one frame); the partial run counts.
    """
    step(frames[0])  # warm-up: first-call allocations, lazy session setup
    fps, lat, kept = [], [], []
    spent, timed = 0.0, 0
    for _ in range(repeat):
        if reset is not None:
            reset()
        run_t, run_n = 0.0, 0
        for i, f in enumerate(frames):
            t0 = time.perf_counter()
            out = step(f)
            dt = time.perf_counter() - t0
            if len(kept) < keep and len(fps) == 0 and i == len(kept):
                kept.append(out)
            lat.append(dt * 1e3)
            run_t += dt
            run_n += 1
            spent += dt
            if budget is not None and spent >= budget:
                break
        timed += run_n
        fps.append(run_n / run_t if run_t > 0 else float("inf"))
        if budget is not None and spent >= budget:
            break
    return fps, lat, timed, kept


def _plan(config: BenchConfig) -> list[tuple[MethodDescriptor, str]]:
    """(descriptor, backend) pairs to measure, in registry order."""
    names = [m.lower() for m in config.methods] if config.methods else registry.names()
    plan = []
    for d in registry.descriptors():
        if d.name not in names:
            continue
        if d.family != "learned":
            if "numpy" in config.backends:
                plan.append((d, "numpy"))
            continue
        for b in ("torch", "onnx"):
            if b in config.backends and b in d.backends:
                plan.append((d, b))
    return plan


def _create(d: MethodDescriptor, backend: str, device: str) -> Any:
    if d.family != "learned":
        return registry.create(d.name)
    return registry.create(d.name, backend=backend, device=device)


Log = Callable[[str], None]


def run_bench(config: BenchConfig, *, log: Log | None = None,
              ratio_out: list[Ratio] | None = None) -> list[BenchRecord]:
    """Measure every configuration of ``config``; returns the records in run order.

    Methods or backends that cannot be created (missing weights, no ONNX graph, no GPU)
    are skipped with one line to ``log``. When ``ratio_out`` is given, the fast/reference
    ratios and PSNRs (:class:`Ratio`) are appended to it.
    """
    config.validate()
    say = log or (lambda _msg: None)
    threads = thread_info()
    records: list[BenchRecord] = []
    clips: dict[tuple[int, int], list[np.ndarray]] = {}
    files: dict[tuple[int, int], Path] = {}
    tmpdir = tempfile.TemporaryDirectory(prefix="lowlight-bench-")
    try:
        for d, backend in _plan(config):
            try:
                enh = _create(d, backend, config.device)
            except Exception as exc:  # missing weights/graph, no GPU: one line, go on
                say(f"skipped {d.name} ({backend}): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
                continue
            defaults = d.params_from(config.params)
            per_frame = defaults.replace(smoothing=0.0, denoise=0.0)
            for (w, h) in config.sizes:
                if (w, h) not in clips:
                    clips[(w, h)] = synthetic_clip(w, h, config.frames)
                clip = clips[(w, h)]
                common = dict(method=d.name, backend=enh.backend, device=enh.device, width=w, height=h,
                              runtime=enh.runtime_label(), threads=threads)
                fast_rec, ref_rec, ref_out = None, None, []
                if "enhance" in config.stages and "fast" in config.paths:
                    for mode, p in (("defaults", defaults), ("per_frame", per_frame)):
                        rec = _bench_fast(enh, clip, p, config.repeat, mode, common)
                        records.append(rec)
                        say(_progress_line(rec))
                        if mode == "per_frame":
                            fast_rec = rec
                if "enhance" in config.stages and "reference" in config.paths:
                    ref_rec, ref_out = _bench_reference(enh, clip, per_frame, config, common)
                    records.append(ref_rec)
                    say(_progress_line(ref_rec))
                if "end_to_end" in config.stages and "fast" in config.paths:
                    if (w, h) not in files:
                        files[(w, h)] = write_clip(Path(tmpdir.name) / f"clip_{w}x{h}.mp4", clip)
                    rec = _bench_end_to_end(enh, files[(w, h)], Path(tmpdir.name), defaults, config, common)
                    records.append(rec)
                    say(_progress_line(rec))
                if ratio_out is not None and fast_rec is not None and ref_rec is not None:
                    ratio_out.append(_ratio(enh, clip, per_frame, fast_rec, ref_rec, ref_out))
            del enh
    finally:
        tmpdir.cleanup()
    return records


def enhance_fractions(steps_ms: dict[str, float], frame_ms: float) -> dict[str, float]:
    """Shares of one thread's time per frame (``frame_ms``, ms) spent in each of
    :data:`ENHANCE_STAGES`, from the step medians ``steps_ms`` (keys ``estimate``,
    ``smooth``, ``apply``, ``denoise`` = both denoisers, ``spatial_denoise`` = the spatial
    one's part). ``other`` is the rest; when the step medians add up to more than
    ``frame_ms`` they are the whole. Shares are 0..1 and sum to 1 (all 0 for no time)."""
    spatial = max(0.0, steps_ms.get("spatial_denoise", 0.0))
    parts = {"estimate": steps_ms.get("estimate", 0.0), "smooth": steps_ms.get("smooth", 0.0),
             "apply": steps_ms.get("apply", 0.0),
             "denoise": steps_ms.get("denoise", 0.0) - spatial, "spatial": spatial}
    parts = {k: max(0.0, float(v)) for k, v in parts.items()}
    known = sum(parts.values())
    whole = max(float(frame_ms), known)
    parts["other"] = whole - known
    if whole <= 0:
        return {k: 0.0 for k in ENHANCE_STAGES}
    return {k: parts[k] / whole for k in ENHANCE_STAGES}


def export_fractions(decode_ms: float, enhance_ms: float, encode_ms: float) -> dict[str, float]:
    """Shares of the summed per-frame busy time (ms) of an export's stages
    (:data:`EXPORT_STAGES`); 0..1, summing to 1 (all 0 for no time)."""
    parts = {"decode": max(0.0, decode_ms), "enhance": max(0.0, enhance_ms), "encode": max(0.0, encode_ms)}
    whole = sum(parts.values())
    return {k: (v / whole if whole > 0 else 0.0) for k, v in parts.items()}


def _bench_fast(enh: Any, clip: Sequence[np.ndarray], params: EnhanceParams, repeat: int,
                mode: str, common: dict[str, Any]) -> BenchRecord:
    proc = FrameProcessor(enh, params)
    # "denoise" is both denoise stages; "spatial_denoise" the spatial one's part of it
    steps: dict[str, list[float]] = {"denoise": [], "spatial_denoise": [], "estimate": [], "smooth": [],
                                     "apply": []}

    def step(f: np.ndarray) -> np.ndarray:
        out = proc.process(f)
        t = proc.timings
        steps["denoise"].append(t.denoise_ms)
        steps["spatial_denoise"].append(t.spatial_ms)
        steps["estimate"].append(t.estimate_ms)
        steps["smooth"].append(t.smooth_ms)
        steps["apply"].append(t.apply_ms)
        return out

    fps, lat, n, _ = _time_runs(clip, step, repeat, reset=proc.reset)
    two = []
    for _ in range(repeat):
        proc.reset()
        t0 = time.perf_counter()
        done = sum(1 for _ in TwoStage(proc).run(clip))
        dt = time.perf_counter() - t0
        two.append(done / dt if dt > 0 else float("inf"))
    steps_ms = {k: float(statistics.median(v[1:] or v)) for k, v in steps.items()}
    fps_one = statistics.median(fps)
    return BenchRecord(path="fast", stage="enhance", fps_median=fps_one, ms_p95=_p95(lat),
                       rss_mb=rss_mb(), frames=n, repeat=repeat, params_mode=mode,
                       params=proc.params.as_dict(), steps_ms=steps_ms,
                       fps_two_stage=statistics.median(two),
                       stage_fractions=enhance_fractions(steps_ms, 1e3 / fps_one if fps_one > 0 else 0.0),
                       **common)


def _bench_reference(enh: Any, clip: Sequence[np.ndarray], params: EnhanceParams, config: BenchConfig,
                     common: dict[str, Any]) -> tuple[BenchRecord, list[np.ndarray]]:
    fps, lat, n, kept = _time_runs(clip, lambda f: enh.reference(f, params), config.repeat,
                                   budget=config.reference_budget, keep=PSNR_FRAMES)
    full = n >= config.repeat * len(clip)
    note = "" if full else (f"reference budget {config.reference_budget:g} s: {n} of "
                            f"{config.repeat * len(clip)} frames timed")
    return BenchRecord(path="reference", stage="enhance", fps_median=statistics.median(fps),
                       ms_p95=_p95(lat), rss_mb=rss_mb(), frames=n, repeat=len(fps),
                       params_mode="per_frame", params=params.as_dict(), note=note, **common), kept


def _bench_end_to_end(enh: Any, src: Path, folder: Path, params: EnhanceParams,
                      config: BenchConfig, common: dict[str, Any]) -> BenchRecord:
    from engine.video.export import ExportOptions

    dst = folder / "out.mp4"
    fps, lat = [], []
    stage_ms: dict[str, list[float]] = {k: [] for k in EXPORT_STAGES}
    results: list[Any] = []
    total = 0
    for r in range(config.repeat + 1):  # run 0 warms up (decoder, encoder, sessions)
        n, dt, intervals = export_clip(src, dst, enh, params, results=results)
        if r == 0:
            continue
        total += n
        fps.append(n / dt if dt > 0 else float("inf"))
        lat.extend(intervals)
        st = results[-1].stats
        if st is not None:
            for k, v in zip(EXPORT_STAGES, (st.decode_ms, st.enhance_ms, st.encode_ms)):
                stage_ms[k].append(float(v))
    if dst.exists():
        dst.unlink()
    steps = {k: float(statistics.median(v)) for k, v in stage_ms.items() if v}
    opts = ExportOptions()
    encoder = {"name": results[-1].encoder if results else "", "profile": opts.encode,
               "preset": opts.preset, "crf": opts.crf, "threads": export_threads().encoder}
    return BenchRecord(path="fast", stage="end_to_end", fps_median=statistics.median(fps),
                       ms_p95=_p95(lat) if lat else 1e3 / statistics.median(fps), rss_mb=rss_mb(),
                       frames=total, repeat=config.repeat, params_mode="defaults",
                       params=params.as_dict(), note=END_TO_END_NOTE, steps_ms=steps,
                       stage_fractions=export_fractions(*(steps.get(k, 0.0) for k in EXPORT_STAGES))
                       if steps else {}, encoder=encoder, **common)


def _ratio(enh: Any, clip: Sequence[np.ndarray], params: EnhanceParams, fast: BenchRecord,
           ref: BenchRecord, ref_out: Sequence[np.ndarray]) -> Ratio:
    vals = [psnr(enh.enhance(clip[i], params), o) for i, o in enumerate(ref_out)]
    finite = [v for v in vals if math.isfinite(v)]
    p = (float(np.mean(finite)) if finite else math.inf) if vals else None
    return Ratio(method=fast.method, backend=fast.backend, width=fast.width, height=fast.height,
                 fast_fps=fast.fps_median, reference_fps=ref.fps_median,
                 ratio=fast.fps_median / ref.fps_median if ref.fps_median > 0 else math.inf,
                 ratio_target=RATIO_TARGETS.get(fast.method), psnr_db=p, psnr_target_db=PSNR_TARGET_DB)


def ratios(records: Iterable[BenchRecord]) -> list[tuple[BenchRecord, BenchRecord]]:
    """(fast per-frame, reference) enhance-stage record pairs of the same method, backend
    and size."""
    recs = list(records)
    out = []
    for ref in recs:
        if ref.path != "reference" or ref.stage != "enhance":
            continue
        for fast in recs:
            if (fast.path == "fast" and fast.stage == "enhance" and fast.params_mode == "per_frame"
                    and (fast.method, fast.backend, fast.width, fast.height)
                    == (ref.method, ref.backend, ref.width, ref.height)):
                out.append((fast, ref))
    return out


def _progress_line(r: BenchRecord) -> str:
    return (f"{r.method:10s} {r.backend:6s} {r.path:9s} {r.stage:10s} {r.params_mode:9s} "
            f"{r.width}x{r.height}: {r.fps_median:8.1f} fps, p95 {r.ms_p95:8.1f} ms ({r.frames} frames)"
            + ("" if r.fps_two_stage is None else f", two threads {r.fps_two_stage:.1f} fps"))


# --------------------------------------------------------------------------- soak

@dataclass
class SoakResult:
    """RSS over a long export loop, MiB.

    ``slope_mb_per_min``: least-squares slope of the periodic samples after the first
    export (warm-up). The samples rise and fall with every export (frames in flight,
    encoder buffers), so ``between_slope_mb_per_min`` (the Theil–Sen slope of the RSS
    taken right after each completed export but the first, ``between_exports``) is the
    cleaner growth figure."""

    method: str
    backend: str
    device: str
    width: int
    height: int
    seconds: float
    exports: int
    frames: int
    fps: float
    rss_start_mb: float
    rss_peak_mb: float
    rss_end_mb: float
    vm_hwm_mb: float
    slope_mb_per_min: float
    samples: list[tuple[float, float]]
    interval_s: float
    between_slope_mb_per_min: float
    between_exports: list[tuple[float, float]]
    threads: dict[str, int]
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _slope(samples: Sequence[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    t = np.array([s[0] for s in samples]) / 60.0
    r = np.array([s[1] for s in samples])
    if float(np.ptp(t)) == 0.0:
        return 0.0
    return float(np.polyfit(t, r, 1)[0])


def _robust_slope(samples: Sequence[tuple[float, float]]) -> float:
    """Theil–Sen slope (median of the pairwise slopes), MiB per minute: one export that
    happened to end with its buffers still resident does not tilt it."""
    pts = [(t / 60.0, r) for t, r in samples]
    slopes = [(b[1] - a[1]) / (b[0] - a[0]) for i, a in enumerate(pts) for b in pts[i + 1:] if b[0] > a[0]]
    return float(statistics.median(slopes)) if slopes else 0.0


def soak(minutes: float, *, method: str = "sci", size: tuple[int, int] = (1920, 1080), frames: int = 60,
         backend: str = "auto", device: str = "cpu", params: dict[str, Any] | None = None,
         interval: float | None = None, log: Log | None = None) -> SoakResult:
    """Export a generated ``size`` clip of ``frames`` frames again and again for
    ``minutes`` (the export in progress is cancelled at the deadline) while sampling VmRSS
    every ``interval`` seconds (default: 5 s, less for runs under a minute)."""
    from engine.video.export import ExportCancelled

    if not minutes > 0:
        raise BenchError("--soak needs a positive number of minutes")
    d = registry.get(method)
    enh = _create(d, backend, device)
    p = d.params_from(params or {})
    seconds = minutes * 60.0
    interval = interval if interval else min(5.0, max(0.05, seconds / 20.0))
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    t_start = time.perf_counter()
    warm_at = [math.inf]

    def sampler() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter() - t_start, rss_mb()))
            stop.wait(interval)

    exports = done = 0
    between: list[tuple[float, float]] = []  # RSS right after each completed export
    with tempfile.TemporaryDirectory(prefix="lowlight-soak-") as tmp:
        src = write_clip(Path(tmp) / "soak.mp4", synthetic_clip(*size, frames, seed=1))
        rss0 = rss_mb()
        th = threading.Thread(target=sampler, name="soak-rss", daemon=True)
        t_start = time.perf_counter()
        th.start()
        cancel = threading.Event()
        timer = threading.Timer(seconds, cancel.set)
        timer.start()
        next_log = t_start
        try:
            while not cancel.is_set():
                try:
                    n, _dt, _iv = export_clip(src, Path(tmp) / "out.mp4", enh, p, cancel=cancel)
                except ExportCancelled:  # the deadline fell inside an export
                    break
                done += n
                exports += 1
                between.append((time.perf_counter() - t_start, rss_mb()))
                if exports == 1:
                    warm_at[0] = time.perf_counter() - t_start
                if log is not None and time.perf_counter() >= next_log:
                    next_log = time.perf_counter() + max(10.0, interval)
                    log(f"soak: {time.perf_counter() - t_start:.0f} s of {seconds:.0f}, {exports} exports, "
                        f"{done} frames, RSS {rss_mb():.0f} MiB")
        finally:
            timer.cancel()
            stop.set()
            th.join()
        elapsed = time.perf_counter() - t_start
    samples.append((elapsed, rss_mb()))
    steady = [s for s in samples if s[0] >= warm_at[0]]
    note = "frames: completed exports only"
    if len(steady) < 2:
        steady = samples
        note += "; too short for a steady-state slope: slope over all samples (warm-up included)"
    return SoakResult(method=d.name, backend=enh.backend, device=enh.device, width=size[0], height=size[1],
                      seconds=elapsed, exports=exports, frames=done, fps=done / elapsed if elapsed > 0 else 0.0,
                      rss_start_mb=rss0, rss_peak_mb=max([rss0] + [s[1] for s in samples]),
                      rss_end_mb=samples[-1][1], vm_hwm_mb=peak_rss_mb(), slope_mb_per_min=_slope(steady),
                      between_slope_mb_per_min=_robust_slope(between[1:]),
                      between_exports=[(round(t, 2), round(r, 1)) for t, r in between],
                      samples=[(round(t, 2), round(r, 1)) for t, r in samples], interval_s=interval,
                      threads=thread_info(), note=note)
