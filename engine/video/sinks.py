"""Files an export writes: a video file (:class:`VideoFileSink`) or numbered images
(:class:`ImageSequenceSink`). Both write under a hidden temporary name beside the target
and move it into place only when finished; :meth:`abort`, an error or a full disk leaves
nothing behind.

A video file keeps the source's timing, orientation and other streams:

- **Timestamps**: each frame is encoded with its source pts in the source stream's time
  base (shifted by the trim start), so variable frame rate is kept.
- **Rotation**: frames arrive upright and are turned back to the coded orientation; the
  output stream carries the source's display matrix, so players show it as the input.
- **Other streams**: audio, subtitles, chapters and tags come through a
  :class:`engine.video.carrier.StreamCarrier`.
- **Pixel formats** and encoders: see :mod:`engine.video.codecs` (x265 refuses pictures
  under 16×16, a clear error says so).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from engine.files.atomic import (lock_path, remove_stale_temps, rename_no_replace, reserve_temp,
                                 unlock)
from engine.frame import Frame
from engine.video.base import Sink, VideoError
from engine.video.carrier import StreamCarrier
from engine.video.codecs import (CODECS, FFV1_CONTAINERS, FFV1_PIX_FMT, HARDWARE_CODECS,
                                 HEVC_CODECS, choose_pix_fmt, encoder_opens, encoder_options,
                                 fallback_note, software_fallback)
from engine.files.images import IMAGE_SUFFIXES
from engine.video.sources import rotate_upright

__all__ = ["EncodeOptions", "VideoFileSink", "ImageSequenceSink", "disk_full_error", "DiskFullError"]

_FULL_RANGE = 2  # AVCOL_RANGE_JPEG: full-range samples


class EncodeOptions(Protocol):
    """What :class:`VideoFileSink` reads of its options (an
    :class:`engine.video.export.ExportOptions` has them all)."""

    @property
    def codec(self) -> str: ...  # a key of CODECS
    @property
    def crf(self) -> int | None: ...
    @property
    def preset(self) -> str: ...
    @property
    def pix_fmt(self) -> str | None: ...
    @property
    def audio(self) -> str: ...  # "none" reports the audio as dropped
    # ``overwrite`` (bool) is read too when present; missing means False


class DiskFullError(VideoError):
    """Writing stopped because the disk (or the quota) is full."""


def disk_full_error(target: str, exc: BaseException) -> VideoError | None:
    """The error to raise for ``exc`` when it is a full disk (or quota) while writing
    ``target`` (a :class:`DiskFullError`); None for any other error."""
    err = getattr(exc, "errno", None)
    if err in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"{target}: the disk is full (no space left while writing); nothing was written")
    return None


def _identity(path: str) -> tuple[int, int, int] | None:
    """(device, inode, mtime) of ``path`` itself (a link is not followed), None if absent."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


def _format_for(suffix: str) -> str | None:
    # FFmpeg picks the muxer from the name; the temp name keeps the suffix, so only
    # the ambiguous ones are spelled out
    return {".mkv": "matroska", ".m4v": "mp4"}.get(suffix)


#: Encoder pixel formats whose conversion from a wrapped RGB frame was checked to equal the
#: conversion from a copied one, plane for plane (600 random sizes; 10-bit formats were not
#: always equal and keep the copy).
_WRAPPED_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12", "gray", "bgr0"})


def _rgb_frame(av: Any, img: np.ndarray, pix_fmt: str) -> Any:
    """A PyAV rgb24 VideoFrame of the C-contiguous uint8 (H, W, 3) ``img``, to be converted
    to ``pix_fmt`` at once. For the formats of :data:`_WRAPPED_FORMATS` it wraps ``img``'s
    memory instead of copying it: PyAV's copy cost 4.4 ms a 720p frame and 8 ms a 1080p one
    on the encoder's thread, the wrap microseconds, and the conversion that follows copies
    the pixels into the encoder's own frame (so the wrap never reaches the encoder)."""
    wrap = getattr(av.VideoFrame, "from_numpy_buffer", None)
    if wrap is not None and pix_fmt in _WRAPPED_FORMATS:
        return wrap(img, format="rgb24")
    return av.VideoFrame.from_ndarray(img, format="rgb24")


class VideoFileSink(Sink):
    """Encode frames into a video file with PyAV (see the module docstring for the
    guarantees). Frames must all have the size of the first one.

    Args:
        target: output path; its extension picks the container (.mp4, .mkv, .mov...).
        options: codec, CRF, preset, pixel format (an ``ExportOptions``).
        fps: nominal frame rate (used when frames carry no pts and as the stream rate).
        time_base: time base for pts (the source stream's, so pts are copied exactly).
        rotation_ccw: display rotation of the source (counter-clockwise degrees, as
            PyAV's ``VideoFrame.rotation``); frames arrive upright and are stored in the
            coded orientation with this display matrix.
        time_offset: seconds subtracted from every frame's pts (the trim start).
        carry: the source's other streams to carry into the file; the sink owns it from
            here on (closes it, also when this constructor fails).
        source_pix_fmt: the input's pixel format (10-bit inputs stay 10-bit).
        metadata: container tags to write (e.g. the processing settings); they win over
            the carried input's tags of the same name.

    Finishing: without ``options.overwrite`` the temporary file is moved to the target
    only if no file has that name at that moment (an atomic check, so of two exports to
    one path started together the later one fails instead of replacing the other's
    result); with it the last export to finish wins, and a note says when it replaced a
    file another run wrote meanwhile. Stale temporaries of this target left by killed
    runs are removed when the sink opens (:func:`engine.files.atomic.remove_stale_temps`).
        deterministic: encode x264/x265 single-threaded and x264 without macroblock-tree
            rate control (mbtree), so the same frames always give the same bitstream;
            resumable exports need it so a resumed result equals an uninterrupted one.

    Frames go in with :meth:`write`; a file of already-encoded video packets is written
    with :meth:`copy_video_from` and :meth:`write_packet` instead.
    """

    def __init__(self, target: str | os.PathLike, options: EncodeOptions, *, fps: float = 30.0,
                 time_base: Fraction | None = None, rotation_ccw: int = 0,
                 time_offset: float = 0.0, carry: StreamCarrier | None = None,
                 source_pix_fmt: str | None = None, metadata: dict[str, str] | None = None,
                 deterministic: bool = False) -> None:
        import av

        self._av = av
        self.target = os.fspath(target)
        self._carry = carry
        self._lock: int | None = None
        self._overwrite = bool(getattr(options, "overwrite", False))
        self._target_at_start = _identity(self.target)
        self._tmp: str | None = None
        try:  # a failure or an interrupt (Ctrl-C, SIGTERM) anywhere here leaves no temporary
            self._out = self._open(options)
            self.options = options
            self.codec = options.codec
            self.encoder = CODECS[options.codec][0]
            self.fps = float(fps) if fps and fps > 0 else 30.0
            self.time_base = Fraction(time_base) if time_base else Fraction(1, 90000)
            self.rotation_ccw = int(rotation_ccw) % 360
            self.time_offset = float(time_offset or 0.0)
            self.frames = 0
            self._source_pix_fmt = source_pix_fmt
            self._metadata = dict(metadata or {})
            self._deterministic = deterministic
            self._vs: Any = None
            self._encoding = True
            self._last_pts: int | None = None
            self._closed = False
            self._notes: list[str] = []
        except BaseException:
            if carry is not None:
                carry.close()
            if self._tmp is not None:
                self._cleanup()
            raise

    def _open(self, options: EncodeOptions) -> Any:
        """Check the target, reserve the temporary file and open the output container."""
        suffix = Path(self.target).suffix.lower()
        if not suffix:
            raise VideoError(f"{self.target}: give the output a file extension (.mp4, .mkv, .mov)")
        if options.codec == "ffv1" and suffix not in FFV1_CONTAINERS:
            raise VideoError(f"{self.target}: FFV1 needs a .mkv, .avi or .nut file")
        folder = os.path.dirname(os.path.abspath(self.target))
        base = os.path.basename(self.target)
        prefix = f".{Path(base).stem}.partial-"
        remove_stale_temps(folder, prefix, suffix)
        try:
            self._tmp = reserve_temp(folder, prefix, suffix)
        except OSError as exc:
            raise disk_full_error(self.target, exc) or VideoError(
                f"{self.target}: cannot write in {folder} ({exc.strerror or exc})") from exc
        try:  # held while writing: a later run's clean-up leaves a live temporary alone
            self._lock = lock_path(self._tmp)
        except OSError:
            self._lock = None
        try:
            return self._av.open(self._tmp, "w", format=_format_for(suffix))
        except Exception as exc:
            raise VideoError(f"{self.target}: cannot create the output ({exc})") from exc

    @property
    def audio_mode(self) -> str:
        """What happened to the audio: ``"copied"``, ``"aac"``, ``"none"`` (dropped on
        request) or ``"absent"`` (nothing to carry)."""
        if self.options.audio == "none":
            return "none"
        return self._carry.audio_mode if self._carry is not None else "absent"

    @property
    def notes(self) -> list[str]:
        """What the file could not keep or does differently (a hardware encoder replaced
        by software, a stream the container cannot hold), one line each."""
        return self._notes + (self._carry.notes if self._carry is not None else [])

    # -------------------------------------------------------------- setup on first frame
    def _setup(self, width: int, height: int) -> None:
        o = self.options
        codec = self.codec
        pix = choose_pix_fmt(codec, width, height, requested=o.pix_fmt,
                             source_pix_fmt=self._source_pix_fmt, target=self.target)
        if codec in HARDWARE_CODECS and not encoder_opens(self.encoder, width, height, pix):
            codec = software_fallback(codec)
            self._notes.append(fallback_note(o.codec, codec))
            pix = choose_pix_fmt(codec, width, height, requested=o.pix_fmt,
                                 source_pix_fmt=self._source_pix_fmt, target=self.target)
        self.codec, self.encoder = codec, CODECS[codec][0]
        vs = self._out.add_stream(self.encoder, rate=Fraction(self.fps).limit_denominator(100000))
        vs.width, vs.height = width, height
        if codec == "h265" and (width < 16 or height < 16):
            raise VideoError(f"{self.target}: H.265 (x265) needs frames of at least 16x16 pixels, "
                             f"these are {width}x{height}; use h264 or ffv1")
        vs.pix_fmt = FFV1_PIX_FMT if codec == "ffv1" else pix
        if vs.pix_fmt.startswith("gray"):
            # RGB -> grey conversion gives full-range luma (black 0, white 255); the stream
            # says so, else players read it as limited range (16..235) and crush it darker
            vs.codec_context.color_range = _FULL_RANGE
        if codec in HEVC_CODECS and Path(self.target).suffix.lower() in (".mp4", ".mov", ".m4v"):
            vs.codec_tag = "hvc1"  # the tag Apple players expect
        vs.options = encoder_options(codec, width, height, crf=o.crf, preset=o.preset,
                                     deterministic=self._deterministic)
        vs.codec_context.time_base = self.time_base
        vs.time_base = self.time_base
        if self._deterministic and self.encoder in ("libx264", "libx265"):
            vs.codec_context.thread_count = 1
        elif self.encoder in ("libx264", "libx265") and getattr(o, "encoder_threads", None):
            vs.codec_context.thread_count = int(o.encoder_threads)  # type: ignore[attr-defined]
        self.encoder_threads = int(vs.codec_context.thread_count)  # 0 = the encoder's own choice
        self._start(vs)

    def copy_video_from(self, template: Any) -> None:
        """Write already-encoded video packets shaped like the PyAV stream ``template``
        (same codec and parameters) instead of encoding frames; send them with
        :meth:`write_packet`."""
        vs = self._out.add_stream_from_template(template)
        vs.time_base = template.time_base
        self._encoding = False
        self._start(vs)

    def _start(self, vs: Any) -> None:
        """The video stream exists: add the display matrix, the tags and the carried
        streams."""
        if self.rotation_ccw:
            vs.set_display_rotation(self.rotation_ccw)
        self._vs = vs
        for k, v in self._metadata.items():
            self._out.metadata[k] = v
        if self._carry is not None:
            self._carry.attach(self._out, self._mux)

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

    def _carry_until(self, t: float) -> None:
        """Mux the carried streams up to half a second past output time ``t`` (seconds)."""
        if self._carry is not None:
            self._carry.pump(t + 0.5)

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
            vf = _rgb_frame(self._av, np.ascontiguousarray(img), self._vs.pix_fmt)
            # convert here rather than inside encode(): the implicit conversion there was seen
            # to give run-to-run different bitstreams for the same pictures
            vf = vf.reformat(format=self._vs.pix_fmt)
            vf.pts = self._pts_of(frame)
            vf.time_base = self.time_base
            for p in self._vs.encode(vf):
                self._mux(p)
            self.frames += 1
            self._carry_until(float(vf.pts * self.time_base))
        except VideoError:
            raise
        except OSError as exc:
            raise disk_full_error(self.target, exc) or VideoError(
                f"{self.target}: writing failed ({exc.strerror or exc})") from exc
        except Exception as exc:  # encoder refused the frame or its settings
            raise VideoError(f"{self.target}: encoding failed ({exc})") from exc

    def write_packet(self, packet: Any, time_base: Fraction) -> None:
        """Mux one encoded video packet (after :meth:`copy_video_from`); ``time_base`` is
        that of its pts and dts."""
        packet.stream = self._vs
        self._mux(packet)
        if packet.pts is not None:
            self._carry_until(float(packet.pts * time_base))

    def close(self) -> None:
        """Flush the encoder, write what is left of the carried streams, finish the file
        and move it over the target."""
        if self._closed:
            return
        try:
            if self._vs is None:
                raise VideoError(f"{self.target}: no frames to write")
            if self._encoding:
                for p in self._vs.encode(None):
                    self._mux(p)
            if self._carry is not None:
                self._carry.finish()
            self._out.close()
            self._out = None
            self._close_carry()
            self._move_into_place()
            self._closed = True
            unlock(self._lock)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise disk_full_error(self.target, exc) or VideoError(
                    f"{self.target}: finishing the file failed ({exc.strerror or exc})") from exc
            raise

    def _move_into_place(self) -> None:
        if not self._overwrite:
            try:
                rename_no_replace(self._tmp, self.target)
            except FileExistsError:
                raise VideoError(f"{self.target}: already exists (another run wrote it while this one "
                                 "ran; use --overwrite / overwrite=True to replace it); this "
                                 "result was not kept") from None
            return
        now = _identity(self.target)
        os.replace(self._tmp, self.target)
        if now is not None and now != self._target_at_start:
            self._notes.append(f"{self.target} was written by another run while this one ran; "
                               "replaced it (with overwrite the last to finish wins)")

    def _close_carry(self) -> None:
        if self._carry is not None:
            self._carry.close()

    def _cleanup(self) -> None:
        try:
            os.unlink(self._tmp)
        except OSError:
            pass
        unlock(self._lock)
        self._lock = None

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
        self._close_carry()
        self._cleanup()


class ImageSequenceSink(Sink):
    """Write frames as numbered images into a folder or after a pattern.

    Args:
        target: a folder (frames named ``frame_000000.png``...) or a printf pattern such
            as ``out/frame_%05d.png`` (the extension picks the format).
        overwrite: allow replacing existing files of the same names.
        image_format: extension used for a folder target.

    Files go into a hidden temporary folder ``.NAME.partial-XXXX`` and are moved into
    place by :meth:`close`; :meth:`abort` removes the temporary folder. The temporary
    folder is made inside the target folder when that exists (so it is on the same file
    system even when the target folder is a mount point), else beside it (and renamed to
    it at the end). With ``overwrite``, files of an earlier run that match the pattern but
    were not written again (a longer earlier sequence) are removed after success; nothing
    else in the folder is touched. Stale temporary folders of killed runs are removed when
    the sink opens.
    """

    #: an image sequence carries no audio, has no notes and no video encoder
    audio_mode = "absent"
    notes: tuple[str, ...] = ()
    encoder = ""

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
        if not self.pattern.lower().endswith(IMAGE_SUFFIXES):
            raise VideoError(f"{t}: the pattern needs an image extension (.png, .jpg, .tif...)")
        self.overwrite = overwrite
        parent = os.path.dirname(self.folder)
        if not os.path.isdir(parent):
            raise VideoError(f"{t}: the folder {parent} does not exist")
        self._rx = re.compile(re.sub(r"%0?(\d*)d", r"\\d+", re.escape(self.pattern).replace("\\%", "%")) + "$")
        if os.path.isdir(self.folder) and not overwrite:
            if any(self._rx.match(f) for f in os.listdir(self.folder)):
                raise VideoError(f"{t}: files of this sequence already exist (use --overwrite)")
        prefix = f".{os.path.basename(self.folder)}.partial-"
        for place in (parent, self.folder):
            remove_stale_temps(place, prefix)
        # inside an existing target folder: same file system as the frames' final place
        self._inside = os.path.isdir(self.folder)
        try:
            self._tmp = reserve_temp(self.folder if self._inside else parent, prefix, directory=True)
        except OSError as exc:
            raise disk_full_error(t, exc) or VideoError(f"{t}: cannot write ({exc.strerror or exc})") from exc
        self._lock: int | None = None
        try:  # an interrupt (Ctrl-C, SIGTERM) here leaves no temporary
            try:
                self._lock = lock_path(self._tmp, directory=True)
            except OSError:
                self._lock = None
            self.frames = 0
            self._done = False
            self._names: list[str] = []
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            unlock(self._lock)
            raise

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
            raise disk_full_error(self.target, exc) or VideoError(
                f"{self.target}: writing {name} failed ({exc.strerror or exc})") from exc
        self._names.append(name)
        self.frames += 1

    def close(self) -> None:
        if self._done:
            return
        try:
            if not self._inside and not os.path.exists(self.folder):
                os.replace(self._tmp, self.folder)
            else:
                moved: list[str] = []
                try:
                    for n in self._names:
                        dst = os.path.join(self.folder, n)
                        if self.overwrite:
                            os.replace(os.path.join(self._tmp, n), dst)
                        else:  # another run may have written the sequence meanwhile: never replace
                            rename_no_replace(os.path.join(self._tmp, n), dst)
                            moved.append(dst)
                except FileExistsError:
                    for dst in moved:  # names that did not exist before this run: take them back
                        os.unlink(dst)
                    raise
                os.rmdir(self._tmp)
            self._done = True
            unlock(self._lock)
        except FileExistsError as exc:
            self.abort()
            raise VideoError(f"{self.target}: {os.path.basename(exc.filename2 or exc.filename or '')} appeared while "
                             "this export ran (another run?); use --overwrite to replace it") from None
        except OSError as exc:
            self.abort()
            raise disk_full_error(self.target, exc) or VideoError(
                f"{self.target}: finishing failed ({exc.strerror or exc})") from exc
        if self.overwrite:
            self._remove_old_frames()

    def _remove_old_frames(self) -> None:
        """Remove frames of an earlier, longer sequence (files matching the pattern that
        this run did not write)."""
        mine = set(self._names)
        try:
            names = os.listdir(self.folder)
        except OSError:
            return
        for n in names:
            p = os.path.join(self.folder, n)
            if n not in mine and self._rx.match(n) and os.path.isfile(p) and not os.path.islink(p):
                try:
                    os.unlink(p)
                except OSError:
                    pass

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        shutil.rmtree(self._tmp, ignore_errors=True)
        unlock(self._lock)
