"""The playback worker on its own: the two halves of every frame (worker + finisher
thread) give the frames a sequential FrameProcessor gives, for A and B, in order."""

from __future__ import annotations

import numpy as np

from app.player import Player
from conftest import FakeSource
from engine import registry
from engine.processor import FrameProcessor


def test_rendered_frames_equal_sequential_processing(qtbot) -> None:
    got: list = []
    p = Player()
    p.frame_ready.connect(lambda b: (got.append(b), p.frame_shown()))
    p.start()
    try:
        p.set_method("a", "lime")
        p.set_method("b", "sci")
        p.set_ab(True)
        p.open_source(lambda: FakeSource(frames=8))
        qtbot.waitUntil(lambda: len(got) >= 1, timeout=20000)
        for _ in range(6):
            n = len(got)
            p.step(1)
            qtbot.waitUntil(lambda: len(got) > n, timeout=20000)
    finally:
        assert p.stop(3000)
    # every render while paused is shown, so the bundles are the frames the processors
    # saw, in that order (frame 0 may be rendered twice: the method switches ask for it)
    order = [b.index for b in got]
    assert order[-6:] == [1, 2, 3, 4, 5, 6] and set(order[:-6]) == {0}
    src = FakeSource(frames=8)
    frames = [src.read().image for _ in range(8)]
    seq_a, seq_b = FrameProcessor(registry.create("lime")), FrameProcessor(registry.create("sci"))
    for b in got:
        assert (b.method, b.method_b) == ("lime", "sci")
        np.testing.assert_array_equal(b.enhanced, seq_a.process(frames[b.index]))
        np.testing.assert_array_equal(b.enhanced_b, seq_b.process(frames[b.index]))
