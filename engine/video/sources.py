"""Frame sources: video files (PyAV), cameras (OpenCV), image folders / numbered
sequences, and the generated demo clip, behind one factory :func:`open_source`.

Every source yields :class:`engine.frame.Frame` records whose image honours the frame
contract (uint8 (H, W, 3) RGB, C-contiguous), upright (rotation metadata applied), with
``pts`` in seconds.
"""

from __future__ import annotations

import glob
import os
import re
import sys
import threading
import time
from fractions import Fraction
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from engine.files.images import ImageError, is_image_path, read_image
from engine.files.paths import natural_key
from engine.frame import Frame, to_rgb8
from engine.jobs.memory import image_size
from engine.video.base import Source, SourceInfo, VideoError

__all__ = [
    "VideoFileSource",
    "CameraSource",
    "ImageSequenceSource",
    "open_source",
    "list_cameras",
    "is_video_path",
    "rotate_upright",
    "VIDEO_EXTENSIONS",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mts", ".ts", ".mpg",
                    ".mpeg", ".wmv", ".flv", ".3gp", ".ogv")


def is_video_path(path: str | os.PathLike) -> bool:
    """True when ``path`` has a video container file extension."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


def rotate_upright(image: np.ndarray, rotation_ccw: int) -> np.ndarray:
    """Apply a display rotation to a coded picture.

    Args:
        image: uint8 (H, W, 3) as decoded.
        rotation_ccw: counter-clockwise degrees the display matrix asks for (PyAV's
            ``VideoFrame.rotation``; multiples of 90, any sign).

    Returns:
        The upright picture, C-contiguous (the input itself when no rotation is needed).
    """
    k = (int(round(rotation_ccw / 90.0))) % 4
    if k == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, k))


def _av():
    import av  # imported lazily: PyAV pulls in FFmpeg's libraries

    return av


def _av_message(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return str(msg).strip()



def _check_memory(name: str, width: int, height: int) -> None:
    """Refuse video frames whose enhancement would need more memory than the job may
    use (:func:`engine.jobs.memory.check_frame_memory`), as a :class:`VideoError`."""
    from engine.jobs.memory import MemoryLimitError, check_frame_memory

    try:
        check_frame_memory(name, width, height, video=True)
    except MemoryLimitError as exc:
        raise VideoError(str(exc)) from None

class VideoFileSource(Source):
    """Decode a video file with PyAV (FFmpeg): mp4/mkv/mov/avi/webm, any codec FFmpeg
    decodes (H.264, HEVC, VP9, AV1...).

    Args:
        path: the file.
        start, end: optional trim in seconds (frames with ``start <= pts < end``).
        source_id: id carried by the frames (default: the path).
        threads: let FFmpeg decode with frame/slice threads.

    Frames are upright RGB (display-matrix / ``rotate`` metadata applied), ``pts`` in
    seconds from the container (variable frame rate kept), ``extra`` carries the raw
    ``pts`` and ``time_base``. A corrupt packet in the middle is skipped and counted in
    :attr:`decode_errors`; a truncated file ends early; :attr:`problems` lists what
    happened, one line each.

    Raises:
        VideoError: unreadable path, not a media file, no video stream, a codec FFmpeg
            cannot decode, or no decodable frame at all.
    """

    def __init__(self, path: str | os.PathLike, *, start: float | None = None,
                 end: float | None = None, source_id: str | None = None,
                 threads: bool = True) -> None:
        av = _av()
        self.path = str(path)
        self._id = source_id or self.path
        if start is not None and end is not None and end <= start:
            raise VideoError(f"{self.path}: --end ({end}) must be after --start ({start})")
        self.start = start
        self.end = end
        self.decode_errors = 0
        self.problems: list[str] = []
        self._lock = threading.Lock()
        self._closed = False
        if not os.path.exists(self.path):
            raise VideoError(f"{self.path}: no such file")
        if os.path.isdir(self.path):
            raise VideoError(f"{self.path}: is a folder, not a video file")
        if not os.access(self.path, os.R_OK):
            raise VideoError(f"{self.path}: permission denied")
        try:
            self._container = av.open(self.path, "r")
        except Exception as exc:  # av.error.* / OSError
            if _looks_like_indexless_mp4(self.path):
                raise VideoError(f"{self.path}: truncated or unfinished MP4/MOV (its index, the "
                                 "'moov' box, is missing); nothing can be decoded") from exc
            raise VideoError(f"{self.path}: not a readable video file ({_av_message(exc)})") from exc
        try:
            if not self._container.streams.video:
                kinds = sorted({s.type for s in self._container.streams}) or ["no streams"]
                raise VideoError(f"{self.path}: no video stream (contains {', '.join(kinds)})")
            self._stream = self._container.streams.video[0]
            cc = self._stream.codec_context
            if cc is None or not getattr(cc, "name", None):
                raise VideoError(f"{self.path}: unsupported video codec (FFmpeg has no decoder for it)")
            if cc.width and cc.height:  # the stream's declared size: refuse before decoding
                _check_memory(self.path, cc.width, cc.height)
            if threads:
                self._stream.thread_type = "AUTO"
            self.time_base: Fraction = self._stream.time_base or Fraction(1, 90000)
            self._packets = self._container.demux(self._stream)
            self._pending: list[Any] = []
            self._eof = False
            self._index = 0
            self._legacy_rotate = _legacy_rotation(self._stream)
            self._t0 = 0.0
            self._pts_offset = _stream_start(self._stream)
            first = (self._seek_to(start, start) if start is not None and start > 0
                     else self._next_av_frame(skip_before=start))
            if first is None:
                if self.problems:
                    raise VideoError(f"{self.path}: no decodable video frame ({self.problems[0]})")
                raise VideoError(f"{self.path}: contains no video frames"
                                 + (f" after {start:g} s" if start else ""))
            self._peeked = first
            rot_ccw = self._rotation_of(first)
            self.rotation_ccw = rot_ccw
            w, h = first.width, first.height
            if not (cc.width and cc.height):
                _check_memory(self.path, w, h)
            if rot_ccw % 180 != 0:
                w, h = h, w
            fps = self._stream_rate()
            self._last_t: float | None = None
            self._checked_end = False
            self._truncated = False
            duration = self._file_duration = self._header_duration()
            count = int(self._stream.frames or 0) or (round(duration * fps) if duration else None)
            if (start or end) and duration is not None:
                lo = max(0.0, start or 0.0)
                hi = min(duration, end) if end is not None else duration
                count = max(0, round((hi - lo) * fps))
                duration = max(0.0, hi - lo)
            self._info = SourceInfo(
                source_id=self._id, width=w, height=h, fps=fps, frame_count=count,
                duration=duration, is_live=False, seekable=True,
                has_audio=bool(self._container.streams.audio), codec=cc.name,
                rotation=(-rot_ccw) % 360,
            )
        except VideoError:
            self._container.close()
            raise
        except Exception as exc:
            self._container.close()
            raise VideoError(f"{self.path}: cannot decode video ({_av_message(exc)})") from exc

    # -- helpers -----------------------------------------------------------------------
    def _rotation_of(self, frame: Any) -> int:
        rot = int(getattr(frame, "rotation", 0) or 0)
        if rot == 0 and self._legacy_rotate:
            rot = -self._legacy_rotate  # legacy tag is clockwise
        return rot

    def _seek_raw(self, seconds: float) -> None:
        target = int(max(0.0, seconds) / self.time_base) + self._pts_offset
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except Exception as exc:
            raise VideoError(f"{self.path}: cannot seek to {seconds:g} s ({_av_message(exc)})") from exc
        self._restart_demux()

    def _restart_demux(self) -> None:
        """After a seek: packets from the new position, nothing decoded pending."""
        self._packets = self._container.demux(self._stream)
        self._pending = []
        self._eof = False

    def _stream_rate(self) -> float:
        """The stream's frame rate (average, else guessed, else 25), frames per second."""
        return float(self._stream.average_rate or self._stream.guessed_rate or 0) or 25.0

    def _header_duration(self) -> float | None:
        """The duration the header announces (the stream's, else the container's), s."""
        if self._stream.duration:
            return float(self._stream.duration * self.time_base)
        if self._container.duration:
            return self._container.duration / 1_000_000.0
        return None

    def _seek_to(self, seconds: float, skip_before: float) -> Any:
        """Seek to ``seconds`` and return the first decoded frame at or after ``skip_before``
        (None at the end).

        A demuxer may land *after* the target: MPEG-TS has no index, and FFmpeg's timestamp
        search in a stream with few keyframes overshot by seconds, even for a seek to 0 s (a
        trimmed .ts export then found no frames at all). Then earlier targets are tried
        (2, 8, 30, 120 s before), and at last the stream is read again from its first byte,
        decoding forward to the target: the cost is the decoding of what lies between."""
        slack = 1.5 / self._stream_rate()
        for back in (0.0, 2.0, 8.0, 30.0, 120.0):
            at = seconds - back
            if at <= 0.0:
                break
            self._seek_raw(at)
            first = self._next_av_frame()
            if first is None:
                end = self._header_duration()
                if back == 0.0 and end is not None and seconds >= end:
                    return None  # past the end the header announces
                continue
            t = self._seconds(first)
            if t is None or t <= seconds + slack:  # not after the target: decode on from here
                self._pending.insert(0, first)
                return self._next_av_frame(skip_before=skip_before)
        self._rewind()
        return self._next_av_frame(skip_before=skip_before)

    def _rewind(self) -> None:
        """Back to the first packet: a seek to byte 0 (the timestamp search overshot even a
        seek to 0 s in MPEG-TS), else to 0 s."""
        try:
            self._container.seek(0, unsupported_byte_offset=True)
        except Exception:
            self._seek_raw(0.0)
            return
        self._restart_demux()

    def _decode_more(self) -> bool:
        """Decode the next packet into ``_pending``; False at the end of the stream."""
        if self._eof:
            return False
        av = _av()
        try:
            packet = next(self._packets)
        except StopIteration:
            self._eof = True
            return False
        except (av.error.FFmpegError, OSError) as exc:  # truncated / unreadable container
            self.problems.append(f"stopped reading at frame {self._index}: {_av_message(exc)}")
            self._eof = True
            return self._flush_decoder()
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError) as exc:
            self.decode_errors += 1
            if self.decode_errors <= 5:
                self.problems.append(f"corrupt packet skipped near frame {self._index}: {_av_message(exc)}")
            return True
        self._pending.extend(frames)
        return True

    def _flush_decoder(self) -> bool:
        try:
            self._pending.extend(self._stream.codec_context.decode(None))
        except Exception:
            pass
        return bool(self._pending)

    def _next_av_frame(self, skip_before: float | None = None) -> Any:
        while True:
            while not self._pending:
                if not self._decode_more():
                    return None
            f = self._pending.pop(0)
            t = self._seconds(f)
            if skip_before is not None and t is not None and t < skip_before - 1e-6:
                continue
            return f

    def _seconds(self, f: Any) -> float | None:
        if f.pts is None:
            return None
        return float((f.pts - self._pts_offset) * (f.time_base or self.time_base))

    # -- Source API ----------------------------------------------------------------------
    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def stream(self) -> Any:
        """The PyAV video stream (read-only use: time base, metadata)."""
        return self._stream

    @property
    def container(self) -> Any:
        return self._container

    def read(self) -> Frame | None:
        with self._lock:
            if self._closed:
                return None
            if self._peeked is not None:
                f, self._peeked = self._peeked, None
            else:
                try:
                    f = self._next_av_frame()
                except VideoError:
                    raise
                except Exception as exc:
                    raise VideoError(f"{self.path}: decoding failed at frame {self._index} "
                                     f"({_av_message(exc)})") from exc
            if f is None:
                self._check_complete()
                return None
            t = self._seconds(f)
            if t is None:
                t = self._index / self._info.fps + (self.start or 0.0)
            self._last_t = t
            if self.end is not None and t >= self.end - 1e-9:
                self._eof = True
                self._pending = []
                return None
            image = f.to_ndarray(format="rgb24")
            image = rotate_upright(image, self._rotation_of(f))
            dur = float(f.duration * f.time_base) if f.duration and f.time_base else None
            frame = Frame(np.ascontiguousarray(image), self._index, t, self._id, dur,
                          {"pts": f.pts, "time_base": f.time_base or self.time_base})
            self._index += 1
            return frame

    @property
    def truncated(self) -> bool:
        """True once the end was reached well before the duration the header announces."""
        return self._truncated

    def _check_complete(self) -> None:
        """At the natural end: report a file that ends before its header says it should."""
        if self._checked_end:
            return
        self._checked_end = True
        dur = self._file_duration
        if dur is None or self._last_t is None:
            return
        frame_s = 1.0 / max(self._info.fps, 1e-3)
        expected_end = min(dur, self.end) if self.end is not None else dur
        if self._last_t + 2.5 * frame_s < expected_end:
            self._truncated = True
            self.problems.append(
                f"the file is truncated: decoding stopped at {self._last_t:.2f} s of "
                f"{expected_end:.2f} s ({self._index} frames decoded)")

    def seek(self, seconds: float) -> None:
        """Position so the next ``read`` returns the frame shown at ``seconds`` (relative to
        the file, not to any trim start). Frame indices continue from the nearest count."""
        with self._lock:
            if self._closed:
                raise VideoError(f"{self.path}: closed")
            s = max(float(seconds), self.start or 0.0)
            # half a frame of tolerance so asking for a frame's own time returns it
            f = self._seek_to(s, s - 0.5 / max(self._info.fps, 1e-3))
            self._peeked = f
            self._index = int(round((s - (self.start or 0.0)) * self._info.fps))
            self._checked_end = False

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._container.close()
                except Exception:
                    pass


def _looks_like_indexless_mp4(path: str) -> bool:
    """An ISO-BMFF file (starts with an ``ftyp`` box) that has no ``moov`` box: a
    recording cut off before its index was written."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[4:8] != b"ftyp":
                return False
            pos, end = 0, os.fstat(fh.fileno()).st_size
            while pos + 8 <= end:  # walk the top-level boxes
                fh.seek(pos)
                hdr = fh.read(16)
                size, kind = int.from_bytes(hdr[:4], "big"), hdr[4:8]
                if kind == b"moov":
                    return False
                if size == 1 and len(hdr) == 16:
                    size = int.from_bytes(hdr[8:16], "big")
                if size < 8:
                    break
                pos += size
            return True
    except OSError:
        return False


def _legacy_rotation(stream: Any) -> int:
    """The legacy clockwise ``rotate`` stream tag in degrees (0 when absent)."""
    try:
        return int(float(stream.metadata.get("rotate", 0))) % 360
    except (TypeError, ValueError):
        return 0


def _stream_start(stream: Any) -> int:
    """The video stream's start time in its time base (container start offset)."""
    st = stream.start_time
    return int(st) if st is not None and st > 0 else 0


# ---------------------------------------------------------------------------- cameras
class CameraSource(Source):
    """A camera through OpenCV (``cv2.VideoCapture``): a live source, latest frame wins
    in the pipeline, no seeking.

    Args:
        device: camera index or device path (``/dev/video0``).
        width, height, fps: requested capture mode (the camera may choose another; the
            actual mode is in :attr:`info`).
        capture_factory: ``factory(device) -> capture`` with OpenCV's VideoCapture API
            (``isOpened``, ``read``, ``get``, ``set``, ``release``); tests pass a fake.
        max_failures: consecutive failed reads before the camera is declared gone.

    ``pts`` is seconds since the source opened (monotonic clock).

    Raises:
        VideoError: no such camera, or (from ``read``) the camera stopped delivering
            frames (unplugged).
    """

    def __init__(self, device: int | str = 0, *, width: int | None = None,
                 height: int | None = None, fps: float | None = None,
                 capture_factory: Callable[[int | str], Any] | None = None,
                 max_failures: int = 10) -> None:
        self.device = device
        self._id = f"camera:{device}" if isinstance(device, int) else str(device)
        factory = capture_factory or _open_cv_capture
        self._lock = threading.Lock()
        self._closed = False
        self._failures = 0
        self.max_failures = max_failures
        try:
            cap = factory(device)
        except Exception as exc:
            raise VideoError(f"{self._id}: cannot open camera ({exc})") from exc
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise VideoError(f"{self._id}: no camera found (is one connected and not in use?)")
        self._cap = cap
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise VideoError(f"{self._id}: camera opened but delivers no frames")
        self._peeked = to_rgb8(first, bgr=True)
        h, w = self._peeked.shape[:2]
        real_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or float(fps or 30.0)
        self._info = SourceInfo(self._id, w, h, real_fps, None, None, is_live=True,
                                seekable=False, has_audio=False, codec="camera")
        self._t0 = time.monotonic()
        self._index = 0

    @property
    def info(self) -> SourceInfo:
        return self._info

    def read(self) -> Frame | None:
        with self._lock:
            if self._closed:
                return None
            if self._peeked is not None:
                img, self._peeked = self._peeked, None
            else:
                img = None
                while img is None:
                    try:
                        ok, raw = self._cap.read()
                    except Exception as exc:
                        raise VideoError(f"{self._id}: camera failed ({exc})") from exc
                    if ok and raw is not None:
                        img = to_rgb8(raw, bgr=True)
                        self._failures = 0
                    else:
                        self._failures += 1
                        if self._failures >= self.max_failures:
                            raise VideoError(f"{self._id}: camera stopped delivering frames "
                                             "(disconnected?)")
                        time.sleep(0.01)
            frame = Frame(img, self._index, time.monotonic() - self._t0, self._id)
            self._index += 1
            return frame

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._cap.release()
                except Exception:
                    pass


def _open_cv_capture(device: int | str) -> Any:
    if isinstance(device, str) and not os.path.exists(device):
        return None
    return cv2.VideoCapture(device)


def list_cameras(max_index: int = 8) -> list[dict]:
    """Cameras that open, as ``[{"spec": "camera:N" or path, "name": ..., "width", "height"}]``.

    On Linux the ``/dev/video*`` nodes are probed (only those that exist), elsewhere
    indices ``0..max_index-1``. Opening a camera can take a moment; call off the GUI thread.
    """
    found = []
    if sys.platform.startswith("linux"):
        candidates: list[int | str] = sorted(
            glob.glob("/dev/video*"), key=lambda p: int(re.sub(r"\D", "", p) or 0))
    else:
        candidates = list(range(max_index))
    for dev in candidates:
        cap = _open_cv_capture(dev)
        try:
            if cap is None or not cap.isOpened():
                continue
            ok, _ = cap.read()
            if not ok:
                continue  # metadata node of a camera, not a capture node
            name = dev if isinstance(dev, str) else f"camera {dev}"
            idx = int(re.sub(r"\D", "", str(dev)) or 0)
            found.append({"spec": f"camera:{idx}", "name": name,
                          "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                          "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))})
        finally:
            if cap is not None:
                cap.release()
    return found


# ---------------------------------------------------------------------- image sequences
def _name_order(path: str) -> list[int | str]:
    return natural_key(os.path.basename(path))


def _sequence_files(spec: str) -> list[str]:
    """Files of a folder, a printf pattern (``frame_%04d.png``) or a glob (``*.png``)."""
    if os.path.isdir(spec):
        files = [os.path.join(spec, f) for f in os.listdir(spec) if is_image_path(f)]
        return sorted(files, key=_name_order)
    m = re.search(r"%0?(\d*)d", spec)
    if m:
        width = m.group(1)
        rx = re.escape(spec[:m.start()]) + (r"(\d{%s,})" % width if width else r"(\d+)") \
            + re.escape(spec[m.end():]) + "$"
        folder = os.path.dirname(spec) or "."
        if not os.path.isdir(folder):
            return []
        hits = []
        for f in os.listdir(folder):
            full = os.path.join(folder, f) if os.path.dirname(spec) else f
            mm = re.match(rx, full)
            if mm:
                hits.append((int(mm.group(1)), full))
        return [p for _, p in sorted(hits)]
    if any(ch in spec for ch in "*?["):
        return sorted((p for p in glob.glob(spec) if is_image_path(p)), key=_name_order)
    return []


class ImageSequenceSource(Source):
    """Still images as frames: a folder (natural sort), a numbered pattern
    (``frame_%04d.png``), a glob, or an explicit list of paths.

    Args:
        spec: folder / pattern / glob, or a sequence of paths.
        fps: frame rate used for ``pts`` (``index / fps``).

    Files are read with :func:`engine.files.images.read_image` (grey, 16-bit and alpha
    inputs accepted, EXIF orientation applied). Frames may differ in size. A file that
    cannot be read, or a truncated JPEG, raises :class:`VideoError` naming it.
    """

    def __init__(self, spec: str | os.PathLike | Sequence[str | os.PathLike], *, fps: float = 25.0,
                 source_id: str | None = None) -> None:
        if isinstance(spec, (str, os.PathLike)):
            self._files = _sequence_files(str(spec))
            sid = str(spec)
        else:
            self._files = [str(p) for p in spec]
            sid = self._files[0] if self._files else "images"
        self._id = source_id or sid
        if not self._files:
            raise VideoError(f"{sid}: no image files found")
        self._fps = float(fps)
        self._pos = 0
        self._closed = False
        size = image_size(self._files[0])  # from the header: refuse before decoding
        if size is not None:
            _check_memory(self._files[0], *size)
        first = self._load(self._files[0])
        self._first = first
        h, w = first.shape[:2]
        if size is None:
            _check_memory(self._files[0], w, h)
        self._info = SourceInfo(self._id, w, h, self._fps, len(self._files),
                                len(self._files) / self._fps, is_live=False, seekable=True,
                                codec="images")

    @property
    def files(self) -> list[str]:
        return list(self._files)

    @staticmethod
    def _load(path: str) -> np.ndarray:
        try:
            return read_image(path)
        except ImageError as exc:
            raise VideoError(str(exc)) from None

    @property
    def info(self) -> SourceInfo:
        return self._info

    def read(self) -> Frame | None:
        if self._closed or self._pos >= len(self._files):
            return None
        i = self._pos
        img = self._first if (i == 0 and self._first is not None) else self._load(self._files[i])
        if i == 0:
            self._first = None
        self._pos += 1
        return Frame(img, i, i / self._fps, self._id, 1.0 / self._fps, {"path": self._files[i]})

    def seek(self, seconds: float) -> None:
        self._pos = min(len(self._files), max(0, int(round(seconds * self._fps))))

    def close(self) -> None:
        self._closed = True
        self._first = None


# ------------------------------------------------------------------------------ factory
_CAMERA_RX = re.compile(r"^(?:camera:)?(\d+)$")


def open_source(spec: str | int | os.PathLike, *, width: int | None = None,
                height: int | None = None, fps: float | None = None,
                start: float | None = None, end: float | None = None) -> Source:
    """Open any supported source.

    Args:
        spec: a video file path; a folder of images; a numbered pattern
            (``frame_%04d.png``) or glob; a camera as an int, ``"camera:N"`` or
            ``"/dev/videoN"``; a network stream address (``rtsp://``, ``http(s)://``,
            ``udp://``, ``tcp://``: :class:`engine.video.network.NetworkSource`); or
            ``"demo"`` (the generated demo clip).
        width, height, fps: requested camera mode (cameras only); ``fps`` also sets the
            frame rate of image sequences.
        start, end: trim in seconds (video files and the demo clip).

    Raises:
        VideoError: with a one-line message naming the file or device.
    """
    if isinstance(spec, int):
        return CameraSource(spec, width=width, height=height, fps=fps)
    s = os.fspath(spec)
    from engine.video.network import NetworkSource, is_stream_url

    if is_stream_url(s):
        return NetworkSource(s)
    if s == "demo":
        from engine.video.demo import demo_clip_path

        return VideoFileSource(demo_clip_path(), start=start, end=end, source_id="demo")
    m = _CAMERA_RX.match(s)
    if m and not os.path.exists(s):
        return CameraSource(int(m.group(1)), width=width, height=height, fps=fps)
    if s.startswith("/dev/video"):
        return CameraSource(s, width=width, height=height, fps=fps)
    if os.path.isfile(s):
        if is_image_path(s):
            return ImageSequenceSource([s], fps=fps or 25.0)
        return VideoFileSource(s, start=start, end=end)
    if os.path.isdir(s) or "%" in s or any(ch in s for ch in "*?["):
        return ImageSequenceSource(s, fps=fps or 25.0)
    return VideoFileSource(s, start=start, end=end)
