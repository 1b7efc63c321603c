"""Export an enhanced video: decode → enhance → encode, with progress, cancel and a
guarantee that nothing half-written is ever left behind.

Guarantees of :func:`export_video`:

- **Frames**: every decoded frame (within ``start``/``end``) is written, in order; the
  output has the same frame count.
- **Timestamps**: each frame is encoded with the source's pts in the source stream's
  time base (shifted by ``start``), so variable frame rate is kept.
- **Rotation**: frames are enhanced upright, then turned back to the coded orientation
  and the output stream carries the same display matrix, so players show it exactly as
  the input (the stored size equals the input's stored size).
- **Audio**: ``copy`` stream-copies the first audio stream when the output container
  accepts its codec, else re-encodes it to AAC (``aac`` always does); ``none`` drops
  it. Audio is cut to the same ``start``/``end`` range as the video (packet accuracy
  for ``copy``, sample accuracy for ``aac``). Subtitle and data streams, chapters and
  container tags come along too (:mod:`engine.video.carrier`).
- **Odd sizes**: 4:2:0 needs even sizes and the picture is never cropped, so H.264 and
  H.265 odd-sized frames are encoded as 4:4:4 (``yuv444p``; High 4:4:4 profile, which
  some hardware players lack). Even sizes use ``yuv420p``. FFV1 is lossless RGB
  (``bgr0``) at any size. x265 refuses pictures under 16×16 (a clear error says so).
- **Atomic**: the file is written beside the target under a hidden temporary name
  (``.NAME.partial-XXXX.EXT``) and renamed over the target only on success; a cancel,
  Ctrl-C, an error or a full disk (:class:`VideoError` saying so) removes the temporary
  file, and the target is untouched.
- **Safety**: the input is never overwritten (same path, hard link or symlink → error);
  an existing target needs ``overwrite=True``.

A target that is a folder (an existing one, or a path ending in a separator) or a
numbered pattern (``out/frame_%05d.png``) receives an image sequence (PNG unless the
pattern says otherwise), written into a hidden temporary folder and moved into place at
the end.

The writers are in :mod:`engine.video.sinks`, the encoders in :mod:`engine.video.codecs`,
the resumable form in :mod:`engine.video.segments`; this module picks the sink, runs the
pipeline and reports progress for both forms.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from engine.files.paths import same_file
from engine.params import EnhanceParams
from engine.runtime.threads import export_threads
from engine.video.base import Sink, Source, VideoError
from engine.video.carrier import StreamCarrier
from engine.video.codecs import CODECS, decoded_pix_fmt
from engine.video.pipeline import Pipeline, PipelineStats
from engine.video.segments import SegmentedExport, processing_settings, settings_tags
from engine.video.sinks import DiskFullError, ImageSequenceSink, VideoFileSink, disk_full_error
from engine.files.images import is_image_path
from engine.video.sources import VideoFileSource, open_source

__all__ = ["ExportOptions", "ExportProgress", "ExportResult", "ExportCancelled", "export_video",
           "open_sink", "check_target", "ProgressReporter", "drive_pipeline", "EncodeProfile",
           "ENCODE_PROFILES", "DEFAULT_ENCODE", "PRESETS"]

#: x264/x265 speed presets, fastest first
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower",
           "veryslow")


@dataclass(frozen=True)
class EncodeProfile:
    """A named choice between export speed and file size for the software encoders
    (x264, x265): what ``--encode`` and the export dialog offer; ``--preset`` and
    ``--crf`` override its parts. Hardware encoders and FFV1 keep their own settings.

    Attributes:
        name: the option value (``"fast"``, ``"small"``).
        preset: x264/x265 speed preset (one of :data:`PRESETS`).
        crf: constant rate factor per software codec option (``"h264"``, ``"h265"``),
            0..51, lower is better quality and larger files.
        label: a few words for a menu.
        summary: one sentence on what it costs (help texts and tool tips).
    """

    name: str
    preset: str
    crf: dict[str, int]
    label: str
    summary: str

    def crf_for(self, codec: str) -> int | None:
        """This profile's CRF for ``codec`` (a key of :data:`CODECS`); None for codecs it
        does not set (hardware encoders, FFV1), which keep their own default."""
        return self.crf.get(codec)


# Chosen from measurements (docs/performance.md#export-speed-and-size). x264 veryfast at
# CRF 20 gave files 9-13 % smaller than medium at CRF 20 within 0.3 dB of its luma PSNR, and
# whole exports 1.2-2.1x as fast; superfast at CRF 22 matches veryfast at 20 in luma PSNR
# (dev clip's 720p copy) with 30-45 % less encoder CPU and files 7-11 % larger on real
# footage (x265: superfast at 23 against veryfast at 24, the same size and 0.1 dB more,
# 27 % less CPU). Raising veryfast's CRF to 24 halved the files (1.4-2.1 dB less PSNR);
# medium or slow at CRF 24 wrote larger files than veryfast at 24 and at equal size no
# better PSNR, and superfast at equal size gave 0.4-0.5 dB less, so the small profile
# keeps veryfast.
ENCODE_PROFILES: dict[str, EncodeProfile] = {
    "fast": EncodeProfile("fast", "superfast", {"h264": 22, "h265": 23}, "Fast export",
                          "x264/x265 preset superfast at CRF 22 (H.265: 23): the quickest "
                          "export, the picture of the slower presets, files a little larger"),
    "small": EncodeProfile("small", "veryfast", {"h264": 24, "h265": 28}, "Small file",
                           "preset veryfast at CRF 24 (H.265: 28): about half the file size of "
                           "fast, a slightly softer picture, a little slower"),
}
#: the profile an export uses when none is named
DEFAULT_ENCODE = "fast"


class ExportCancelled(VideoError):
    """The export was cancelled (cancel event or Ctrl-C); nothing was written."""


@dataclass(frozen=True)
class ExportOptions:
    """How to write the output.

    Attributes:
        codec: ``"h264"`` (libx264), ``"h265"`` (libx265) or ``"ffv1"`` (lossless, needs
            a .mkv/.avi/.nut target).
        encode: the :data:`ENCODE_PROFILES` name giving ``preset`` and ``crf`` when they
            are left None (``"fast"`` by default, ``"small"`` for smaller files).
        crf: constant rate factor (quality; lower is better; 0..51; ignored by ffv1).
            None = the ``encode`` profile's for x264/x265 (filled in when the options are
            made), the codec's default for hardware encoders.
        audio: ``"copy"`` (stream copy, re-encoded to AAC when the container refuses the
            codec), ``"aac"`` (re-encode), ``"none"`` (drop).
        start, end: trim in seconds of the source (None = from the start / to the end).
        overwrite: replace an existing target.
        preset: x264/x265 speed preset (``ultrafast`` … ``veryslow``); None = the
            ``encode`` profile's (filled in when the options are made).
        encoder_threads: threads of the x264/x265 encoder; None = the export thread plan's
            choice for the cores this process may use
            (:func:`engine.runtime.threads.export_threads`).
        audio_bitrate: AAC bit rate in bit/s when re-encoding.
        image_format: extension of image-sequence frames when the target is a folder.
        pix_fmt: encoder pixel format (``yuv420p``, ``yuv420p10le``, ``yuv444p10le``...);
            None = automatic: 4:2:0 (4:4:4 for odd sizes), 10-bit when the input is
            10-bit or deeper and the encoder takes it. Frames cross the engine as 8-bit
            RGB, so 10-bit keeps the output's format and smooth gradients of the
            enhanced picture, not the input's extra precision.
    """

    codec: str = "h264"
    crf: int | None = None
    audio: str = "copy"
    start: float | None = None
    end: float | None = None
    overwrite: bool = False
    preset: str | None = None
    audio_bitrate: int = 160_000
    image_format: str = ".png"
    pix_fmt: str | None = None
    encode: str = DEFAULT_ENCODE
    encoder_threads: int | None = None

    def __post_init__(self) -> None:
        # the sink reads preset and crf as they stand, so the profile fills them here;
        # an unknown profile is left for validate() to refuse with one line
        profile = ENCODE_PROFILES.get(self.encode)
        if profile is None:
            return
        if self.preset is None:
            object.__setattr__(self, "preset", profile.preset)
        if self.crf is None:
            object.__setattr__(self, "crf", profile.crf_for(self.codec))

    def validate(self) -> None:
        if self.encode not in ENCODE_PROFILES:
            raise VideoError(f"unknown encode profile {self.encode!r} (choose "
                             f"{', '.join(ENCODE_PROFILES)})")
        if self.preset not in PRESETS:
            raise VideoError(f"unknown preset {self.preset!r} (choose {', '.join(PRESETS)})")
        if self.encoder_threads is not None and int(self.encoder_threads) < 1:
            raise VideoError(f"encoder threads must be at least 1, got {self.encoder_threads}")
        if self.codec not in CODECS:
            raise VideoError(f"unknown codec {self.codec!r} (choose {', '.join(CODECS)})")
        if self.audio not in ("copy", "aac", "none"):
            raise VideoError(f"unknown audio mode {self.audio!r} (choose copy, aac, none)")
        if self.crf is not None and not (0 <= int(self.crf) <= 51):
            raise VideoError(f"crf must be 0..51, got {self.crf}")
        for name in ("start", "end"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise VideoError(f"{name} must be a finite number of seconds, got {v}")
        if self.start is not None and self.start < 0:
            raise VideoError(f"start must be >= 0 s, got {self.start}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise VideoError(f"end ({self.end} s) must be after start ({self.start} s)")


@dataclass(frozen=True)
class ExportProgress:
    """Progress of a running export (sent at most ~10 times a second, and at the end).

    Attributes:
        frames_done: frames written so far.
        frames_total: expected frame count (None when unknown).
        fraction: ``frames_done / frames_total`` clipped to 0..1 (None when unknown).
        fps: frames written per wall-clock second since the start.
        eta_s: estimated seconds left (None when unknown).
        finished: True on the last report, sent after the output is in place.
    """

    frames_done: int
    frames_total: int | None
    fraction: float | None
    fps: float
    eta_s: float | None
    finished: bool = False


@dataclass(frozen=True)
class ExportResult:
    """What an export produced.

    Attributes:
        path: the output file or folder.
        frames: frames written.
        seconds: wall-clock seconds the export took.
        fps: frames per wall-clock second.
        audio: what happened to the audio: ``"copied"``, ``"aac"``, ``"none"``
            (dropped on request) or ``"absent"`` (the source had none).
        problems: decode problems met on the way (e.g. a truncated file), one line each.
        runtime: the enhancer's runtime label (e.g. ``"onnx/cpu"``), "" when unknown.
        stats: the pipeline's final figures (per-stage ms per frame, latency).
        resumed_frames: frames taken from an earlier, interrupted run's finished segments
            (segmented exports only; 0 otherwise).
        notes: what the output could not keep or did differently (a subtitle stream the
            container cannot hold, a hardware encoder replaced by software), one line each.
        encoder: the FFmpeg video encoder used ("" for image sequences).
    """

    path: Path
    frames: int
    seconds: float
    fps: float
    audio: str = "absent"
    problems: tuple[str, ...] = ()
    runtime: str = ""
    stats: PipelineStats | None = None
    resumed_frames: int = 0
    notes: tuple[str, ...] = ()
    encoder: str = ""


# ----------------------------------------------------------------------------- targets
def _is_sequence_target(target: str) -> bool:
    return bool(re.search(r"%0?\d*d", os.path.basename(target))) or target.endswith(os.sep) \
        or target.endswith("/") or os.path.isdir(target)


def check_target(source_path: str | None, target: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to write over the input (any path to the same file) or, without
    ``overwrite``, over an existing target. Raises :class:`VideoError`."""
    t = os.fspath(target)
    if source_path is not None and os.path.exists(source_path) and same_file(source_path, t):
        raise VideoError(f"{t}: is the input file; choose another output")
    if _is_sequence_target(t):
        return  # checked by the image-sequence sink, which knows the file names
    if os.path.lexists(t) and not overwrite:
        raise VideoError(f"{t}: already exists (use --overwrite / overwrite=True)")
    if os.path.isdir(os.path.dirname(os.path.abspath(t))) is False:
        raise VideoError(f"{t}: the folder {os.path.dirname(os.path.abspath(t))} does not exist")


def open_sink(target: str | os.PathLike, options: ExportOptions, source: Source | None = None,
              *, metadata: dict[str, str] | None = None) -> VideoFileSink | ImageSequenceSink:
    """The sink for ``target``: an image sequence for a folder or pattern, else a video
    file carrying ``source``'s time base, rotation, audio and other streams, tagged with
    ``metadata``."""
    t = os.fspath(target)
    if _is_sequence_target(t):
        return ImageSequenceSink(t, overwrite=options.overwrite, image_format=options.image_format)
    if is_image_path(t):
        raise VideoError(f"{t}: a video cannot be written to one image; give a folder, a pattern "
                         "like out/frame_%05d.png, or a video file")
    kw: dict[str, Any] = {"time_offset": options.start or 0.0, "metadata": metadata}
    if source is not None:
        kw["fps"] = source.info.fps
    if isinstance(source, VideoFileSource):
        kw["time_base"] = source.time_base
        kw["rotation_ccw"] = source.rotation_ccw
        kw["source_pix_fmt"] = decoded_pix_fmt(source.stream)
        kw["carry"] = StreamCarrier(source.path, audio=options.audio,
                                    audio_bitrate=options.audio_bitrate,
                                    start=options.start or 0.0, end=options.end)
    return VideoFileSink(t, options, **kw)


# ----------------------------------------------------------------------------- running
class ProgressReporter:
    """Sends :class:`ExportProgress` reports to ``progress`` (None = nowhere).

    Args:
        progress: the receiver.
        total: expected frames of the whole output (None when unknown).
        resumed: frames an earlier run already wrote (they count as done, not in fps).
        t0: ``time.perf_counter()`` at the start of this run.
    """

    def __init__(self, progress: Callable[[ExportProgress], None] | None, total: int | None,
                 *, resumed: int = 0, t0: float | None = None) -> None:
        self.progress = progress
        self.total = total
        self.resumed = resumed
        self.t0 = time.perf_counter() if t0 is None else t0

    def running(self, frames_out: int) -> None:
        """Report ``frames_out`` frames written by this run so far."""
        if self.progress is None:
            return
        done = self.resumed + frames_out
        el = time.perf_counter() - self.t0
        fps = frames_out / el if el > 0 else 0.0
        tot = max(self.total, done) if self.total else None
        frac = min(1.0, done / tot) if tot else None
        eta = (tot - done) / fps if tot and fps > 0 else None
        self.progress(ExportProgress(done, tot, frac, fps, eta, False))

    def finished(self, frames: int, seconds: float) -> None:
        """The last report: ``frames`` in the output (resumed ones included), written in
        ``seconds`` of this run."""
        if self.progress is None:
            return
        fps = (frames - self.resumed) / seconds if seconds > 0 else 0.0
        self.progress(ExportProgress(frames, frames, 1.0 if frames else None, fps, 0.0, True))


def _halt(pipe: Pipeline) -> None:
    """Stop the pipeline and wait until the output is settled (the sink thread has
    aborted it); the other stages get half a second more to end."""
    pipe.stop()
    pipe.join_sink(30.0)
    pipe.join(0.5)


def drive_pipeline(pipe: Pipeline, sink: Sink, cancel: threading.Event | None,
                   reporter: ProgressReporter, target: str, cancelled: str) -> PipelineStats:
    """Start ``pipe`` (writing into ``sink``) and wait for its end, reporting progress
    about every 0.1 s. On any failure the pipeline is halted and ``sink`` aborted if its
    thread could not do it.

    Raises:
        ExportCancelled: (message ``cancelled``) ``cancel`` was set.
        VideoError: the pipeline stopped before the end of its source, or an error while
            writing (a full disk says so).
        KeyboardInterrupt: Ctrl-C, after the halt.
    """
    try:
        last_report = 0.0
        pipe.start()
        while pipe.is_running():
            pipe.join(0.05)
            if cancel is not None and cancel.is_set():
                raise ExportCancelled(cancelled)
            now = time.perf_counter()
            if now - last_report >= 0.1:
                last_report = now
                reporter.running(pipe.stats().frames_out)
        stats = pipe.wait()
        if not pipe.completed:
            if cancel is not None and cancel.is_set():
                raise ExportCancelled(cancelled)
            raise VideoError(f"{target}: export stopped before the end")
        return stats
    except BaseException as exc:  # ExportCancelled, VideoError, KeyboardInterrupt included
        _halt(pipe)
        if isinstance(exc, OSError):
            raise disk_full_error(target, exc) or VideoError(f"{target}: {exc.strerror or exc}") from exc
        raise
    finally:
        if not pipe.join_sink(0):  # the sink stuck in native code: make sure nothing stays behind
            sink.abort()


# ----------------------------------------------------------------------------- export
def _source_path(spec: Any) -> str | None:
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s == "demo":
            from engine.video.demo import demo_clip_path

            return str(demo_clip_path())
        return s if os.path.isfile(s) else None
    return None


def export_video(source_spec: Any, target: str | os.PathLike, *, method: str | None = None,
                 params: EnhanceParams | None = None, options: ExportOptions | None = None,
                 progress: Callable[[ExportProgress], None] | None = None,
                 cancel: threading.Event | None = None, backend: str = "auto",
                 device: str = "auto", processor: Any = None, weights: str | None = None,
                 queue_size: int = 4, pause: threading.Event | None = None,
                 segment_seconds: float | None = None) -> ExportResult:
    """Enhance a video (or any source) and write it to ``target``.

    Args:
        source_spec: anything :func:`engine.video.sources.open_source` accepts, or an
            open :class:`Source` (closed by the export).
        target: output video file, folder or numbered image pattern.
        method, params: the enhancement method name and its parameters (None = the
            method's defaults). Ignored when ``processor`` is given.
        options: codec, quality, audio, trim, overwrite.
        progress: receives :class:`ExportProgress` (from the calling thread, at most about
            ten times a second, and once with ``finished=True`` at the end).
        cancel: set it (from any thread) to stop; :class:`ExportCancelled` is raised and
            nothing is left behind.
        backend, device, weights: runtime of learned methods (see ``registry.create``).
        processor: a ready object with ``process(image) -> image`` (e.g. a
            :class:`engine.stages.processor.FrameProcessor`) used instead of ``method``; None
            with no method copies the frames unchanged (a re-encode).
        queue_size: frames buffered between stages.
        pause: while set, reading stops (the export idles); clear it to go on. The output
            is the same as an unpaused run's. Progress keeps being reported.
        segment_seconds: a video-file input and video-file target are exported in
            journaled segments of about this many source seconds, resumable after a crash
            or cancel by running the same export again (see :mod:`engine.video.segments`).
            None = one pass (nothing to resume).

    Returns:
        :class:`ExportResult`.

    Raises:
        VideoError: unreadable input, bad target, encoder failure, a full disk.
        ExportCancelled: cancelled (also on Ctrl-C, re-raised as KeyboardInterrupt).
    """
    options = options or ExportOptions()
    options.validate()
    if options.encoder_threads is None:
        options = replace(options, encoder_threads=export_threads().encoder or None)
    if segment_seconds is not None and not (math.isfinite(segment_seconds) and segment_seconds > 0):
        raise VideoError(f"segment length must be a finite number of seconds > 0, got {segment_seconds}")
    src_path = _source_path(source_spec) if not isinstance(source_spec, Source) else \
        getattr(source_spec, "path", None)
    check_target(src_path, target, options.overwrite)
    runtime = ""
    if processor is None and method is not None:
        from engine import registry
        from engine.stages.processor import FrameProcessor

        enh = registry.create(method, backend=backend, device=device, weights=weights)
        processor = FrameProcessor(enh, params)
    if processor is not None:
        enh = getattr(processor, "enhancer", None)
        if enh is not None and hasattr(enh, "runtime_label"):
            runtime = enh.runtime_label()
        reset = getattr(processor, "reset", None)
        if reset is not None:
            reset()  # a new stream: no temporal state from a previous one
    t_str = os.fspath(target)
    if segment_seconds and src_path is not None and not isinstance(source_spec, Source) \
            and not is_image_path(src_path) and not _is_sequence_target(t_str):
        return _export_segmented(src_path, t_str, processor=processor, options=options,
                                 segment_seconds=segment_seconds,
                                 settings=processing_settings(processor, weights),
                                 progress=progress, cancel=cancel, pause=pause,
                                 queue_size=queue_size, runtime=runtime)
    if isinstance(source_spec, Source):
        source = source_spec
    elif src_path is not None and not is_image_path(src_path):
        source = VideoFileSource(src_path, start=options.start, end=options.end,
                                 source_id="demo" if source_spec == "demo" else None)
    else:
        source = open_source(source_spec)
    try:
        tags = None
        if not _is_sequence_target(t_str) and not is_image_path(t_str):
            tags = settings_tags(processing_settings(processor, weights))
        sink = open_sink(target, options, source, metadata=tags)
    except BaseException:
        source.close()
        raise
    try:  # a Ctrl-C or SIGTERM here must not leave the sink's temporary behind
        t0 = time.perf_counter()
        reporter = ProgressReporter(progress, source.info.frame_count, t0=t0)
        pipe = Pipeline(source, processor, sink, mode="export", queue_size=queue_size, pause=pause)
    except BaseException:
        sink.abort()
        source.close()
        raise
    stats = drive_pipeline(pipe, sink, cancel, reporter, t_str,
                           f"{t_str}: export cancelled; nothing was written")
    seconds = time.perf_counter() - t0
    reporter.finished(stats.frames_out, seconds)
    problems = tuple(getattr(source, "problems", ()) or ())
    return ExportResult(Path(t_str), stats.frames_out, seconds,
                        stats.frames_out / seconds if seconds > 0 else 0.0, sink.audio_mode, problems,
                        runtime, stats, 0, tuple(sink.notes), sink.encoder)


def _export_segmented(src_path: str, target: str, *, processor: Any, options: ExportOptions,
                      segment_seconds: float, settings: dict[str, Any],
                      progress: Callable[[ExportProgress], None] | None,
                      cancel: threading.Event | None, pause: threading.Event | None,
                      queue_size: int, runtime: str) -> ExportResult:
    """:func:`export_video` in resumable segments (see :mod:`engine.video.segments`): the
    result's ``frames`` counts the whole output, ``resumed_frames`` the frames taken from
    an earlier run. A cancel or error keeps the finished segments."""
    job = SegmentedExport(src_path, target, processor=processor, options=options,
                          segment_seconds=segment_seconds, settings=settings)
    t0 = time.perf_counter()
    reporter = ProgressReporter(progress, job.total_frames, resumed=job.resumed_frames, t0=t0)
    stats = None
    try:
        if not job.encoded:
            source, pre, sink = job.open_run()
            pipe = Pipeline(source, pre, sink, mode="export", queue_size=queue_size, pause=pause)
            stats = drive_pipeline(pipe, sink, cancel, reporter, target, job.cancel_message)
        out = job.join()
    except DiskFullError as exc:  # the journal stays on purpose: say so, and how to go on
        raise DiskFullError(job.disk_full_message()) from exc
    finally:
        job.close()
    seconds = time.perf_counter() - t0
    reporter.finished(out.frames, seconds)
    resumed = job.resumed_frames
    return ExportResult(Path(target), out.frames, seconds,
                        (out.frames - resumed) / seconds if seconds > 0 else 0.0, out.audio, (),
                        runtime, stats, resumed, out.notes, out.encoder)
