"""Live figures behind ``lowlight bench --live``: how late the enhanced picture is, and how
many frames a live source loses, through the same path ``lowlight enhance URL`` and the
studio take (:class:`engine.video.live.LiveRun`: live pipeline, the processor's two halves
on two threads).

Latency of a frame = the moment it has been enhanced and handed to the output (the
``display`` sink: what a viewer or a virtual camera gets; the ``record`` sink: encoded into
an H.264 file at the live defaults) minus

- with a generated stream (SOURCE ``udp`` or ``tcp``: :mod:`engine.lab.live_stream` sends
  a dark clip as MPEG-TS from this process, paced in real time): the moment the sender put
  that frame on the wire (``basis="send"``, glass-to-glass short of the camera's own
  encoder, it includes transport, demuxing, decoding, enhancing and writing);
- with any other source: the moment the frame was decoded (``basis="arrival"``).

The processor runs one frame before the timed run (first-call set-up), then is reset.
``cpu_ms_per_frame`` is this process's CPU time (all its threads: decoding, enhancing,
writing, and the generated stream's sender) per frame read: on two cores a live run keeps up
only below about 2 × 1000 / fps ms, whatever else runs; ``load_avg`` is the machine's
one-minute load average at the end (other programs' work included), the context of the
wall-clock figures.
Drops: ``dropped_late_enhance`` (replaced while waiting for the enhancer),
``dropped_late_write`` (enhanced, then replaced while waiting for the output),
``dropped_decode`` (packets that did not decode), ``lost_frames`` (missing from the stream's
timeline: lost before they reached the decoder).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine.frame import Frame
from engine.video.base import Sink

__all__ = ["LiveBenchRecord", "run_live_bench", "LIVE_SINKS"]

LIVE_SINKS = ("display", "record")


@dataclass
class LiveBenchRecord:
    """One live measurement (see the module docstring). Times in ms, ``seconds`` of source."""

    stage: str
    source: str
    method: str
    runtime: str
    sink: str
    basis: str
    width: int
    height: int
    fps_nominal: float
    seconds: float
    frames_sent: int | None
    frames_in: int
    frames_out: int
    fps: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_max_ms: float | None
    dropped_late: int
    dropped_late_enhance: int
    dropped_late_write: int
    dropped_decode: int
    lost_frames: int
    reconnects: int
    enhance_ms: float
    encode_ms: float
    rss_mb: float
    cpu_ms_per_frame: float | None = None
    load_avg: float | None = None
    threads: dict[str, int] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _StampSink(Sink):
    """Hands frames to ``inner`` and notes when each was done: (raw pts, arrival time,
    done time), perf_counter seconds; the pictures themselves are not kept."""

    def __init__(self, inner: Sink | None) -> None:
        self.inner = inner
        self.done: list[tuple[Any, float | None, float]] = []
        self.notes: tuple[str, ...] = ()
        self.audio_mode = "absent"

    def write(self, frame: Frame) -> None:
        if self.inner is not None:
            self.inner.write(frame)
        self.done.append((frame.extra.get("pts"), frame.extra.get("arrival"), time.perf_counter()))

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()

    def abort(self) -> None:
        if self.inner is not None:
            self.inner.abort()


def run_live_bench(source: str, *, seconds: float = 60.0, method: str = "sci", backend: str = "auto",
                   device: str = "cpu", params: dict[str, Any] | None = None, sink: str = "display",
                   size: tuple[int, int] = (1280, 720), fps: int = 30,
                   log: Callable[[str], None] | None = None) -> LiveBenchRecord:
    """Measure one live run of ``seconds`` of source time (see the module docstring).

    Args:
        source: ``"udp"`` or ``"tcp"`` (a generated ``size`` × ``fps`` MPEG-TS stream sent
            from this process), a stream address, or a camera (``camera:N``).
        method, backend, device, params: the enhancer (method defaults unless overridden).
        sink: ``"display"`` (frames handed over, nothing encoded) or ``"record"`` (H.264
            file at the live defaults: preset ultrafast, CRF 20).

    Raises:
        engine.lab.bench.BenchError: bad arguments; VideoError: the source failed.
    """
    from engine import registry
    from engine.lab.bench import BenchError, rss_mb, thread_info
    from engine.lab.live_stream import StreamSender, encode_clip, free_port
    from engine.stages.processor import FrameProcessor
    from engine.video.export import ExportOptions
    from engine.video.live import LiveRun, open_recording
    from engine.video.network import NetworkSource, is_stream_url, redact_url
    from engine.video.sources import open_source

    if sink not in LIVE_SINKS:
        raise BenchError(f"unknown live sink {sink!r}; choose from {', '.join(LIVE_SINKS)}")
    if not seconds > 0:
        raise BenchError("--live-seconds must be positive")
    if method not in registry.names():
        raise BenchError(f"unknown method {method!r}; choose from {', '.join(registry.names())}")
    d = registry.get(method)
    enh = registry.create(method) if d.family != "learned" else registry.create(method, backend=backend, device=device)
    p = d.params_from(params or {})
    sender = None
    say = log or (lambda m: None)
    if source in ("udp", "tcp"):
        w, h = size
        if w % 2 or h % 2:
            raise BenchError(f"the generated stream needs even sizes, not {w}x{h}")
        say(f"live bench: encoding a {w}x{h} {fps} fps loop for the {source} stream")
        clip = encode_clip(w, h, fps=fps, loop_frames=2 * fps, gop=fps // 2 or 1, audio=False)
        url = f"{source}://127.0.0.1:{free_port(source)}"
        # the sender runs a little longer than the measurement, so the run ends by length
        sender = StreamSender(clip, url, seconds=seconds + 5.0).start()
        if source == "tcp":
            sender.listening.wait(10.0)
        src: Any = NetworkSource(url)
        basis, name = "send", f"generated {source} MPEG-TS {w}x{h}@{fps}"
    elif is_stream_url(source):
        src, basis, name = NetworkSource(source), "arrival", redact_url(source)
    else:
        src, basis, name = open_source(source), "arrival", source
    info = src.info
    processor = FrameProcessor(enh, p)
    processor.process(np.zeros((info.height, info.width, 3), np.uint8))  # first-call set-up

    with tempfile.TemporaryDirectory(prefix="lowlight-live-bench-") as tmp:
        stamps: list[_StampSink] = []

        def make_sink(window: Any) -> Sink:
            inner = None
            if sink == "record":
                inner = open_recording(str(Path(tmp) / "live.mp4"),
                                       ExportOptions(preset="ultrafast", audio="none", overwrite=True), window)
            stamps.append(_StampSink(inner))
            return stamps[-1]

        say(f"live bench: {name}, {method} ({enh.runtime_label()}), {seconds:g} s, sink {sink}")
        run = LiveRun(src, processor, make_sink=make_sink, end=seconds)
        cpu0 = time.process_time()
        try:
            res = run.run()
        finally:
            cpu = time.process_time() - cpu0
            if sender is not None:
                sender.stop()
    lat: list[float] = []
    for pts, arrival, done in stamps[0].done:
        t = (sender.sent_at(pts) if sender is not None and pts is not None else None) \
            if basis == "send" else arrival
        if t is not None:
            lat.append((done - t) * 1e3)
    arr = np.asarray(lat, np.float64)
    st = res.stats
    note = (f"latency over {arr.size} of {res.frames} frames"
            + ("; basis send: the sender's wire time of each frame" if basis == "send"
               else "; basis arrival: the frame's decode time"))
    return LiveBenchRecord(
        stage="live", source=name, method=d.name, runtime=enh.runtime_label(), sink=sink, basis=basis,
        width=info.width, height=info.height, fps_nominal=info.fps, seconds=res.source_seconds,
        frames_sent=sender.frames_sent if sender is not None else None, frames_in=st.frames_in,
        frames_out=res.frames, fps=st.fps,
        latency_p50_ms=float(np.percentile(arr, 50)) if arr.size else None,
        latency_p95_ms=float(np.percentile(arr, 95)) if arr.size else None,
        latency_max_ms=float(arr.max()) if arr.size else None,
        dropped_late=res.dropped_late, dropped_late_enhance=st.dropped_enhance,
        dropped_late_write=st.dropped_write, dropped_decode=res.dropped_decode,
        lost_frames=res.lost_frames, reconnects=res.reconnects, enhance_ms=st.enhance_ms,
        encode_ms=st.encode_ms, rss_mb=rss_mb(),
        cpu_ms_per_frame=cpu * 1e3 / st.frames_in if st.frames_in else None,
        load_avg=_load_avg(), threads=thread_info(), note=note)


def _load_avg() -> float | None:
    """The machine's one-minute load average (other programs' work included), if known."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None
