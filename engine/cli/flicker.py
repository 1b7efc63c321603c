"""``lowlight flicker``: measure the temporal stability of an enhanced clip.

    lowlight flicker IN.mp4 OUT.mp4            OUT (an enhanced IN) against IN
    lowlight flicker IN.mp4 --method sci       per-frame vs temporally smoothed SCI, one command
    lowlight flicker IN.mp4 -m sci --smoothing 0.8 --denoise 0 --deflicker --json
    lowlight flicker synthetic -m all --deflicker      every method on the generated test clip

Figures (defined in :mod:`engine.lab.flicker`): the brightness-flicker index (BFI, %), the
output's own brightness flicker (%), and the flow-warped temporal error of Lai et al.
(grey levels). ``--deflicker`` adds FFmpeg's deflicker filter (through PyAV) applied to
the per-frame output as the baseline.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

from engine.cli.options import add_method_options, params_from_args

COMMAND = "flicker"
HELP = "measure flicker (brightness-flicker index, warped temporal error) of a clip or an enhancement"
ORDER = 40


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN",
                        help="input video (the dark original), or 'synthetic' for the generated "
                             "test clip (exposure flicker, noise, a moving object, a cut, a lamp)")
    parser.add_argument("output", metavar="OUT", nargs="?", default=None,
                        help="enhanced version of IN to measure (same frame count)")
    add_method_options(parser, default_method=None, allow_all=True)  # type: ignore[arg-type]
    have = set(parser._option_string_actions)  # the registry may not declare them yet
    if "--smoothing" not in have:
        parser.add_argument("--smoothing", type=float, default=None, help="temporal smoothing, 0..1")
    if "--denoise" not in have:
        parser.add_argument("--denoise", type=float, default=None, help="temporal denoise, 0..1")
    parser.add_argument("--deflicker", nargs="?", type=int, const=5, default=None, metavar="SIZE",
                        help="also measure FFmpeg's deflicker filter (window SIZE frames, default 5) "
                             "on the per-frame output (or on OUT)")
    parser.add_argument("--deflicker-mode", default="am",
                        choices=["am", "gm", "hm", "qm", "cm", "pm", "median"],
                        help="deflicker averaging mode (default: am)")
    parser.add_argument("--max-frames", type=int, default=300,
                        help="measure at most this many frames from the start (0 = all; default 300)")
    parser.add_argument("--size", type=int, default=640,
                        help="long side, pixels, at which the warped error is measured (0 = full; default 640)")
    parser.add_argument("--split", action="store_true",
                        help="with --method: also measure smoothing alone and denoise alone "
                             "(always done for --method all); the default row then also gives "
                             "its change against smoothing 0 with the same denoise")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(run=run)


def read_frames(path: str, max_frames: int = 0) -> tuple[list[np.ndarray], float]:
    """Decode ``path`` into uint8 (H, W, 3) RGB frames (at most ``max_frames``, 0 = all).

    Returns (frames, fps). Uses the video sources of :mod:`engine.video` when present,
    else decodes with PyAV directly. Raises ``SystemExit`` with a one-line message naming
    the file when it cannot be read.
    """
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"lowlight flicker: no such file: {path}")
    frames: list[np.ndarray] = []
    open_source = None
    for where in ("engine.video", "engine.video.sources"):
        try:
            open_source = getattr(importlib.import_module(where), "open_source")
            break
        except (ImportError, AttributeError):
            continue
    try:
        if open_source is not None:
            with open_source(str(p)) as src:
                fps = float(src.info.fps or 30.0)
                for fr in src:
                    frames.append(np.ascontiguousarray(fr.image))
                    if max_frames and len(frames) >= max_frames:
                        break
        else:
            import av

            with av.open(str(p)) as container:
                stream = container.streams.video[0]
                fps = float(stream.average_rate or 30.0)
                for vf in container.decode(stream):
                    frames.append(np.ascontiguousarray(vf.to_ndarray(format="rgb24")))
                    if max_frames and len(frames) >= max_frames:
                        break
    except SystemExit:
        raise
    except Exception as exc:  # PyAV / VideoError: one clear line naming the file
        raise SystemExit(f"lowlight flicker: cannot read {path}: {exc}") from exc
    if not frames:
        raise SystemExit(f"lowlight flicker: no video frames in {path}")
    return frames, fps


def _row(report, base=None) -> dict:
    d = report.as_dict()
    d.pop("extra", None)
    if base is not None:
        from engine.lab.flicker import reduction

        d["bfi_reduction"] = reduction(base.bfi, report.bfi)
        d["warped_error_reduction"] = reduction(base.warped_error, report.warped_error)
    return d


def _params_for(method: str, args: argparse.Namespace):
    """The method's parameters from the options; smoothing/denoise fall back to the shared
    temporal defaults when neither the option nor the method's descriptor sets them."""
    from engine import registry
    from engine.stages.temporal_denoise import DEFAULT_DENOISE
    from engine.stages.map_smoothing import DEFAULT_SMOOTHING

    desc = registry.get(method)
    params = params_from_args(method, args)
    for name, default in (("smoothing", DEFAULT_SMOOTHING), ("denoise", DEFAULT_DENOISE)):
        given = getattr(args, name, None)
        if given is not None:
            params = params.replace(**{name: min(1.0, max(0.0, float(given)))})
        elif desc.spec(name) is None:
            params = params.replace(**{name: default})
    return params


def _frames_for(args: argparse.Namespace) -> tuple[list[np.ndarray], float]:
    if args.input == "synthetic":
        from engine.lab.flicker import synthetic_clip

        n = args.max_frames or 90
        return synthetic_clip(n, (144, 256), seed=1, cut=n // 2, lamp=(7 * n) // 9).frames, 30.0
    return read_frames(args.input, args.max_frames)


def run(args: argparse.Namespace) -> int:
    from engine.lab import flicker as fl
    from engine import registry

    frames, fps = _frames_for(args)
    size = args.size or None
    flows = fl.compute_flows(frames, size)
    rows: list[dict] = []
    rows.append(_row(fl.measure(frames, frames, flows=flows, size=size, label="input")))
    per_frame: list[tuple[list[np.ndarray], object]] = []
    if args.output:
        outs, _ = read_frames(args.output, len(frames))
        if len(outs) != len(frames):
            raise SystemExit(f"lowlight flicker: {args.output} has {len(outs)} frames, {args.input} {len(frames)}")
        base = fl.measure(frames, outs, flows=flows, size=size, label=Path(args.output).name)
        rows.append(_row(base))
        per_frame.append((outs, base))
    methods = registry.names() if args.method == "all" else ([args.method] if args.method else [])
    for method in methods:
        try:
            enh = registry.create(method, backend=args.backend, device=args.device, weights=args.weights)
        except Exception as exc:  # e.g. a learned method without weights: say so, go on
            print(f"lowlight flicker: skipping {method}: {exc}", file=sys.stderr)
            continue
        params = _params_for(method, args)
        plain = params.replace(smoothing=0.0, denoise=0.0)
        outs = fl.enhance_frames(frames, method, plain, enhancer=enh)
        base = fl.measure(frames, outs, flows=flows, size=size, label=f"{method} per-frame (smoothing 0, denoise 0)")
        rows.append(_row(base))
        per_frame.append((outs, base))
        unsmoothed = {0.0: base}  # smoothing-0 reports per denoise amount
        for s, d in ((params.smoothing, 0.0), (0.0, params.denoise), (params.smoothing, params.denoise)):
            if (s, d) == (0.0, 0.0) or (args.method != "all" and (s, d) != (params.smoothing, params.denoise)
                                        and not args.split):
                continue
            smoothed = fl.enhance_frames(frames, method, params.replace(smoothing=s, denoise=d), enhancer=enh)
            rep = fl.measure(frames, smoothed, flows=flows, size=size,
                             label=f"{method} smoothing {s:g}, denoise {d:g}")
            row = _row(rep, base)
            if s == 0.0:
                unsmoothed[d] = rep
            elif d in unsmoothed and d != 0.0:
                # what smoothing alone changes: against smoothing 0 with the same denoise
                ref = unsmoothed[d]
                row["bfi_reduction_vs_smoothing_0"] = fl.reduction(ref.bfi, rep.bfi)
                row["warped_error_reduction_vs_smoothing_0"] = fl.reduction(ref.warped_error, rep.warped_error)
            rows.append(row)
        if args.deflicker:
            dfl = fl.deflicker(outs, args.deflicker, args.deflicker_mode, fps)
            rows.append(_row(fl.measure(frames, dfl, flows=flows, size=size,
                                        label=f"{method} per-frame + ffmpeg deflicker {args.deflicker}/{args.deflicker_mode}"),
                             base))
    if args.output and args.deflicker:
        outs, base = per_frame[0]
        dfl = fl.deflicker(outs, args.deflicker, args.deflicker_mode, fps)
        rows.append(_row(fl.measure(frames, dfl, flows=flows, size=size,
                                    label=f"OUT + ffmpeg deflicker {args.deflicker}/{args.deflicker_mode}"), base))
    if args.deflicker and not per_frame:
        print("lowlight flicker: --deflicker needs OUT or --method", file=sys.stderr)
    if args.json:
        print(json.dumps({"input": args.input, "frames": len(frames), "fps": fps, "rows": rows}, indent=2))
        return 0
    print(f"{args.input}: {len(frames)} frames at {fps:.3g} fps, warped error measured at "
          f"{'full size' if size is None else f'long side <= {size} px'}")
    print(f"{'':54s} {'BFI %':>7s} {'out flicker %':>14s} {'E_warp':>8s} {'dark C*':>8s} {'bright':>7s}")
    for r in rows:
        red = ""
        if "bfi_reduction" in r:
            red = f"  ({-100 * r['bfi_reduction']:+.0f}% / {-100 * r['warped_error_reduction']:+.0f}%)"
        if "bfi_reduction_vs_smoothing_0" in r:
            red += (f"  vs smoothing 0: ({-100 * r['bfi_reduction_vs_smoothing_0']:+.0f}% / "
                    f"{-100 * r['warped_error_reduction_vs_smoothing_0']:+.0f}%)")
        print(f"{r['label'][:54]:54s} {r['bfi']:7.2f} {r['output_flicker']:14.2f} {r['warped_error']:8.2f}"
              f" {r['dark_chroma']:8.1f} {r['brightness']:7.3f}{red}")
    return 0
