"""``lowlight train``: zero-reference training of SCI, Zero-DCE or Zero-DCE++."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

COMMAND = "train"
HELP = ("train SCI / Zero-DCE / Zero-DCE++ zero-reference on a folder of images, or NAFNet / "
        "MIRNetv2 / jin2023 on paired low/normal-light images (--pairs)")
ORDER = 80


def _crop(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.replace(":", "-").split("-")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"crop must be N or MIN-MAX pixels, got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"crop must be N or MIN-MAX pixels, got {text!r}")
    return parts[0], parts[1]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", "-m", required=True,
                        help="sci, zerodce or zerodce++ (with --data); nafnet, mirnetv2 or jin2023 (with --pairs)")
    parser.add_argument("--data", default=None, help="folder of training images (any exposures)")
    parser.add_argument("--pairs", nargs=2, default=None, metavar=("LOW_DIR", "HIGH_DIR"),
                        help="paired training: folders of low-light images and their normal-light "
                             "targets, matched by file stem")
    parser.add_argument("--epochs", type=int, required=True, help="passes over the training images")
    parser.add_argument("--out", default=None,
                        help="checkpoint to write (default: weights/<sci|zerodce|zerodcepp>.pt)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    parser.add_argument("--lr", type=float, default=None,
                        help="Adam learning rate (default 1e-4 for Zero-DCE(++), 3e-4 for SCI)")
    parser.add_argument("--size", type=int, default=256,
                        help="side in px of the downscaled, square training images (default 256)")
    parser.add_argument("--crop", type=_crop, default=None,
                        help="random crop side in px, N or MIN-MAX (default 128-192; paired: N, default 128)")
    parser.add_argument("--exposure-level", type=float, default=0.6,
                        help="well-exposedness level E of the exposure loss, 0..1 (default 0.6)")
    parser.add_argument("--exposure-patch", type=int, default=16, metavar="PX",
                        help="side in px of the regions the exposure loss averages (default 16, the "
                             "paper's); 0 = each whole crop: sets the overall level without pulling "
                             "every region to E (keeps local contrast)")
    parser.add_argument("--guide-blur", type=float, default=0.0, metavar="SIGMA",
                        help="SCI: blur the smoothness weights' guide image with this Gaussian sigma "
                             "in px so the illumination does not follow pixel noise (default 0 = off)")
    parser.add_argument("--weight", action="append", default=[], metavar="NAME=VALUE",
                        help="override a loss weight (Zero-DCE: spa, exp, col, tv; SCI: fid, smooth, exp, col)")
    parser.add_argument("--max-images", type=int, default=None, help="train on this many images (evenly spaced)")
    parser.add_argument("--max-mean", type=float, default=None,
                        help="train only on images whose mean brightness (0..1) is below this, "
                             "e.g. 0.3 for the under-exposed part of SICE (applied before --max-images)")
    parser.add_argument("--holdout", type=float, default=0.05,
                        help="fraction of images (the last, in natural order) held out (default 0.05)")
    parser.add_argument("--workers", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--init", default=None, metavar="CKPT",
                        help="start from the weights of this checkpoint (e.g. weights/sci.pt) instead of "
                             "random ones: fine-tuning with other losses or data")
    parser.add_argument("--run-dir", default=None, help="run folder for resumable state (default runs/<out name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in the run folder")
    parser.add_argument("--no-cache", action="store_true", help="decode images without the .npy cache")
    parser.add_argument("--no-progress", action="store_true", help="one line per epoch instead of a progress bar")
    parser.add_argument("--manifest", action="store_true",
                        help="record the checkpoint in MANIFEST.json of its folder (command, data, losses)")
    parser.add_argument("--eval-real", default=None,
                        help="with --manifest: also record mean output brightness on this folder of dark images")
    paired = parser.add_argument_group("paired training (--pairs)")
    paired.add_argument("--scale-min", type=float, default=1.0,
                        help="crops are taken at a random down-scale in [SCALE_MIN, 1] (default 1: full "
                             "resolution only)")
    paired.add_argument("--crops-per-image", type=int, default=1, help="crops per pair per epoch (default 1)")
    paired.add_argument("--arch", action="append", default=[], metavar="NAME=VALUE",
                        help="network option, VALUE in JSON (e.g. width=16, enc_blocks=[1,1,1,1])")
    paired.add_argument("--val-reduced", type=int, default=320, metavar="PX",
                        help="also validate on copies reduced to this long side (default 320; 0 = off)")
    paired.add_argument("--val-every", type=int, default=1, metavar="N", help="validate every N epochs (default 1)")
    paired.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                        help="validate and export an exponential moving average of the weights with this "
                             "decay per step (e.g. 0.999; default 0 = off)")
    paired.add_argument("--stages", type=int, default=3, help="jin2023: training cascade stages (default 3)")
    paired.add_argument("--total-wall", type=float, default=None, metavar="S",
                        help="with --manifest: wall time of the whole run over all resumed calls, in s")
    parser.set_defaults(run=run)


def _fail(msg: str) -> int:
    print(f"lowlight train: error: {msg}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if (args.data is None) == (args.pairs is None):
        return _fail("give exactly one of --data (zero-reference) or --pairs LOW_DIR HIGH_DIR (paired)")
    if args.pairs is not None:
        from engine.cli.train_paired import run_paired

        return run_paired(args)
    if args.crop is None:
        args.crop = (128, 192)
    from engine.train.data import DataError
    from engine.train.loop import FILE_NAMES, METHODS, TrainConfig, TrainError, train

    if args.method not in METHODS:
        return _fail(f"unknown method {args.method!r}; choose one of {', '.join(METHODS)}")
    weights = {}
    for item in args.weight:
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            return _fail(f"--weight must be NAME=VALUE, got {item!r}")
    from engine.runtime.weights import weights_dir

    out = Path(args.out) if args.out else weights_dir() / FILE_NAMES[args.method]
    cfg = TrainConfig(
        method=args.method, data=args.data, epochs=args.epochs, out=str(out), seed=args.seed,
        batch=args.batch, lr=args.lr if args.lr is not None else (3e-4 if args.method == "sci" else 1e-4),
        size=args.size, crop_min=args.crop[0], crop_max=args.crop[1],
        exposure_level=args.exposure_level, exposure_patch=args.exposure_patch,
        guide_blur=args.guide_blur, max_images=args.max_images,
        max_mean=args.max_mean, holdout=args.holdout,
        threads=args.workers, run_dir=args.run_dir, resume=args.resume, weights=weights,
        use_cache=not args.no_cache, init=args.init,
    )
    try:
        result = train(cfg, progress=not args.no_progress)
    except (DataError, TrainError) as exc:
        return _fail(str(exc))
    print(f"wrote {out} ({result['epochs_run']} epochs in {result['wall_s']:.0f} s; final losses "
          + ", ".join(f"{k} {v:.4f}" for k, v in result["final_losses"].items()) + ")")
    if args.manifest:
        from engine.train.manifest import record

        command = "lowlight train " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index("train") + 1:]) \
            if "train" in sys.argv else "lowlight train"
        record(cfg, result, command, eval_real=args.eval_real)
        print(f"recorded {out.name} in {out.parent / 'MANIFEST.json'}")
    return 0
