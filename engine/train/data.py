"""Training data: a folder of images, decoded once, downscaled and cached as uint8 .npy;
batches of random crops with random flips.

The cache lives under ``$LOWLIGHT_CACHE`` or ``~/.cache/lowlight/train`` (never in git),
keyed by the folder's absolute path, its file names, sizes and modification times, the
image size and the image limit; it is written to a temporary file and renamed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.files.atomic import replacing
from engine.files.images import IMAGE_SUFFIXES
from engine.files.paths import natural_key

__all__ = [
    "IMAGE_SUFFIXES",
    "DataError",
    "list_images",
    "split_holdout",
    "decode_resized",
    "cache_dir",
    "load_image_set",
    "ImageSet",
    "CropSampler",
    "mean_grey",
    "select_dark",
]

class DataError(ValueError):
    """The training data folder is missing, empty or holds an unreadable image."""


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files directly in ``folder``, in natural order (2.jpg before 10.jpg).

    Raises :class:`DataError` when the folder is missing or holds no image."""
    p = Path(folder)
    if not p.is_dir():
        raise DataError(f"training data folder not found: {p}")
    files = sorted(
        (f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda f: natural_key(f.name),
    )
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in training data folder: {p}")
    return files


def split_holdout(files: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """Split into (train, held-out): the last ``ceil(fraction·n)`` files in natural order are
    held out. A contiguous block, because datasets such as SICE number the exposures of one
    scene consecutively, so a block holds out whole scenes (but the boundary scene)."""
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"hold-out fraction must be in [0, 1), got {fraction}")
    k = math.ceil(fraction * len(files))
    train, held = files[: len(files) - k], files[len(files) - k :]
    if not train:
        raise DataError("no training images left after the hold-out split")
    return train, held


def decode_resized(path: Path, size: int) -> np.ndarray:
    """Decode an image to uint8 (size, size, 3) RGB: resize so the short side is ``size``
    (area interpolation), then centre-crop the long side."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"cannot decode image: {path}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    s = size / min(h, w)
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    img = cv2.resize(img, (nw, nh), interpolation=interp)
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size])


def cache_dir() -> Path:
    """Folder of decoded-image caches: ``$LOWLIGHT_CACHE`` or ``~/.cache/lowlight/train``."""
    from engine.runtime.environment import EnvSettingError, cache_folder

    try:
        env = cache_folder()
    except EnvSettingError as exc:
        raise DataError(str(exc)) from None
    return env or Path.home() / ".cache" / "lowlight" / "train"


def _cache_key(files: list[Path], size: int) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(f"size={size}".encode())
    return h.hexdigest()[:20]


@dataclass
class ImageSet:
    """Decoded training images: ``images`` uint8 (N, S, S, 3) RGB, ``files`` their sources."""

    images: np.ndarray
    files: list[Path]
    size: int
    cache_file: Path | None


def load_image_set(
    files: list[Path], size: int, use_cache: bool = True, progress: bool = False
) -> ImageSet:
    """Decode ``files`` at ``size``×``size`` (see :func:`decode_resized`), through the cache."""
    if size < 16:
        raise DataError(f"image size must be at least 16 px, got {size}")
    cache_file = None
    if use_cache:
        cache_file = cache_dir() / f"{_cache_key(files, size)}.npy"
        if cache_file.exists():
            try:
                arr = np.load(cache_file, mmap_mode="r")
                if arr.shape == (len(files), size, size, 3) and arr.dtype == np.uint8:
                    return ImageSet(np.asarray(arr), files, size, cache_file)
            except (OSError, ValueError):
                pass  # corrupt cache: rebuild it
    arr = np.empty((len(files), size, size, 3), np.uint8)
    it = enumerate(files)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(files), desc="decoding", unit="img", leave=False)
    for i, f in it:
        arr[i] = decode_resized(f, size)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            with replacing(cache_file) as tmp:
                np.save(tmp, arr)
        except OSError as exc:
            raise DataError(f"cannot write the image cache in {cache_file.parent} "
                            f"({exc.strerror or exc}); set LOWLIGHT_CACHE to a writable folder "
                            "or train with --no-cache") from None
        meta = {"files": len(files), "first": str(files[0]), "size": size}
        cache_file.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return ImageSet(arr, files, size, cache_file)


def mean_grey(images: np.ndarray) -> np.ndarray:
    """Mean grey level in [0, 1] (plain RGB average) of each uint8 (N, H, W, 3) image: float64 (N,)."""
    n = images.shape[0]
    return images.reshape(n, -1).mean(axis=1, dtype=np.float64) / 255.0


def select_dark(images: np.ndarray, max_mean: float) -> np.ndarray:
    """Indices (sorted, int64) of the images whose mean grey level is below ``max_mean``
    (0..1): the under-exposed part of a mixed-exposure set such as SICE.

    Raises :class:`DataError` when ``max_mean`` is outside (0, 1] or no image qualifies."""
    if not 0.0 < max_mean <= 1.0:
        raise DataError(f"max mean brightness must be in (0, 1], got {max_mean}")
    idx = np.flatnonzero(mean_grey(images) < max_mean)
    if idx.size == 0:
        raise DataError(f"no training image has a mean brightness below {max_mean}")
    return idx.astype(np.int64)


class CropSampler:
    """Epochs of shuffled batches of random square crops with random horizontal and vertical
    flips, drawn from a :class:`numpy.random.Generator` (so a seed fixes every batch).

    Each batch has one crop size, uniform in [crop_min, crop_max] and rounded down to a
    multiple of ``multiple`` (16 keeps the exposure loss's 16×16 patches whole).
    Batches are float32 (B, 3, c, c) tensors in [0, 1].
    """

    def __init__(
        self, images: np.ndarray, batch: int, crop_min: int, crop_max: int, multiple: int = 16
    ) -> None:
        n, s = images.shape[0], images.shape[1]
        if batch < 1:
            raise DataError(f"batch size must be >= 1, got {batch}")
        if not multiple <= crop_min <= crop_max <= s:
            raise DataError(
                f"crop sizes must satisfy {multiple} <= min <= max <= image size {s}, "
                f"got {crop_min}..{crop_max}"
            )
        self.images, self.batch = images, min(batch, n)
        self.crop_min, self.crop_max, self.multiple = crop_min, crop_max, multiple

    def batches_per_epoch(self) -> int:
        return max(1, self.images.shape[0] // self.batch)

    def epoch(self, rng: np.random.Generator):
        """Yield this epoch's batches (drops the incomplete last batch)."""
        import torch

        n, s = self.images.shape[0], self.images.shape[1]
        order = rng.permutation(n)
        for b in range(self.batches_per_epoch()):
            idx = order[b * self.batch : (b + 1) * self.batch]
            c = int(rng.integers(self.crop_min, self.crop_max + 1))
            c = max(self.multiple, c - c % self.multiple)
            out = np.empty((len(idx), c, c, 3), np.uint8)
            for j, i in enumerate(idx):
                y, x = rng.integers(0, s - c + 1, size=2)
                crop = self.images[i, y : y + c, x : x + c]
                if rng.random() < 0.5:
                    crop = crop[:, ::-1]
                if rng.random() < 0.5:
                    crop = crop[::-1]
                out[j] = crop
            t = torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)
            yield t.contiguous()
