"""Synthetic low-light pairs made from well-exposed pictures.

The well-exposed picture is the target ("high"); the dark one ("low") is what a camera
would record with less light: sRGB gamma is undone, the linear exposure is scaled down
by a factor (e.g. 0.03..0.3), Poisson-Gaussian sensor noise is added (photon shot noise
from a photon count, Gaussian read noise), gamma is re-applied and the picture quantised
to 8 bits, followed by a JPEG re-encode (by default; ``SyntheticConfig.jpeg_quality =
None`` turns it off). Everything is deterministic for a
given seed.

Noise model (per pixel and channel, linear intensity v in [0, 1] after exposure scaling):
``electrons ~ Poisson(v · photons) + Normal(0, read_noise)``, ``v' = electrons / photons``.
``photons`` is the electron count a full-scale white would collect at the *original*
exposure, so the dark picture's white collects ``exposure · photons``: fewer photons or
a smaller exposure → more shot noise relative to the signal.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from engine.enhancer import downscale
from engine.frame import check_rgb8
from engine.lab.metrics import mean_brightness
from engine.jobs.stills import StillError, collect_inputs, read_image

__all__ = [
    "srgb_to_linear",
    "linear_to_srgb",
    "darken",
    "SyntheticConfig",
    "PairInfo",
    "make_pair",
    "pair_seed",
    "select_well_exposed",
]


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding: float 0..1 (any shape) → linear light 0..1, float32."""
    x = np.clip(np.asarray(x, np.float32), 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding: linear 0..1 (any shape) → float 0..1, float32.
    Values outside 0..1 are clipped first."""
    v = np.clip(np.asarray(v, np.float32), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1.0 / 2.4) - 0.055).astype(np.float32)


def _jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]),
                           [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 (H, W, 3)
        raise RuntimeError("JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def darken(
    image: np.ndarray,
    exposure: float,
    *,
    photons: float = 1000.0,
    read_noise: float = 2.0,
    jpeg_quality: int | None = None,
    rng: np.random.Generator | int | None = 0,
) -> np.ndarray:
    """Simulate a darker exposure of a well-exposed picture.

    Args:
        image: uint8 (H, W, 3) RGB, the well-exposed picture.
        exposure: linear exposure factor in (0, 1], e.g. 0.1 = 1/10 of the light.
        photons: electrons collected by a full-scale (linear 1.0) pixel at the original
            exposure; the dark picture's white collects ``exposure · photons``. <= 0 or
            ``inf`` disables shot noise.
        read_noise: standard deviation of the Gaussian read noise, in electrons (same
            units as ``photons``); 0 disables it.
        jpeg_quality: re-encode the result as JPEG at this quality (1..100); None = no.
        rng: a numpy Generator or an integer seed (same seed → same result).

    Returns:
        uint8 (H, W, 3) RGB dark picture, same shape as ``image``.
    """
    check_rgb8(np.ascontiguousarray(image))
    if not exposure > 0:
        raise ValueError(f"exposure must be > 0, got {exposure}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    lin = srgb_to_linear(image.astype(np.float32) / 255.0) * np.float32(exposure)
    if photons > 0 and math.isfinite(photons):
        electrons = gen.poisson(lin.astype(np.float64) * photons).astype(np.float32)
        if read_noise > 0:
            electrons += gen.normal(0.0, read_noise, lin.shape).astype(np.float32)
        lin = electrons / np.float32(photons)
    elif read_noise > 0:
        raise ValueError("read_noise needs a finite photons > 0 to set its scale")
    out = (linear_to_srgb(lin) * 255.0 + 0.5).astype(np.uint8)
    if jpeg_quality is not None:
        out = _jpeg_roundtrip(out, jpeg_quality)
    return np.ascontiguousarray(out)


@dataclass(frozen=True)
class SyntheticConfig:
    """Ranges the per-pair settings are drawn from (uniformly; exposure log-uniformly).

    Attributes:
        exposure: (low, high) linear exposure factor, 0 < low <= high <= 1.
        photons: (low, high) full-scale electron count at the original exposure, > 0.
        read_noise: (low, high) read noise σ in electrons, >= 0.
        jpeg_quality: (low, high) JPEG quality 1..100 (inclusive, integers), or None for
            no re-encode. The default (70..95) is the range phone and web pictures are
            saved at; the block artefacts of a dark JPEG are what an enhancer amplifies.
        max_side: downscale the well-exposed picture so its long side is at most this
            many pixels before darkening (None = keep the size).
    """

    exposure: tuple[float, float] = (0.03, 0.3)
    photons: tuple[float, float] = (300.0, 3000.0)
    read_noise: tuple[float, float] = (1.0, 4.0)
    jpeg_quality: tuple[int, int] | None = (70, 95)
    max_side: int | None = None

    def check(self) -> "SyntheticConfig":
        """Return ``self`` when every range is valid.

        Raises:
            ValueError: one line naming the first bad range.
        """
        def ordered(name: str, r: tuple[float, float]) -> tuple[float, float]:
            lo, hi = (float(v) for v in r)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError(f"{name} range must be finite, got {lo:g},{hi:g}")
            if lo > hi:
                raise ValueError(f"{name} range must have low <= high, got {lo:g},{hi:g}")
            return lo, hi

        lo, hi = ordered("exposure", self.exposure)
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"exposure range must satisfy 0 < low <= high <= 1, got {lo:g},{hi:g}")
        if ordered("photons", self.photons)[0] <= 0:
            raise ValueError(f"photons must be > 0, got {self.photons[0]:g}")
        if ordered("read noise", self.read_noise)[0] < 0:
            raise ValueError(f"read noise must be >= 0, got {self.read_noise[0]:g}")
        if self.jpeg_quality is not None:
            qlo, qhi = ordered("JPEG quality", self.jpeg_quality)
            if qlo != int(qlo) or qhi != int(qhi) or not 1 <= qlo <= qhi <= 100:
                raise ValueError(f"JPEG quality range must be whole numbers with 1 <= low <= high "
                                 f"<= 100, got {qlo:g},{qhi:g}")
        if self.max_side is not None and self.max_side < 1:
            raise ValueError(f"max_side must be at least 1, got {self.max_side}")
        return self

    def as_dict(self) -> dict:
        """The ranges as plain data (lists), for JSON reports."""
        return asdict(self)


@dataclass(frozen=True)
class PairInfo:
    """The settings one pair was made with (for logs and JSON reports)."""

    exposure: float
    photons: float
    read_noise: float
    jpeg_quality: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def pair_seed(seed: int, index: int) -> np.random.Generator:
    """Generator for pair ``index`` of a run seeded with ``seed``: pairs are independent
    of how many were made before them, so a subset reproduces the same pairs."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def make_pair(
    image: np.ndarray,
    config: SyntheticConfig = SyntheticConfig(),
    rng: np.random.Generator | int | None = 0,
) -> tuple[np.ndarray, np.ndarray, PairInfo]:
    """Make one (low, high) pair from a well-exposed picture.

    Args:
        image: uint8 (H, W, 3) RGB well-exposed picture.
        config: ranges of the random settings.
        rng: numpy Generator or integer seed.

    Returns:
        ``(low, high, info)``: uint8 (h, w, 3) dark picture, the (possibly downscaled)
        uint8 (h, w, 3) target, and the settings used.
    """
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    high = check_rgb8(np.ascontiguousarray(image))
    config.check()
    if config.max_side is not None:
        high = np.ascontiguousarray(downscale(high, config.max_side))
    lo, hi = config.exposure
    exposure = float(math.exp(gen.uniform(math.log(lo), math.log(hi))))
    photons = float(gen.uniform(*config.photons))
    read_noise = float(gen.uniform(*config.read_noise))
    quality = None
    if config.jpeg_quality is not None:
        quality = int(gen.integers(int(config.jpeg_quality[0]), int(config.jpeg_quality[1]) + 1))
    low = darken(high, exposure, photons=photons, read_noise=read_noise,
                 jpeg_quality=quality, rng=gen)
    return low, high, PairInfo(exposure, photons, read_noise, quality)


def select_well_exposed(
    paths: Iterable[str | os.PathLike[str]],
    *,
    brightness: tuple[float, float] = (0.35, 0.65),
    max_clipped: float = 0.05,
    count: int | None = None,
    seed: int | None = None,
    probe_side: int = 256,
) -> list[Path]:
    """Pick well-exposed pictures from files and/or folders (searched recursively).

    A picture qualifies when its mean BT.601 luma (0..1) lies in ``brightness`` and at
    most ``max_clipped`` of its pixels have luma <= 2 or >= 253 (crushed blacks or
    blown highlights). Unreadable files are skipped. The measurement runs on a copy
    downscaled to ``probe_side`` (long side) for speed.

    Args:
        paths: image files and folders.
        brightness: inclusive (low, high) range of mean luma, 0..1.
        max_clipped: largest allowed fraction of clipped pixels, 0..1.
        count: return at most this many; None = all that qualify.
        seed: with ``count``, pick a seeded random subset instead of the first ``count``
            in name order (the result is still in name order).
        probe_side: long side of the measured copy, in pixels.

    Returns:
        Qualifying files in name order.
    """
    files = [f for f, _ in collect_inputs(paths)]
    if count is not None and seed is not None:
        # Visit the files in a seeded order so the subset is random yet reproducible.
        order = np.random.default_rng(seed).permutation(len(files))
        files = [files[i] for i in order]
    chosen: list[Path] = []
    for f in files:
        if count is not None and len(chosen) >= count:
            break
        try:
            img = downscale(read_image(f), probe_side)
        except StillError:
            continue
        y = (img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
        clipped = float(np.mean((y <= 2.5) | (y >= 252.5)))
        if brightness[0] <= mean_brightness(img) <= brightness[1] and clipped <= max_clipped:
            chosen.append(f)
    return sorted(chosen)
