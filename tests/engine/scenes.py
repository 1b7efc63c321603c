"""Small deterministic pictures for tests that need pairs of pictures on disk."""

from __future__ import annotations

import numpy as np


def striped_scene(h: int, w: int, seed: int) -> np.ndarray:
    """A well-exposed uint8 (h, w, 3) RGB picture: warm sine stripes over a vertical ramp,
    with Gaussian noise of σ 3 levels; the same ``seed`` gives the same picture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 110 + 50 * np.sin(x / 5.0 + seed)[..., None] * np.array([1.0, 0.6, 0.3]) + 30 * (y / h)[..., None]
    return np.clip(base + rng.normal(0, 3, (h, w, 3)), 0, 255).astype(np.uint8)
