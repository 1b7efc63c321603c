"""Which threads run the processor's halves: a spy for the tests of the two-half path."""

from __future__ import annotations

import threading

import pytest

from engine.stages.processor import FrameProcessor


def spy_on_halves(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Patch :class:`FrameProcessor` so every ``begin`` and ``finish`` records the name of the
    thread it runs on; returns ``{"begin": names, "finish": names}``, filled as frames pass."""
    threads: dict[str, set[str]] = {"begin": set(), "finish": set()}
    begin, finish = FrameProcessor.begin, FrameProcessor.finish

    def spy_begin(self, frame):
        threads["begin"].add(threading.current_thread().name)
        return begin(self, frame)

    def spy_finish(self, staged):
        threads["finish"].add(threading.current_thread().name)
        return finish(self, staged)

    monkeypatch.setattr(FrameProcessor, "begin", spy_begin)
    monkeypatch.setattr(FrameProcessor, "finish", spy_finish)
    return threads
