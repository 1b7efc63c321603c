"""``lowlight eval``: compare methods on a folder of pictures (or synthetic pairs).

With ``--high`` (targets matched by file name) it reports PSNR and SSIM plus the
no-reference figures of the outputs; without it only the no-reference figures; with
``--synthetic`` it darkens well-exposed pictures on the fly (ranges set by options, see
:class:`engine.lab.synthetic.SyntheticConfig`) and reports all of them; ``--write-pairs``
keeps those pairs for reuse. One row per method and one for the unenhanced input;
``--json`` writes every figure, per picture too; ``--montage`` writes before/after
pictures to look at (:mod:`engine.lab.montage`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from engine import registry
from engine.files.atomic import replacing, reserve_temp
from engine.cli.jsonout import json_safe
from engine.cli.options import add_method_options, params_from_args
from engine.lab.evaluation import (EvalImage, MethodResult, evaluate, format_table,
                               load_folder_pairs, synthetic_pairs, write_pairs)
from engine.lab.montage import MAX_ROWS, TILE_HEIGHT, MontageCollector
from engine.stages.processor import enhance_still
from engine.jobs.stills import StillError, write_image
from engine.lab.synthetic import SyntheticConfig

#: suffixes taken off a recorded validation name (names are stored as bare stems)
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}

COMMAND = "eval"
HELP = "measure methods on low-light pictures: PSNR/SSIM against targets, brightness, colour, noise"
ORDER = 30


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Each picture is enhanced on its own, as a video's first frame (estimate + "
                     "apply, or --reference, then the noise-aware spatial denoise set by --denoise; "
                     "--denoise 0 turns it off); --smoothing acts across video frames and does "
                     "nothing here. "
                     "PSNR/SSIM (SSIM on BT.601 luma) need targets; 'input' is the unenhanced "
                     "picture, 'target' the targets' own figures. Exit status 2 on bad input.")
    src = parser.add_argument_group("pictures")
    src.add_argument("--low", metavar="DIR", help="folder of low-light pictures (searched recursively)")
    src.add_argument("--high", metavar="DIR",
                     help="folder of well-exposed targets with the same file names (enables PSNR/SSIM)")
    src.add_argument("--pairs", nargs=2, metavar=("LOW_DIR", "HIGH_DIR"),
                     help="low-light pictures and their targets, paired by name whatever the "
                          "extension (LOL's low/N.webp with high/N.jpg); the same as --low LOW_DIR "
                          "--high HIGH_DIR")
    src.add_argument("--split", choices=("all", "val"), default="all",
                     help="val: only the fixed validation pairs that paired training recorded in "
                          "the weights folder's MANIFEST.json (never trained on); all: every "
                          "picture (default)")
    src.add_argument("--only", metavar="FILE_LIST",
                     help="only the pictures named in this text file, one per line (file name or "
                          "relative path, the extension optional; '#' starts a comment)")
    src.add_argument("--synthetic", metavar="WELL_EXPOSED_DIR",
                     help="instead of --low/--high: darken well-exposed pictures from this folder "
                          "(in linear light, Poisson-Gaussian sensor noise, JPEG re-encode; ranges "
                          "below) and use them as pairs")
    src.add_argument("--count", type=int, default=20, help="synthetic pairs to make (default 20)")
    src.add_argument("--seed", type=int, default=0,
                     help="seed of the synthetic pairs: same seed and ranges, same pairs (default 0)")
    syn = parser.add_argument_group(
        "synthetic pairs (with --synthetic; each pair draws its settings from these ranges, "
        "LO,HI or one value)")
    d = SyntheticConfig()
    syn.add_argument("--exposure-range", metavar="LO,HI",
                     help=f"linear exposure factor, log-uniform, 0 < LO <= HI <= 1 "
                          f"(default {_fmt_range(d.exposure)})")
    syn.add_argument("--photons", metavar="LO,HI",
                     help=f"electrons a full-scale white collects at the original exposure "
                          f"(shot noise; fewer = noisier; default {_fmt_range(d.photons)})")
    syn.add_argument("--read-noise", metavar="LO,HI",
                     help=f"Gaussian read noise sigma in electrons, >= 0 (default {_fmt_range(d.read_noise)})")
    jpeg = syn.add_mutually_exclusive_group()
    jpeg.add_argument("--jpeg", metavar="LO,HI",
                      help=f"JPEG quality of the dark picture, whole numbers 1..100 "
                           f"(default {_fmt_range(d.jpeg_quality) if d.jpeg_quality else 'none'})")
    jpeg.add_argument("--no-jpeg", action="store_true", help="no JPEG re-encode")
    syn.add_argument("--write-pairs", metavar="DIR",
                     help="also write the pairs made as DIR/low/*.png, DIR/high/*.png and "
                          "DIR/pairs.json (every pair's settings), for reuse with --low/--high")
    src.add_argument("--max-side", type=int, default=None, metavar="PX",
                     help="downscale pictures so the long side is at most PX pixels before evaluating")
    add_method_options(parser, default_method="all", allow_all=True)
    parser.add_argument("--reference", action="store_true",
                        help="use each method's full-resolution reference path instead of the fast path")
    parser.add_argument("--json", metavar="OUT.json", help="also write every figure (per picture too) as JSON")
    look = parser.add_argument_group("montage (a before/after picture to look at)")
    look.add_argument("--montage", metavar="DIR",
                      help="write DIR/<method>.png (rows of input | output | target, with each "
                           "picture's figures) and DIR/all.png (input | every method | target); "
                           "existing files are replaced")
    look.add_argument("--montage-rows", type=int, default=MAX_ROWS, metavar="N",
                      help=f"pictures in a montage, chosen evenly from the set (default {MAX_ROWS})")
    look.add_argument("--montage-height", type=int, default=TILE_HEIGHT, metavar="PX",
                      help=f"tile height in a montage, aspect kept (default {TILE_HEIGHT})")
    parser.add_argument("--save", metavar="DIR",
                        help="also write every output as PNG to DIR/<method>/<picture>.png "
                             "(and DIR/input, DIR/target) for a look; existing files are replaced")
    parser.set_defaults(run=run)


def _fmt_range(r) -> str:
    return f"{r[0]:g},{r[1]:g}"


def _parse_range(text: str, option: str) -> tuple[float, float]:
    """``"LO,HI"`` or ``"X"`` (= X,X) → floats; StillError (one line) otherwise."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise StillError(f"{option}: expected LO,HI (two numbers) or one number, got {text!r}") from None
    return lo, hi


def _synthetic_config(args: argparse.Namespace) -> SyntheticConfig:
    """The ranges of the synthetic pairs: defaults overridden by the options given.

    Raises:
        StillError: a malformed or invalid range, or a range option without --synthetic.
    """
    given = {"--exposure-range": args.exposure_range, "--photons": args.photons,
             "--read-noise": args.read_noise, "--jpeg": args.jpeg,
             "--no-jpeg": args.no_jpeg or None, "--write-pairs": args.write_pairs}
    if not args.synthetic:
        used = [k for k, v in given.items() if v is not None]
        if used:
            raise StillError(f"{used[0]} needs --synthetic")
        return SyntheticConfig()
    changes: dict = {}
    if args.exposure_range is not None:
        changes["exposure"] = _parse_range(args.exposure_range, "--exposure-range")
    if args.photons is not None:
        changes["photons"] = _parse_range(args.photons, "--photons")
    if args.read_noise is not None:
        changes["read_noise"] = _parse_range(args.read_noise, "--read-noise")
    if args.jpeg is not None:
        changes["jpeg_quality"] = _parse_range(args.jpeg, "--jpeg")
    if args.no_jpeg:
        changes["jpeg_quality"] = None
    config = dataclasses.replace(SyntheticConfig(), **changes)
    try:
        config.check()
    except ValueError as exc:
        # check() names the range first ("photons ...", "read noise ..."): name the option.
        options = {"exposure": "--exposure-range", "photons": "--photons",
                   "read noise": "--read-noise", "jpeg": "--jpeg"}
        option = next((o for k, o in options.items() if str(exc).lower().startswith(k)), None)
        raise StillError(f"{option}: {exc}" if option else str(exc)) from None
    if config.jpeg_quality is not None:
        config = dataclasses.replace(config, jpeg_quality=tuple(int(q) for q in config.jpeg_quality))
    return config


def _error(msg: str) -> int:
    print(f"lowlight eval: error: {msg}", file=sys.stderr)
    return 2


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(json_safe(data), indent=2) + "\n", encoding="utf-8")


def _load(args: argparse.Namespace, config: SyntheticConfig) -> list[EvalImage]:
    if args.synthetic:
        if args.count < 1:
            raise StillError("--count must be at least 1")
        images = synthetic_pairs(args.synthetic, args.count, args.seed, config=config,
                                 max_side=args.max_side)
        if not images:
            raise StillError(f"{args.synthetic}: no well-exposed pictures found "
                             f"(mean brightness 0.35..0.65, few clipped pixels)")
        if len(images) < args.count:
            print(f"note: only {len(images)} well-exposed pictures found in {args.synthetic}",
                  file=sys.stderr)
        return images
    warn = lambda line: print(f"warning: {line}", file=sys.stderr)  # noqa: E731
    only = _selection(args)
    images = load_folder_pairs(args.low, args.high, max_side=args.max_side, only=only, warn=warn)
    if only is not None:
        found = {Path(im.name).with_suffix("").as_posix().lower() for im in images}
        found |= {Path(im.name).stem.lower() for im in images}
        missing = sorted(n for n in only if n not in found)
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            warn(f"{len(missing)} selected picture(s) not found or not usable in {args.low}: {shown}")
    if not images:
        what = "matched pairs" if args.high else "readable pictures"
        raise StillError(f"{args.low}: no {what} found" + (" among the selected names" if only else ""))
    return images


def _names_in(path: str) -> set[str]:
    """The names listed in the text file ``path`` (see ``--only``), lower case, without
    extensions."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StillError(f"--only {path}: cannot read ({exc.strerror or exc})") from None
    names = {Path(line.split("#", 1)[0].strip()).with_suffix("").as_posix().lower()
             for line in lines if line.split("#", 1)[0].strip()}
    if not names:
        raise StillError(f"--only {path}: no names in the file")
    return names


def validation_names() -> list[str]:
    """The fixed validation split of the paired training: the ``data.validation_pairs``
    names recorded in the weights folder's MANIFEST.json (all entries that record one must
    agree). Raises :class:`StillError` when none does."""
    from engine.runtime.weights import load_manifest, manifest_path

    lists = {e["file"]: e["data"]["validation_pairs"] for e in load_manifest().get("files", [])
             if isinstance(e.get("data"), dict) and e["data"].get("validation_pairs")}
    if not lists:
        raise StillError(f"--split val: {manifest_path()} records no validation pairs "
                         "(`lowlight train --pairs LOW_DIR HIGH_DIR` writes them)")
    distinct = {tuple(v) for v in lists.values()}
    if len(distinct) > 1:
        raise StillError(f"--split val: the checkpoints in {manifest_path()} record different "
                         f"validation pairs ({', '.join(sorted(lists))}); use --only FILE_LIST")
    return list(distinct.pop())


def _selection(args: argparse.Namespace) -> set[str] | None:
    """The names ``--split val`` and ``--only`` keep (both: the pictures in both), or None."""
    only = _names_in(args.only) if args.only else None
    if args.split == "val":
        val = {Path(str(n)).with_suffix("").as_posix().lower() if Path(str(n)).suffix in _IMAGE_SUFFIXES
               else str(n).lower() for n in validation_names()}
        only = val if only is None else only & val
        if not only:
            raise StillError("--split val and --only have no picture in common")
    return only


def _prepare_folder(folder: str, option: str) -> None:
    """Create ``folder`` and make sure a file can be written in it (before the long run)."""
    p = Path(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
        os.unlink(reserve_temp(str(p), ".lowlight-probe."))
    except OSError as exc:
        raise StillError(f"{option} {p}: cannot write there ({exc.strerror or exc})") from None


def _saver(folder: str | None, method: str):
    """A ``save`` callback writing PNGs under ``folder/method`` (None when not saving)."""
    if not folder:
        return None
    base = Path(folder) / method.replace("/", "_")

    def save(im: EvalImage, out) -> None:
        target = (base / im.name).with_suffix(".png")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StillError(f"{target.parent}: cannot create folder ({exc.strerror or exc})") from None
        write_image(target, out)

    return save


def run(args: argparse.Namespace) -> int:
    if args.pairs:
        if args.low or args.high:
            return _error("--pairs LOW_DIR HIGH_DIR replaces --low/--high; give one or the other")
        args.low, args.high = args.pairs
    if args.synthetic and (args.split != "all" or args.only):
        return _error("--split and --only choose among folder pictures; not with --synthetic")
    if not args.low and not args.synthetic:
        return _error("give --pairs LOW_DIR HIGH_DIR, --low DIR (optionally --high DIR) "
                      "or --synthetic WELL_EXPOSED_DIR")
    if args.synthetic and (args.low or args.high):
        return _error("--synthetic makes its own pairs; do not combine it with --low/--high")
    if args.high and not args.low:
        return _error("--high needs --low")
    try:
        config = _synthetic_config(args)
    except StillError as exc:
        return _error(str(exc))
    if args.montage:  # checked before the pictures are made or read: fail fast
        if args.montage_rows < 1:
            return _error(f"--montage-rows must be at least 1, got {args.montage_rows}")
        if args.montage_height < 16:
            return _error(f"--montage-height must be at least 16 pixels, got {args.montage_height}")
        try:
            _prepare_folder(args.montage, "--montage")
        except StillError as exc:
            return _error(str(exc))
    try:
        images = _load(args, config)
        if args.write_pairs:
            written = write_pairs(images, args.write_pairs, _pairs_meta(args, config))
            print(f"wrote {len(images)} pairs to {written.parent} (settings in {written.name})")
    except StillError as exc:
        return _error(str(exc))

    collector = (MontageCollector(images, args.montage_rows, args.montage_height)
                 if args.montage else None)
    try:
        rows, params_used = _evaluate_all(args, images, collector)
    except StillError as exc:  # --save folder not writable
        return _error(str(exc))
    _report(args, images, rows)
    if args.json:
        try:
            _write_json(Path(args.json), _json_report(args, images, rows, params_used))
        except OSError as exc:
            return _error(f"{args.json}: cannot write ({exc.strerror or exc})")
        print(f"wrote {args.json}")
    if collector is not None:
        try:
            files = collector.write(args.montage, rows, path="reference" if args.reference else "fast")
        except StillError as exc:
            return _error(str(exc))
        print(f"wrote {len(files)} montages to {args.montage} ({len(collector.names)} pictures each)")
    return 0


def _evaluate_all(args: argparse.Namespace, images: list[EvalImage],
                  collector: MontageCollector | None = None
                  ) -> tuple[list[MethodResult], dict[str, dict]]:
    """Rows for the input, the targets (when present) and every chosen method; each
    output also goes to --save and the montage collector."""
    def save(method: str):
        fns = [f for f in (_saver(args.save, method), collector and collector.saver(method)) if f]
        return (lambda im, out: [f(im, out) for f in fns]) if fns else None

    methods = registry.descriptors() if args.method == "all" else [registry.get(args.method)]
    rows: list[MethodResult] = [
        evaluate(images, lambda x: x, method="input", title="Unenhanced input", family="-",
                 save=save("input"))]
    if images[0].high is not None:
        # The targets' own no-reference figures: what the outputs should approach.
        targets = [EvalImage(im.name, im.high) for im in images]
        rows.append(evaluate(targets, lambda x: x, method="target", title="Well-exposed target",
                             family="-", save=save("target")))
    params_used: dict[str, dict] = {}
    for d in methods:
        params = params_from_args(d.name, args)
        params_used[d.name] = {s.name: getattr(params, s.name) for s in d.params}
        try:
            enh = registry.create(d.name, backend=args.backend, device=args.device, weights=args.weights)
        except Exception as exc:  # missing weights or runtime: report it in the row, go on
            msg = str(exc).splitlines()[0] if str(exc) else ""
            rows.append(MethodResult(d.name, d.title, d.family, error=f"{type(exc).__name__}: {msg}".strip()))
            continue
        fn = lambda x, e=enh, p=params: enhance_still(e, x, p, reference=args.reference)  # noqa: E731
        row = evaluate(images, fn, method=d.name, title=d.title, family=d.family,
                       save=save(d.name))
        row.runtime = enh.runtime_label()
        rows.append(row)
    return rows, params_used


def _report(args: argparse.Namespace, images: list[EvalImage], rows: list[MethodResult]) -> None:
    print(f"{len(images)} pictures; {'targets: yes' if images[0].high is not None else 'no targets'}; "
          f"path: {'reference' if args.reference else 'fast'}")
    print(format_table(rows))


def _pairs_meta(args: argparse.Namespace, config: SyntheticConfig) -> dict:
    """How the synthetic pairs were made (for pairs.json and the JSON report)."""
    return {"synthetic": args.synthetic, "count": args.count, "seed": args.seed,
            "max_side": args.max_side, "config": config.as_dict()}


def _json_report(args: argparse.Namespace, images: list[EvalImage], rows: list[MethodResult],
                 params_used: dict[str, dict]) -> dict:
    source = ({"synthetic": args.synthetic, "count": len(images), "seed": args.seed,
               "config": _synthetic_config(args).as_dict()}
              if args.synthetic else {"low": args.low, "high": args.high, "split": args.split,
                                      "only": args.only})
    return {
        "source": source,
        "max_side": args.max_side,
        "path": "reference" if args.reference else "fast",
        "params": params_used,
        "pictures": [{"name": im.name, "width": im.low.shape[1], "height": im.low.shape[0], **im.info}
                     for im in images],
        "rows": [r.as_dict() for r in rows],
    }
