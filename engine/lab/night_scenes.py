"""Synthetic night scenes for the colour and tone checks (no real footage needed).

Each generator is deterministic for its seed and returns uint8 RGB pictures:

- :func:`violet_night_clip`: a static near-black yard (mean luma ≈ 0.02) as a phone's
  H.264 encoder leaves it: a per-channel black level a grey level or two apart (red and
  blue above green: lifted, a violet cast), blocky low-frequency chroma noise that changes
  from frame to frame, fine sensor noise, and one small saturated orange lamp whose colour
  must survive.
- :func:`backlit_still`: a bright evening sky over a dark, textured foreground.
- :func:`hazy_still`: a moderately dark hazy night city (mean luma ≈ 0.24): a flat brown
  sky over dark buildings with lit windows.

The regions the checks read are returned with them (boolean (H, W) masks).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["NightClip", "violet_night_clip", "backlit_still", "hazy_still", "neon_still", "LAMP_RGB", "NEON_RGB"]

#: the lamp's colour in :func:`violet_night_clip` (an orange sodium lamp), 0..1
LAMP_RGB = (0.95, 0.55, 0.12)


@dataclass
class NightClip:
    """Frames (uint8 (H, W, 3) RGB) and the lamp's mask (bool (H, W))."""

    frames: list[np.ndarray]
    lamp: np.ndarray


def _texture(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Smooth random texture (h, w) float32 with values around 0 (unit std at ``scale``)."""
    small = rng.standard_normal((max(2, int(h / scale)), max(2, int(w / scale)))).astype(np.float32)
    t = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return t / max(float(t.std()), 1e-6)


def violet_night_clip(n_frames: int = 12, size: tuple[int, int] = (180, 320), *, seed: int = 0,
                      bias: tuple[float, float, float] = (1.6, -0.9, 2.4), chroma_noise: float = 1.2,
                      noise: float = 0.8) -> NightClip:
    """A static near-black night yard with a codec's colour bias and chroma noise.

    Args:
        n_frames: frames (the scene is still; only the noise changes).
        size: (H, W), at least 32 × 32.
        seed: random seed.
        bias: per-channel black-level offset (R, G, B) in grey levels.
        chroma_noise: std (levels) of the 8×8-blocky colour noise, new each frame.
        noise: std (levels) of the fine luma noise, new each frame.
    """
    h, w = size
    rng = np.random.default_rng(seed)
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    sky = 0.022 - 0.008 * yy                    # a faint gradient towards the horizon
    lawn = 0.012 + 0.004 * _texture(rng, h, w, 6.0)
    scene = np.where(yy < 0.45, sky + 0.0 * lawn, lawn).astype(np.float32)
    # a house: a darker block with two dimly lit windows
    scene[int(0.3 * h):int(0.7 * h), int(0.55 * w):int(0.85 * w)] = 0.008
    for x0 in (0.6, 0.75):
        scene[int(0.4 * h):int(0.5 * h), int(x0 * w):int((x0 + 0.05) * w)] = 0.06
    rgb = np.repeat(scene[:, :, None], 3, axis=2)
    lamp = np.zeros((h, w), bool)
    cy, cx, r = int(0.2 * h), int(0.15 * w), max(2, min(h, w) // 30)
    cv2.circle(lamp.view(np.uint8), (cx, cy), r, 1, -1)
    rgb[lamp] = np.array(LAMP_RGB, np.float32)
    base = rgb * 255.0 + np.array(bias, np.float32)
    frames = []
    bh, bw = max(1, h // 8), max(1, w // 8)
    for _ in range(n_frames):
        blocks = rng.standard_normal((bh, bw, 3)).astype(np.float32) * chroma_noise
        blocks -= (blocks @ np.array([0.299, 0.587, 0.114], np.float32))[:, :, None]  # colour only
        cnoise = cv2.resize(blocks, (w, h), interpolation=cv2.INTER_NEAREST)
        fine = rng.standard_normal((h, w, 1)).astype(np.float32) * noise
        f = base + cnoise + fine
        frames.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
    return NightClip(frames, lamp)


def backlit_still(size: tuple[int, int] = (180, 320), *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bright evening sky (top 40 %, luma ≈ 0.75, warm) over a dark textured field
    (luma ≈ 0.04). Returns (uint8 (H, W, 3) RGB, bool (H, W) foreground mask)."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    fg = np.broadcast_to(yy >= 0.4, (h, w)).copy()
    sky = np.stack([0.85 - 0.1 * yy, 0.75 - 0.1 * yy, 0.6 - 0.1 * yy], axis=2) * np.ones((1, w, 1), np.float32)
    field = (0.04 + 0.012 * _texture(rng, h, w, 4.0))[:, :, None] * np.array([1.0, 0.95, 0.8], np.float32)
    img = np.where(fg[:, :, None], field, sky)
    img = img * 255.0 + rng.standard_normal((h, w, 3)).astype(np.float32) * 0.8
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), fg


def hazy_still(size: tuple[int, int] = (180, 320), *, seed: int = 0) -> np.ndarray:
    """A moderately dark hazy night city: a flat brown sky (top half, luma ≈ 0.33) over
    dark buildings (≈ 0.10) with lit windows (≈ 0.7); mean luma ≈ 0.24, relative
    contrast (std / mean of luma) ≈ 0.4. uint8 (H, W, 3) RGB."""
    h, w = size
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.array([0.40, 0.32, 0.24], np.float32)                 # hazy brown sky
    img[: h // 2] += 0.02 * _texture(rng, h // 2, w, 20.0)[:, :, None]
    top = h // 2
    img[top:] = np.array([0.11, 0.10, 0.09], np.float32)                # buildings
    img[top:] += 0.02 * _texture(rng, h - top, w, 3.0)[:, :, None]
    for yi in range(top + 4, h - 4, 12):
        for xi in range(6, w - 6, 14):
            if rng.random() < 0.45:
                img[yi:yi + 5, xi:xi + 6] = np.array([0.85, 0.72, 0.45], np.float32)
    img = img * 255.0 + rng.standard_normal((h, w, 3)).astype(np.float32) * 1.0
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


#: the neon signs of :func:`neon_still` (a red and a blue tube), 0..1
NEON_RGB = ((0.85, 0.08, 0.12), (0.10, 0.25, 0.90))


def neon_still(size: tuple[int, int] = (180, 320), *, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """A dark street (luma ≈ 0.03, a faint violet black level) with a red and a blue neon
    sign (:data:`NEON_RGB`), each a thick bar with a soft glow around it. Returns
    (uint8 (H, W, 3) RGB, [bool (H, W) mask of each sign's bar])."""
    h, w = size
    rng = np.random.default_rng(seed)
    base = (0.03 + 0.01 * _texture(rng, h, w, 5.0)).astype(np.float32)
    img = np.repeat(base[:, :, None], 3, axis=2)
    masks = []
    for (x0, x1), colour in zip(((0.15, 0.4), (0.6, 0.85)), NEON_RGB):
        m = np.zeros((h, w), np.float32)
        m[int(0.35 * h):int(0.5 * h), int(x0 * w):int(x1 * w)] = 1.0
        glow = cv2.GaussianBlur(m, (0, 0), max(1.0, min(h, w) / 40.0))
        a = np.maximum(m, 0.35 * glow)[:, :, None]
        img = img * (1 - a) + a * np.array(colour, np.float32)
        masks.append(m > 0.5)
    img = img * 255.0 + np.array([1.2, -0.6, 1.8], np.float32) + rng.standard_normal((h, w, 3)).astype(np.float32) * 0.8
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), masks
