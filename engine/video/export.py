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
  for ``copy``, sample accuracy for ``aac``).
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
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from engine.files.atomic import reserve_temp
from engine.frame import Frame
from engine.params import EnhanceParams
from engine.video.base import Sink, Source, VideoError
from engine.video.pipeline import Pipeline, PipelineStats
from engine.video.sources import (IMAGE_EXTENSIONS, VideoFileSource, is_image_path, open_source,
                                  rotate_upright)

__all__ = ["ExportOptions", "ExportProgress", "ExportResult", "ExportCancelled", "export_video",
           "VideoFileSink", "ImageSequenceSink", "open_sink", "CODECS", "check_target",
           "reserve_temp"]

#: codec option → (FFmpeg encoder, default CRF or None)
CODECS: dict[str, tuple[str, int | None]] = {
    "h264": ("libx264", 20),
    "h265": ("libx265", 24),
    "ffv1": ("ffv1", None),
    # hardware encoders: used when PyAV's FFmpeg has them and they open on this machine,
    # else the export falls back to the software encoder of the same format (with a note)
    "h264_nvenc": ("h264_nvenc", 23),
    "hevc_nvenc": ("hevc_nvenc", 25),
    "h264_qsv": ("h264_qsv", 23),
    "hevc_qsv": ("hevc_qsv", 25),
    "h264_vaapi": ("h264_vaapi", 23),
    "hevc_vaapi": ("hevc_vaapi", 25),
}
HARDWARE_CODECS = tuple(k for k in CODECS if "_" in k)
_SOFTWARE_FALLBACK = {"h264": "h264", "hevc": "h265"}
_encoder_cache: dict[tuple[str, int, int, str], bool] = {}


def available_codecs() -> list[str]:
    """The ``codec`` choices whose encoder PyAV's FFmpeg has (hardware ones may still fail
    to open on a machine without the device; the export then falls back to software)."""
    import av

    return [k for k, (enc, _) in CODECS.items() if enc in av.codecs_available]


def encoder_opens(name: str, width: int, height: int, pix_fmt: str) -> bool:
    """True when FFmpeg's encoder ``name`` opens for this size and pixel format here
    (probes a hardware encoder's device; cached)."""
    key = (name, width, height, pix_fmt)
    if key not in _encoder_cache:
        import av

        ok = False
        if name in av.codecs_available:
            try:
                cc = av.CodecContext.create(name, "w")
                cc.width, cc.height, cc.pix_fmt = width, height, pix_fmt
                cc.time_base = Fraction(1, 25)
                cc.open()
                ok = True
            except Exception:
                ok = False
        _encoder_cache[key] = ok
    return _encoder_cache[key]


def _is_deep(pix_fmt: str | None) -> bool:
    """True for a 10/12/16-bit pixel format name (``yuv420p10le``...)."""
    return bool(pix_fmt) and bool(re.search(r"(1[0246])(le|be)$", pix_fmt or ""))
_FFV1_CONTAINERS = (".mkv", ".avi", ".nut")
_AUDIO_COPY_TIME_TOLERANCE = 1e-6


class ExportCancelled(VideoError):
    """The export was cancelled (cancel event or Ctrl-C); nothing was written."""


@dataclass(frozen=True)
class ExportOptions:
    """How to write the output.

    Attributes:
        codec: ``"h264"`` (libx264), ``"h265"`` (libx265) or ``"ffv1"`` (lossless, needs
            a .mkv/.avi/.nut target).
        crf: constant rate factor (quality; lower is better; h264 0..51 default 20,
            h265 0..51 default 24; ignored by ffv1). None = the codec's default.
        audio: ``"copy"`` (stream copy, re-encoded to AAC when the container refuses the
            codec), ``"aac"`` (re-encode), ``"none"`` (drop).
        start, end: trim in seconds of the source (None = from the start / to the end).
        overwrite: replace an existing target.
        preset: x264/x265 speed preset (``ultrafast`` … ``veryslow``).
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
    preset: str = "medium"
    audio_bitrate: int = 160_000
    image_format: str = ".png"
    pix_fmt: str | None = None

    def validate(self) -> None:
        if self.codec not in CODECS:
            raise VideoError(f"unknown codec {self.codec!r} (choose {', '.join(CODECS)})")
        if self.audio not in ("copy", "aac", "none"):
            raise VideoError(f"unknown audio mode {self.audio!r} (choose copy, aac, none)")
        if self.crf is not None and not (0 <= int(self.crf) <= 51):
            raise VideoError(f"crf must be 0..51, got {self.crf}")
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


def _same_file(a: str, b: str) -> bool:
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def check_target(source_path: str | None, target: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to write over the input (any path to the same file) or, without
    ``overwrite``, over an existing target. Raises :class:`VideoError`."""
    t = os.fspath(target)
    if source_path is not None and os.path.exists(source_path) and _same_file(source_path, t):
        raise VideoError(f"{t}: is the input file; choose another output")
    if _is_sequence_target(t):
        return  # checked by the image-sequence sink, which knows the file names
    if os.path.lexists(t) and not overwrite:
        raise VideoError(f"{t}: already exists (use --overwrite / overwrite=True)")
    if os.path.isdir(os.path.dirname(os.path.abspath(t))) is False:
        raise VideoError(f"{t}: the folder {os.path.dirname(os.path.abspath(t))} does not exist")


def _disk_full(target: str, exc: BaseException) -> VideoError | None:
    err = getattr(exc, "errno", None)
    if err in (errno.ENOSPC, errno.EDQUOT):
        return VideoError(f"{target}: the disk is full (no space left while writing); nothing was written")
    return None


# ------------------------------------------------------------------------------ sinks
class VideoFileSink(Sink):
    """Encode frames into a video file with PyAV (see the module docstring for the
    guarantees). Frames must all have the size of the first one.

    Args:
        target: output path; its extension picks the container (.mp4, .mkv, .mov...).
        options: codec, CRF, audio mode, trim.
        fps: nominal frame rate (used when frames carry no pts and as the stream rate).
        time_base: time base for pts (the source stream's, so pts are copied exactly).
        rotation_ccw: display rotation of the source (counter-clockwise degrees, as
            PyAV's ``VideoFrame.rotation``); frames arrive upright and are stored in the
            coded orientation with this display matrix.
        audio_source: path of the file whose first audio stream is copied/re-encoded.
        time_offset: seconds subtracted from every timestamp (the trim start).
        end: audio is cut at this source time (the trim end), None = the end.
        streams_source: path of the file whose subtitle and data streams, chapters and
            container metadata are copied (those the output container accepts).
        source_pix_fmt: the input's pixel format (10-bit inputs stay 10-bit).
        metadata: container metadata tags to write (e.g. the processing settings).
        deterministic: encode x264/x265 single-threaded and x264 without macroblock-tree
            rate control (mbtree), so the same frames always give the same bitstream;
            resumable exports need it so a resumed result equals an uninterrupted one.
    """

    def __init__(self, target: str | os.PathLike, options: ExportOptions, *, fps: float = 30.0,
                 time_base: Fraction | None = None, rotation_ccw: int = 0,
                 audio_source: str | None = None, time_offset: float = 0.0,
                 end: float | None = None, streams_source: str | None = None,
                 source_pix_fmt: str | None = None, metadata: dict[str, str] | None = None,
                 deterministic: bool = False) -> None:
        import av

        self.target = os.fspath(target)
        self.options = options
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.time_base = Fraction(time_base) if time_base else Fraction(1, 90000)
        self.rotation_ccw = int(rotation_ccw) % 360
        self.time_offset = float(time_offset or 0.0)
        self.end = end
        self.audio_mode = "absent"
        self.frames = 0
        self._av = av
        enc, _ = CODECS[options.codec]
        suffix = Path(self.target).suffix.lower()
        if not suffix:
            raise VideoError(f"{self.target}: give the output a file extension (.mp4, .mkv, .mov)")
        if options.codec == "ffv1" and suffix not in _FFV1_CONTAINERS:
            raise VideoError(f"{self.target}: FFV1 needs a .mkv, .avi or .nut file")
        folder = os.path.dirname(os.path.abspath(self.target))
        base = os.path.basename(self.target)
        try:
            self._tmp = reserve_temp(folder, f".{Path(base).stem}.partial-", suffix)
        except OSError as exc:
            raise _disk_full(self.target, exc) or VideoError(
                f"{self.target}: cannot write in {folder} ({exc.strerror or exc})") from exc
        self._encoder = enc
        self._out: Any = None
        self._vs: Any = None
        self._last_pts: int | None = None
        self._closed = False
        self._audio_in: Any = None
        self._audio_out: Any = None
        self._audio_iter: Any = None
        self._audio_pending: Any = None
        self._audio_done = True
        self._audio_source = audio_source
        self._resampler: Any = None
        self._audio_samples = 0
        self._streams_source = streams_source
        self._source_pix_fmt = source_pix_fmt
        self._metadata = dict(metadata or {})
        self._deterministic = deterministic
        self._extra: list[tuple[float, Any]] = []  # (output seconds, packet) of copied streams
        self.notes: list[str] = []
        self.encoder = enc
        self.copied_streams: list[str] = []
        try:
            self._out = av.open(self._tmp, "w", format=_format_for(suffix))
        except Exception as exc:
            self._cleanup()
            raise VideoError(f"{self.target}: cannot create the output ({exc})") from exc

    # -------------------------------------------------------------- setup on first frame
    def _setup(self, width: int, height: int) -> None:
        av = self._av
        o = self.options
        odd = (width % 2) or (height % 2)
        pix = self._pix_fmt(width, height, bool(odd))
        if o.codec in HARDWARE_CODECS and not encoder_opens(self._encoder, width, height, pix):
            soft = _SOFTWARE_FALLBACK[o.codec.split("_")[0]]
            self.notes.append(f"{o.codec} is not usable here (no device or driver); encoded with "
                              f"{CODECS[soft][0]} instead")
            self._encoder = CODECS[soft][0]
            o = replace(o, codec=soft)
            pix = self._pix_fmt(width, height, bool(odd), o)
        self.encoder = self._encoder
        vs = self._out.add_stream(self._encoder, rate=Fraction(self.fps).limit_denominator(100000))
        vs.width, vs.height = width, height
        if o.codec == "h265" and (width < 16 or height < 16):
            raise VideoError(f"{self.target}: H.265 (x265) needs frames of at least 16x16 pixels, "
                             f"these are {width}x{height}; use h264 or ffv1")
        if o.codec == "ffv1":
            vs.pix_fmt = "bgr0"  # lossless RGB (FFV1 stores it with a reversible transform)
            # version 3 (slices, CRCs) cannot slice tiny pictures; version 1 takes any size
            vs.options = {"level": "3", "slicecrc": "1"} if min(width, height) >= 16 else {"level": "1"}
        else:
            vs.pix_fmt = pix
            crf = o.crf if o.crf is not None else CODECS[o.codec][1]
            if "nvenc" in o.codec:
                opts = {"rc": "vbr", "cq": str(int(crf))}
            elif "qsv" in o.codec:
                opts = {"global_quality": str(int(crf))}
            elif "vaapi" in o.codec:
                opts = {"qp": str(int(crf))}
            else:
                opts = {"crf": str(int(crf)), "preset": o.preset}
            if o.codec == "h265":
                opts["x265-params"] = "log-level=error"
            if self._deterministic and self._encoder == "libx264":
                # x264's macroblock-tree rate control (on in every preset) gave different
                # bitstreams for the same frames within one process: which bytes it produced
                # depended on what earlier encodes had left in memory (about 1 segment encode
                # in 100 of a 64x48 clip, 1 in 5 cancel+resume runs of test_resume). Segments
                # must be bit-exact for a resume to equal an uninterrupted run.
                opts["x264-params"] = "mbtree=0"
            if o.codec in ("h265", "hevc_nvenc", "hevc_qsv", "hevc_vaapi"):
                if Path(self.target).suffix.lower() in (".mp4", ".mov", ".m4v"):
                    vs.codec_tag = "hvc1"  # the tag Apple players expect
            vs.options = opts
        vs.codec_context.time_base = self.time_base
        vs.time_base = self.time_base
        if self._deterministic and self._encoder in ("libx264", "libx265"):
            vs.codec_context.thread_count = 1
        if self.rotation_ccw:
            vs.set_display_rotation(self.rotation_ccw)
        self._vs = vs
        if o.audio != "none" and self._audio_source:
            self._setup_audio()
        elif o.audio == "none":
            self.audio_mode = "none"
        self._setup_extras()

    def _pix_fmt(self, width: int, height: int, odd: bool, o: "ExportOptions | None" = None) -> str:
        """The encoder pixel format: the option, else 4:2:0 / 4:4:4 (odd sizes), 10-bit
        for 10-bit-or-deeper inputs when the encoder takes it."""
        import av

        o = o or self.options
        enc = CODECS[o.codec][0]
        try:
            formats = {f.name for f in (av.codec.Codec(enc, "w").video_formats or ())}
        except Exception:
            formats = set()
        if o.pix_fmt:
            if formats and o.pix_fmt not in formats:
                raise VideoError(f"{self.target}: {enc} cannot encode pixel format {o.pix_fmt} "
                                 f"(it takes {', '.join(sorted(formats))})")
            if odd and ("420" in o.pix_fmt or "422" in o.pix_fmt or o.pix_fmt.startswith("nv")):
                raise VideoError(f"{self.target}: {o.pix_fmt} needs even sizes, the frames are "
                                 f"{width}x{height}; use a 4:4:4 format")
            return o.pix_fmt
        base = "yuv444p" if odd else "yuv420p"
        if _is_deep(self._source_pix_fmt) and base + "10le" in formats:
            return base + "10le"
        if formats and base not in formats and "nv12" in formats and not odd:
            return "nv12"  # hardware encoders
        return base

    def _setup_extras(self) -> None:
        """Copy what else the source carries: subtitle and data streams (when the output
        container accepts their codec), chapters and container metadata, all cut to the
        trim range; then write our own metadata tags."""
        av = self._av
        for k, v in self._metadata.items():
            self._out.metadata[k] = v
        if not self._streams_source:
            return
        try:
            inp = av.open(self._streams_source, "r")
        except Exception:
            return
        try:
            for k, v in inp.metadata.items():
                if k not in ("major_brand", "minor_version", "compatible_brands", "encoder",
                             "creation_time") and k not in self._metadata:
                    self._out.metadata[k] = v
            t0 = float(inp.start_time) / 1e6 if inp.start_time and inp.start_time > 0 else 0.0
            lo, hi = self.time_offset, self.end
            chapters = []
            for ch in inp.chapters():
                tb = ch["time_base"] or Fraction(1, 1000)
                a, b = float(ch["start"] * tb), float(ch["end"] * tb)
                if (hi is not None and a >= hi) or b <= lo:
                    continue
                a, b = max(a, lo) - lo, (min(b, hi) if hi is not None else b) - lo
                chapters.append({"id": len(chapters) + 1, "start": int(round(a / tb)),
                                 "end": int(round(b / tb)), "time_base": tb,
                                 "metadata": dict(ch["metadata"])})
            if chapters:
                self._out.set_chapters(chapters)
            pairs = []
            for st in inp.streams:
                if st.type not in ("subtitle", "data"):
                    continue
                name = st.codec_context.name if st.codec_context is not None else None
                label = f"{st.type} stream {st.index} ({name or 'unknown codec'})"
                if not name or name not in self._out.supported_codecs:
                    self.notes.append(f"{label} not copied: {Path(self.target).suffix} cannot "
                                      "hold it (try .mkv)")
                    continue
                try:
                    out_st = self._out.add_stream_from_template(st)
                except Exception as exc:
                    self.notes.append(f"{label} not copied ({exc})")
                    continue
                for k, v in st.metadata.items():
                    out_st.metadata[k] = v
                pairs.append((st, out_st))
                self.copied_streams.append(label)
            if pairs:
                for pkt in inp.demux(*[p[0] for p in pairs]):
                    if pkt.pts is None or pkt.size == 0:
                        continue
                    out_st = dict((a.index, b) for a, b in pairs)[pkt.stream.index]
                    tb = pkt.time_base
                    t = float(pkt.pts * tb) - t0
                    if t < lo - 1e-6 or (hi is not None and t >= hi):
                        continue
                    shift = int(round((t0 + lo) / tb))
                    pkt.pts -= shift
                    if pkt.dts is not None:
                        pkt.dts -= shift
                    pkt.stream = out_st
                    self._extra.append((t - lo, pkt))
                self._extra.sort(key=lambda e: e[0])
        finally:
            inp.close()

    def _pump_extra(self, until: float | None) -> None:
        """Mux copied subtitle/data packets up to ``until`` output seconds (None = all)."""
        n = 0
        for t, pkt in self._extra:
            if until is not None and t > until:
                break
            self._mux(pkt)
            n += 1
        if n:
            del self._extra[:n]

    def _setup_audio(self) -> None:
        av = self._av
        try:
            inp = av.open(self._audio_source, "r")
        except Exception:
            return
        if not inp.streams.audio:
            inp.close()
            return
        a_in = inp.streams.audio[0]
        self._audio_in = inp
        # the codec's canonical name (the decoder's name may differ, e.g. mp3float)
        name = a_in.codec_context.codec.canonical_name if a_in.codec_context else None
        copy = self.options.audio == "copy" and name and name in self._out.supported_codecs
        if copy:
            self._audio_out = self._out.add_stream_from_template(a_in)
            self.audio_mode = "copied"
        else:
            rate = a_in.codec_context.sample_rate or 48000
            layout = a_in.codec_context.layout.name if a_in.codec_context.layout else "stereo"
            if layout not in ("mono", "stereo"):
                layout = "stereo"
            self._audio_out = self._out.add_stream("aac", rate=rate, layout=layout)
            self._audio_out.bit_rate = self.options.audio_bitrate
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            self.audio_mode = "aac"
        self._audio_stream_in = a_in
        if self.time_offset > 0:
            try:
                inp.seek(int(self.time_offset / a_in.time_base), stream=a_in, backward=True)
            except Exception:
                pass
        self._audio_iter = inp.demux(a_in)
        self._audio_done = False
        self._audio_t0 = _start_seconds(a_in)

    # -------------------------------------------------------------- audio interleaving
    def _pump_audio(self, until: float | None) -> None:
        """Mux audio up to ``until`` seconds of output time (None = everything)."""
        if self._audio_done:
            return
        a_in = self._audio_stream_in
        tb = a_in.time_base
        while True:
            pkt = self._audio_pending
            if pkt is None:
                try:
                    pkt = next(self._audio_iter)
                except (StopIteration, Exception):
                    self._finish_audio()
                    return
                if pkt.pts is None or pkt.size == 0:
                    if pkt.size == 0:
                        self._finish_audio()
                        return
                    continue
            t_src = float(pkt.pts * tb) - self._audio_t0
            t_out = t_src - self.time_offset
            if until is not None and t_out > until:
                self._audio_pending = pkt
                return
            self._audio_pending = None
            dur = float(pkt.duration * tb) if pkt.duration else 0.0
            if self.end is not None and t_src >= self.end - _AUDIO_COPY_TIME_TOLERANCE:
                self._finish_audio()
                return
            if t_src + dur <= self.time_offset + _AUDIO_COPY_TIME_TOLERANCE and self.time_offset > 0:
                continue  # before the trim start
            if self.audio_mode == "copied":
                shift = int(round((self._audio_t0 + self.time_offset) / tb))
                pkt.pts -= shift
                if pkt.dts is not None:
                    pkt.dts -= shift
                if pkt.pts < 0 and self.time_offset > 0:
                    continue  # overlaps the trim start
                pkt.stream = self._audio_out
                self._mux(pkt)
            else:
                for fr in pkt.decode():
                    self._encode_audio(fr, t_src)

    def _encode_audio(self, fr: Any, t_src: float) -> None:
        rate = fr.sample_rate
        arr_start = t_src
        for rf in self._resampler.resample(fr):
            data = rf.to_ndarray()  # (channels, samples) fltp
            n = data.shape[1]
            lo = 0
            hi = n
            if self.time_offset > 0 and arr_start < self.time_offset:
                lo = min(n, int(round((self.time_offset - arr_start) * rate)))
            if self.end is not None and arr_start + n / rate > self.end:
                hi = max(lo, int(round((self.end - arr_start) * rate)))
            arr_start += n / rate
            if hi <= lo:
                continue
            cut = np.ascontiguousarray(data[:, lo:hi])
            nf = self._av.AudioFrame.from_ndarray(cut, format="fltp", layout=rf.layout.name)
            nf.sample_rate = rate
            nf.pts = self._audio_samples
            nf.time_base = Fraction(1, rate)
            self._audio_samples += cut.shape[1]
            for p in self._audio_out.encode(nf):
                self._mux(p)

    def _finish_audio(self) -> None:
        if self._audio_done:
            return
        self._audio_done = True
        if self.audio_mode == "aac" and self._audio_out is not None:
            for p in self._audio_out.encode(None):
                self._mux(p)

    # -------------------------------------------------------------- Sink API
    def _mux(self, packet: Any) -> None:
        """Write one packet (the single place where file writes of video happen)."""
        self._out.mux(packet)

    def _pts_of(self, frame: Frame) -> int:
        if frame.pts is not None:
            pts = int(round((frame.pts - self.time_offset) / self.time_base))
        else:
            pts = int(round(frame.index / self.fps / self.time_base))
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # keep pts strictly increasing
        self._last_pts = pts
        return pts

    def write(self, frame: Frame) -> None:
        try:
            img = frame.image
            if self.rotation_ccw:
                img = rotate_upright(img, -self.rotation_ccw)  # back to the coded orientation
            h, w = img.shape[:2]
            if self._vs is None:
                self._setup(w, h)
            elif (w, h) != (self._vs.width, self._vs.height):
                raise VideoError(f"{self.target}: frame {frame.index} is {w}x{h}, "
                                 f"the video is {self._vs.width}x{self._vs.height}")
            vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            # convert here rather than inside encode(): the implicit conversion there was seen
            # to give run-to-run different bitstreams for the same pictures
            vf = vf.reformat(format=self._vs.pix_fmt)
            vf.pts = self._pts_of(frame)
            vf.time_base = self.time_base
            for p in self._vs.encode(vf):
                self._mux(p)
            self.frames += 1
            self._pump_audio(float(vf.pts * self.time_base) + 0.5)
            self._pump_extra(float(vf.pts * self.time_base) + 0.5)
        except VideoError:
            raise
        except OSError as exc:
            raise _disk_full(self.target, exc) or VideoError(
                f"{self.target}: writing failed ({exc.strerror or exc})") from exc
        except Exception as exc:  # encoder refused the frame or its settings
            raise VideoError(f"{self.target}: encoding failed ({exc})") from exc

    def finish_container(self) -> None:
        """After the video stream is flushed: write the remaining audio and extra streams,
        close the container and move the temporary file onto the target."""
        self._pump_audio(None)
        self._finish_audio()
        self._pump_extra(None)
        self._out.close()
        self._out = None
        self._close_audio_in()
        os.replace(self._tmp, self.target)
        self._closed = True

    def close(self) -> None:
        """Flush the encoders, finish the file and move it over the target."""
        if self._closed:
            return
        try:
            if self._vs is None:
                raise VideoError(f"{self.target}: no frames to write")
            for p in self._vs.encode(None):
                self._mux(p)
            self.finish_container()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise _disk_full(self.target, exc) or VideoError(
                    f"{self.target}: finishing the file failed ({exc.strerror or exc})") from exc
            raise

    def _close_audio_in(self) -> None:
        if self._audio_in is not None:
            try:
                self._audio_in.close()
            except Exception:
                pass
            self._audio_in = None

    def _cleanup(self) -> None:
        try:
            os.unlink(self._tmp)
        except OSError:
            pass

    def abort(self) -> None:
        """Stop without finishing: close everything and remove the temporary file."""
        if self._closed:
            return
        self._closed = True
        if self._out is not None:
            try:
                self._out.close()
            except Exception:
                pass
            self._out = None
        self._close_audio_in()
        self._cleanup()


def _format_for(suffix: str) -> str | None:
    # FFmpeg picks the muxer from the name; the temp name keeps the suffix, so only
    # the ambiguous ones are spelled out
    return {".mkv": "matroska", ".m4v": "mp4"}.get(suffix)


def _start_seconds(stream: Any) -> float:
    st = stream.start_time
    return float(st * stream.time_base) if st is not None and st > 0 else 0.0


class ImageSequenceSink(Sink):
    """Write frames as numbered images into a folder or after a pattern.

    Args:
        target: a folder (frames named ``frame_000000.png``...) or a printf pattern such
            as ``out/frame_%05d.png`` (the extension picks the format).
        overwrite: allow replacing existing files of the same names.
        image_format: extension used for a folder target.

    Files go into a hidden temporary folder beside the target and are moved into place
    by :meth:`close`; :meth:`abort` removes the temporary folder.
    """

    def __init__(self, target: str | os.PathLike, *, overwrite: bool = False,
                 image_format: str = ".png") -> None:
        t = os.fspath(target)
        self.target = t
        if re.search(r"%0?\d*d", os.path.basename(t)):
            self.folder = os.path.dirname(os.path.abspath(t))
            self.pattern = os.path.basename(t)
        else:
            self.folder = os.path.abspath(t.rstrip("/" + os.sep) or t)
            ext = image_format if image_format.startswith(".") else "." + image_format
            self.pattern = "frame_%06d" + ext
        if not self.pattern.lower().endswith(IMAGE_EXTENSIONS):
            raise VideoError(f"{t}: the pattern needs an image extension (.png, .jpg, .tif...)")
        self.overwrite = overwrite
        parent = os.path.dirname(self.folder)
        if not os.path.isdir(parent):
            raise VideoError(f"{t}: the folder {parent} does not exist")
        if os.path.isdir(self.folder) and not overwrite:
            rx = re.compile(re.sub(r"%0?(\d*)d", r"\\d+", re.escape(self.pattern).replace("\\%", "%")) + "$")
            if any(rx.match(f) for f in os.listdir(self.folder)):
                raise VideoError(f"{t}: files of this sequence already exist (use --overwrite)")
        try:
            self._tmp = reserve_temp(parent, f".{os.path.basename(self.folder)}.partial-", directory=True)
        except OSError as exc:
            raise _disk_full(t, exc) or VideoError(f"{t}: cannot write ({exc.strerror or exc})") from exc
        self.frames = 0
        self._done = False
        self._names: list[str] = []

    def write(self, frame: Frame) -> None:
        name = self.pattern % self.frames
        ext = os.path.splitext(name)[1].lower()
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(frame.image[:, :, ::-1]))
        if not ok:
            raise VideoError(f"{self.target}: cannot encode {name}")
        try:
            with open(os.path.join(self._tmp, name), "wb") as f:
                f.write(buf.tobytes())
        except OSError as exc:
            raise _disk_full(self.target, exc) or VideoError(
                f"{self.target}: writing {name} failed ({exc.strerror or exc})") from exc
        self._names.append(name)
        self.frames += 1

    def close(self) -> None:
        if self._done:
            return
        try:
            if not os.path.exists(self.folder):
                os.replace(self._tmp, self.folder)
            else:
                for n in self._names:
                    os.replace(os.path.join(self._tmp, n), os.path.join(self.folder, n))
                os.rmdir(self._tmp)
            self._done = True
        except OSError as exc:
            self.abort()
            raise _disk_full(self.target, exc) or VideoError(
                f"{self.target}: finishing failed ({exc.strerror or exc})") from exc

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        shutil.rmtree(self._tmp, ignore_errors=True)


def open_sink(target: str | os.PathLike, options: ExportOptions, source: Source | None = None) -> Sink:
    """The sink for ``target``: an image sequence for a folder or pattern, else a video
    file carrying ``source``'s time base, rotation and audio."""
    t = os.fspath(target)
    if _is_sequence_target(t):
        return ImageSequenceSink(t, overwrite=options.overwrite, image_format=options.image_format)
    if is_image_path(t):
        raise VideoError(f"{t}: a video cannot be written to one image; give a folder, a pattern "
                         "like out/frame_%05d.png, or a video file")
    kw: dict[str, Any] = {"time_offset": options.start or 0.0, "end": options.end}
    if source is not None:
        kw["fps"] = source.info.fps
    if isinstance(source, VideoFileSource):
        kw["time_base"] = source.time_base
        kw["rotation_ccw"] = source.rotation_ccw
        kw["streams_source"] = source.path
        kw["source_pix_fmt"] = _pix_fmt_of(source)
        if source.info.has_audio:
            kw["audio_source"] = source.path
    return VideoFileSink(t, options, **kw)


def _pix_fmt_of(source: VideoFileSource) -> str | None:
    try:
        return source.stream.codec_context.format.name
    except Exception:
        return None


# ----------------------------------------------------------------------------- export
def _source_path(spec: Any) -> str | None:
    if isinstance(spec, (str, os.PathLike)):
        s = os.fspath(spec)
        if s == "demo":
            from engine.video.demo import demo_clip_path

            return str(demo_clip_path())
        return s if os.path.isfile(s) else None
    return None


def _halt(pipe: Pipeline) -> None:
    """Stop the pipeline and wait until the output is settled (the sink thread has
    aborted it); the other stages get half a second more to end."""
    pipe.stop()
    pipe.join_sink(30.0)
    pipe.join(0.5)


def drive_pipeline(pipe: Pipeline, cancel: threading.Event | None, report: Callable[[], None],
                   target: str | os.PathLike, cancelled: str) -> PipelineStats:
    """Start ``pipe`` and wait for its end, calling ``report()`` about every 0.1 s.

    Raises :class:`ExportCancelled` (message ``cancelled``) when ``cancel`` is set, and
    :class:`VideoError` when the pipeline stopped before the end of its source; the
    caller halts the pipeline and cleans up.
    """
    last_report = 0.0
    pipe.start()
    while pipe.is_running():
        pipe.join(0.05)
        if cancel is not None and cancel.is_set():
            raise ExportCancelled(cancelled)
        now = time.perf_counter()
        if now - last_report >= 0.1:
            last_report = now
            report()
    stats = pipe.wait()
    if not pipe.completed:
        if cancel is not None and cancel.is_set():
            raise ExportCancelled(cancelled)
        raise VideoError(f"{os.fspath(target)}: export stopped before the end")
    return stats


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
        from engine.video.segments import export_segmented, processing_settings

        return export_segmented(src_path, t_str, processor=processor, options=options,
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
        sink = open_sink(target, options, source)
    except BaseException:
        source.close()
        raise
    if isinstance(sink, VideoFileSink) and sink._out is not None:
        import json

        from engine.video.segments import processing_settings

        sink._metadata["comment"] = "lowlight " + json.dumps(
            processing_settings(processor, weights), sort_keys=True, separators=(",", ":"))
    total = source.info.frame_count
    t0 = time.perf_counter()
    pipe = Pipeline(source, processor, sink, mode="export", queue_size=queue_size, pause=pause)

    def report(finished: bool = False) -> None:
        if progress is None:
            return
        st = pipe.stats()
        done = st.frames_out
        el = time.perf_counter() - t0
        fps = done / el if el > 0 else 0.0
        tot = max(total, done) if total else None
        if finished:
            tot = done
        frac = min(1.0, done / tot) if tot else None
        eta = (tot - done) / fps if tot and fps > 0 else None
        progress(ExportProgress(done, tot, frac, fps, 0.0 if finished else eta, finished))

    try:
        stats = drive_pipeline(pipe, cancel, report, target,
                               f"{os.fspath(target)}: export cancelled; nothing was written")
    except (KeyboardInterrupt, VideoError):  # ExportCancelled included
        _halt(pipe)
        raise
    except OSError as exc:
        _halt(pipe)
        raise _disk_full(os.fspath(target), exc) or VideoError(
            f"{os.fspath(target)}: {exc.strerror or exc}") from exc
    except BaseException:
        _halt(pipe)
        raise
    finally:
        if not pipe.join_sink(0):  # the sink stuck in native code: make sure nothing stays behind
            sink.abort()
    seconds = time.perf_counter() - t0
    report(finished=True)
    problems = tuple(getattr(source, "problems", ()) or ())
    audio = getattr(sink, "audio_mode", "absent")
    return ExportResult(Path(os.fspath(target)), stats.frames_out, seconds,
                        stats.frames_out / seconds if seconds > 0 else 0.0, audio, problems, runtime,
                        stats, 0, tuple(getattr(sink, "notes", ())), getattr(sink, "encoder", ""))
