"""``lowlight enhance IN... -o OUT``: enhance video files (export with progress bar) or
images / image folders (through :func:`engine.stills.enhance_images`)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from engine import registry
from engine.cli.options import add_method_options, params_from_args
from engine.video.base import VideoError
from engine.video.export import CODECS, ExportOptions, ExportProgress, export_video
from engine.video.sources import is_image_path, is_video_path

COMMAND = "enhance"
HELP = "enhance video files (keeping timestamps, rotation and audio) or images"
ORDER = 10


def register(parser: argparse.ArgumentParser) -> None:
    names = registry.names()
    default = "sci" if "sci" in names else names[0]
    parser.add_argument("inputs", nargs="+", metavar="IN", help="video files, images or image folders")
    parser.add_argument("-o", "--output", required=True,
                        help="output file (one video input), or folder (several inputs / images)")
    add_method_options(parser, default_method=default)
    parser.add_argument("--codec", choices=list(CODECS), default="h264",
                        help="h264 (libx264), h265 (libx265) or ffv1 (lossless, .mkv)")
    parser.add_argument("--crf", type=int, default=None, help="quality, lower = better "
                        "(default 18 for h264, 22 for h265)")
    parser.add_argument("--preset", default="medium", help="x264/x265 speed preset")
    parser.add_argument("--start", type=float, default=None, help="trim start, seconds")
    parser.add_argument("--end", type=float, default=None, help="trim end, seconds")
    parser.add_argument("--audio", choices=["copy", "aac", "none"], default="copy",
                        help="copy the audio stream (AAC re-encode when the container needs it), "
                             "re-encode to AAC, or drop it")
    parser.add_argument("--odd-size", choices=["yuv444", "pad"], default="yuv444",
                        help="odd frame sizes: exact size in 4:4:4, or pad one pixel for 4:2:0")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.set_defaults(run=run)


def _bar(p: ExportProgress, name: str) -> None:
    if p.total:
        frac = min(1.0, p.frames_done / max(p.total, 1))
        bar = "#" * int(30 * frac)
        eta = f"{p.eta_s:5.0f}s" if p.eta_s is not None else "    ?"
        line = f"\r{name}: [{bar:<30}] {p.frames_done}/{p.total} {p.fps:5.1f} fps ETA {eta}"
    else:
        line = f"\r{name}: {p.frames_done} frames {p.fps:5.1f} fps"
    sys.stderr.write(line)
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    params = params_from_args(args.method, args)
    try:
        enhancer = registry.create(args.method, backend=args.backend, device=args.device,
                                   weights=getattr(args, "weights", None))
    except Exception as exc:
        print(f"lowlight enhance: cannot create method {args.method!r}: {exc}", file=sys.stderr)
        return 2
    print(f"method {args.method}, runtime {enhancer.runtime_label()}, params {params.as_dict()}",
          file=sys.stderr)
    videos = [p for p in args.inputs if not (os.path.isdir(p) or is_image_path(p))]
    stills = [p for p in args.inputs if p not in videos]
    out = Path(args.output)
    failed = 0
    opts = ExportOptions(codec=args.codec, crf=args.crf, preset=args.preset, start=args.start,
                         end=args.end, audio=args.audio, overwrite=args.overwrite,
                         odd_size=args.odd_size)
    for src in videos:
        if len(args.inputs) > 1 or out.is_dir():
            ext = ".mkv" if args.codec == "ffv1" else (Path(src).suffix if is_video_path(src) else ".mp4")
            out.mkdir(parents=True, exist_ok=True)
            target = out / (Path(src).stem + "_enhanced" + ext)
        else:
            target = out
        cancel = threading.Event()
        try:
            res = export_video(src, target, enhancer, opts, lambda p: _bar(p, Path(src).name),
                               cancel, params=params)
        except VideoError as exc:
            sys.stderr.write("\n")
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        except KeyboardInterrupt:
            sys.stderr.write("\n")
            print(f"interrupted: {target} not written", file=sys.stderr)
            raise
        sys.stderr.write("\n")
        for prob in res.problems:
            print(f"warning: {src}: {prob}", file=sys.stderr)
        print(f"{src} -> {res.output}: {res.frames} frames {res.width}x{res.height} {res.codec} "
              f"({res.pix_fmt}), audio {res.audio}, {res.fps:.1f} fps")
    if stills:
        try:
            from engine.stills import enhance_images
        except ImportError:
            print("error: image enhancement (engine.stills) is not available in this build",
                  file=sys.stderr)
            return 1
        ok, bad = enhance_images(stills, out, enhancer, params, overwrite=args.overwrite,
                                 log=lambda s: print(s, file=sys.stderr))
        failed += bad
    return 1 if failed else 0
