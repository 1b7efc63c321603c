"""Export: enhance a video file (or any source) into a new file, keeping its frame count,
timestamps (variable frame rate too), rotation metadata and audio.

Sinks:
- :class:`VideoFileSink` writes H.264 (libx264), H.265 (libx265) or FFV1 (lossless, in
  .mkv) through PyAV, CRF quality, audio stream-copied or re-encoded to AAC.
- :class:`ImageSequenceSink` writes numbered PNGs into a folder.

Both write under a temporary name beside the target and rename on success; ``abort``
(cancel, Ctrl-C, any failure, disk full) removes the temporary output, so the target is
either complete or absent.

Odd frame sizes: 4:2:0 chroma (yuv420p) needs even sizes. The frame contract forbids
silent resizing or cropping, so by default odd-sized H.264/H.265 output is encoded as
4:4:4 (yuv444p) at the exact size (every decoder in FFmpeg, VLC and mpv plays it; some
hardware players and browsers do not). ``ExportOptions(odd_size="pad")`` instead pads
the right/bottom edge by one replicated pixel and encodes yuv420p for compatibility.

Rotation: frames are enhanced upright; when the input carries a display rotation the
enhanced frames are turned back to the coded orientation and the same display matrix is
written, so the output is stored exactly like the input (``keep_rotation=False`` writes
upright pixels with no rotation tag instead).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from engine.enhancer import Enhancer
from engine.frame import Frame
from engine.params import EnhanceParams
from engine.processor import FrameProcessor
from engine.video.base import Sink, Source, VideoError
from engine.video.pipeline import Pipeline
from engine.video.sources import VideoFileSource, is_image_path, open_source

__all__ = ["ExportOptions", "ExportProgress", "ExportResult", "ExportCancelled",
           "VideoFileSink", "ImageSequenceSink", "export_video", "CODECS"]

#: codec name → (FFmpeg encoder, default CRF)
CODECS = {"h264": ("libx264", 18), "h265": ("libx265", 22), "ffv1": ("ffv1", None)}
# audio codecs each container accepts for stream copy (else AAC re-encode)
_COPY_OK = {
    ".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    ".m4v": {"aac", "mp3", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    ".mkv": None,  # Matroska takes anything
}


class ExportCancelled(VideoError):
    """The export was cancelled (nothing was written)."""


@dataclass(frozen=True)
class ExportOptions:
    """How to export.

    Attributes:
        codec: ``"h264"``, ``"h265"`` or ``"ffv1"`` (lossless; .mkv/.mov/.avi output).
        crf: constant-rate-factor quality (lower = better; default 18 for H.264, 22 for
            H.265; ignored by FFV1).
        preset: x264/x265 speed preset.
        start, end: trim in seconds (video and audio trimmed alike; output starts at 0).
        audio: ``"copy"`` (stream copy; re-encoded to AAC when the container cannot hold
            the codec), ``"aac"`` or ``"none"``.
        overwrite: replace an existing target.
        odd_size: ``"yuv444"`` (exact size, 4:4:4) or ``"pad"`` (one replicated pixel, 4:2:0).
        keep_rotation: keep the input's rotation metadata (see module docs).
    """

    codec: str = "h264"
    crf: int | None = None
    preset: str = "medium"
    start: float | None = None
    end: float | None = None
    audio: str = "copy"
    overwrite: bool = False
    odd_size: str = "yuv444"
    keep_rotation: bool = True


@dataclass(frozen=True)
class ExportProgress:
    """Progress of a running export: frames done / total (None when unknown), output
    frames per second so far, estimated seconds left (None when unknown)."""

    frames_done: int
    total: int | None
    fps: float
    eta_s: float | None


@dataclass
class ExportResult:
    """What an export produced."""

    output: str
    frames: int
    seconds: float
    fps: float
    codec: str
    pix_fmt: str
    audio: str
    width: int
    height: int
    rotation: int
    runtime: str = ""
    problems: list[str] = field(default_factory=list)


def _check_target(target: Path, overwrite: bool, inputs: list[str]) -> None:
    for src in inputs:
        if src and os.path.exists(src) and os.path.exists(target) and os.path.samefile(src, target):
            raise VideoError(f"{target}: refusing to overwrite the input")
        if src and os.path.abspath(src) == os.path.abspath(target):
            raise VideoError(f"{target}: refusing to overwrite the input")
    if target.exists() and not overwrite:
        raise VideoError(f"{target}: already exists (use --overwrite / overwrite=True)")
    if not target.parent.exists():
        raise VideoError(f"{target.parent}: output folder does not exist")


def _public_mode(path: Path) -> None:
    """mkstemp makes 0600 files; give the finished output the usual umask-based mode."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _os_error(target: Path, exc: OSError) -> VideoError:
    if exc.errno == errno.ENOSPC:
        return VideoError(f"{target}: disk full while writing; nothing was kept")
    return VideoError(f"{target}: cannot write ({exc.strerror or exc})")


class _AudioFeed:
    """Pulls audio from ``path`` and muxes it into ``out`` up to a given time, so audio
    and video packets interleave. Trim ``[start, end)`` seconds; output times start at
    ``start``."""

    def __init__(self, path: str, out: Any, mode: str, start: float, end: float | None,
                 suffix: str) -> None:
        import av

        self.mode = "none"
        self._in = av.open(path)
        if not self._in.streams.audio:
            self._in.close()
            self._in = None
            return
        ia = self._in.streams.audio[0]
        self._ia, self._out = ia, out
        self._start, self._end = start, end
        name = ia.codec_context.name
        allowed = _COPY_OK.get(suffix, set())
        if mode == "copy" and (allowed is None or name in allowed):
            self.mode = "copy"
            self._oa = out.add_stream_from_template(ia)
        else:
            self.mode = "aac"
            rate = ia.codec_context.sample_rate or 48000
            layout = ia.codec_context.layout.name if ia.codec_context.layout else "stereo"
            if layout not in ("mono", "stereo"):
                layout = "stereo"
            self._oa = out.add_stream("aac", rate=rate, layout=layout)
            self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            self._samples = 0
        if start > 0:
            self._in.seek(int(start / ia.time_base), stream=ia, backward=True)
        self._packets = self._in.demux(ia)
        self._done = False
        self.note = f"audio {name} → {'stream copy' if self.mode == 'copy' else 'AAC'}"

    def push_until(self, t: float | None) -> None:
        """Mux audio whose time is before ``t`` seconds (None = everything left)."""
        if self._in is None or self._done:
            return
        tb = self._ia.time_base
        while True:
            pk = getattr(self, "_held", None)
            if pk is None:
                try:
                    pk = next(self._packets)
                except StopIteration:
                    return self._finish()
                if pk.pts is None:
                    if pk.size == 0:
                        return self._finish()
                    continue
            pt = float(pk.pts * tb)
            if t is not None and pt > t:
                self._held = pk
                return
            self._held = None
            if pt < self._start - 1e-6:
                continue
            if self._end is not None and pt >= self._end:
                return self._finish()
            if self.mode == "copy":
                off = int(round(self._start / tb))
                pk.pts -= off
                if pk.dts is not None:
                    pk.dts -= off
                pk.stream = self._oa
                self._out.mux(pk)
            else:
                for fr in pk.decode():
                    for rf in self._resampler.resample(fr):
                        rf.pts = self._samples
                        rf.time_base = Fraction(1, rf.sample_rate)
                        self._samples += rf.samples
                        for p in self._oa.encode(rf):
                            self._out.mux(p)

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self.mode == "aac":
            for rf in self._resampler.resample(None):
                rf.pts = self._samples
                self._samples += rf.samples
                for p in self._oa.encode(rf):
                    self._out.mux(p)
            for p in self._oa.encode(None):
                self._out.mux(p)

    def close(self) -> None:
        if self._in is not None:
            self._in.close()
            self._in = None


class VideoFileSink(Sink):
    """Encode frames into a video file with PyAV (atomic: temp file + rename).

    Args:
        target: output path (.mp4, .mkv, .mov...).
        fps: nominal frame rate; time_base: timestamp unit (defaults to 1/fps).
        options: codec, CRF, odd-size handling, overwrite...
        rotation_ccw: display rotation to restore (counter-clockwise degrees, PyAV's
            convention) — frames arrive upright and are turned back before encoding.
        audio_from: file whose audio track is copied / re-encoded (None = no audio).
        t0: seconds subtracted from frame and audio times (the trim start).
        protect: input paths the target may not be.

    Frames must be uint8 (H, W, 3) RGB with ``pts`` in seconds (None = index / fps).
    """

    def __init__(self, target: str | os.PathLike, *, fps: float, options: ExportOptions = ExportOptions(),
                 time_base: Fraction | None = None, rotation_ccw: int = 0,
                 audio_from: str | None = None, t0: float = 0.0,
                 protect: tuple[str, ...] = ()) -> None:
        self.target = Path(target)
        self.options = options
        if options.codec not in CODECS:
            raise VideoError(f"unknown codec {options.codec!r}; choose from {', '.join(CODECS)}")
        suffix = self.target.suffix.lower()
        if options.codec == "ffv1" and suffix not in (".mkv", ".mov", ".avi"):
            raise VideoError(f"{self.target}: FFV1 needs a .mkv (or .mov/.avi) file")
        if not suffix:
            raise VideoError(f"{self.target}: give the output a container extension (.mp4, .mkv)")
        _check_target(self.target, options.overwrite, list(protect))
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.time_base = time_base or Fraction(1, max(1, round(self.fps)))
        self.rotation_ccw = int(rotation_ccw) if options.keep_rotation else 0
        self.audio_from = audio_from if options.audio != "none" else None
        self.t0 = float(t0)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.stem}.partial-", suffix=suffix,
                                   dir=self.target.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._out: Any = None
        self._vs: Any = None
        self._audio: _AudioFeed | None = None
        self._last_pts = -1
        self.frames = 0
        self.pix_fmt = ""
        self.audio_mode = "none"
        self.width = self.height = 0
        self._pad = (0, 0)
        self._closed = False
        self.notes: list[str] = []

    def _open(self, h: int, w: int) -> None:
        import av

        enc, default_crf = CODECS[self.options.codec]
        if enc == "libx265" and w < 64 and w % 8:
            # the bundled x265 corrupts its heap on such tiny frames (seen at 34x24)
            raise VideoError(f"{self.target}: H.265 cannot encode {w}x{h} (widths under 64 px must "
                             "be multiples of 8); use --codec h264 or ffv1")
        try:
            self._out = av.open(str(self.tmp), "w")
            vs = self._out.add_stream(enc, rate=Fraction(self.fps).limit_denominator(1001000))
            if self.options.codec == "ffv1":
                pix = "bgr0"
            elif w % 2 or h % 2:
                if self.options.odd_size == "pad":
                    pix = "yuv420p"
                    self._pad = (h % 2, w % 2)
                    h, w = h + h % 2, w + w % 2
                else:
                    pix = "yuv444p"
            else:
                pix = "yuv420p"
            vs.width, vs.height, vs.pix_fmt = w, h, pix
            vs.codec_context.time_base = self.time_base
            vs.time_base = self.time_base
            opts = {}
            if default_crf is not None:
                opts["crf"] = str(self.options.crf if self.options.crf is not None else default_crf)
                opts["preset"] = self.options.preset
                if enc == "libx265":
                    opts["x265-params"] = "log-level=error"
            else:
                # level 3 (sliced, CRC-checked) refuses very small frames; level 1 takes any size
                opts.update({"level": "3", "slicecrc": "1"} if min(w, h) >= 64 else {"level": "1"})
            vs.options = opts
            if self.rotation_ccw % 360:
                vs.set_display_rotation(self.rotation_ccw)
            self._vs = vs
            self.pix_fmt, self.width, self.height = pix, w - self._pad[1], h - self._pad[0]
            if self.audio_from:
                self._audio = _AudioFeed(self.audio_from, self._out, self.options.audio,
                                         self.t0, self.options.end, self.target.suffix.lower())
                self.audio_mode = self._audio.mode
        except OSError as exc:
            raise _os_error(self.target, exc) from exc

    def write(self, frame: Frame) -> None:
        import av

        img = frame.image
        k = (self.rotation_ccw // 90) % 4
        if k:
            img = np.ascontiguousarray(np.rot90(img, -k))  # back to the coded orientation
        if self._out is None:
            self._open(*img.shape[:2])
        if self._pad != (0, 0):
            img = cv2.copyMakeBorder(img, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        t = frame.pts if frame.pts is not None else frame.index / self.fps
        pts = int(round((t - self.t0) / self.time_base))
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        vf = av.VideoFrame.from_ndarray(img, format="rgb24")
        vf.pts = pts
        vf.time_base = self.time_base
        try:
            if self._audio is not None:
                self._audio.push_until(t)
            for p in self._vs.encode(vf):
                self._out.mux(p)
        except OSError as exc:
            raise _os_error(self.target, exc) from exc
        self.frames += 1

    def close(self) -> None:
        """Flush, close and move the file into place."""
        if self._closed:
            return
        try:
            if self._out is None:
                raise VideoError(f"{self.target}: no frames to write")
            for p in self._vs.encode(None):
                self._out.mux(p)
            if self._audio is not None:
                self._audio.push_until(None)
                self._audio.close()
            self._out.close()
            self._out = None
            _public_mode(self.tmp)
            os.replace(self.tmp, self.target)
            self._closed = True
        except OSError as exc:
            self.abort()
            raise _os_error(self.target, exc) from exc
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop and delete the temporary file; the target is left untouched."""
        self._closed = True
        for obj in (self._audio, self._out):
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass
        self._audio = self._out = None
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass


class ImageSequenceSink(Sink):
    """Write frames as ``frame_000000.png``... into a folder, atomically: a temporary
    folder beside the target is renamed into place on ``close``."""

    def __init__(self, folder: str | os.PathLike, *, overwrite: bool = False,
                 pattern: str = "frame_%06d.png", protect: tuple[str, ...] = ()) -> None:
        self.target = Path(folder)
        _check_target(self.target, overwrite, list(protect))
        self.pattern = pattern
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.partial-", dir=self.target.parent))
        self.frames = 0

    def write(self, frame: Frame) -> None:
        ok, buf = cv2.imencode(".png", frame.image[:, :, ::-1])
        if not ok:
            raise VideoError(f"{self.target}: PNG encoding failed")
        try:
            (self.tmp / (self.pattern % self.frames)).write_bytes(buf.tobytes())
        except OSError as exc:
            raise _os_error(self.target, exc) from exc
        self.frames += 1

    def close(self) -> None:
        if self.target.exists():
            shutil.rmtree(self.target) if self.target.is_dir() else self.target.unlink()
        os.replace(self.tmp, self.target)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _make_enhance(p: Any, params: EnhanceParams | None, backend: str, device: str) -> tuple[Any, str]:
    from engine import registry

    if p is None:
        return None, "none"
    if isinstance(p, str):
        p = registry.create(p, backend=backend, device=device)
    if isinstance(p, Enhancer):
        proc = FrameProcessor(p, params)
        return proc, p.runtime_label()
    if isinstance(p, FrameProcessor):
        if params is not None:
            p.set_params(params)
        return p, p.enhancer.runtime_label()
    if callable(p):
        return p, "callable"
    raise TypeError(f"cannot enhance with {type(p).__name__}")


def export_video(input: str | os.PathLike | Source, output: str | os.PathLike,
                 processor_or_method: FrameProcessor | Enhancer | str | Callable | None,
                 options: ExportOptions = ExportOptions(),
                 progress: Callable[[ExportProgress], None] | None = None,
                 cancel: threading.Event | None = None, *,
                 params: EnhanceParams | None = None, backend: str = "auto",
                 device: str = "auto") -> ExportResult:
    """Enhance ``input`` into ``output``: every frame, in order, timestamps, rotation and
    audio kept (see :class:`ExportOptions`).

    Args:
        input: a video file, ``"demo"``, an image folder/pattern, or an open :class:`Source`.
        output: a video file (.mp4/.mkv/.mov) or, with no extension, a folder of PNGs.
        processor_or_method: a FrameProcessor, an Enhancer, a registered method name, a
            ``fn(uint8 (H, W, 3)) -> uint8 (H, W, 3)``, or None (re-encode only).
        progress: called about 10 times a second (from the calling thread).
        cancel: set it to stop; the export then raises :class:`ExportCancelled`.
        params: parameters for the method (defaults when None).

    Raises:
        VideoError: bad input, existing target without overwrite, disk full...;
        ExportCancelled: ``cancel`` was set; KeyboardInterrupt propagates after cleanup.
        In every failure case neither the target nor a temporary file is left.
    """
    t_start = time.perf_counter()
    out = Path(output)
    if isinstance(input, Source):
        source = input
        in_path = getattr(source, "path", "")
    else:
        in_path = str(input)
        if in_path == "demo":
            from engine.video.demo import demo_clip_path

            in_path = str(demo_clip_path())
        _check_target(out, options.overwrite, [in_path])  # before any decoding work
        source = open_source(in_path, start=options.start, end=options.end)
    problems: list[str] = []
    try:
        enhance, runtime = _make_enhance(processor_or_method, params, backend, device)
        info = source.info
        if out.suffix == "" or is_image_path(out) and False:
            sink: Sink = ImageSequenceSink(out, overwrite=options.overwrite, protect=(in_path,))
        else:
            is_file = isinstance(source, VideoFileSource)
            sink = VideoFileSink(
                out, fps=info.fps, options=options,
                time_base=source.time_base if is_file else None,
                rotation_ccw=source.rotation_ccw if is_file else 0,
                audio_from=in_path if (is_file and info.has_audio) else None,
                t0=(options.start or 0.0) if is_file else 0.0, protect=(in_path,))
    except BaseException:
        source.close()
        raise
    pipe = Pipeline(source, enhance, sink, mode="export")
    pipe.start()
    total = info.frame_count
    try:
        while not pipe.wait(0.1):
            if cancel is not None and cancel.is_set():
                pipe.close()
                pipe.wait(2.0)
                raise ExportCancelled(f"{out}: export cancelled; nothing was written")
            if progress is not None:
                st = pipe.stats()
                eta = (total - st.frames_out) / st.fps if (total and st.fps > 0) else None
                progress(ExportProgress(st.frames_out, total, st.fps, eta))
    except ExportCancelled:
        raise
    except BaseException:
        pipe.close(timeout=5.0)  # the sink thread aborts its own output on stop
        if pipe.running:
            raise
        if isinstance(sink, VideoFileSink) and sink.tmp.exists():
            sink.abort()
        elif isinstance(sink, ImageSequenceSink) and sink.tmp.exists():
            sink.abort()
        raise
    if not pipe.completed:
        raise VideoError(f"{out}: export did not complete")
    st = pipe.stats()
    if progress is not None:
        progress(ExportProgress(st.frames_out, st.frames_out, st.fps, 0.0))
    problems += list(getattr(source, "problems", []))
    seconds = time.perf_counter() - t_start
    if isinstance(sink, VideoFileSink):
        return ExportResult(str(out), sink.frames, seconds, sink.frames / max(seconds, 1e-9),
                            options.codec, sink.pix_fmt, sink.audio_mode, sink.width, sink.height,
                            (-sink.rotation_ccw) % 360, runtime, problems)
    return ExportResult(str(out), sink.frames, seconds, sink.frames / max(seconds, 1e-9), "png",
                        "rgb24", "none", info.width, info.height, 0, runtime, problems)
