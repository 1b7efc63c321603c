"""The threaded pipeline: export mode keeps every frame in order, live mode drops and
counts, stop/close end every thread quickly, errors reach the caller."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.frame import Frame
from engine.video.base import Sink, Source, SourceInfo, VideoError
from engine.video.pipeline import Pipeline, PipelineStopped

# generous: these are hang checks, not speed tests
HANG_S = 1.5


class ListSource(Source):
    """``n`` tiny frames whose pixels encode their index; optional delay per read and a
    failure after ``fail_at`` frames; ``n=None`` never ends."""

    def __init__(self, n: int | None = 20, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.n, self.delay, self.fail_at = n, delay, fail_at
        self.i = 0
        self.closed = threading.Event()
        self.ended = threading.Event()

    @property
    def info(self) -> SourceInfo:
        return SourceInfo("list", 5, 3, 25.0, self.n, None)

    def read(self):
        if self.closed.is_set() or (self.n is not None and self.i >= self.n):
            self.ended.set()
            return None
        if self.fail_at is not None and self.i >= self.fail_at:
            raise VideoError("list: source broke")
        if self.delay:
            time.sleep(self.delay)
        img = np.full((3, 5, 3), self.i % 256, np.uint8)
        f = Frame(img, self.i, self.i / 25.0, "list")
        self.i += 1
        return f

    def close(self) -> None:
        self.closed.set()


class Add:
    """A processor adding 1 to every pixel, optionally slow or failing."""

    def __init__(self, delay: float = 0.0, fail_at: int | None = None,
                 gate: threading.Event | None = None) -> None:
        self.delay, self.fail_at, self.n, self.gate = delay, fail_at, 0, gate

    def process(self, img):
        if self.gate is not None:
            self.gate.wait(10)  # busy until the source has ended: newer frames must queue up
        if self.fail_at is not None and self.n >= self.fail_at:
            raise RuntimeError("enhancer broke")
        self.n += 1
        if self.delay:
            time.sleep(self.delay)
        return img + 1


class ListSink(Sink):
    def __init__(self, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.frames: list[Frame] = []
        self.closed = self.aborted = False
        self.delay, self.fail_at = delay, fail_at

    def write(self, frame):
        if self.fail_at is not None and len(self.frames) >= self.fail_at:
            raise OSError(28, "No space left on device")
        if self.delay:
            time.sleep(self.delay)
        self.frames.append(frame)

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True


def test_export_mode_keeps_every_frame_in_order():
    sink = ListSink()
    pipe = Pipeline(ListSource(30), Add(), sink, mode="export", queue_size=2).start()
    stats = pipe.wait(timeout=20)
    assert [f.index for f in sink.frames] == list(range(30))
    assert [int(f.image[0, 0, 0]) for f in sink.frames] == [i + 1 for i in range(30)]
    assert sink.closed and not sink.aborted and pipe.completed
    assert stats.frames_in == stats.frames_out == 30 and stats.dropped == 0
    assert stats.latency_p50_ms is not None and stats.latency_p95_ms >= stats.latency_p50_ms
    assert stats.decode_ms >= 0 and stats.enhance_ms >= 0 and stats.encode_ms >= 0


def test_export_mode_with_slow_sink_drops_nothing():
    sink = ListSink(delay=0.005)
    pipe = Pipeline(ListSource(15), Add(), sink, mode="export", queue_size=1).start()
    pipe.wait(timeout=20)
    assert [f.index for f in sink.frames] == list(range(15))


def test_live_mode_drops_and_counts_with_a_slow_enhancer():
    got: list[Frame] = []
    src = ListSource(40)
    pipe = Pipeline(src, Add(gate=src.ended), on_frame=got.append, mode="live").start()
    stats = pipe.wait(timeout=20)
    assert stats.frames_in == 40
    # the enhancer held its first frame until the source ended: of the frames that
    # arrived meanwhile only the latest (39) survived, every other one is counted
    assert got[-1].index == 39 and len(got) <= 2
    assert stats.frames_out + stats.dropped == 40 and stats.dropped >= 38


def test_stop_ends_every_thread_quickly_even_when_blocked():
    sink = ListSink(delay=0.2)  # slow sink: queues full, source and enhancer blocked
    pipe = Pipeline(ListSource(None), Add(), sink, mode="export", queue_size=1).start()
    time.sleep(0.3)
    t0 = time.monotonic()
    pipe.stop()
    assert pipe.join(HANG_S)
    assert time.monotonic() - t0 < HANG_S
    assert sink.aborted and not sink.closed
    with pytest.raises(PipelineStopped):
        pipe.wait(strict=True)


def test_close_of_a_live_camera_like_source_is_quick():
    src = ListSource(None, delay=0.01)
    with Pipeline(src, Add(), on_frame=lambda f: None, mode="live").start() as pipe:
        time.sleep(0.1)
        t0 = time.monotonic()
    assert not pipe.is_running() and time.monotonic() - t0 < HANG_S
    assert src.closed.is_set()


@pytest.mark.parametrize("where", ["source", "enhance", "sink"])
def test_an_error_in_any_stage_reaches_the_caller(where):
    errors: list[BaseException] = []
    src = ListSource(None if where != "source" else 50, fail_at=5 if where == "source" else None)
    proc = Add(fail_at=5 if where == "enhance" else None)
    sink = ListSink(fail_at=5 if where == "sink" else None)
    pipe = Pipeline(src, proc, sink, mode="export", on_error=errors.append).start()
    expected = {"source": VideoError, "enhance": RuntimeError, "sink": OSError}[where]
    with pytest.raises(expected):
        pipe.wait(timeout=10)
    assert len(errors) == 1 and isinstance(errors[0], expected)
    assert not pipe.is_running() and sink.aborted and not sink.closed


class AddHalves(Add):
    """``Add`` split into two halves: ``begin`` is ``Add.process`` (adds 1, fails at
    ``fail_begin``), ``finish`` adds 1 more, optionally slow or failing."""

    def __init__(self, fail_begin: int | None = None, fail_finish: int | None = None,
                 delay: float = 0.0) -> None:
        super().__init__(fail_at=fail_begin)
        self.fail_finish, self.finish_delay, self.done = fail_finish, delay, 0

    def begin(self, img):
        return self.process(img)

    def finish(self, staged):
        if self.fail_finish is not None and self.done >= self.fail_finish:
            raise RuntimeError("finish broke")
        self.done += 1
        if self.finish_delay:
            time.sleep(self.finish_delay)
        return staged + 1


def test_a_two_half_processor_keeps_every_frame_in_order():
    sink = ListSink()
    pipe = Pipeline(ListSource(30), AddHalves(), sink, mode="export", queue_size=2).start()
    assert len(pipe._threads) == 4
    stats = pipe.wait(timeout=20)
    assert [f.index for f in sink.frames] == list(range(30))
    assert [int(f.image[0, 0, 0]) for f in sink.frames] == [i + 2 for i in range(30)]
    assert sink.closed and stats.frames_out == 30 and stats.enhance_ms >= 0


@pytest.mark.parametrize("half", ["begin", "finish"])
def test_an_error_in_either_half_reaches_the_caller(half):
    errors: list[BaseException] = []
    proc = AddHalves(fail_begin=5 if half == "begin" else None, fail_finish=5 if half == "finish" else None)
    sink = ListSink()
    pipe = Pipeline(ListSource(None), proc, sink, mode="export", on_error=errors.append).start()
    with pytest.raises(RuntimeError, match={"begin": "enhancer broke", "finish": "finish broke"}[half]):
        pipe.wait(timeout=10)
    assert len(errors) == 1 and not pipe.is_running() and sink.aborted


def test_stats_say_how_many_threads_the_processor_ran_on():
    for proc, threads in ((AddHalves(), 2), (Add(), 1), (None, 1)):
        stats = Pipeline(ListSource(4), proc, ListSink()).start().wait(timeout=10)
        assert stats.frames_out == 4 and stats.enhance_threads == threads


def test_flush_follows_the_last_finish_on_the_finish_thread():
    class Flushing(AddHalves):
        flushed: tuple[int, str] | None = None

        def flush(self) -> None:
            self.flushed = (self.done, threading.current_thread().name)

    proc = Flushing()
    Pipeline(ListSource(7), proc, ListSink()).start().wait(timeout=10)
    assert proc.flushed == (7, "lowlight-finish")


def test_stop_ends_both_halves_quickly():
    sink = ListSink(delay=0.2)
    pipe = Pipeline(ListSource(None), AddHalves(delay=0.01), sink, mode="live").start()
    time.sleep(0.3)
    t0 = time.monotonic()
    pipe.stop()
    assert pipe.join(HANG_S) and time.monotonic() - t0 < HANG_S


def test_pace_plays_at_the_frames_rate():
    src = ListSource(6)  # pts 0..0.2 s
    t0 = time.monotonic()
    Pipeline(src, None, ListSink(), pace=True).start().wait(timeout=10)
    assert time.monotonic() - t0 >= 0.18


def test_bad_arguments():
    with pytest.raises(ValueError):
        Pipeline(ListSource(1), None, ListSink(), mode="fast")
    with pytest.raises(ValueError):
        Pipeline(ListSource(1), None)
