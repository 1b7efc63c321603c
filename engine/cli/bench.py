"""``lowlight bench``: enhance-only and end-to-end throughput per method, size, backend
and path; ``--soak MINUTES`` for a long 1080p export loop recording RSS."""

from __future__ import annotations

import argparse
import json
import sys

from engine import registry

COMMAND = "bench"
HELP = "measure enhance and end-to-end (decode, enhance, encode) throughput"
ORDER = 60


def _size(s: str) -> tuple[int, int]:
    from engine.bench import SIZES

    if s in SIZES:
        return SIZES[s]
    try:
        w, h = s.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH or one of 360p, 720p, 1080p: {s!r}")


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default=None,
                        help="comma-separated methods (default: all registered: "
                             + ", ".join(registry.names()) + ")")
    parser.add_argument("--sizes", default="360p,720p,1080p", help="comma-separated WxH or 360p/720p/1080p")
    parser.add_argument("--backends", default=None, help="comma-separated (torch, onnx, numpy); default all")
    parser.add_argument("--paths", default="fast,reference", help="fast, reference or both")
    parser.add_argument("--stages", default="enhance,end_to_end", help="enhance, end_to_end or both")
    parser.add_argument("--frames", type=int, default=30, help="frames per repeat")
    parser.add_argument("--repeat", type=int, default=3, help="repeats (median reported)")
    parser.add_argument("--ref-seconds", type=float, default=10.0,
                        help="cap on each reference-path repeat, seconds (records say 'capped')")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--weights-dir", default=None,
                        help="folder with checkpoints (descriptor file names) to use instead of the shipped ones")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 frames, 1 repeat, 360p only")
    parser.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    parser.add_argument("--soak", type=float, default=None, metavar="MINUTES",
                        help="export a 1080p clip in a loop for MINUTES and record RSS")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.bench import bench, soak

    log = (lambda s: print(s, file=sys.stderr))
    methods = args.methods.split(",") if args.methods else registry.names()
    for m in methods:
        registry.get(m)  # unknown → clear error
    if args.soak is not None:
        samples = soak(args.soak, methods[0], device=args.device, log=log)
        rss = [s["rss_mb"] for s in samples]
        summary = {"method": methods[0], "iterations": len(samples), "rss_first_mb": rss[0],
                   "rss_last_mb": rss[-1], "rss_max_mb": max(rss),
                   "rss_growth_mb": round(rss[-1] - rss[min(1, len(rss) - 1)], 1), "samples": samples}
        print(json.dumps(summary, indent=1) if args.json else
              f"soak {methods[0]} 1920x1080: {len(samples)} exports, RSS first {rss[0]} MB, "
              f"last {rss[-1]} MB, max {max(rss)} MB")
        return 0
    sizes = [_size(s) for s in args.sizes.split(",")]
    frames, repeat = args.frames, args.repeat
    if args.quick:
        frames, repeat = min(frames, 5), 1
        if args.sizes == "360p,720p,1080p":
            sizes = sizes[:1]
    recs = bench(methods, sizes, args.backends.split(",") if args.backends else None,
                 tuple(args.paths.split(",")), tuple(args.stages.split(",")), frames, repeat,
                 args.device, args.ref_seconds, log=None if args.json else log,
                 weights_dir=args.weights_dir)
    if args.json:
        print(json.dumps([r.as_dict() for r in recs], indent=1))
        return 0
    hdr = f"{'method':<10} {'backend':<8} {'device':<6} {'path':<9} {'stage':<10} {'size':>9} " \
          f"{'fps':>8} {'p95 ms':>8} {'frames':>6} {'RSS MB':>7}"
    print(hdr)
    print("-" * len(hdr))
    for r in recs:
        print(f"{r.method:<10} {r.backend:<8} {r.device:<6} {r.path:<9} {r.stage:<10} "
              f"{r.width}x{r.height:<4} {r.fps_median:8.1f} {r.ms_p95:8.1f} "
              f"{r.frames:>5}{'*' if r.capped else ' '} {r.rss_mb:7.0f}")
    if any(r.capped for r in recs):
        print("* capped: reference runs stop after --ref-seconds per repeat")
    return 0
