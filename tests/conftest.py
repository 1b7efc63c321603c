"""Shared fixtures: small synthetic frames; ../shared data only where present; the
Hypothesis profiles (deterministic by default, random on request)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# Hypothesis profiles. A test's own @settings(max_examples=...) still wins over the
# profile's count; everything it leaves unset (derandomize, database, deadline) comes from
# the profile loaded here, before any test module is imported.
#   ci:      the same examples on every run and every fresh clone (seeded from each test's
#            code), no example database, no timing-based failure; a failure prints the
#            blob to replay it with @reproduce_failure.
#   explore: new random examples on each run, more of them, failures kept in .hypothesis/
#            and replayed first; for local bug hunting (HYPOTHESIS_PROFILE=explore).
settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=100, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", derandomize=False, max_examples=500, deadline=None)


def hypothesis_profile(environ: Mapping[str, str]) -> str:
    """The profile to load: ``ci`` whenever ``CI`` is set (non-empty), whatever
    ``HYPOTHESIS_PROFILE`` says; otherwise ``HYPOTHESIS_PROFILE``, ``ci`` when unset, so
    the README's plain ``pytest`` is deterministic too."""
    if environ.get("CI"):
        return "ci"
    return environ.get("HYPOTHESIS_PROFILE") or "ci"


settings.load_profile(hypothesis_profile(os.environ))


@pytest.fixture(autouse=True)
def _ieee_subnormals_after_test():
    """Give the next test IEEE subnormals back on this thread.

    Creating an ONNX Runtime session with ``session.set_denormal_as_zero`` (the product's
    CPU setting) turns on flush-to-zero for the creating thread, and Hypothesis then refuses
    every float strategy that spans 0 in any later test of the process. PyTorch can clear
    the flag on the current thread.
    """
    yield
    if "onnxruntime" in sys.modules:
        import torch

        torch.set_flush_denormal(False)


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


@pytest.fixture(autouse=True)
def _default_sigint():
    """Every test starts with Python's own SIGINT handler (KeyboardInterrupt).

    A test that simulates Ctrl-C with ``_thread.interrupt_main()`` gets nothing when an
    earlier test in the process left SIGINT at SIG_DFL or SIG_IGN (Python then drops the
    simulated signal): the parallel-queue interrupt test failed that way once in a full run
    and passed alone."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
