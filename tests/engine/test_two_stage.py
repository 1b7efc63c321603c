"""FrameProcessor's two halves (``begin`` / ``finish``) and :class:`TwoStage`: the same
frames as ``process``, in order, on two threads; errors, early stops and resets."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import registry
from engine.lab.flicker import synthetic_clip
from engine.frame import Frame
from engine.stages.processor import FrameProcessor, TwoHalfRunner, TwoStage
from engine.video.base import Sink, Source, SourceInfo
from engine.video.pipeline import Pipeline


def _noisy(n: int = 12) -> list[np.ndarray]:
    """Noisy dark frames with a moving object: the input-side denoiser works."""
    return synthetic_clip(n, (48, 80), seed=5).frames


def _flattened(n: int = 12) -> list[np.ndarray]:
    """A static textured dark scene with under half a level of noise: the input side idles
    and the output-side temporal denoiser works (a codec-flattened phone clip)."""
    rng = np.random.default_rng(2)
    tex = cv2.GaussianBlur(rng.uniform(0, 1, (48, 80, 3)).astype(np.float32), (0, 0), 2.0)
    scene = 12.0 * (0.4 + 1.2 * (tex - tex.min()) / (tex.max() - tex.min()))
    return [np.clip(np.rint(scene + rng.normal(0, 0.4, scene.shape)), 0, 255).astype(np.uint8)
            for _ in range(n)]


@pytest.mark.parametrize("method", ["sci", "zerodce++", "gamma", "clahe", "lime"])
@pytest.mark.parametrize("clip", [_noisy, _flattened])
def test_two_threads_give_the_frames_process_gives(method, clip) -> None:
    frames = clip()
    enh = registry.create(method)
    proc = FrameProcessor(enh)
    sequential = [proc.process(f) for f in frames]
    two = FrameProcessor(enh)
    out = list(TwoStage(two).run(frames))
    assert len(out) == len(frames)
    for a, b in zip(sequential, out):
        np.testing.assert_array_equal(a, b)
    if clip is _flattened:  # the output-side stage ran in the second half
        assert two.output_denoiser.effective > 0.0 and two.denoiser.effective == 0.0


def test_finish_uses_the_method_and_parameters_begin_used() -> None:
    """A method or slider change between the halves reaches the next frame, not the one
    already begun (its map was estimated with the old ones)."""
    frames = _noisy(3)
    enh = registry.create("gamma")
    proc = FrameProcessor(enh)
    staged = proc.begin(frames[0])
    proc.set_params(proc.params.replace(strength=0.0))
    proc.set_enhancer(registry.create("lime"))
    ref = FrameProcessor(enh)
    np.testing.assert_array_equal(proc.finish(staged), ref.process(frames[0]))
    assert proc.begin(frames[1]).enhancer.descriptor.name == "lime"


@pytest.mark.parametrize("clip", [_flattened, _noisy])
def test_a_frame_begun_before_a_reset_is_finished_as_process_would(clip) -> None:
    """A reset while a frame is between the halves (a seek, a segment's pre-roll) reaches
    the frames begun after it; the one in flight finishes with the state it had: the
    output side's filter (a codec-flattened clip), or the input side's residual-noise ratio,
    made in the first half and carried by the staged frame (a noisy clip)."""
    frames = clip(8)
    enh = registry.create("sci")
    proc, ref = FrameProcessor(enh), FrameProcessor(enh)
    for f in frames[:5]:
        proc.process(f)
        ref.process(f)
    staged = proc.begin(frames[5])
    if clip is _noisy:
        assert staged.input_denoised and staged.noise_ratio is not None
    proc.reset()
    np.testing.assert_array_equal(proc.finish(staged), ref.process(frames[5]))
    if clip is _flattened:
        assert proc.output_denoiser.effective > 0.0  # the output side was still averaging
    fresh = FrameProcessor(enh)
    for f in frames[6:]:
        np.testing.assert_array_equal(proc.process(f), fresh.process(f))


class _Broken:
    """begin fails at frame ``fail_at``."""

    def __init__(self, fail_at: int) -> None:
        self.proc = FrameProcessor(registry.create("gamma"))
        self.n, self.fail_at = 0, fail_at

    def begin(self, image):
        if self.n == self.fail_at:
            raise RuntimeError("estimate broke")
        self.n += 1
        return self.proc.begin(image)

    def finish(self, staged):
        return self.proc.finish(staged)


def test_an_error_in_the_first_half_reaches_the_caller_and_the_helper_ends() -> None:
    before = threading.active_count()
    run = TwoStage(_Broken(3)).run(_noisy(6))  # type: ignore[arg-type]
    got = []
    with pytest.raises(RuntimeError, match="estimate broke"):
        for out in run:
            got.append(out)
    assert len(got) == 3
    assert threading.active_count() == before


def test_closing_the_run_early_stops_the_helper() -> None:
    before = threading.active_count()
    run = TwoStage(FrameProcessor(registry.create("gamma")), depth=2).run(_noisy(10))
    next(run)
    run.close()
    assert threading.active_count() == before


@pytest.mark.parametrize("fail", [False, True])
def test_opencv_runs_one_thread_while_the_halves_run_on_two_cores(monkeypatch, fail) -> None:
    import engine.runtime.threads as plan

    monkeypatch.setattr(plan, "cpu_count", lambda: 2)
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    seen: list[int] = []

    def finish(x: int) -> int:
        seen.append(cv2.getNumThreads())
        if fail and x == 1:
            raise RuntimeError("finish broke")
        return x

    try:
        runner = TwoHalfRunner(lambda x: x, finish).start()
        for i in range(3):
            runner.submit(i)
        runner.end()
        assert runner.join(10.0)
        assert seen and set(seen) == {1}
        assert (runner.error is not None) == fail
        assert cv2.getNumThreads() == 2  # back once the finish thread ended, error or not
    finally:
        cv2.setNumThreads(before)


class _Frames(Source):
    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames, self.i = frames, 0

    @property
    def info(self) -> SourceInfo:
        h, w = self.frames[0].shape[:2]
        return SourceInfo("frames", w, h, 25.0, len(self.frames), None)

    def read(self):
        if self.i >= len(self.frames):
            return None
        f = Frame(self.frames[self.i], self.i, self.i / 25.0, "frames")
        self.i += 1
        return f

    def close(self) -> None:
        pass


class _Keep(Sink):
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def test_the_pipeline_runs_the_halves_on_two_threads_with_the_same_output(monkeypatch) -> None:
    import engine.runtime.threads as plan

    monkeypatch.setattr(plan, "cpu_count", lambda: 2)
    frames = _noisy(10)
    enh = registry.create("lime")
    ref = FrameProcessor(enh)
    expected = [ref.process(f) for f in frames]
    sink = _Keep()
    proc = FrameProcessor(enh)
    seen: list[int] = []
    finish = proc.finish
    monkeypatch.setattr(proc, "finish", lambda staged: seen.append(cv2.getNumThreads()) or finish(staged))
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        pipe = Pipeline(_Frames(frames), proc, sink, mode="export", queue_size=2).start()
        assert [t.name for t in pipe._threads][-1] == "lowlight-finish"
        stats = pipe.wait(timeout=60)
        assert set(seen) == {1}  # the pipeline starts the runner's thread itself: held too
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)
    assert stats.frames_out == len(frames) and [f.index for f in sink.frames] == list(range(len(frames)))
    for a, b in zip(expected, sink.frames):
        np.testing.assert_array_equal(a, b.image)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 999),
       changes=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 100), st.integers(0, 100)),
                        min_size=4, max_size=8))
def test_interleaved_halves_equal_process_with_parameter_changes(h, w, seed, changes) -> None:
    """begin of frame t+1 before finish of frame t (what two threads do), with a slider
    change (strength, smoothing, denoise) before every frame: the same frames as process."""
    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 60, (h, w, 3), dtype=np.uint8) for _ in changes]
    enh = registry.create("lime")
    seq, two = FrameProcessor(enh), FrameProcessor(enh)
    expected, got, pending = [], [], None
    for f, (s, sm, dn) in zip(frames, changes):
        # integer steps: creating an ONNX session earlier in the process switched this thread
        # to flush-to-zero, and hypothesis refuses float strategies then
        p = seq.params.replace(strength=s / 100, smoothing=sm / 100, denoise=dn / 100)
        seq.set_params(p)
        expected.append(seq.process(f))
        two.set_params(p)
        staged = two.begin(f)
        if pending is not None:
            got.append(two.finish(pending))
        pending = staged
    got.append(two.finish(pending))
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def _slowed(obj, name: str, seconds: float) -> None:
    """Make ``obj.name`` take at least ``seconds`` longer (same result)."""
    import time
    fn = getattr(obj, name)

    def slow(*a, **k):
        time.sleep(seconds)
        return fn(*a, **k)
    setattr(obj, name, slow)


@pytest.mark.parametrize("slow_half", ["front", "back"])
def test_movable_steps_go_to_the_half_with_time_to_spare(slow_half) -> None:
    """Apply and the chroma guard's analysis run in the first half when the second is the
    heavier one, in the second when the first is; the frames are the same either way."""
    frames = _flattened(16)
    reference = FrameProcessor(registry.create("sci"))
    plain = [reference.process(f) for f in frames]
    enh2 = registry.create("sci")
    proc = FrameProcessor(enh2)
    if slow_half == "front":
        _slowed(enh2, "estimate_next", 0.01)
    else:
        _slowed(proc.spatial_denoiser, "process", 0.01)
    placed = []
    out = []
    for f in frames:
        staged = proc.begin(f)
        placed.append((staged.smoothing is None, staged.applied is not None, staged.planned))
        out.append(proc.finish(staged))
    assert placed[0] == (True, True, False)  # nothing measured yet: apply first, the plan second
    here = slow_half == "back"
    # past the first frames' outliers; a slow first half leaves even the map smoothing
    assert all(p == (here, here, here) for p in placed[8:])
    for a, b in zip(plain, out):
        np.testing.assert_array_equal(a, b)


def test_the_placement_shares_apply_where_neither_whole_choice_balances() -> None:
    proc = FrameProcessor(registry.create("sci"))
    proc._avg.update(front=20.0, back=25.0, smooth=1.0, apply=10.0, plan=1.0)
    proc._apply_bands = 10
    # k bands here: max(21 + k, 36 - k), lowest at k = 7 and 8 (29 ms); whole: 31 and 36
    assert proc._placement() == pytest.approx(0.7)
    proc._apply_bands = 1  # a method that applies whole: the choices of before
    assert proc._placement() == 1
    proc._avg.update(front=10.0)
    assert proc._placement() == 2


@pytest.mark.parametrize("method", ["sci", "zerodce++"])
def test_apply_shared_between_the_halves_gives_the_frames_process_gives(method) -> None:
    frames = synthetic_clip(4, (720, 1280), seed=3).frames  # 720p: the gather runs by bands
    reference = FrameProcessor(registry.create(method))
    plain = [reference.process(f) for f in frames]
    proc = FrameProcessor(registry.create(method))
    _placed(proc, [0.5])  # type: ignore[list-item]
    staged = [proc.begin(frames[0])]
    out = []
    for f in frames[1:] + [None]:
        job = staged[-1].apply_job
        assert job is not None and staged[-1].applied is None
        assert 0 < job.bands_done < len(job.bands)
        if f is not None:
            staged.append(proc.begin(f))  # the next frame's apply begins before this one ends
        out.append(proc.finish(staged[-2] if f is not None else staged[-1]))
    for a, b in zip(plain, out):
        np.testing.assert_array_equal(a, b)


def _placed(proc: FrameProcessor, choices: list[int]) -> None:
    """Make ``proc`` place its movable steps by ``choices`` in turn (0-3, see
    ``FrameProcessor._placement``)."""
    it = iter(choices * 100)
    proc._placement = lambda: next(it)  # type: ignore[method-assign]


@pytest.mark.parametrize("method", ["sci", "zerodce++"])
@pytest.mark.parametrize("clip", [_noisy, _flattened])
def test_smoothing_moves_between_the_halves_without_changing_a_frame(method, clip) -> None:
    """Map smoothing left to the second half on some frames and taken back by the first
    on others (it waits for the second half's turn), on two threads: process's frames."""
    frames = clip(16)
    enh = registry.create(method)
    ref = FrameProcessor(enh)
    expected = [ref.process(f) for f in frames]
    proc = FrameProcessor(enh)
    _placed(proc, [3, 3, 0, 3, 1, 3, 3, 2, 0])
    out = list(TwoStage(proc, depth=2).run(frames))
    for a, b in zip(expected, out):
        np.testing.assert_array_equal(a, b)


def test_a_level_change_reaches_the_next_frame_whichever_half_smooths_it() -> None:
    """An exposure change while a frame is between the halves snaps the smoothed output
    level on the next frame begun, not on the one in flight, also when their smoothing
    runs in the second half."""
    frames = _noisy(10)
    enh = registry.create("sci")
    ref, proc = FrameProcessor(enh), FrameProcessor(enh)
    _placed(proc, [3, 0, 3, 3])
    for i, f in enumerate(frames):
        staged = proc.begin(f)
        expected = ref.process(f)
        if i in (3, 6):
            for p in (ref, proc):
                p.set_params(p.params.replace(exposure=0.2 if i == 3 else 0.6))
        np.testing.assert_array_equal(proc.finish(staged), expected)


def test_a_frame_left_unfinished_does_not_hold_the_first_half(monkeypatch) -> None:
    """A staged frame whose smoothing was left to the second half and that is never
    finished (a stopped runner, a seek dropping it): the first half waits at most a short
    while, then keeps smoothing in the second half; a reset starts afresh at once."""
    import time
    from engine.stages import processor as P
    monkeypatch.setattr(P, "_TURN_WAIT_S", 0.05)
    frames = _noisy(8)
    enh = registry.create("sci")
    proc = FrameProcessor(enh)
    _placed(proc, [3, 0, 0, 0, 0, 0, 0, 0])
    proc.begin(frames[0])  # dropped: never finished
    t = time.perf_counter()
    staged = proc.begin(frames[1])
    assert staged.smoothing is not None  # the wait ran out: the second half smooths it
    proc.finish(staged)
    staged = proc.begin(frames[2])
    assert staged.smoothing is not None and time.perf_counter() - t < 1.0  # no second wait
    proc.finish(staged)
    proc.reset()
    fresh = FrameProcessor(enh)
    for f in frames[3:]:
        staged = proc.begin(f)
        assert staged.smoothing is None
        np.testing.assert_array_equal(proc.finish(staged), fresh.process(f))


def test_a_reset_while_a_frame_waits_to_be_smoothed() -> None:
    """A frame begun before a reset, its smoothing left to the second half, is smoothed
    with the filter it was begun with; the frames after the reset start afresh."""
    frames = _noisy(8)
    enh = registry.create("sci")
    proc, ref = FrameProcessor(enh), FrameProcessor(enh)
    _placed(proc, [3])
    for f in frames[:4]:
        np.testing.assert_array_equal(proc.process(f), ref.process(f))
    staged = proc.begin(frames[4])
    proc.reset()
    after = proc.begin(frames[5])
    np.testing.assert_array_equal(proc.finish(staged), ref.process(frames[4]))
    np.testing.assert_array_equal(proc.finish(after), FrameProcessor(enh).process(frames[5]))


def test_other_work_on_the_first_halfs_thread_counts_in_the_placement() -> None:
    """The studio's worker also decodes the source: work noted for the first half's
    thread (note_front_work) sends the movable steps to the second half, as a slow first
    half does; the frames are the same."""
    frames = _flattened(16)
    ref = FrameProcessor(registry.create("sci"))
    plain = [ref.process(f) for f in frames]
    free, busy = FrameProcessor(registry.create("sci")), FrameProcessor(registry.create("sci"))
    for proc in (free, busy):  # a heavy second half: the steps would go to the first
        _slowed(proc.spatial_denoiser, "process", 0.01)
    placed = {"free": [], "busy": []}
    for i, f in enumerate(frames):
        busy.note_front_work(50.0)
        for name, proc in (("free", free), ("busy", busy)):
            staged = proc.begin(f)
            placed[name].append(staged.applied is not None)
            np.testing.assert_array_equal(proc.finish(staged), plain[i])
    assert not any(placed["busy"][2:])  # apply (and all before it) left to the second half
    assert all(placed["free"][8:])      # without that work apply stays in the first
