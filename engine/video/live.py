"""Running a live source (a camera or a network stream) through the enhancer into a
recording, a virtual camera or both, until a length is reached or the user stops it.

Unlike a file export (:mod:`engine.video.export`: every frame, and a cancel leaves
nothing), a live run keeps up with the source and always ends with a finished output:

- the pipeline runs in live mode: when the enhancer or the encoder falls behind, the
  waiting frame is replaced by the newer one and counted (:class:`LiveResult` says where);
- stopping (:meth:`LiveRun.stop`, Ctrl-C, SIGTERM, or ``end`` seconds of source time)
  ends the source, so the frames in flight are enhanced and written and the file's
  container is finished: the recording is playable;
- a recording's timestamps are the source's clock from its first frame (a network
  stream's own timestamps; a camera's arrival times), so gaps stay gaps;
- a network stream's first audio stream is recorded with the video
  (:class:`LiveAudioCarrier`: stream copy when the container takes the codec, else AAC).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from engine.frame import Frame
from engine.video.base import Sink, Source, SourceInfo, VideoError
from engine.video.pipeline import Pipeline, PipelineStats

__all__ = ["LiveWindow", "LiveAudioCarrier", "TeeSink", "LiveResult", "LiveRun",
           "open_recording", "is_live_spec", "LatestFrameSource"]

#: the recording's time base (the MPEG-TS clock: exact for stream timestamps)
RECORDING_TIME_BASE = Fraction(1, 90000)


def is_live_spec(spec: object) -> bool:
    """True for a camera (an int, ``camera:N``, ``/dev/videoN``) or a network stream
    address: the sources :class:`LiveRun` records."""
    import os
    import re

    from engine.video.network import is_stream_url

    if isinstance(spec, int):
        return True
    if not isinstance(spec, str):
        return False
    if is_stream_url(spec) or spec.startswith("/dev/video"):
        return True
    return bool(re.fullmatch(r"camera:\d+", spec)) and not os.path.exists(spec)


class LiveWindow(Source):
    """A live source seen from its first frame on: frame times start at 0, and the
    stream ends after ``end`` seconds of source time or when :meth:`finish` is called.

    Args:
        source: the live source (closed with this one).
        end: seconds of source time to keep (None: until :meth:`finish`).
    """

    def __init__(self, source: Source, end: float | None = None) -> None:
        if end is not None and not end > 0:
            raise VideoError(f"the recording length must be > 0 s, got {end}")
        self.inner = source
        self.end = end
        self.t0: float | None = None
        self.last_t = 0.0
        self._finished = threading.Event()

    @property
    def info(self) -> SourceInfo:
        return self.inner.info

    def finish(self) -> None:
        """End the stream now (any thread): the next read returns None; a read waiting for
        a dropped stream to come back returns at once."""
        if not self._finished.is_set():
            self._finished.set()
            self.inner.close()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def read(self) -> Frame | None:
        if self._finished.is_set():
            return None
        f = self.inner.read()
        if f is None or self._finished.is_set():
            return None
        if self.t0 is None:
            self.t0 = f.pts or 0.0
        t = (f.pts - self.t0) if f.pts is not None else self.last_t
        if self.end is not None and t >= self.end - 1e-6:
            self.finish()
            return None
        self.last_t = t
        return Frame(f.image, f.index, t, f.source_id, f.duration, f.extra)

    def close(self) -> None:
        self._finished.set()
        self.inner.close()


class LatestFrameSource(Source):
    """A live source read on its own thread, for a viewer that must never wait on the
    network: :meth:`read` returns the newest frame, or, when none came within ``hold``
    seconds (the stream dropped and is reconnecting), the last one again (``extra["repeat"]``
    True), so the caller's loop keeps turning and can close it at any time.

    Args:
        source: the live source (closed with this one).
        hold: seconds ``read`` waits for a new frame before repeating the last.

    :attr:`replaced` counts frames a newer one replaced before they were read. An error of
    the source is raised from the next ``read``; its end makes ``read`` return None.
    """

    def __init__(self, source: Source, hold: float = 0.25) -> None:
        self.inner = source
        self.hold = float(hold)
        self.replaced = 0
        self._cv = threading.Condition()
        self._new: Frame | None = None
        self._last: Frame | None = None
        self._error: BaseException | None = None
        self._ended = False
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="lowlight-stream-reader", daemon=True)
        self._thread.start()

    @property
    def info(self) -> SourceInfo:
        return self.inner.info

    def _pump(self) -> None:
        try:
            while not self._closed.is_set():
                f = self.inner.read()
                with self._cv:
                    if f is None:
                        self._ended = True
                    else:
                        if self._new is not None:
                            self.replaced += 1
                        self._new = f
                    self._cv.notify_all()
                if f is None:
                    return
        except BaseException as exc:  # reported to the reader
            with self._cv:
                self._error = exc
                self._cv.notify_all()

    def read(self) -> Frame | None:
        with self._cv:
            if self._new is None and self._error is None and not self._ended and not self._closed.is_set():
                self._cv.wait(self.hold if self._last is not None else max(self.hold, 30.0))
            if self._new is not None:
                self._last, self._new = self._new, None
                return self._last
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            if self._ended or self._closed.is_set() or self._last is None:
                return None
            last = self._last
        return Frame(last.image, last.index, last.pts, last.source_id, last.duration,
                     {**last.extra, "repeat": True})

    def close(self) -> None:
        self._closed.set()
        with self._cv:
            self._cv.notify_all()
        self.inner.close()
        self._thread.join(0.2)


class LiveAudioCarrier:
    """The audio of a :class:`~engine.video.network.NetworkSource`, written into a
    recording beside its video: the same interface as
    :class:`engine.video.carrier.StreamCarrier` (``attach``, ``pump``, ``finish``,
    ``close``, ``audio_mode``, ``notes``), fed from the source's audio packets.

    Args:
        window: the recorded window of the network source (its ``t0`` is output time 0).
        audio: ``"copy"`` (stream copy when the container takes the codec, else AAC),
            ``"aac"`` or ``"none"``.
        audio_bitrate: AAC bit rate in bit/s when re-encoding.
    """

    def __init__(self, window: LiveWindow, *, audio: str = "copy", audio_bitrate: int = 160_000) -> None:
        import av

        self._av = av
        self.window = window
        self.source = window.inner
        self.audio = audio
        self.audio_bitrate = audio_bitrate
        self.audio_mode = "absent"
        self.notes: list[str] = []
        self._out_stream: Any = None
        self._mux: Callable[[Any], None] | None = None
        self._pending: list[tuple[float, Any]] = []
        self._last_dts: int | None = None
        self._resampler: Any = None
        self._samples = 0

    def attach(self, out: Any, mux: Callable[[Any], None]) -> None:
        """Add the audio stream to the PyAV output ``out`` (after its video stream)."""
        self._mux = mux
        a_in = getattr(self.source, "audio_stream", None)
        if a_in is None or self.audio == "none":
            return
        name = a_in.codec_context.codec.canonical_name if a_in.codec_context else None
        try:
            if self.audio == "copy" and name and name in out.supported_codecs:
                self._out_stream = out.add_stream_from_template(a_in)
                self.audio_mode = "copied"
            else:
                rate = a_in.codec_context.sample_rate or 48000
                layout = a_in.codec_context.layout.name if a_in.codec_context.layout else "stereo"
                layout = layout if layout in ("mono", "stereo") else "stereo"
                self._out_stream = out.add_stream("aac", rate=rate, layout=layout)
                self._out_stream.bit_rate = self.audio_bitrate
                self._resampler = self._av.AudioResampler(format="fltp", layout=layout, rate=rate)
                self.audio_mode = "aac"
        except Exception as exc:
            self.notes.append(f"the stream's audio ({name or 'unknown codec'}) was not recorded ({exc})")
            self._out_stream = None

    def pump(self, until: float | None) -> None:
        """Write the audio received so far up to ``until`` seconds of output time."""
        if self._out_stream is None:
            return
        self._pending.extend(self.source.take_audio())
        t0 = self.window.t0 or 0.0
        keep = []
        for t, pkt in self._pending:
            t_out = t - t0
            if until is not None and t_out > until:
                keep.append((t, pkt))
                continue
            if t_out < 0:
                continue
            self._write(t_out, pkt)
        self._pending = keep

    def _write(self, t_out: float, pkt: Any) -> None:
        if self._resampler is None:
            tb = pkt.time_base
            pts = int(round(t_out / tb))
            dts = pts - ((pkt.pts - pkt.dts) if pkt.dts is not None and pkt.pts is not None else 0)
            if self._last_dts is not None and dts <= self._last_dts:
                return  # overlaps what was written (a reconnect's first packets)
            self._last_dts = dts
            pkt.pts, pkt.dts = pts, dts
            pkt.stream = self._out_stream
            self._mux(pkt)  # type: ignore[misc]
            return
        try:
            frames = pkt.decode()
        except Exception:
            return
        rate = self._out_stream.codec_context.sample_rate
        start = int(round(t_out * rate))
        if start > self._samples + rate // 10:
            self._samples = start  # the stream dropped: leave the gap
        for fr in frames:
            for rf in self._resampler.resample(fr):
                rf.pts, rf.time_base = self._samples, Fraction(1, rate)
                self._samples += rf.samples
                for p in self._out_stream.encode(rf):
                    self._mux(p)  # type: ignore[misc]

    def finish(self) -> None:
        """Write what is left up to the end of the video, then flush the AAC encoder."""
        if self._out_stream is None:
            return
        self.pump(self.window.last_t + 0.05)
        if self._resampler is not None:
            for p in self._out_stream.encode(None):
                self._mux(p)  # type: ignore[misc]

    def close(self) -> None:
        self._pending = []


class TeeSink(Sink):
    """Every frame to each of ``sinks`` in turn (a recording and a virtual camera)."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def write(self, frame: Frame) -> None:
        for s in self.sinks:
            s.write(frame)

    def close(self) -> None:
        first: BaseException | None = None
        for s in self.sinks:
            try:
                s.close()
            except BaseException as exc:  # finish the others, then report
                first = first or exc
        if first is not None:
            raise first

    def abort(self) -> None:
        for s in self.sinks:
            try:
                s.abort()
            except Exception:
                pass


def open_recording(target: str, options: Any, window: LiveWindow, *,
                   metadata: dict[str, str] | None = None) -> Sink:
    """The video file sink of a live recording: source-clock timestamps in a 90 kHz time
    base, the nominal frame rate of the source, and its audio when it has some."""
    from engine.video.sinks import VideoFileSink

    carry = None
    if getattr(window.inner, "audio_stream", None) is not None and options.audio != "none":
        carry = LiveAudioCarrier(window, audio=options.audio, audio_bitrate=options.audio_bitrate)
    return VideoFileSink(target, options, fps=window.info.fps, time_base=RECORDING_TIME_BASE,
                         carry=carry, metadata=metadata)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LiveResult:
    """What a live run did.

    Attributes:
        frames: frames written (to the recording, the virtual camera, or both).
        seconds: wall-clock seconds of the run.
        source_seconds: source time covered (first to last frame written).
        dropped_late: frames replaced while they waited for the enhancer or the writer
            (the pipeline was behind the source); ``stats.dropped_enhance`` and
            ``stats.dropped_write`` say which.
        dropped_decode: packets that did not decode (damaged or lost in transport).
        lost_frames: frames missing from the stream's timeline (never arrived).
        reconnects: times the stream dropped and came back.
        stopped_by: ``"end"`` (the length was reached), ``"stop"`` (asked), ``"source"``
            (the source ended).
        stats: the pipeline's figures.
        problems, notes: one line each (decode problems; what the output did differently).
        audio: ``"copied"``, ``"aac"``, ``"none"`` or ``"absent"``.
    """

    frames: int
    seconds: float
    source_seconds: float
    dropped_late: int
    dropped_decode: int
    lost_frames: int
    reconnects: int
    stopped_by: str
    stats: PipelineStats
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    audio: str = "absent"


class LiveRun:
    """Run ``source`` → ``processor`` → ``sink`` live until the end, a stop or an error.

    Args:
        source: a live source (camera or network stream); closed at the end.
        processor: a :class:`engine.stages.processor.FrameStages` (or ``process``-able)
            object, None to pass frames through.
        sink: where frames go (a recording from :func:`open_recording`, a virtual camera,
            a :class:`TeeSink` of both); made from the window by ``make_sink(window)`` when
            that is given instead (a recording needs the window for its audio clock).
        end: seconds of source time to run (None: until :meth:`stop`).
        on_progress: ``callback(stats)`` about ten times a second from :meth:`run`'s thread.
    """

    def __init__(self, source: Source, processor: Any, sink: Sink | None = None, *,
                 make_sink: Callable[[LiveWindow], Sink] | None = None, end: float | None = None,
                 on_progress: Callable[[PipelineStats], None] | None = None) -> None:
        self.window = LiveWindow(source, end)
        try:
            self.sink = sink if sink is not None else make_sink(self.window)  # type: ignore[misc]
        except BaseException:
            source.close()
            raise
        self.processor = processor
        self.on_progress = on_progress
        self.pipeline = Pipeline(self.window, processor, self.sink, mode="live")
        self._stop_asked = False

    def stop(self) -> None:
        """End the run now (any thread); the frames in flight are written and the output
        finished."""
        self._stop_asked = True
        self.window.finish()

    def run(self, *, settle: float = 30.0) -> LiveResult:
        """Run until the end; returns the figures. A KeyboardInterrupt (Ctrl-C, SIGTERM)
        stops the run like :meth:`stop`; a second one while the output is being finished
        aborts it (nothing finished is left then) and is re-raised.

        Raises:
            VideoError: the source or the writer failed (the output is not kept).
        """
        t0 = time.perf_counter()
        pipe = self.pipeline
        reset = getattr(self.processor, "reset", None)
        if reset is not None:
            reset()
        pipe.start()
        try:
            while pipe.is_running():
                try:
                    pipe.join(0.1)
                    if self.on_progress is not None:
                        self.on_progress(pipe.stats())
                except KeyboardInterrupt:
                    self.stop()
                    break
            deadline = time.monotonic() + settle
            while pipe.is_running() and time.monotonic() < deadline:
                pipe.join(0.1)
        except BaseException:
            pipe.stop()
            pipe.join_sink(settle)
            raise
        if pipe.is_running():
            pipe.stop()
            pipe.join_sink(settle)
            raise VideoError("the live run did not finish its output in time; nothing was kept")
        stats = pipe.wait()
        if not pipe.completed:
            raise VideoError("the live run stopped before its output was finished")
        src = self.window.inner
        by = "stop" if self._stop_asked else ("end" if self.window.finished else "source")
        return LiveResult(
            frames=stats.frames_out, seconds=time.perf_counter() - t0,
            source_seconds=self.window.last_t, dropped_late=stats.dropped,
            dropped_decode=int(getattr(src, "decode_errors", 0)),
            lost_frames=int(getattr(src, "lost_frames", 0)),
            reconnects=int(getattr(src, "reconnects", 0)), stopped_by=by, stats=stats,
            problems=tuple(getattr(src, "problems", ()) or ()),
            notes=tuple(getattr(self.sink, "notes", ()) or ()),
            audio=str(getattr(self.sink, "audio_mode", "absent")))
