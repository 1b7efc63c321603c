"""``lowlight flicker``: measure the temporal stability of an enhanced clip.

    lowlight flicker IN.mp4 OUT.mp4            OUT (an enhanced IN) against IN
    lowlight flicker IN.mp4 --method sci       per-frame vs temporally smoothed SCI, one command
    lowlight flicker IN.mp4 -m sci --smoothing 0.8 --denoise 0 --deflicker --json

Figures (defined in :mod:`engine.flicker`): the brightness-flicker index (BFI, %), the
output's own brightness flicker (%), and the flow-warped temporal error of Lai et al.
(grey levels). ``--deflicker`` adds FFmpeg's deflicker filter (through PyAV) applied to
the per-frame output as the baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from engine.cli.options import add_method_options, params_from_args

COMMAND = "flicker"
HELP = "measure flicker (brightness-flicker index, warped temporal error) of a clip or an enhancement"
ORDER = 40


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="input video (the dark original)")
    parser.add_argument("output", metavar="OUT", nargs="?", default=None,
                        help="enhanced version of IN to measure (same frame count)")
    add_method_options(parser, default_method=None)  # type: ignore[arg-type]
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
    try:
        from engine.video import open_source  # type: ignore[attr-defined]
    except ImportError:
        open_source = None
    try:
        if open_source is not None:
            with open_source(str(p)) as src:
                fps = float(src.info.fps or 30.0)
                for fr in src:
                    frames.append(fr.image)
                    if max_frames and len(frames) >= max_frames:
                        break
        else:
            import av

            with av.open(str(p)) as container:
                stream = container.streams.video[0]
                fps = float(stream.average_rate or 30.0)
                for vf in container.decode(stream):
                    frames.append(vf.to_ndarray(format="rgb24"))
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
        from engine.flicker import reduction

        d["bfi_reduction"] = reduction(base.bfi, report.bfi)
        d["warped_error_reduction"] = reduction(base.warped_error, report.warped_error)
    return d


def run(args: argparse.Namespace) -> int:
    from engine import flicker as fl
    from engine import registry

    frames, fps = read_frames(args.input, args.max_frames)
    size = args.size or None
    flows = fl.compute_flows(frames, size)
    rows: list[dict] = []
    rows.append(_row(fl.measure(frames, frames, flows=flows, size=size, label="input")))
    per_frame_out = None
    base = None
    if args.output:
        outs, _ = read_frames(args.output, len(frames))
        if len(outs) != len(frames):
            raise SystemExit(f"lowlight flicker: {args.output} has {len(outs)} frames, {args.input} {len(frames)}")
        base = fl.measure(frames, outs, flows=flows, size=size, label=Path(args.output).name)
        rows.append(_row(base))
        per_frame_out = outs
    if args.method:
        enh = registry.create(args.method, backend=args.backend, device=args.device, weights=args.weights)
        params = params_from_args(args.method, args)
        if args.smoothing is not None or args.denoise is not None:  # options the method may not declare
            params = params.replace(**{k: float(getattr(args, k)) for k in ("smoothing", "denoise")
                                       if getattr(args, k) is not None})
        plain = params.replace(smoothing=0.0, denoise=0.0)
        per_frame_out = fl.enhance_frames(frames, args.method, plain, enhancer=enh)
        base = fl.measure(frames, per_frame_out, flows=flows, size=size,
                          label=f"{args.method} per-frame (smoothing 0, denoise 0)")
        rows.append(_row(base))
        smoothed = fl.enhance_frames(frames, args.method, params, enhancer=enh)
        rows.append(_row(fl.measure(frames, smoothed, flows=flows, size=size,
                                    label=f"{args.method} smoothing {params.smoothing:g}, denoise {params.denoise:g}"),
                         base))
    if args.deflicker and per_frame_out is not None:
        dfl = fl.deflicker(per_frame_out, args.deflicker, args.deflicker_mode, fps)
        rows.append(_row(fl.measure(frames, dfl, flows=flows, size=size,
                                    label=f"per-frame + ffmpeg deflicker (size {args.deflicker}, {args.deflicker_mode})"),
                         base))
    elif args.deflicker:
        print("lowlight flicker: --deflicker needs OUT or --method", file=sys.stderr)
    if args.json:
        print(json.dumps({"input": args.input, "frames": len(frames), "fps": fps, "rows": rows}, indent=2))
        return 0
    print(f"{args.input}: {len(frames)} frames at {fps:.3g} fps, warped error measured at "
          f"{'full size' if size is None else f'long side <= {size} px'}")
    print(f"{'':54s} {'BFI %':>7s} {'out flicker %':>14s} {'E_warp':>8s}")
    for r in rows:
        red = ""
        if "bfi_reduction" in r:
            red = f"  ({-100 * r['bfi_reduction']:+.0f}% / {-100 * r['warped_error_reduction']:+.0f}%)"
        print(f"{r['label'][:54]:54s} {r['bfi']:7.2f} {r['output_flicker']:14.2f} {r['warped_error']:8.2f}{red}")
    return 0
