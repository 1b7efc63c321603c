"""Resumable (segmented, journaled) video export: the parts that
:func:`engine.video.export.export_video` runs when given ``segment_seconds``.

:class:`SegmentedExport` encodes the output in segments of about ``segment_seconds`` of
source time, each its own closed-GOP file in a hidden work folder beside the target
(``.NAME.lowlight-work/``), with a small JSON journal rewritten atomically after every
finished segment. Re-running the same export after a crash, a kill or a cancel skips
the finished segments (the source is seeked, not decoded from the start) and goes on;
at the end the segment packets are remuxed into the target (no re-encode) with the
audio muxed once over the whole range, and the work folder is removed.

Frame-exactness across a resume: the processor's temporal state is the only thing a
resumed run could not recreate, so at *every* segment start (in an uninterrupted run as
well) the processor is reset and fed the ``preroll`` source frames before the segment
(their outputs are discarded). A resumed run therefore sees exactly the same processor
inputs as an uninterrupted one, and the result is identical in decoded frames, pts and
audio packets. The cost is ``preroll`` extra enhanced frames per segment.

The journal records the input (path, size, mtime), the processing settings (method,
parameters, weights sha256, engine version) and the output options; a journal that does
not match the current run is discarded (the export starts over).

The work folder is never reached through a symbolic link (a link or a file at its name is
refused), and a run holds an exclusive ``flock`` on it from start to end: a second run
of the same export fails at once with one line instead of writing the same segment
files. A full disk keeps the journal and the finished segments on purpose (the error
says how to resume or discard them).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from engine.files.atomic import lock_path, unlock
from engine.frame import Frame
from engine.video.base import Sink, VideoError
from engine.video.carrier import StreamCarrier
from engine.video.codecs import decoded_pix_fmt
from engine.video.sinks import VideoFileSink, disk_full_error
from engine.video.sources import VideoFileSource

__all__ = ["SegmentedExport", "JoinedOutput", "work_folder", "read_journal", "processing_settings",
           "settings_tags", "engine_version", "JOURNAL_NAME", "DEFAULT_PREROLL"]

JOURNAL_NAME = "journal.json"
JOURNAL_VERSION = 3  # 2: .mov segments, deterministic encodes; 3: x264 segments without mbtree
#: source frames re-processed (outputs dropped) before each segment to rebuild temporal state
DEFAULT_PREROLL = 8


def work_folder(target: str | os.PathLike) -> Path:
    """The hidden work folder of a segmented export to ``target``."""
    t = Path(os.path.abspath(os.fspath(target)))
    return t.parent / f".{t.name}.lowlight-work"


def read_journal(target: str | os.PathLike) -> dict[str, Any] | None:
    """The journal of an unfinished segmented export to ``target``, or None (also when
    the work folder's name is a symbolic link, which is never followed)."""
    if work_folder(target).is_symlink():
        return None
    p = work_folder(target) / JOURNAL_NAME
    try:
        with p.open(encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_journal(folder: Path, journal: dict[str, Any]) -> None:
    tmp = folder / (JOURNAL_NAME + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(journal, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / JOURNAL_NAME)


def engine_version() -> str:
    """The installed Lowlight Studio version (pyproject's), or "dev"."""
    try:
        from importlib.metadata import version

        return version("lowlight-studio")
    except Exception:
        try:
            import tomllib

            root = Path(__file__).resolve().parents[2] / "pyproject.toml"
            return str(tomllib.loads(root.read_text())["project"]["version"])
        except Exception:
            return "dev"


def processing_settings(processor: Any, weights: str | None = None) -> dict[str, Any]:
    """What reproduces a result: method name, parameters, weights file and sha256, engine
    version. ``processor`` is a :class:`engine.stages.processor.FrameProcessor` (or any object
    with ``enhancer``/``params``); None means frames copied unchanged."""
    out: dict[str, Any] = {"engine_version": engine_version(), "method": None}
    if processor is None:
        return out
    enh = getattr(processor, "enhancer", None)
    desc = getattr(enh, "descriptor", None)
    out["method"] = getattr(desc, "name", None) or type(processor).__name__
    params = getattr(processor, "params", None)
    if params is not None and hasattr(params, "as_dict"):
        out["params"] = params.as_dict()
    from engine.stages.processor import FrameProcessor

    if not isinstance(processor, FrameProcessor):
        out["path"] = type(processor).__name__  # e.g. the CLI's reference path
    wfile = weights or getattr(desc, "weights", None)
    if wfile:
        from engine.runtime import weights as W

        out["weights"] = os.path.basename(wfile)
        sha = None
        try:
            if weights and os.path.isfile(weights):
                sha = W.sha256_file(weights)
            else:
                e = W.manifest_entry(os.path.basename(wfile))
                sha = e.get("sha256") if e else None
        except Exception:
            sha = None
        out["weights_sha256"] = sha
    return out


def settings_tags(settings: dict[str, Any]) -> dict[str, str]:
    """The container tags that record :func:`processing_settings` in an output file (a
    ``comment`` of ``lowlight`` and compact JSON)."""
    return {"comment": "lowlight " + json.dumps(settings, sort_keys=True, separators=(",", ":"))}


def _input_identity(path: str) -> dict[str, Any]:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class _ConcatSink:
    """Remux segment packets into the target through a :class:`VideoFileSink` (its temp
    file, carried audio and other streams, atomic rename), keeping dts increasing across
    the segments."""

    def __init__(self, target: str, options: Any, *, template: Any, rotation_ccw: int,
                 carry: StreamCarrier, metadata: dict[str, str]) -> None:
        self.sink = VideoFileSink(target, options, rotation_ccw=rotation_ccw,
                                  time_base=template.time_base, carry=carry, metadata=metadata)
        try:
            self.sink.copy_video_from(template)
        except BaseException:
            self.sink.abort()
            raise
        self._last_dts: int | None = None

    def write_packet(self, pkt: Any, tb: Any) -> None:
        if pkt.dts is not None and self._last_dts is not None and pkt.dts <= self._last_dts:
            # segments start their decode clocks afresh; keep dts increasing (pts untouched)
            pkt.dts = self._last_dts + 1
            if pkt.pts is not None and pkt.dts > pkt.pts:
                raise VideoError(f"{self.sink.target}: cannot join the segments (timestamps overlap)")
        if pkt.dts is not None:
            self._last_dts = pkt.dts
        self.sink.write_packet(pkt, tb)

    def close(self) -> None:
        self.sink.close()

    def abort(self) -> None:
        self.sink.abort()


class _SegmentingSink(Sink):
    """Pipeline sink that writes frames into per-segment files and keeps the journal.

    A segment is closed (its encoder flushed, the file renamed into place, the journal
    updated) when the first frame of the next one arrives, or at the end of the stream.
    """

    def __init__(self, folder: Path, journal: dict[str, Any], options: Any, sink_kw: dict[str, Any],
                 first_index: int, on_segment: Callable[[dict[str, Any]], None] | None) -> None:
        self.folder = folder
        self.journal = journal
        self.options = options
        self.sink_kw = sink_kw
        self.index = first_index  # output frame index of the next frame
        self.cur: Any = None
        self.cur_meta: dict[str, Any] | None = None
        self.frames = 0
        self.on_segment = on_segment
        self.per_seg = int(journal["frames_per_segment"])
        self.preroll = int(journal["key"]["preroll"])
        self.pts_history: deque[float | None] = deque(maxlen=max(self.preroll, 1))
        self.audio_mode = "absent"

    def _open(self, frame: Frame) -> None:
        k = self.index // self.per_seg
        name = f"seg_{k:05d}{self.journal['segment_ext']}"
        opts = replace(self.options, audio="none", overwrite=True, start=None, end=None)
        self.cur = VideoFileSink(str(self.folder / name), opts, **self.sink_kw)
        self.cur_meta = {"segment": k, "file": name, "first_frame": self.index,
                         "first_t": frame.pts, "status": "running"}

    def _finish(self, next_t: float | None, preroll_t: float | None) -> None:
        assert self.cur is not None and self.cur_meta is not None
        self.cur.close()
        meta = self.cur_meta
        meta["frames"] = self.index - meta["first_frame"]
        meta["next_t"] = next_t
        meta["preroll_t"] = preroll_t
        meta["status"] = "done"
        meta["encoder"] = self.cur.encoder
        if self.cur.notes:
            meta["notes"] = list(self.cur.notes)
        self.journal["segments"].append(meta)
        _write_journal(self.folder, self.journal)
        self.cur = self.cur_meta = None
        if self.on_segment is not None:
            self.on_segment(meta)

    def write(self, frame: Frame) -> None:
        if self.cur is not None and self.index % self.per_seg == 0:
            hist = list(self.pts_history) if self.preroll else []
            self._finish(frame.pts, hist[0] if hist else frame.pts)
        if self.cur is None:
            self._open(frame)
        self.cur.write(frame)
        self.pts_history.append(frame.pts)
        self.index += 1
        self.frames += 1

    def close(self) -> None:
        if self.cur is not None:
            self._finish(None, None)
        self.journal["ended"] = True
        self.journal["total_frames"] = self.index
        _write_journal(self.folder, self.journal)

    def abort(self) -> None:
        if self.cur is not None:
            self.cur.abort()  # the unfinished segment only; finished ones stay for a resume
            self.cur = self.cur_meta = None


class _PrerollProcessor:
    """Wraps the real processor: at each segment start (output index a multiple of
    ``per_seg``) it resets the temporal state and replays the last ``preroll`` source
    images (outputs dropped), so every segment starts from the same state whether the run
    was resumed or not.

    It has both halves (:class:`engine.stages.processor.FrameStages`), so the export runs
    on the pipeline's two enhance threads. For a processor with halves, ``begin`` resets
    and begins the replayed images and the frame, ``finish`` finishes them in that order:
    the reset reaches the second half with the first frame begun after it (see
    ``FrameProcessor.reset``), so the frame still in ``finish`` ends the previous segment as
    one thread would. A processor with only ``process`` runs whole in ``finish``."""

    def __init__(self, processor: Any, per_seg: int, preroll: int, first_index: int,
                 history: list[Any]) -> None:
        from engine.stages.processor import FrameStages

        self.processor = processor
        self.enhancer = getattr(processor, "enhancer", None)
        self.params = getattr(processor, "params", None)
        self.per_seg = per_seg
        self.preroll = preroll
        self.history: deque[Any] = deque(history[-preroll:] if preroll else [], maxlen=max(preroll, 1))
        self.index = first_index
        self._halves = isinstance(processor, FrameStages)

    def begin(self, image: Any) -> tuple[bool, list[Any], Any]:
        """(segment start, the replayed images' staged values, the frame's), or with a
        ``process``-only processor (segment start, the replayed images, the image)."""
        start = self.index % self.per_seg == 0
        replay = list(self.history) if start and self.preroll else []
        if self.preroll:
            self.history.append(image)
        self.index += 1
        if not self._halves:
            return start, replay, image
        if start:
            self._reset()
        return start, [self.processor.begin(h) for h in replay], self.processor.begin(image)

    def finish(self, staged: tuple[bool, list[Any], Any]) -> Any:
        start, replay, main = staged
        if not self._halves:
            if start:
                self._reset()
            for h in replay:
                self.processor.process(h)
            return self.processor.process(main)
        for s in replay:
            self.processor.finish(s)
        return self.processor.finish(main)

    def process(self, image: Any) -> Any:
        return self.finish(self.begin(image))

    def _reset(self) -> None:
        reset = getattr(self.processor, "reset", None)
        if reset is not None:
            reset()

    def flush(self) -> None:
        flush = getattr(self.processor, "flush", None)
        if flush is not None:
            flush()


def _settings_key(options: Any, settings: dict[str, Any], segment_seconds: float, preroll: int) -> dict:
    return {"processing": settings,
            "options": {k: getattr(options, k) for k in ("codec", "crf", "preset", "start", "end",
                                                          "audio", "audio_bitrate", "pix_fmt")},
            "segment_seconds": float(segment_seconds), "preroll": int(preroll)}


@dataclass(frozen=True)
class JoinedOutput:
    """The target a :meth:`SegmentedExport.join` wrote.

    Attributes:
        frames: frames of the whole output (resumed ones included).
        audio: ``"copied"``, ``"aac"``, ``"none"`` or ``"absent"`` (as ``ExportResult.audio``).
        notes: what the output could not keep or did differently, one line each.
        encoder: the FFmpeg video encoder of the segments.
    """

    frames: int
    audio: str
    notes: tuple[str, ...]
    encoder: str


def _segment_ext(options: Any) -> str:
    """The segments' container: .mov (fine timestamps), .mkv for FFV1, which .mov cannot hold."""
    return ".mkv" if getattr(options, "codec", None) == "ffv1" else ".mov"


class SegmentedExport:
    """One resumable export of the video file ``src_path`` into the video file ``target``
    (see the module docstring): its work folder and journal, the pipeline parts that encode
    the segments still missing (:meth:`open_run`) and the final :meth:`join`.
    :func:`engine.video.export.export_video` drives it when given ``segment_seconds``.

    Args:
        src_path, target: input and output video files.
        processor: the frame processor (``process(image) -> image``, optionally with
            halves and ``reset``); None copies the frames unchanged.
        options: an ``ExportOptions`` (codec, quality, audio, trim).
        segment_seconds: segment length in source seconds (> 0).
        preroll: source frames replayed (outputs dropped) before each segment.
        settings: what reproduces the result (default :func:`processing_settings`): part
            of the journal's key and of the output's ``comment`` tag.
        on_segment: called with each finished segment's journal entry (from the sink
            thread).

    Creating it reads the journal of an earlier run (discarded when it does not match
    this run) or starts one. Raises :class:`VideoError` for a bad segment length, a target
    without an extension, an unreadable input or a work folder that cannot be made.
    """

    def __init__(self, src_path: str, target: str, *, processor: Any, options: Any,
                 segment_seconds: float, preroll: int = DEFAULT_PREROLL,
                 settings: dict[str, Any] | None = None,
                 on_segment: Callable[[dict[str, Any]], None] | None = None) -> None:
        if not segment_seconds or segment_seconds <= 0:
            raise VideoError(f"segment length must be > 0 s, got {segment_seconds}")
        if not Path(target).suffix:
            raise VideoError(f"{target}: give the output a file extension (.mp4, .mkv, .mov)")
        self.src_path, self.target = src_path, target
        self.processor, self.options = processor, options
        self.preroll, self.on_segment = preroll, on_segment
        self.settings = settings if settings is not None else processing_settings(processor)
        key = _settings_key(options, self.settings, segment_seconds, preroll)
        ident = _input_identity(src_path)
        folder = self.folder = work_folder(target)
        self._lock: int | None = None
        journal = None
        if os.path.lexists(folder):
            self._take_folder(create=False)
            try:
                journal = read_journal(target)
                if journal is not None and (journal.get("version") != JOURNAL_VERSION or journal.get("input") != ident
                                            or journal.get("key") != key
                                            or journal.get("target") != os.path.abspath(target)
                                            or journal.get("segment_ext") != _segment_ext(options)
                                            or not all((folder / s["file"]).is_file()
                                                       for s in journal.get("segments", []))):
                    journal = None  # another input or other settings: start over
                self._clear_folder(keep=journal)
            except BaseException:
                self.close()
                raise
        try:
            probe = VideoFileSource(src_path, start=options.start, end=options.end)
            info, self._rotation = probe.info, probe.rotation_ccw
            self._sink_kw = {"fps": info.fps, "time_base": probe.time_base, "rotation_ccw": probe.rotation_ccw,
                             "time_offset": options.start or 0.0,
                             "source_pix_fmt": decoded_pix_fmt(probe.stream), "deterministic": True}
            probe.close()
        except BaseException:
            self.close()
            raise
        if journal is None:
            if self._lock is None:
                self._take_folder(create=True)
            per_seg = max(1, int(round(segment_seconds * (info.fps or 30.0))))
            journal = {"version": JOURNAL_VERSION, "input": ident, "key": key,
                       "target": os.path.abspath(target), "frames_per_segment": per_seg,
                       "segment_ext": _segment_ext(options), "segments": [], "ended": False}
            try:
                _write_journal(folder, journal)
            except OSError as exc:
                self.close()
                raise disk_full_error(target, exc) or VideoError(
                    f"{target}: cannot write the journal in {folder} ({exc.strerror or exc})") from exc
        self.journal = journal
        #: frames taken from an earlier run's finished segments
        self.resumed_frames = sum(s["frames"] for s in journal["segments"])
        #: expected frames of the whole output (None when unknown)
        self.total_frames = info.frame_count
        self.cancel_message = (f"{target}: export cancelled; the finished segments are kept in "
                               f"{folder} for a resume")

    def _take_folder(self, *, create: bool) -> None:
        """Make (``create``) and lock the work folder, never through a symbolic link.

        Raises:
            VideoError: the name is a link or a file, another run holds the lock, or the
                folder cannot be made.
        """
        folder, target = self.folder, self.target
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise VideoError(f"{target}: {folder} is a symbolic link or a file, not the work folder "
                             "this export makes; it is not followed: remove it and run again")
        if create:
            try:
                folder.mkdir(exist_ok=True)
            except OSError as exc:
                raise disk_full_error(target, exc) or VideoError(
                    f"{target}: cannot create the work folder {folder} ({exc.strerror or exc})") from exc
        try:
            self._lock = lock_path(folder, directory=True)
        except BlockingIOError:
            raise VideoError(f"{target}: another run is exporting this clip to this file (its work "
                             f"folder {folder} is locked); wait for it to finish") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP or exc.errno == errno.ENOTDIR:
                raise VideoError(f"{target}: {folder} is a symbolic link or a file, not the work "
                                 "folder this export makes; it is not followed: remove it and run "
                                 "again") from None
            raise VideoError(f"{target}: cannot open the work folder {folder} "
                             f"({exc.strerror or exc})") from exc

    def _clear_folder(self, keep: dict[str, Any] | None) -> None:
        """Empty the locked work folder except the journal and the segments of ``keep``
        (a journal to resume; None keeps nothing). What else is there was left by a killed
        run of this export: a half-written segment, a journal's temporary."""
        names = {JOURNAL_NAME} | {s["file"] for s in keep.get("segments", [])} if keep else set()
        for entry in os.scandir(self.folder):
            if entry.name in names:
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass

    def close(self) -> None:
        """Release the work folder's lock (done by :meth:`join`; call it when a run ends
        otherwise). The folder and its contents stay for a resume."""
        unlock(self._lock)
        self._lock = None

    def disk_full_message(self) -> str:
        """The line for a full disk: nothing reached the target, and the finished segments
        and journal are kept on purpose."""
        n = len(self.journal.get("segments", []))
        return (f"{self.target}: the disk is full (no space left while writing); the target was "
                f"not written. The journal and {n} finished segment(s) are kept on purpose in "
                f"{self.folder}: free some space and run the same command again to resume, or "
                "delete that folder to discard them")

    @property
    def encoded(self) -> bool:
        """True once every segment is encoded (only the join is left)."""
        return bool(self.journal.get("ended"))

    def open_run(self) -> tuple[Any, Any, Sink]:
        """The pipeline's source, processor and sink that encode the missing segments:
        the source starts at the first frame after the finished segments (the frames
        before it rebuild the temporal state), the processor is wrapped to replay the
        pre-roll at every segment start, the sink writes segment files and the journal."""
        segs = self.journal["segments"]
        done = self.resumed_frames
        history: list[Any] = []
        pts_hist: list[float | None] = []
        opts = self.options
        if segs:
            last = segs[-1]
            seek_t, seg_t = last["preroll_t"], last["next_t"]
            source: Any = VideoFileSource(self.src_path, start=min(seek_t, seg_t), end=opts.end)
            try:  # the frames before the segment only rebuild the temporal state
                while True:
                    f = source.read()
                    if f is None:
                        raise VideoError(f"{self.src_path}: ended before the journal's next segment "
                                         f"({seg_t:.3f} s); delete {self.folder} to start over")
                    if f.pts is not None and f.pts >= seg_t - 1e-9:
                        break
                    history.append(f.image)
                    pts_hist.append(f.pts)
            except BaseException:
                source.close()
                raise
            source = _PushBack(source, f)
        else:
            source = VideoFileSource(self.src_path, start=opts.start, end=opts.end)
        pre = None  # no processor: the frames are copied, there is no state to rebuild
        if self.processor is not None:
            pre = _PrerollProcessor(self.processor, self.journal["frames_per_segment"], self.preroll,
                                    done, history)
        sink = _SegmentingSink(self.folder, self.journal, opts, self._sink_kw, done, self.on_segment)
        sink.pts_history.extend(pts_hist)
        return source, pre, sink

    def join(self) -> JoinedOutput:
        """Remux the segments into the target with the carried audio and other streams
        (the processing settings in its ``comment`` tag), then remove the work folder.

        Raises:
            VideoError: no segments, segments that do not join, a full disk.
        """
        import av

        segs = self.journal["segments"]
        target, folder, opts = self.target, self.folder, self.options
        if not segs:
            raise VideoError(f"{self.src_path}: no frames to write")
        meta = settings_tags(self.settings)
        carry = StreamCarrier(self.src_path, audio=opts.audio, audio_bitrate=opts.audio_bitrate,
                              start=opts.start or 0.0, end=opts.end)
        try:
            first = av.open(str(folder / segs[0]["file"]))
        except BaseException:
            carry.close()
            raise
        try:
            out = _ConcatSink(target, opts, template=first.streams.video[0],
                              rotation_ccw=self._rotation, carry=carry, metadata=meta)
        except BaseException:
            first.close()
            raise
        try:
            for i, s in enumerate(segs):
                c = first if i == 0 else av.open(str(folder / s["file"]))
                try:
                    vs = c.streams.video[0]
                    for pkt in c.demux(vs):
                        if pkt.size == 0:
                            continue
                        out.write_packet(pkt, vs.time_base)
                finally:
                    c.close()
            out.close()
        except BaseException as exc:
            out.abort()
            if isinstance(exc, OSError):
                raise disk_full_error(target, exc) or VideoError(f"{target}: joining failed ({exc})") from exc
            raise
        shutil.rmtree(folder, ignore_errors=True)
        self.close()
        frames = int(self.journal.get("total_frames") or sum(s["frames"] for s in segs))
        return JoinedOutput(frames, out.sink.audio_mode,
                            tuple(segs[0].get("notes", [])) + tuple(out.sink.notes),
                            str(segs[0].get("encoder", "")))


class _PushBack:

    """A source that returns ``first`` and then the rest of ``source``."""

    def __init__(self, source: Any, first: Frame) -> None:
        self.source = source
        self.first: Frame | None = first

    @property
    def info(self) -> Any:
        return self.source.info

    def read(self) -> Frame | None:
        if self.first is not None:
            f, self.first = self.first, None
            return f
        return self.source.read()

    def close(self) -> None:
        self.source.close()
