"""Frame contract, parameters and registry basics."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import registry
from engine.frame import check_rgb8, levels_to_float, to_rgb8
from engine.params import EnhanceParams

ROOT = Path(__file__).resolve().parents[2]


def test_engine_never_imports_qt() -> None:
    bad = []
    for py in (ROOT / "engine").rglob("*.py"):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            if any(m.split(".")[0] in {"PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy", "app"} for m in mods):
                bad.append(str(py.relative_to(ROOT)))
    assert not bad, f"engine/ must not import Qt or app/: {bad}"


@pytest.mark.parametrize(
    "arr",
    [
        np.zeros((5, 7), np.uint8),
        np.zeros((5, 7, 1), np.uint8),
        np.zeros((5, 7, 2), np.uint8),
        np.zeros((5, 7, 4), np.uint8),
        np.zeros((5, 7, 3), np.uint16),
        np.zeros((5, 7, 3), np.float32),
        np.zeros((1, 1, 3), np.uint8),
    ],
)
def test_to_rgb8_contract(arr: np.ndarray) -> None:
    out = check_rgb8(to_rgb8(arr))
    assert out.shape[:2] == arr.shape[:2]


def test_to_rgb8_16bit_and_bgr() -> None:
    a = np.array([[[65535, 0, 32768]]], np.uint16)
    assert to_rgb8(a).tolist() == [[[255, 0, 128]]]
    assert to_rgb8(np.array([[[1, 2, 3]]], np.uint8), bgr=True).tolist() == [[[3, 2, 1]]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=3), st.integers(0, 2**16))
def test_levels_to_float_is_exact_in_place_for_any_shape(shape: list[int], seed: int) -> None:
    # OpenCV reads some tiny arrays as scalars: every shape must still give the exact levels
    a = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    out = np.full(a.shape, -1.0, np.float32)
    assert levels_to_float(a, out) is out
    np.testing.assert_array_equal(out, a.astype(np.float32))


def test_levels_to_float_refuses_mismatched_arrays() -> None:
    with pytest.raises(ValueError):
        levels_to_float(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError):
        levels_to_float(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))


def test_registry_lists_and_clamps() -> None:
    assert "gamma" in registry.names()
    d = registry.get("GAMMA")
    p = d.clamp(EnhanceParams(strength=9.0))
    assert p.strength == d.spec("strength").maximum
    with pytest.raises(registry.UnknownMethodError):
        registry.get("nope")
