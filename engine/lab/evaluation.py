"""Evaluating enhancement methods on image sets: loading (low, high) pairs from folders
or making them synthetically, running a method over them and summarising the metrics.

Used by ``lowlight eval`` (:mod:`engine.cli.eval`) and reusable from training code.
Full-reference figures (PSNR, SSIM on BT.601 luma) need a target ("high") picture;
no-reference figures (brightness, colourfulness, noise) are measured on the outputs.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Collection, Sequence

import numpy as np

from engine.lab import metrics
from engine.enhancer import downscale
from engine.files.atomic import replacing
from engine.jobs.stills import StillError, collect_inputs, read_image, write_image
from engine.lab.synthetic import SyntheticConfig, make_pair, pair_seed, select_well_exposed

__all__ = [
    "EvalImage",
    "MethodResult",
    "PSNR_CAP",
    "load_folder_pairs",
    "synthetic_pairs",
    "write_pairs",
    "evaluate",
    "format_table",
]

#: PSNR of identical pictures is infinite; summaries count it as this many dB.
PSNR_CAP = 100.0


@dataclass
class EvalImage:
    """One evaluation picture.

    Attributes:
        name: relative path of the low picture (or ``synthetic/<i>_<file>``).
        low: uint8 (H, W, 3) RGB input to enhance.
        high: uint8 (H, W, 3) RGB target of the same shape, or None (no reference).
        info: where it came from (e.g. synthetic settings).
    """

    name: str
    low: np.ndarray
    high: np.ndarray | None = None
    info: dict = field(default_factory=dict)


@dataclass
class MethodResult:
    """Summary of one method (or of the unenhanced input) over an image set.

    Means over the images; ``psnr``/``ssim`` are None without targets, every figure is
    None when the method failed (``error`` says why). PSNR in dB (infinite values count
    as :data:`PSNR_CAP`), SSIM on luma, brightness 0..1, colourfulness on the 0..255
    scale (Hasler & Süsstrunk), noise σ in 8-bit levels (Immerkær), ``dark_chroma`` the
    mean CIE Lab chroma of the darkest half (a colour cast of the shadows), time in ms per
    picture (median, wall clock, includes nothing but the enhance call), ``runtime`` the
    enhancer's runtime label (e.g. ``numpy/cpu``).
    """

    method: str
    title: str
    family: str
    images: int = 0
    psnr: float | None = None
    ssim: float | None = None
    brightness: float | None = None
    colourfulness: float | None = None
    noise: float | None = None
    dark_chroma: float | None = None
    time_ms: float | None = None
    error: str | None = None
    runtime: str | None = None
    per_image: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _pair_key(rel: Path) -> str:
    return str(rel.with_suffix("")).lower()


def load_folder_pairs(
    low_dir: str | os.PathLike[str],
    high_dir: str | os.PathLike[str] | None = None,
    *,
    max_side: int | None = None,
    only: Collection[str] | None = None,
    warn: Callable[[str], None] = lambda s: None,
) -> list[EvalImage]:
    """Read the pictures under ``low_dir`` (recursively) and, when ``high_dir`` is given,
    their targets, matched by relative path without the suffix (``a/1.png`` ↔ ``a/1.jpg``)
    or, failing that, by a unique bare file stem.

    Unreadable pictures, low pictures without a target and pairs whose sizes differ are
    reported through ``warn`` (one line each) and left out.

    Args:
        low_dir: folder of low-light pictures.
        high_dir: folder of targets, or None.
        max_side: downscale every picture (and its target alike) so its long side is at
            most this many pixels; None keeps the sizes.
        only: names to keep, each a low picture's relative path without its suffix
            (``sub/12``) or its bare file stem (``12``), case-insensitive; None keeps all.
            The others are not read.
        warn: receives one line per problem.

    Returns:
        The pictures in name order.

    Raises:
        StillError: a folder that does not exist or is not a folder.
    """
    for d in (low_dir, high_dir):
        if d is not None and not Path(d).is_dir():
            raise StillError(f"{d}: no such folder")
    highs: dict[str, Path] = {}
    by_stem: dict[str, list[Path]] = {}
    if high_dir is not None:
        for f, rel in collect_inputs([high_dir]):
            highs[_pair_key(rel)] = f
            by_stem.setdefault(rel.stem.lower(), []).append(f)
    keep = None if only is None else {str(n).lower() for n in only}
    out: list[EvalImage] = []
    for f, rel in collect_inputs([low_dir]):
        if keep is not None and _pair_key(rel) not in keep and rel.stem.lower() not in keep:
            continue
        high_path: Path | None = None
        if high_dir is not None:
            high_path = highs.get(_pair_key(rel))
            if high_path is None and len(by_stem.get(rel.stem.lower(), [])) == 1:
                high_path = by_stem[rel.stem.lower()][0]
            if high_path is None:
                warn(f"{f}: no target with the same name in {high_dir}; skipped")
                continue
        try:
            low = read_image(f)
            high = read_image(high_path) if high_path is not None else None
        except StillError as exc:
            warn(f"{exc}; skipped")
            continue
        if high is not None and high.shape != low.shape:
            warn(f"{f}: size {low.shape[1]}x{low.shape[0]} differs from its target "
                 f"{high_path} ({high.shape[1]}x{high.shape[0]}); skipped")
            continue
        if max_side is not None:
            low = np.ascontiguousarray(downscale(low, max_side))
            high = np.ascontiguousarray(downscale(high, max_side)) if high is not None else None
        out.append(EvalImage(rel.as_posix(), low, high))
    return out


def synthetic_pairs(
    well_exposed: str | os.PathLike[str],
    count: int,
    seed: int,
    *,
    config: SyntheticConfig = SyntheticConfig(),
    max_side: int | None = None,
) -> list[EvalImage]:
    """Make ``count`` synthetic (low, high) pairs from well-exposed pictures.

    Pictures are chosen by :func:`engine.lab.synthetic.select_well_exposed` (a seeded subset)
    and darkened by :func:`engine.lab.synthetic.make_pair` with the generator
    ``pair_seed(seed, i)``: the same seed gives the same pairs.

    Raises:
        StillError: the folder does not exist.
        ValueError: a bad range in ``config``.
    """
    if not Path(well_exposed).is_dir():
        raise StillError(f"{well_exposed}: no such folder")
    if max_side is not None:
        config = replace(config, max_side=max_side)
    config.check()
    files = select_well_exposed([well_exposed], count=count, seed=seed)
    out: list[EvalImage] = []
    for i, f in enumerate(files):
        low, high, info = make_pair(read_image(f), config, pair_seed(seed, i))
        out.append(EvalImage(f"{i:04d}_{f.name}", low, high, {"source": str(f), **info.as_dict()}))
    return out


def write_pairs(images: Sequence[EvalImage], folder: str | os.PathLike[str], meta: dict) -> Path:
    """Write pairs for reuse: ``folder/low/<stem>.png``, ``folder/high/<stem>.png`` and
    ``folder/pairs.json`` (``meta`` plus, per pair, its files and ``info``).

    PNG keeps the pixels exactly, so ``load_folder_pairs(folder/"low", folder/"high")``
    gives back the same arrays (and so the same figures). Every file is written
    atomically; ``pairs.json`` comes last, so its presence means the set is complete.
    Existing files of the same names are replaced; a ``low``/``high`` folder holding
    other pictures is refused, since those would join the set when it is reloaded.

    Args:
        images: pairs with targets (``high`` not None).
        folder: output folder (created if needed).
        meta: JSON-ready description of how the pairs were made (seed, ranges, ...).

    Returns:
        The path of ``pairs.json``.

    Raises:
        StillError: one line naming the folder or file that cannot be written.
    """
    base = Path(folder)
    stems = [str(Path(im.name).with_suffix("")) for im in images]
    if len(set(stems)) != len(stems):
        raise StillError(f"{base}: two pairs would share a file name")
    for sub in ("low", "high"):
        d = base / sub
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StillError(f"{d}: cannot create folder ({exc.strerror or exc})") from None
        ours = {f"{s}.png" for s in stems}
        others = [rel.as_posix() for _, rel in collect_inputs([d]) if rel.as_posix() not in ours]
        if others:
            raise StillError(f"{d}: holds other pictures ({others[0]}, ...); "
                             f"they would join the set when it is reloaded, choose an empty folder")
    entries = []
    for im, stem in zip(images, stems):
        if im.high is None:
            raise StillError(f"{im.name}: a pair without a target cannot be written")
        write_image(base / "low" / f"{stem}.png", im.low)
        write_image(base / "high" / f"{stem}.png", im.high)
        entries.append({"name": im.name, "low": f"low/{stem}.png", "high": f"high/{stem}.png",
                        "width": int(im.low.shape[1]), "height": int(im.low.shape[0]), **im.info})
    target = base / "pairs.json"
    try:
        with replacing(target) as tmp:
            tmp.write_text(json.dumps({**meta, "pairs": entries}, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise StillError(f"{target}: cannot write ({exc.strerror or exc})") from None
    return target


def _finite_mean(values: Sequence[float]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else None


def evaluate(
    images: Sequence[EvalImage],
    enhance: Callable[[np.ndarray], np.ndarray],
    *,
    method: str,
    title: str,
    family: str,
    save: Callable[[EvalImage, np.ndarray], None] | None = None,
) -> MethodResult:
    """Run ``enhance`` on every picture and summarise the metrics.

    Args:
        images: pictures to enhance (targets optional, all or none).
        enhance: uint8 (H, W, 3) → uint8 (H, W, 3); the identity for the input row.
        method, title, family: labels of the row.
        save: called with each picture and its output (e.g. to write it to disk).

    Returns:
        The summary; an exception from ``enhance`` ends this method's run and is
        recorded in ``error`` as one line.
    """
    res = MethodResult(method, title, family)
    times: list[float] = []
    for im in images:
        try:
            t0 = time.perf_counter()
            out = enhance(im.low)
            times.append(time.perf_counter() - t0)
        except Exception as exc:  # e.g. missing weights of a learned method
            res.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
            res.per_image = []
            res.images = 0
            return res
        if save is not None:
            save(im, out)
        row: dict = {"name": im.name, **metrics.no_reference(out)}
        if im.high is not None:
            row["psnr"] = min(metrics.psnr(out, im.high), PSNR_CAP)
            row["ssim"] = metrics.ssim(out, im.high)
        res.per_image.append(row)
    res.images = len(res.per_image)
    if res.images:
        res.brightness = _finite_mean([r["brightness"] for r in res.per_image])
        res.colourfulness = _finite_mean([r["colourfulness"] for r in res.per_image])
        res.noise = _finite_mean([r["noise"] for r in res.per_image])
        res.dark_chroma = _finite_mean([r["dark_chroma"] for r in res.per_image])
        if all("psnr" in r for r in res.per_image):
            res.psnr = _finite_mean([r["psnr"] for r in res.per_image])
            res.ssim = _finite_mean([r["ssim"] for r in res.per_image])
        res.time_ms = float(np.median(times) * 1e3)
    return res


def format_table(rows: Sequence[MethodResult]) -> str:
    """A plain-text table, one line per row: method, images, PSNR, SSIM, brightness,
    colourfulness, noise, dark-half chroma, ms per picture and any error."""

    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    header = ["method", "images", "PSNR dB", "SSIM", "bright", "colourful", "noise", "dark C*", "ms/img", "note"]
    lines = [[r.method, str(r.images), num(r.psnr, ".2f"), num(r.ssim, ".4f"),
              num(r.brightness, ".3f"), num(r.colourfulness, ".1f"), num(r.noise, ".2f"),
              num(r.dark_chroma, ".1f"), num(r.time_ms, ".1f"), r.error or ""] for r in rows]
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    fmt_row = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i in (0, 9) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt_row(header), fmt_row(["-" * w for w in widths])] + [fmt_row(l) for l in lines])
