"""Shared fixtures: small synthetic frames; ../shared data only where present."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(sub: str) -> Path:
    """Path under ../shared/data, skipping the test when it is absent."""
    p = Path(os.environ.get("LOWLIGHT_SHARED_DATA", SHARED)) / sub
    if not p.exists():
        pytest.skip(f"development data not present: {p}")
    return p


@pytest.fixture
def dark_frame() -> np.ndarray:
    """A deterministic dark uint8 (72, 128, 3) RGB frame with texture and a bright spot."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:72, 0:128]
    base = 10 + 25 * (x / 127.0)[..., None] * np.array([1.0, 0.8, 0.6])
    base = base + rng.normal(0, 3, (72, 128, 3))
    base[20:30, 40:60] = 200
    return np.clip(base, 0, 255).astype(np.uint8)
