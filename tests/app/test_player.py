"""The playback worker on its own: the two halves of every frame (worker + finisher
thread) give the frames a sequential FrameProcessor gives, for A and B, in order."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.player import Player
from conftest import FakeSource
from engine import registry
from engine.stages.processor import FrameProcessor


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
        for k in range(1, 7):
            p.step(1)
            qtbot.waitUntil(lambda: got[-1].index == k, timeout=20000)
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


def _finish_threads_alive() -> bool:
    return any(t.name == "lowlight-finish" and t.is_alive() for t in threading.enumerate())


@pytest.mark.parametrize("stage", ["estimate", "apply"])
def test_a_method_failing_in_either_half_pauses_and_reports(qtbot, monkeypatch, stage: str) -> None:
    """estimate runs in the worker (first half), apply in the finisher thread (second half):
    either error reaches the error signal, playback pauses, the worker goes on (the next
    step renders again), and no finisher thread outlives the player."""
    from engine.models.classical import GammaEnhancer

    calls = {"n": 0}
    real = getattr(GammaEnhancer, stage)

    def flaky(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError(f"{stage} broke")
        return real(self, *args)

    monkeypatch.setattr(GammaEnhancer, stage, flaky)
    got, errors, playing = [], [], []
    p = Player()
    p.frame_ready.connect(lambda b: (got.append(b), p.frame_shown()))
    p.error.connect(errors.append)
    p.playing_changed.connect(playing.append)
    p.start()
    try:
        p.set_method("a", "gamma")
        p.open_source(lambda: FakeSource(frames=200, fps=25.0))
        qtbot.waitUntil(lambda: len(got) >= 1, timeout=20000)
        p.play()
        qtbot.waitUntil(lambda: bool(errors), timeout=20000)
        assert errors[0] == f"{stage} broke"
        qtbot.waitUntil(lambda: playing and playing[-1] is False, timeout=20000)
        n = len(got)
        p.step(1)
        qtbot.waitUntil(lambda: len(got) > n, timeout=20000)
    finally:
        assert p.stop(3000)
    assert not _finish_threads_alive()


def test_a_frame_waiting_for_its_second_half_at_a_seek_is_not_shown(qtbot, monkeypatch) -> None:
    """Frame 1 is inside finish (shown), frame 2 waits between the halves when the seek
    comes: frame 2 is dropped and the seek's frame 0 follows frame 1."""
    entered, release = threading.Event(), threading.Event()
    gate = {"on": False}
    real = FrameProcessor.finish

    def gated(self, staged):
        if gate["on"]:
            gate["on"] = False
            entered.set()
            release.wait(20)
        return real(self, staged)

    monkeypatch.setattr(FrameProcessor, "finish", gated)
    got: list = []
    p = Player()
    p.frame_ready.connect(lambda b: (got.append(b), p.frame_shown()))
    p.start()
    try:
        p.set_method("a", "gamma")
        p.open_source(lambda: FakeSource(frames=8))
        qtbot.waitUntil(lambda: len(got) >= 1, timeout=20000)
        n0 = -1
        while len(got) != n0:  # the method switch may render frame 0 again
            n0 = len(got)
            qtbot.wait(300)
        gate["on"] = True
        p.step(1)
        assert entered.wait(20)
        generation = p._generation
        p.step(1)
        p.seek(0.0)
        qtbot.waitUntil(lambda: p._generation == generation + 1, timeout=20000)
        release.set()
        qtbot.waitUntil(lambda: len(got) >= n0 + 2, timeout=20000)
        qtbot.wait(300)
        assert [b.index for b in got[n0:]] == [1, 0]
    finally:
        release.set()
        assert p.stop(3000)
    assert not _finish_threads_alive()


class _ReplacingLiveSource(FakeSource):
    """A live stream read on its own thread (as LatestFrameSource): every read finds 3
    newer frames having replaced the ones the player did not take in time."""

    def __init__(self) -> None:
        super().__init__(frames=10, live=True)
        self.replaced = 0

    def read(self):
        f = super().read()
        self.replaced += 3
        return f


def test_frames_a_stream_replaced_before_the_player_took_them_count_as_dropped(qtbot) -> None:
    from app.player import PlayerStats

    p = Player()
    stats: list[PlayerStats] = []
    p.frame_ready.connect(lambda b: p.frame_shown())
    p.stats_changed.connect(stats.append)
    p.start()
    try:
        src = _ReplacingLiveSource()
        p.open_source(lambda: src)
        qtbot.waitUntil(lambda: any(s.playing and s.dropped >= 30 for s in stats), timeout=20000)
        s = [s for s in stats if s.playing][-1]
        # every read after the first counted the 3 frames replaced since the one before
        assert s.dropped >= 3 * (s.shown_recent - 1) and s.dropped_recent > 0
    finally:
        assert p.stop(3000)
