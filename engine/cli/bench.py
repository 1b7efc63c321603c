"""``lowlight bench``: throughput, fast/reference ratios and memory of every method.

    lowlight bench                                   all methods × 360p, 720p, 1080p × backends × paths
    lowlight bench --quick                           tiny sizes, few frames (smoke test)
    lowlight bench --methods sci,gamma --sizes 1280x720 --stages enhance --ratios
    lowlight bench --json > bench.json               list of records (see engine.lab.bench)
    lowlight bench --soak 10 --methods sci           10-minute 1080p export loop, RSS samples
    lowlight bench --live udp --sizes 1280x720        a generated 720p30 UDP stream, 60 s: latency, drops
    lowlight bench --live rtsp://cam/stream --live-seconds 30 --live-sink record

Figures are defined in :mod:`engine.lab.bench`. Thread counts are set deliberately
(``--threads``, default: the cores this process may use) and printed with the results.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from engine.lab import bench
from engine.cli.jsonout import json_safe
from engine.params import EnhanceParams

COMMAND = "bench"
HELP = "measure enhance-only and end-to-end speed, fast/reference ratios and memory (soak)"
ORDER = 45


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", default=None,
                        help="comma-separated registry names (default: every registered method)")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated WIDTHxHEIGHT (default: 640x360,1280x720,1920x1080)")
    parser.add_argument("--backends", default=None,
                        help="comma-separated of torch,onnx,numpy (default: all; numpy = classical methods)")
    parser.add_argument("--paths", default=None, help="comma-separated of fast,reference (default: both)")
    parser.add_argument("--stages", default=None,
                        help="comma-separated of enhance,end_to_end (default: both; end-to-end is the fast path)")
    parser.add_argument("--frames", type=int, default=None, help="frames per run (default 30; --quick 4)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per configuration, median reported (default 3; --quick 1)")
    parser.add_argument("--reference-budget", type=float, default=None, metavar="SEC",
                        help="seconds of timed reference-path frames per method and size (default 20; --quick 2)")
    parser.add_argument("--params", default=None, metavar="K=V,...",
                        help="override method defaults, e.g. iterations=4,strength=1.2 (clamped per method)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu",
                        help="device for learned methods (default: cpu)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for PyTorch, ONNX Runtime and OpenCV (default: usable cores)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (96x54, 160x90), 4 frames, 1 run: a smoke test, not a measurement")
    parser.add_argument("--ratios", action="store_true",
                        help="add the fast/reference speed ratio and PSNR per method and size "
                             "(with --json the output becomes {\"records\": [...], \"ratios\": [...]})")
    parser.add_argument("--json", action="store_true", help="print a JSON list of records instead of a table")
    parser.add_argument("--soak", type=float, default=None, metavar="MINUTES",
                        help="instead of the benchmark: export a generated 1080p clip in a loop for "
                             "MINUTES, sampling RSS (first of --methods, default sci; first of --sizes)")
    parser.add_argument("--soak-interval", type=float, default=None, metavar="SEC",
                        help="RSS sampling interval (default 5 s, less for short soaks)")
    parser.add_argument("--live", default=None, metavar="SOURCE",
                        help="instead of the benchmark: latency and drops of a live run; SOURCE is "
                             "'udp' or 'tcp' (a generated MPEG-TS stream of each --sizes, default "
                             "1280x720, sent from this process), a stream address or camera:N "
                             "(first of --methods, default sci)")
    parser.add_argument("--live-seconds", type=float, default=60.0, metavar="SEC",
                        help="seconds of stream per live run (default 60)")
    parser.add_argument("--live-fps", type=int, default=30, help="frame rate of the generated stream (default 30)")
    parser.add_argument("--live-sink", choices=["display", "record"], default="display",
                        help="live output: display (frames handed over, as to a viewer or virtual "
                             "camera) or record (H.264 file at the live defaults); default display")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(run=run)


def _split(text: str | None) -> list[str] | None:
    return [t.strip().lower() for t in text.split(",") if t.strip()] if text else None


def parse_params(text: str | None) -> dict[str, Any]:
    """``"iterations=4,strength=1.2"`` → ``{"iterations": 4, "strength": 1.2}``."""
    if not text:
        return {}
    known = EnhanceParams().as_dict()
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise bench.BenchError(f"bad --params entry {part!r}: expected NAME=VALUE with NAME one of "
                                   + ", ".join(known))
        try:
            out[key] = int(value) if isinstance(known[key], int) else float(value)
        except ValueError:
            raise bench.BenchError(f"bad --params value {part!r}: not a number") from None
    return out


def _config(args: argparse.Namespace) -> bench.BenchConfig:
    q = args.quick
    pick = lambda v, normal, quick: v if v is not None else (quick if q else normal)  # noqa: E731
    return bench.BenchConfig(
        methods=_split(args.methods),
        sizes=bench.parse_sizes(args.sizes) if args.sizes else list(bench.QUICK_SIZES if q else bench.DEFAULT_SIZES),
        backends=_split(args.backends) or list(bench.BACKENDS),
        paths=_split(args.paths) or list(bench.PATHS),
        stages=_split(args.stages) or list(bench.STAGES),
        frames=pick(args.frames, 30, 4),
        repeat=pick(args.repeat, 3, 1),
        reference_budget=pick(args.reference_budget, 20.0, 2.0),
        device=args.device,
        params=parse_params(args.params),
    )


def _fmt(v: float, digits: int = 1) -> str:
    return "inf" if math.isinf(v) else f"{v:.{digits}f}"


def _auto(n: int | None) -> str:
    return "auto" if not n else str(n)


def _threads_line(t: dict[str, int]) -> str:
    export = f"; export encoder {_auto(t['export_encoder'])}" if "export_encoder" in t else ""
    halves = f" (two halves: {t['cv2_two_halves']})" if t.get("cv2_two_halves", t["cv2"]) != t["cv2"] else ""
    return (f"threads: torch {t['torch']}, onnxruntime intra-op {t['onnx_intra_op']}, cv2 {t['cv2']}{halves}"
            f"{export}; cpu_count {t['cpu_count']}, usable cores {t['affinity']}")


def _encoder_line(records: list[bench.BenchRecord]) -> str | None:
    """What the end-to-end rows encoded with (None without such rows)."""
    e = next((r.encoder for r in records if r.stage == "end_to_end" and r.encoder), None)
    if not e:
        return None
    return (f"end-to-end encoder: {e['name'] or '?'}, profile {e['profile']} (preset {e['preset']}, "
            f"CRF {e['crf']}), {_auto(e['threads'])} threads")


#: short names of the stage shares in the table
_SHORT = {"estimate": "est", "smooth": "smooth", "apply": "apply", "denoise": "tden", "spatial": "sden",
          "other": "other", "decode": "dec", "enhance": "enh", "encode": "enc"}


def format_fractions(fractions: dict[str, float]) -> str:
    """``{"estimate": 0.12, ...}`` → ``"est 12 smooth 2 ..."`` (per cent, whole numbers);
    ``"-"`` when empty."""
    if not fractions:
        return "-"
    return " ".join(f"{_SHORT.get(k, k)} {round(v * 100):d}" for k, v in fractions.items())


def format_table(records: list[bench.BenchRecord]) -> str:
    """The records as an aligned text table; "time per stage %" shows each record's
    ``stage_fractions`` (est = estimate, tden / sden = temporal / spatial denoise, dec /
    enh / enc = decode / enhance / encode of an end-to-end row)."""
    head = ["method", "backend", "device", "path", "stage", "params", "size", "fps", "2-stage fps", "p95 ms",
            "RSS MiB", "frames", "time per stage %", "note"]
    rows = [[r.method, r.backend, r.device, r.path, r.stage, r.params_mode, f"{r.width}x{r.height}",
             _fmt(r.fps_median), "-" if r.fps_two_stage is None else _fmt(r.fps_two_stage), _fmt(r.ms_p95),
             f"{r.rss_mb:.0f}", str(r.frames), format_fractions(r.stage_fractions), r.note] for r in records]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def format_ratios(rs: list[bench.Ratio]) -> str:
    """The fast/reference summary as text."""
    lines = [f"{'method':10s} {'backend':7s} {'size':9s} {'fast fps':>9s} {'ref fps':>9s} {'ratio':>8s} "
             f"{'target':>7s} {'PSNR dB':>8s} (target >= {bench.PSNR_TARGET_DB:g})"]
    for r in rs:
        target = f">={r.ratio_target:g}x" if r.ratio_target else "-"
        ok = "" if r.ratio_target is None else ("  ok" if r.ratio >= r.ratio_target else "  BELOW")
        p = "-" if r.psnr_db is None else _fmt(r.psnr_db, 2)
        lines.append(f"{r.method:10s} {r.backend:7s} {f'{r.width}x{r.height}':9s} {_fmt(r.fast_fps):>9s} "
                     f"{_fmt(r.reference_fps, 2):>9s} {_fmt(r.ratio):>7s}x {target:>7s} {p:>8s}{ok}")
    return "\n".join(lines)


def _run_soak(args: argparse.Namespace, log: Any) -> int:
    methods = _split(args.methods) or ["sci"]
    sizes = bench.parse_sizes(args.sizes) if args.sizes else ([bench.QUICK_SIZES[-1]] if args.quick else [(1920, 1080)])
    from engine import registry

    if methods[0] not in registry.names():
        raise bench.BenchError(f"unknown method {methods[0]!r}; choose from {', '.join(registry.names())}")
    backends = _split(args.backends)
    backend = backends[0] if backends and backends[0] in ("torch", "onnx") else "auto"
    res = bench.soak(args.soak, method=methods[0], size=sizes[0], frames=args.frames or (10 if args.quick else 60),
                     backend=backend, device=args.device, params=parse_params(args.params),
                     interval=args.soak_interval, log=log)
    if args.json:
        print(json.dumps(json_safe(res.as_dict()), indent=1))
        return 0
    print(_threads_line(res.threads))
    print(f"soak: {res.method} ({res.backend}/{res.device}) {res.width}x{res.height}, {res.seconds:.0f} s, "
          f"{res.exports} exports, {res.frames} frames, {res.fps:.1f} fps ({res.note})")
    print(f"RSS MiB: start {res.rss_start_mb:.0f}, peak {res.rss_peak_mb:.0f} (VmHWM {res.vm_hwm_mb:.0f}), "
          f"end {res.rss_end_mb:.0f}; growth {res.slope_mb_per_min:+.2f} MiB/min "
          f"({len(res.samples)} samples every {res.interval_s:g} s), "
          f"{res.between_slope_mb_per_min:+.2f} MiB/min between exports")
    return 0


def format_live(r: Any) -> str:
    """One live record as a line."""
    ms = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    return (f"live {r.source} -> {r.sink}: {r.method} ({r.runtime}) {r.width}x{r.height}, "
            f"{r.seconds:.1f} s, {r.frames_out} frames out of {r.frames_in} in"
            + (f" ({r.frames_sent} sent)" if r.frames_sent is not None else "")
            + f", {r.fps:.1f} fps; latency ({r.basis}) p50 {ms(r.latency_p50_ms)} ms, p95 "
            f"{ms(r.latency_p95_ms)} ms, max {ms(r.latency_max_ms)} ms; dropped late {r.dropped_late} "
            f"(enhance {r.dropped_late_enhance}, write {r.dropped_late_write}), decode {r.dropped_decode}, "
            f"lost {r.lost_frames}; reconnects {r.reconnects}"
            + ("" if r.cpu_ms_per_frame is None else f"; CPU {r.cpu_ms_per_frame:.1f} ms per frame")
            + ("" if r.load_avg is None else f"; load average {r.load_avg:.1f}"))


def _run_live(args: argparse.Namespace, log: Any) -> int:
    from engine.lab.live_bench import run_live_bench

    methods = _split(args.methods) or ["sci"]
    backends = _split(args.backends)
    backend = backends[0] if backends and backends[0] in ("torch", "onnx") else "auto"
    generated = args.live in ("udp", "tcp")
    sizes = (bench.parse_sizes(args.sizes) if args.sizes else [(1280, 720)]) if generated else [(0, 0)]
    records = []
    for size in sizes:
        r = run_live_bench(args.live, seconds=args.live_seconds, method=methods[0], backend=backend,
                           device=args.device, params=parse_params(args.params), sink=args.live_sink,
                           size=size, fps=args.live_fps, log=log)
        log(format_live(r))
        records.append(r)
    if args.json:
        print(json.dumps(json_safe([r.as_dict() for r in records]), indent=1))
    else:
        print(_threads_line(records[0].threads))
        for r in records:
            print(format_live(r))
    return 0


def run(args: argparse.Namespace) -> int:
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        if args.threads is not None and args.threads < 1:
            raise bench.BenchError("--threads must be at least 1")
        bench.set_threads(args.threads)
        if args.soak is not None:
            return _run_soak(args, log)
        if args.live is not None:
            from engine.video.base import VideoError

            try:
                return _run_live(args, log)
            except VideoError as exc:
                from engine.video.network import redact_text

                print(f"lowlight bench: {redact_text(str(exc))}", file=sys.stderr)
                return 1
        config = _config(args)
        config.validate()
        rs: list[bench.Ratio] = []
        records = bench.run_bench(config, log=log, ratio_out=rs if args.ratios else None)
    except bench.BenchError as exc:
        print(f"lowlight bench: {exc}", file=sys.stderr)
        return 2
    if not records:
        print("lowlight bench: nothing was measured (every method skipped, see above)", file=sys.stderr)
        return 1
    if args.json:
        recs = [r.as_dict() for r in records]
        out: Any = {"records": recs, "ratios": [r.as_dict() for r in rs]} if args.ratios else recs
        print(json.dumps(json_safe(out), indent=1))
        return 0
    print(_threads_line(records[0].threads))
    enc = _encoder_line(records)
    if enc:
        print(enc)
    print(format_table(records))
    if args.ratios:
        print()
        print("fast (per-frame params) vs reference, enhance stage:")
        print(format_ratios(rs))
    return 0
