"""The paired half of ``lowlight train`` (``--pairs LOW_DIR HIGH_DIR``): NAFNet, MIRNetv2 and
jin2023 trained on low/normal-light pairs (:mod:`engine.train.paired`). Not a sub-command of
its own (no ``COMMAND``): :mod:`engine.cli.train` hands over to :func:`run_paired`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def _fail(msg: str) -> int:
    print(f"lowlight train: error: {msg}", file=sys.stderr)
    return 2


def _pairs_of(items: list[str], what: str) -> dict[str, str] | str:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            return f"{what} must be NAME=VALUE, got {item!r}"
        out[name.strip()] = value
    return out


def run_paired(args: argparse.Namespace) -> int:
    """Run a paired training from the parsed ``lowlight train`` arguments; exit status."""
    from engine.runtime.weights import weights_dir
    from engine.train.data import DataError
    from engine.train.loop import TrainError
    from engine.train.paired import PAIRED_FILE_NAMES, PAIRED_METHODS, PairedConfig, record_paired, train_paired

    if args.method not in PAIRED_METHODS:
        return _fail(f"--pairs trains {', '.join(PAIRED_METHODS)}; got {args.method!r}")
    weights = _pairs_of(args.weight, "--weight")
    arch = _pairs_of(args.arch, "--arch")
    if isinstance(weights, str):
        return _fail(weights)
    if isinstance(arch, str):
        return _fail(arch)
    try:
        weights = {k: float(v) for k, v in weights.items()}
        arch = {k: json.loads(v) for k, v in arch.items()}
    except ValueError as exc:
        return _fail(f"bad --weight or --arch value: {exc}")
    crop = args.crop or (128, 128)
    if crop[0] != crop[1]:
        return _fail("paired training takes one crop size (--crop N)")
    out = Path(args.out) if args.out else weights_dir() / PAIRED_FILE_NAMES[args.method]
    cfg = PairedConfig(
        method=args.method, low=args.pairs[0], high=args.pairs[1], epochs=args.epochs, out=str(out),
        seed=args.seed, batch=args.batch, crop=crop[0], scale_min=args.scale_min,
        crops_per_image=args.crops_per_image, lr=args.lr, threads=args.workers, run_dir=args.run_dir,
        resume=args.resume, stages=args.stages, weights=weights, arch=arch,
        val_reduced=args.val_reduced, val_every=args.val_every, init=args.init, ema=args.ema,
    )
    try:
        result = train_paired(cfg, progress=not args.no_progress)
    except (DataError, TrainError) as exc:
        return _fail(str(exc))
    best = result["best"]
    print(f"wrote {out} (epoch {result['best_epoch']} of {args.epochs}, best by validation PSNR: "
          + ", ".join(f"{k} {v}" for k, v in best.items()) + f"; {result['epochs_run']} epochs in "
          f"{result['wall_s']:.0f} s)")
    if args.manifest:
        argv = sys.argv
        command = ("lowlight train " + " ".join(shlex.quote(a) for a in argv[argv.index("train") + 1:])
                   if "train" in argv else "lowlight train")
        record_paired(cfg, result, command, total_wall_s=args.total_wall)
        print(f"recorded {out.name} in {out.parent / 'MANIFEST.json'}")
    return 0
