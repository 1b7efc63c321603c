"""Paired low/normal-light data for supervised training: pairing files by name, the fixed
block validation split, decoding, and seeded random crops with flips (optionally at a random
down-scale).

Images are uint8 (H, W, 3) RGB in memory; batches are float32 (B, 3, c, c) tensors in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.files.images import ImageError, read_image
from engine.train.data import DataError, list_images

__all__ = ["Pair", "list_pairs", "block_split", "PairSet", "load_pairs", "PairCropSampler"]


@dataclass(frozen=True)
class Pair:
    """One training pair: the shared file stem ``name`` and the two files."""

    name: str
    low: Path
    high: Path


def list_pairs(low_dir: str | Path, high_dir: str | Path) -> list[Pair]:
    """Pairs of images with the same stem in ``low_dir`` and ``high_dir`` (extensions may
    differ, e.g. ``low/12.webp`` with ``high/12.jpg``), in natural order of the stem.

    Raises :class:`~engine.train.data.DataError` when a folder is missing or empty, or when
    an image of one folder has no partner in the other."""
    lows, highs = list_images(low_dir), list_images(high_dir)
    hi_by_stem = {f.stem: f for f in highs}
    lo_stems = {f.stem for f in lows}
    missing = [f.name for f in lows if f.stem not in hi_by_stem] + [f.name for f in highs if f.stem not in lo_stems]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(f"{len(missing)} image(s) without a partner in the other folder: {shown}")
    return [Pair(f.stem, f, hi_by_stem[f.stem]) for f in lows]


def block_split(
    names: list[str], fraction: float = 0.1, blocks: int = 4, guard: int = 2
) -> tuple[list[int], list[int], list[int]]:
    """Fixed validation split of a consecutively numbered pair list (natural order).

    ``blocks`` runs of consecutive pairs, ``ceil(fraction·n)`` pairs in all, are centred at
    the positions (i + 1/2)·n/blocks of the list, so every part of the numbering (every group
    of scenes) is represented. Numbers close together are often the same scene, so contiguous
    blocks hold out whole scenes, and the ``guard`` pairs on each side of a block are used
    for neither training nor validation (a scene straddling the block's edge cannot leak).

    Returns (train, validation, guard) index lists into ``names``, sorted and disjoint; it
    depends only on the number of names.
    """
    n = len(names)
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must be in (0, 1), got {fraction}")
    if blocks < 1 or guard < 0:
        raise DataError(f"blocks must be >= 1 and guard >= 0, got {blocks}, {guard}")
    total = math.ceil(fraction * n)
    sizes = [total // blocks + (1 if i < total % blocks else 0) for i in range(blocks)]
    val: set[int] = set()
    guarded: set[int] = set()
    for i, size in enumerate(sizes):
        if size == 0:
            continue
        start = max(0, min(n - size, round((i + 0.5) * n / blocks - size / 2)))
        val.update(range(start, start + size))
        guarded.update(range(max(0, start - guard), start))
        guarded.update(range(start + size, min(n, start + size + guard)))
    guarded -= val
    train = [i for i in range(n) if i not in val and i not in guarded]
    if not train:
        raise DataError(f"no training pairs left after the validation split of {n} pairs")
    return train, sorted(val), sorted(guarded)


def _read_rgb(path: Path, scale: float = 1.0) -> np.ndarray:
    """uint8 (H, W, 3) RGB of the picture at ``path`` (:func:`engine.files.images.read_image`),
    area-reduced by ``scale`` when it is not 1."""
    try:
        img = read_image(path)
    except ImageError as exc:
        raise DataError(str(exc)) from None
    if scale != 1.0:
        h, w = img.shape[:2]
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


@dataclass
class PairSet:
    """Decoded pairs: ``low`` and ``high`` lists of uint8 (H, W, 3) RGB arrays, same shapes
    pairwise; ``names`` the stems."""

    names: list[str]
    low: list[np.ndarray]
    high: list[np.ndarray]


def load_pairs(pairs: list[Pair], scale: float = 1.0) -> PairSet:
    """Decode ``pairs`` (resized by ``scale`` with area interpolation when ≠ 1).

    Raises DataError when an image is unreadable or the two images of a pair differ in size."""
    lows, highs = [], []
    for p in pairs:
        lo, hi = _read_rgb(p.low, scale), _read_rgb(p.high, scale)
        if lo.shape != hi.shape:
            raise DataError(f"pair {p.name}: low is {lo.shape[1]}x{lo.shape[0]} but high is {hi.shape[1]}x{hi.shape[0]}")
        lows.append(lo)
        highs.append(hi)
    return PairSet([p.name for p in pairs], lows, highs)


class PairCropSampler:
    """Epochs of shuffled batches of aligned random square crops from a :class:`PairSet`.

    Every crop is ``crop``×``crop`` px. With ``scale_min`` < 1 each crop is first taken at a
    random scale s ∈ [scale_min, 1] (a (crop/s)-px window, area-resized to ``crop``), so the
    network sees the pictures both at full resolution and reduced as the real-time path runs
    it. Random horizontal and vertical flips are applied to both images alike. Every image
    yields ``crops_per_image`` crops per epoch; all randomness comes from the
    :class:`numpy.random.Generator` passed to :meth:`epoch`.
    """

    def __init__(self, data: PairSet, batch: int, crop: int, scale_min: float = 1.0,
                 crops_per_image: int = 1) -> None:
        if batch < 1 or crops_per_image < 1:
            raise DataError(f"batch and crops per image must be >= 1, got {batch}, {crops_per_image}")
        if not 0.0 < scale_min <= 1.0:
            raise DataError(f"scale min must be in (0, 1], got {scale_min}")
        smallest = min(min(im.shape[:2]) for im in data.low)
        if not 8 <= crop <= smallest:
            raise DataError(f"crop must be between 8 and the smallest image side {smallest} px, got {crop}")
        self.data, self.crop, self.scale_min, self.cpi = data, crop, scale_min, crops_per_image
        self.batch = min(batch, len(data.low) * crops_per_image)

    def batches_per_epoch(self) -> int:
        return max(1, len(self.data.low) * self.cpi // self.batch)

    def _one(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.data.low[i], self.data.high[i]
        h, w = lo.shape[:2]
        c = self.crop
        s = float(rng.uniform(self.scale_min, 1.0)) if self.scale_min < 1.0 else 1.0
        win = min(h, w, max(c, int(round(c / s))))
        y, x = (int(v) for v in rng.integers(0, [h - win + 1, w - win + 1]))
        a, b = lo[y : y + win, x : x + win], hi[y : y + win, x : x + win]
        if win != c:
            a = cv2.resize(a, (c, c), interpolation=cv2.INTER_AREA)
            b = cv2.resize(b, (c, c), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        if rng.random() < 0.5:
            a, b = a[::-1], b[::-1]
        return a, b

    def epoch(self, rng: np.random.Generator):
        """Yield this epoch's (low, high) batches, each float32 (B, 3, crop, crop) in [0, 1]
        (the incomplete last batch is dropped)."""
        n = len(self.data.low)
        order = np.concatenate([rng.permutation(n) for _ in range(self.cpi)])
        c = self.crop
        for b in range(self.batches_per_epoch()):
            idx = order[b * self.batch : (b + 1) * self.batch]
            lo = np.empty((len(idx), c, c, 3), np.uint8)
            hi = np.empty_like(lo)
            for j, i in enumerate(idx):
                lo[j], hi[j] = self._one(int(i), rng)
            yield (torch.from_numpy(lo).permute(0, 3, 1, 2).float().div_(255.0).contiguous(),
                   torch.from_numpy(hi).permute(0, 3, 1, 2).float().div_(255.0).contiguous())
