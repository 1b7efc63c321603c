"""``lowlight enhance``: enhance videos and images from the command line.

    lowlight enhance clip.mp4 -o clip_bright.mp4 -m sci
    lowlight enhance clip.mp4 -o clip_small.mp4 --encode small                (smaller file)
    lowlight enhance clip.mp4 -o out.mkv --codec ffv1 --start 5 --end 12 --audio aac
    lowlight enhance night1.jpg night2.png -o out/            (stills, via engine.jobs.stills)
    lowlight enhance 'frames/f_%04d.png' -o out.mp4            (numbered images read as a video)
    lowlight enhance demo -o demo_bright.mp4
    lowlight enhance long.mp4 -o long_bright.mp4 --segment-seconds 30   (resumable: rerun after a crash)
    lowlight enhance clip10bit.mkv -o out.mkv --codec h265 --pix-fmt yuv420p10le
    lowlight enhance clip.mp4 -o out.mp4 --codec h264_nvenc            (software if no NVENC here)
    lowlight enhance udp://127.0.0.1:5000 -o night.mp4 --end 60        (record a live stream)
    lowlight enhance rtsp://cam.local/stream -o night.mp4              (until Ctrl-C; a playable file)
    lowlight enhance camera:0 --virtual-camera                         (video calls see the result)

Videos (a video file, a numbered pattern such as ``frames/f_%04d.png``, or ``demo``) go
through :func:`engine.video.export.export_video` with a progress bar on stderr; image
files and folders go through :func:`engine.jobs.stills.enhance_images`. With several video
inputs ``-o`` is a folder. A live source (a camera or a network stream address) runs through
:class:`engine.video.live.LiveRun` into a recording and/or a virtual camera until ``--end``
seconds of stream time or Ctrl-C, and always leaves a finished file. The exit status is 0 only when every input succeeded; user
errors are one line each on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from engine.cli.options import add_method_options, params_from_args, positive_seconds, seconds
from engine.video.codecs import CODECS
from engine.video.export import DEFAULT_ENCODE, ENCODE_PROFILES, PRESETS

COMMAND = "enhance"
HELP = "enhance videos (with progress, audio, trimming) and images"
ORDER = 10


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", metavar="IN", nargs="+",
                        help="video files, image files or folders, numbered image patterns "
                             "(frames/f_%%04d.png, read as a video), 'demo', a camera (camera:N) "
                             "or a stream address (rtsp://, http(s)://, udp://, tcp://)")
    parser.add_argument("-o", "--output", default=None, metavar="OUT",
                        help="output video file (one video input), folder, or image pattern "
                             "(out/f_%%05d.png writes a video as numbered images); optional "
                             "with --virtual-camera")
    add_method_options(parser)
    parser.add_argument("--codec", choices=list(CODECS), default="h264",
                        help="video codec (default h264; ffv1 is lossless and needs .mkv; "
                             "h264_nvenc, hevc_nvenc, *_qsv, *_vaapi use the GPU when FFmpeg has "
                             "the encoder and it opens, else software)")
    parser.add_argument("--pix-fmt", default=None, metavar="FMT",
                        help="encoder pixel format, e.g. yuv420p10le (default: 4:2:0, 10-bit for "
                             "10-bit inputs when the codec takes it)")
    add_encode_options(parser)
    parser.add_argument("--start", type=seconds, default=None, metavar="SEC", help="trim: start time, seconds")
    parser.add_argument("--end", type=seconds, default=None, metavar="SEC",
                        help="trim: end time, seconds; for a camera or stream: seconds to record "
                             "(default: until Ctrl-C)")
    parser.add_argument("--virtual-camera", action="store_true",
                        help="also send a live source's enhanced picture to a virtual camera "
                             "(needs pyvirtualcam: pip install 'lowlight-studio[virtualcam]', and "
                             "v4l2loopback on Linux or the OBS virtual camera elsewhere)")
    parser.add_argument("--virtual-camera-device", default=None, metavar="DEV",
                        help="the virtual camera device, e.g. /dev/video10 (default: the first free)")
    parser.add_argument("--transport", choices=["tcp", "udp"], default=None,
                        help="RTSP transport (default tcp)")
    parser.add_argument("--audio", choices=["copy", "aac", "none"], default="copy",
                        help="audio: copy (stream copy; AAC when the container refuses the codec), "
                             "aac (re-encode), none (drop). Default copy")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--reference", action="store_true",
                        help="full-resolution reference path (slow; the quality baseline) "
                             "instead of the fast estimate/apply path")
    parser.add_argument("--segment-seconds", type=positive_seconds, default=None, metavar="SEC",
                        help="write video files in journaled segments of SEC source seconds; "
                             "after a crash or Ctrl-C, running the same command again resumes "
                             "from the last finished segment (e.g. 30)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def add_encode_options(parser: argparse.ArgumentParser, *, live: bool = True) -> None:
    """``--encode`` (the named speed/size profiles of :data:`engine.video.export.ENCODE_PROFILES`)
    and the expert overrides ``--preset`` and ``--crf`` (``enhance`` and ``batch``; ``live``:
    the command takes live sources, whose preset help says so)."""
    profiles = "; ".join(f"{p.name} = {p.summary}" for p in ENCODE_PROFILES.values()).replace("%", "%%")
    parser.add_argument("--encode", choices=list(ENCODE_PROFILES), default=DEFAULT_ENCODE,
                        help=f"export speed or file size (default {DEFAULT_ENCODE}): {profiles}. "
                             "Hardware encoders and ffv1 keep their own settings")
    parser.add_argument("--crf", type=int, default=None,
                        help="quality for h264/h265, 0..51, lower is better; overrides the "
                             "--encode profile's CRF")
    parser.add_argument("--preset", default=None, choices=list(PRESETS),
                        help="x264/x265 speed preset; overrides the --encode profile's preset"
                             + (" (a live source uses ultrafast unless given, as it must keep up)"
                                if live else ""))


def _err(msg: str) -> None:
    print(f"lowlight enhance: error: {msg}", file=sys.stderr)


def _is_video_input(spec: str) -> bool:
    from engine.files.images import is_image_path
    from engine.video.sources import is_video_path

    if spec == "demo" or "%" in os.path.basename(spec):
        return True
    if os.path.isdir(spec) or is_image_path(spec):
        return False
    if is_video_path(spec):
        return True
    # unknown extension: a file PyAV will judge (a clear error if it is not a video)
    return not os.path.exists(spec) or os.path.isfile(spec)


class _ReferenceProcessor:
    """Per-frame full-resolution reference (no temporal state, spatial denoise as for
    stills): ``--reference``."""

    def __init__(self, enhancer, params, name: str = "input") -> None:
        self.enhancer = enhancer
        self.params = params
        self.name = name
        self._checked = False

    def process(self, image):
        from engine.stages.processor import enhance_still

        if not self._checked:  # the source judged the fast path's need; this path needs more
            from engine.jobs.memory import MemoryLimitError, check_frame_memory
            from engine.video.base import VideoError

            self._checked = True
            try:
                check_frame_memory(self.name, image.shape[1], image.shape[0], video=True,
                                   reference=True)
            except MemoryLimitError as exc:
                raise VideoError(str(exc)) from None
        return enhance_still(self.enhancer, image, self.params, reference=True)


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class _ProgressBar:
    """One updating line on stderr: bar, frames, percent, fps, ETA."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last_line = 0.0

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not self.tty and not p.finished and now - self._last_line < 5.0:
            return  # a log file gets a line every 5 s, not a flood
        self._last_line = now
        if p.fraction is not None:
            n = int(p.fraction * 24)
            bar = "[" + "#" * n + "-" * (24 - n) + f"] {p.fraction * 100:5.1f}%"
            count = f"{p.frames_done}/{p.frames_total}"
        else:
            bar, count = "", f"{p.frames_done}"
        line = f"{self.label} {bar} {count} frames {p.fps:6.1f} fps ETA {_fmt_time(p.eta_s)}"
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if p.finished else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _video_target(spec: str, output: str, n_videos: int, codec: str) -> str:
    out = output
    seq = "%" in os.path.basename(out)
    if n_videos == 1 and not os.path.isdir(out) and not out.endswith(("/", os.sep)):
        return out
    if seq:
        raise ValueError("an image pattern output takes one video input")
    name = "demo" if spec == "demo" else Path(spec.replace("%", "")).stem or "video"
    ext = ".mkv" if codec == "ffv1" else ".mp4"
    return os.path.join(out, name + "_enhanced" + ext)


def _video_targets(videos: list[str], output: str, codec: str) -> list[str | ValueError]:
    """Each video input's target (or the ValueError saying why it has none); inputs that
    share a name get distinct targets (``clip_enhanced-2.mp4``...), with a note."""
    from engine.files.paths import distinct_outputs

    wanted: list[str | ValueError] = []
    for spec in videos:
        try:
            wanted.append(_video_target(spec, output, len(videos), codec))
        except ValueError as exc:
            wanted.append(exc)
    names = [w for w in wanted if isinstance(w, str)]
    renamed = iter(distinct_outputs(names))
    out: list[str | ValueError] = [w if isinstance(w, ValueError) else next(renamed) for w in wanted]
    for spec, w, t in zip(videos, wanted, out):
        if t != w:
            print(f"lowlight enhance: note: {spec} -> {t} (another input has the same name)",
                  file=sys.stderr)
    return out


def _one_file_for_many(inputs: list[str], output: str) -> str | None:
    """Why ``output`` cannot take ``inputs`` (a video file name for a folder input or for
    several inputs, which would otherwise become a folder of that name), or None."""
    from engine.video.sources import is_video_path

    if os.path.isdir(output) or not is_video_path(output):
        return None
    folders = [s for s in inputs if os.path.isdir(s)]
    if folders:
        return (f"{output}: names one video file, but {folders[0]} is a folder (its images are "
                "enhanced one by one into a folder); give a folder for -o, or read numbered "
                "images as a video with a pattern like frames/f_%04d.png")
    if len(inputs) > 1:
        return f"{output}: names one video file, but there are {len(inputs)} inputs; give a folder for -o"
    return None


def _live_refusal(args: argparse.Namespace) -> str | None:
    """Why the inputs and options cannot run (a live source mixed with others, trim or
    segments on a live source, a virtual camera without one, no output), or None."""
    from engine.video.live import is_live_spec
    from engine.video.network import redact_url

    live = [s for s in args.inputs if is_live_spec(s)]
    if args.output is None and not args.virtual_camera:
        return "give an output with -o OUT (or --virtual-camera for a live source)"
    if args.virtual_camera and not live:
        return "--virtual-camera takes a live source (a camera or a stream address)"
    if not live:
        return None
    if len(args.inputs) > 1:
        return (f"{redact_url(live[0])} is a live source: it is recorded on its own, "
                "give it as the only input")
    if args.start is not None:
        return "--start applies to files; a live source is recorded from now (--end SEC sets the length)"
    if args.segment_seconds:
        return "--segment-seconds applies to files, not to a live source"
    if args.reference:
        return "--reference is too slow for a live source; record it, then enhance the file"
    return None


def _live_status_printer(quiet: bool):
    """A NetworkSource ``on_status`` callback: one stderr line when the stream drops and
    when it comes back (the addresses are already redacted)."""
    state = {"lost": False}

    def show(status) -> None:
        if status.state == "lost" and not state["lost"]:
            state["lost"] = True
            print(f"lowlight enhance: {status.message}", file=sys.stderr, flush=True)
        elif status.state == "playing" and state["lost"]:
            state["lost"] = False
            print(f"lowlight enhance: {status.message}", file=sys.stderr, flush=True)

    return show


def _run_live(spec: str, args: argparse.Namespace, enhancer, params) -> int:
    """Record (and/or send to a virtual camera) a camera or network stream until --end
    or Ctrl-C; the file is always finished."""
    from engine.stages.processor import FrameProcessor
    from engine.video.base import VideoError
    from engine.video.export import ExportOptions, check_target
    from engine.video.live import LiveRun, TeeSink, open_recording
    from engine.video.network import NetworkSource, is_stream_url, redact_text, redact_url
    from engine.video.segments import processing_settings, settings_tags
    from engine.video.sources import open_source
    from engine.video.virtualcam import VirtualCameraSink, VirtualCameraUnavailable

    name = redact_url(spec)
    options = ExportOptions(codec=args.codec, crf=args.crf, audio=args.audio,
                            overwrite=args.overwrite, preset=args.preset or "ultrafast",
                            pix_fmt=args.pix_fmt, encode=args.encode)
    processor = FrameProcessor(enhancer, params)
    try:
        options.validate()
        if args.output is not None:
            check_target(None, args.output, args.overwrite)
        if is_stream_url(spec):
            source = NetworkSource(spec, transport=args.transport,
                                   on_status=_live_status_printer(args.quiet))
        else:
            source = open_source(spec)
    except VideoError as exc:
        _err(redact_text(str(exc)))
        return 1
    info = source.info
    warned: list[str] = []

    def make_sink(window):
        sinks = []
        if args.virtual_camera:
            try:
                sinks.append(VirtualCameraSink(info.width, info.height, info.fps,
                                               device=args.virtual_camera_device))
                print(f"lowlight enhance: virtual camera {sinks[-1].device or ''} "
                      f"{info.width}x{info.height} at {info.fps:g} fps", file=sys.stderr)
            except VirtualCameraUnavailable as exc:
                if args.output is None:
                    raise
                warned.append(str(exc))
                print(f"lowlight enhance: warning: {exc}; recording only", file=sys.stderr)
        if args.output is not None:
            tags = settings_tags(processing_settings(processor, getattr(args, "weights", None)))
            try:
                sinks.append(open_recording(args.output, options, window, metadata=tags))
            except BaseException:
                for s in sinks:
                    s.abort()
                raise
        return sinks[0] if len(sinks) == 1 else TeeSink(sinks)

    what = ("recording " + args.output if args.output else "virtual camera") + \
        (f", {args.end:g} s" if args.end else ", until Ctrl-C")
    print(f"lowlight enhance: {name}: {info.width}x{info.height} at {info.fps:g} fps; {what}",
          file=sys.stderr, flush=True)
    last = [0.0]

    def progress(st) -> None:
        if args.quiet:
            return
        now = time.monotonic()
        tty = sys.stderr.isatty()
        if now - last[0] < (0.5 if tty else 5.0):
            return
        last[0] = now
        line = (f"{name}: {_fmt_time(st.elapsed_s)} {st.frames_out} frames {st.fps:5.1f} fps, "
                f"dropped {st.dropped}")
        sys.stderr.write(("\r" + line) if tty else line + "\n")
        sys.stderr.flush()

    try:
        live = LiveRun(source, processor, make_sink=make_sink, end=args.end, on_progress=progress)
        res = live.run()
    except VirtualCameraUnavailable as exc:
        _err(str(exc))
        return 2
    except VideoError as exc:
        _err(redact_text(str(exc)))
        return 1
    if not args.quiet and sys.stderr.isatty():
        sys.stderr.write("\n")
    if res.stopped_by == "stop":
        print("lowlight enhance: stopped; the recording is finished" if args.output
              else "lowlight enhance: stopped", file=sys.stderr)
    for line in res.notes:
        print(f"lowlight enhance: note: {name}: {line}", file=sys.stderr)
    for line in res.problems:
        print(f"lowlight enhance: warning: {name}: {redact_text(line)}", file=sys.stderr)
    st = res.stats
    where = args.output if args.output else "virtual camera"
    print(f"{name} -> {where} ({res.frames} frames, {res.source_seconds:.1f} s of stream, "
          f"{st.fps:.1f} fps, audio {res.audio}; dropped: {res.dropped_late} late "
          f"(enhance {st.dropped_enhance}, write {st.dropped_write}), {res.dropped_decode} not decoded, "
          f"{res.lost_frames} lost in transport; {res.reconnects} reconnects; latency p50 "
          f"{st.latency_p50_ms or 0:.0f} ms, p95 {st.latency_p95_ms or 0:.0f} ms; per frame: enhance "
          f"{st.enhance_ms:.1f} ms, write {st.encode_ms:.1f} ms)")  # a live read waits for the stream: no decode figure
    return 0


def run(args: argparse.Namespace) -> int:
    from engine import registry
    from engine.stages.processor import FrameProcessor
    from engine.jobs.stills import StillError, enhance_images
    from engine.video.base import VideoError
    from engine.video.export import ExportCancelled, ExportOptions, export_video

    refused = _live_refusal(args) or (_one_file_for_many(args.inputs, args.output)
                                      if args.output is not None else None)
    if refused:  # before loading a model: the command cannot do what it was asked
        _err(refused)
        return 2
    try:
        params = params_from_args(args.method, args)
        enhancer = registry.create(args.method, backend=args.backend, device=args.device,
                                   weights=getattr(args, "weights", None))
    except Exception as exc:  # unknown method, missing weights, no CUDA...
        _err(str(exc).strip("'\""))
        return 2
    print(f"method {args.method}, runtime {enhancer.runtime_label()}"
          + (", reference path" if args.reference else ""), file=sys.stderr)

    from engine.video.live import is_live_spec

    if is_live_spec(args.inputs[0]):
        return _run_live(args.inputs[0], args, enhancer, params)
    videos = [s for s in args.inputs if _is_video_input(s)]
    stills = [s for s in args.inputs if s not in videos]
    failed = 0
    options = ExportOptions(codec=args.codec, crf=args.crf, audio=args.audio, start=args.start,
                            end=args.end, overwrite=args.overwrite, preset=args.preset,
                            pix_fmt=args.pix_fmt, encode=args.encode)
    if len(videos) > 1 or (videos and stills):
        try:
            os.makedirs(args.output, exist_ok=True)
        except OSError as exc:
            _err(f"{args.output}: cannot create the output folder ({exc.strerror or exc})")
            return 1
    targets = _video_targets(videos, args.output, args.codec)
    for spec, target in zip(videos, targets):
        try:
            if isinstance(target, ValueError):
                raise target
            if args.reference:
                processor = _ReferenceProcessor(enhancer, params, spec)
            else:
                processor = FrameProcessor(enhancer, params)
            bar = _ProgressBar(os.path.basename(spec) or spec, not args.quiet)
            res = export_video(spec, target, processor=processor, options=options, progress=bar,
                               segment_seconds=args.segment_seconds,
                               weights=getattr(args, "weights", None))
            if res.resumed_frames:
                print(f"lowlight enhance: {spec}: resumed; {res.resumed_frames} frames came from "
                      "the earlier run's finished segments", file=sys.stderr)
            for line in res.notes:
                print(f"lowlight enhance: note: {spec}: {line}", file=sys.stderr)
            for line in res.problems:
                print(f"lowlight enhance: warning: {spec}: {line}", file=sys.stderr)
            if res.problems:
                print(f"lowlight enhance: warning: {spec}: the input is damaged or truncated; "
                      f"{res.frames} frames could be decoded and were written", file=sys.stderr)
            st = res.stats
            stages = (f"; per frame: decode {st.decode_ms:.1f} ms, enhance {st.enhance_ms:.1f} ms, "
                      f"encode {st.encode_ms:.1f} ms" if st is not None else "")
            print(f"{spec} -> {res.path} ({res.frames} frames, {res.seconds:.1f} s, "
                  f"{res.fps:.1f} fps, audio {res.audio}{stages})")
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP (engine.cli._signals)
            from engine.cli import _signals

            print("", file=sys.stderr)
            _err(f"{spec}: {_signals.reason(exc)}; nothing was written"
                 + ("; the finished segments are kept: run the same command again to resume"
                    if args.segment_seconds else ""))
            return _signals.exit_status(exc)
        except ExportCancelled as exc:
            _err(str(exc))
            failed += 1
        except (VideoError, ValueError) as exc:
            _err(str(exc))
            failed += 1
    if stills:
        try:
            ok, bad = enhance_images(stills, args.output, enhancer, params, overwrite=args.overwrite,
                                     reference=args.reference,
                                     log=lambda m: print(m, file=sys.stderr if m.startswith("error:") else sys.stdout))
            failed += bad
        except StillError as exc:
            _err(str(exc))
            failed += 1
    return 1 if failed else 0
