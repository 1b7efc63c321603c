"""A stream's estimate starts its exposure solves from the previous frame's roots
(``Enhancer.estimate_next``): the same control within the solver's tolerance, in fewer
evaluations of the method's model; a first frame (or a still) is estimated as before."""

from __future__ import annotations

import numpy as np
import pytest

import engine.models.exposure as ex
from engine import registry
from engine.lab.flicker import synthetic_clip
from engine.stages.processor import FrameProcessor

LEARNED = ("sci", "zerodce", "zerodce++")


@pytest.fixture(scope="module")
def enhancers():
    return {m: registry.create(m, backend="onnx") for m in LEARNED}


def _night(n: int = 8) -> list[np.ndarray]:
    """Near-black noisy frames (mean about 3.5 levels) with a slow exposure drift: both
    solves (the mean target and the plain-mean cap, which so dark a frame reaches) have
    work on every frame."""
    rng = np.random.default_rng(4)
    base = rng.uniform(1.0, 6.0, (72, 128, 3))
    return [np.clip(np.rint(base * (1.0 + 0.03 * t) + rng.normal(0.0, 1.0, base.shape)), 0, 255)
            .astype(np.uint8) for t in range(n)]


def _counting(monkeypatch) -> list[int]:
    calls = [0]
    real = ex.solve_control

    def counted(predict, *a, **k):
        def p(c):
            calls[0] += 1
            return predict(c)
        return real(p, *a, **k)
    monkeypatch.setattr(ex, "solve_control", counted)
    return calls


@pytest.mark.parametrize("method", LEARNED)
def test_a_first_frame_is_estimated_as_before(enhancers, method) -> None:
    enh = enhancers[method]
    p = enh.descriptor.default_params()
    f = _night(1)[0]
    a, b = enh.estimate(f, p), enh.estimate_next(f, p, None)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.extra[ex.SOLVED] == b.extra[ex.SOLVED] and a.extra[ex.ROOTS] == b.extra[ex.ROOTS]


@pytest.mark.parametrize("method", LEARNED)
def test_the_previous_roots_give_the_same_control_in_fewer_evaluations(enhancers, method, monkeypatch) -> None:
    enh = enhancers[method]
    p = enh.descriptor.default_params()
    frames = _night()
    calls = _counting(monkeypatch)
    cold = [enh.estimate(f, p) for f in frames]
    n_cold, calls[0] = calls[0], 0
    warm, prev = [], None
    for f in frames:
        prev = enh.estimate_next(f, p, prev)
        warm.append(prev)
    assert calls[0] < n_cold
    assert any(m.extra[ex.ROOTS][2] is not None for m in warm)  # the cap's solve ran
    for f, a, b in zip(frames, cold, warm):
        # the level (lowered to what the capped control reaches) within 0.5 %, and the
        # picture within the solver's tolerance
        assert abs(a.extra[ex.LOG_LEVEL] - b.extra[ex.LOG_LEVEL]) < 5e-3
        x, y = enh.apply(f, a, p), enh.apply(f, b, p)
        assert abs(float(x.mean()) - float(y.mean())) <= 0.1
        assert np.abs(x.astype(int) - y.astype(int)).max() <= 1


def test_roots_of_another_iteration_count_are_not_taken(enhancers) -> None:
    enh = enhancers["zerodce++"]
    f = _night(1)[0]
    prev = enh.estimate(f, enh.descriptor.default_params().replace(iterations=4))
    assert ex.previous_roots(prev, 8) == (None, None)
    assert ex.previous_roots(prev, 4)[0] is not None
    assert ex.previous_roots(None) == (None, None)


def test_a_reset_starts_the_next_solve_cold(enhancers) -> None:
    """After a reset (a seek, a new source) the processor estimates the next frame as a
    first frame: the same frames as a fresh processor."""
    clip = synthetic_clip(10, (48, 80), seed=3).frames
    enh = enhancers["sci"]
    proc = FrameProcessor(enh)
    for f in clip[:6]:
        proc.process(f)
    proc.reset()
    fresh = FrameProcessor(enh)
    for f in clip[6:]:
        np.testing.assert_array_equal(proc.process(f), fresh.process(f))
