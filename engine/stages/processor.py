"""Per-stream enhancement: (temporal denoise →) estimate → temporal smoothing → apply
(→ chroma guard → spatial denoise).

The chroma guard (:mod:`engine.stages.chroma`, on with ``denoise``) keeps the method's luma
and sets the colour of lifted dark areas from the input's, black level removed and chroma
lifted with a bounded gain; the black level and chroma noise it uses are measured in
``begin`` and smoothed with the map.

The temporal denoiser (:mod:`engine.stages.temporal_denoise`) runs first, on the dark input, because the
enhancement lifts the sensor noise together with the picture; the map is then estimated
from the cleaner frame and smoothed over time (:mod:`engine.stages.map_smoothing`). After apply, the
noise-aware spatial denoiser (:mod:`engine.stages.spatial_denoise`) measures the noise left in
the enhanced frame (after the gain, after any temporal averaging) and removes it; it is
the only noise reduction a still or a video's first frame gets. Both are driven by the
one ``denoise`` parameter.

A source whose noise was flattened by a codec (a phone's H.264 clip) has less than half a
grey level of frame-to-frame noise in the dark input, so the input-side temporal
denoiser leaves it alone (a temporal average re-quantised to 8 bits before a ×10 gain
would only add texture). After the gain that noise is several grey levels: blocky
compression noise that changes from frame to frame. For such a source (the input stage's
``effective`` amount is 0) a second :class:`TemporalDenoiser` runs on the *enhanced*
frame, before the spatial stage; it is reset whenever the input stage is working, so
exactly one temporal stage averages each frame. On a clean, bright source the output
stage finds no noise either and passes the frame through. Either stage follows a moving
camera (its state is moved by the measured whole-frame translation before it averages).

:class:`FrameProcessor` is what the video pipeline, the CLI and the studio call for each
frame; :func:`enhance_still` runs the same steps on one picture (stills, ``lowlight
eval``), so ``denoise`` means the same everywhere. Parameter and method changes are
thread-safe and take effect on the next frame.

**Two halves.** Anything with the :class:`FrameStages` protocol (``begin`` / ``finish``
/ ``process``) can be run on two threads; :class:`FrameProcessor` is the product's.
``process`` is ``finish(begin(frame))``: :meth:`FrameProcessor.begin` runs the input-side
temporal denoiser and the estimate, and returns a :class:`StagedFrame`;
:meth:`FrameProcessor.finish` runs the chroma guard, the output-side temporal denoiser and
the spatial stage on it. The input-side denoiser's residual-noise map
(:class:`~engine.stages.temporal_denoise.ResidualNoise`), which only the spatial stage
reads, is updated in the first half and handed on with the frame: the map smoothing, which
moves, balances the halves at 720p either way, and at 1080p, where the second half is the
slower one, it is 1.6 ms off that half. Each half has its own state and lock, so two threads can run them at once on
consecutive frames (``begin`` of frame t+1 while ``finish`` of frame t), at the cost of
one frame of latency. Three steps, in this order, may run in either half: the map's
temporal smoothing (with the black level and chroma noise it smooths), apply (also shared:
the first k of its row bands in ``begin``, the rest in ``finish``), and the
chroma guard's analysis (:meth:`ChromaGuard.plan`, stateless, a few ms at 720p; its
correction always runs in the second half: added to the full frame, or, on a noisy source
whose input-side temporal denoiser worked, handed to the spatial stage, which adds it to
the quarter-size chroma it replaces the frame's with). ``begin`` runs a leading part of
them, chosen so that the slower half is as fast as it can be, from running averages of
what each step and each half's fixed work took over the last frames: with every default on
a noisy source, the input-side denoiser makes the first half the heavy one and all three
go to the second; a codec-flattened source makes the second half the heavy one (its
output-side temporal denoiser follows the camera on the enhanced frame) and smoothing and
apply run in the first; per frame (no smoothing, no denoise) apply goes to the second.
The map filter is sequential, so when smoothing comes back to the first half, ``begin``
waits until the second has smoothed every frame left to it (a turn,
:class:`_SmoothingTurn`; a reset, a method change or a flush starts a new filter in a new
turn, so a staged frame that is never finished holds nothing up; a turn whose frames do
not come within half a second keeps its smoothing in the second half). The
frames are the same wherever the steps run; an apply job is made under a lock of its own
(:meth:`Enhancer.apply_job` reads and builds the method's tables, one thread at a time), and
its bands then run on either half without it. :class:`TwoHalfRunner` is the
one place that runs the halves that way (the video pipeline, the studio player and
:class:`TwoStage` use it). The output is the
same as ``process``'s, frame for frame, as long as ``finish`` gets the staged frames in
the order ``begin`` made them, a :meth:`FrameProcessor.reset` between two ``begin`` calls
included.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Iterator, Protocol, TypeVar, runtime_checkable

import numpy as np

from engine.stages.temporal_denoise import TemporalDenoiser
from engine.enhancer import ApplyJob, Enhancer, ParamMap
from engine.params import EnhanceParams
from engine.stages.chroma import ChromaGuard, with_cast
from engine.stages.spatial_denoise import SpatialDenoiser, half_size
from engine.stages.map_smoothing import TemporalFilter
from engine.runtime.threads import hold_halves_threads

__all__ = ["FrameProcessor", "FrameStages", "ProcessTimings", "StagedFrame", "TwoHalfRunner", "TwoStage",
           "enhance_still"]

_POLL_S = 0.05  # how often a blocked hand-off or an idle finish thread looks at the stop event
_TURN_WAIT_S = 0.5  # longest the first half waits for the second to hand the map filter back
_TURN_MARGIN = 0.95  # smoothing left to the second half comes back only for a 5 % quicker split
_END = object()  # end of the items handed to a TwoHalfRunner


@dataclass(frozen=True)
class ProcessTimings:
    """Wall-clock milliseconds spent on the last frame, per step. ``denoise_ms`` is every
    denoise stage together (temporal before estimate, or after apply on a codec-flattened
    source, and spatial after apply); ``spatial_ms`` is the spatial stage's part of it."""

    estimate_ms: float = 0.0
    smooth_ms: float = 0.0
    apply_ms: float = 0.0
    denoise_ms: float = 0.0
    spatial_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.estimate_ms + self.smooth_ms + self.apply_ms + self.denoise_ms


@dataclass(frozen=True)
class StagedFrame:
    """A frame between :meth:`FrameProcessor.begin` and :meth:`FrameProcessor.finish`.

    Attributes:
        frame: uint8 (H, W, 3) RGB input after the input-side temporal denoiser.
        pmap: the smoothed parameter map (applied already).
        applied: uint8 (H, W, 3) RGB, the method's output for ``frame`` and ``pmap``, or
            None when apply is left to ``finish``.
        planned: the chroma guard's plan was made in the first half (then ``chroma`` is
            it: the correction, or None for none); False leaves it to ``finish``.
        half: with a plan made in the first half for a frame the spatial stage takes as it
            is (``input_denoised``), the half-size copy of ``applied`` the plan started
            from, which the spatial stage reuses; else None.
        enhancer, params: the method and parameters ``begin`` used (``finish`` applies
            with the same ones, whatever was set in between).
        input_denoised: the input-side temporal denoiser averaged this frame (then the
            output-side one stays off).
        noise_ratio: that denoiser's residual-noise ratio after this frame (float32, half
            size; :class:`~engine.stages.temporal_denoise.ResidualNoise`), for the spatial
            stage, or None when it did not average it.
        epoch: the processor's reset count when it was begun (``finish`` drops its own
            state when the epoch changes: the first frame begun after a reset starts the
            second half afresh).
        front_ms: milliseconds of (input denoise, estimate, smoothing, apply).
        smoothing: None when ``pmap`` is smoothed already; else the map smoothing was
            left to ``finish`` (with the black level before it), and this is the turn it
            is taken in (:class:`_SmoothingTurn`: the filter, and the promise to hand the
            filter back). ``pmap`` is then the raw estimate, and apply is left to ``finish``.
        snap: the filter takes this frame's extras as they are (a parameter that moves the
            output level changed since the last frame was begun), whichever half smooths it.
        apply_job: apply begun here, its first bands run (``front_ms`` counts them), the
            rest left to ``finish`` (then ``applied`` is None); None otherwise.
    """

    frame: np.ndarray
    pmap: ParamMap
    applied: np.ndarray | None
    planned: bool
    chroma: np.ndarray | None
    half: np.ndarray | None
    enhancer: Enhancer
    params: EnhanceParams
    input_denoised: bool
    noise_ratio: np.ndarray | None
    epoch: int
    front_ms: tuple[float, float, float, float]
    smoothing: "_SmoothingTurn | None" = None
    snap: bool = False
    apply_job: ApplyJob | None = None


class _SmoothingTurn:
    """One map filter (:class:`~engine.stages.map_smoothing.TemporalFilter`) and how many
    frames whose smoothing with it was left to ``finish`` are not smoothed yet.

    The filter is sequential (frame t+1 is smoothed against frame t's update), so the first
    half smooths with it again only once that count is back to 0. A reset, a method change
    or a flush starts a new turn with a fresh filter: a staged frame that is never finished
    (a stopped runner, a seek that drops what was in flight) then holds up only its own,
    abandoned turn, and one still in flight is smoothed with the filter it was begun with.
    """

    def __init__(self, filt: TemporalFilter) -> None:
        self.filter = filt
        self.pinned = False  # a wait for the second half ran out: smoothing stays there
        self._left = 0
        self._cv = threading.Condition()

    def leave(self) -> None:
        """One more frame is to be smoothed by the second half."""
        with self._cv:
            self._left += 1

    def done(self) -> None:
        """The second half smoothed (or failed on) one of them."""
        with self._cv:
            self._left -= 1
            self._cv.notify_all()

    def back(self, timeout: float) -> bool:
        """Wait until the second half smoothed every frame left to it; False when that
        takes longer than ``timeout`` seconds."""
        with self._cv:
            return self._cv.wait_for(lambda: self._left == 0, timeout)


S = TypeVar("S")  # what a FrameStages' begin hands to its finish


@runtime_checkable
class FrameStages(Protocol[S]):
    """A per-frame processor split in two halves that may run on two threads.

    ``begin(frame)`` takes a uint8 (H, W, 3) RGB frame and returns a staged value ``S``
    (:class:`StagedFrame` for :class:`FrameProcessor`; a wrapper may hand on its own);
    ``finish(staged)`` turns it into the output, a new uint8 (H, W, 3) RGB frame (the
    same H and W); ``process(frame)`` is ``finish(begin(frame))``.

    Threads and state: the first half's state (whatever ``begin`` reads and updates) is
    owned by ``begin`` and the second half's by ``finish``; the staged value carries
    everything ``finish`` needs from the first half, so ``begin`` of frame t+1 may run on
    one thread while ``finish`` of frame t runs on another. Calls to one half never
    overlap each other, and ``finish`` gets the staged values in the order ``begin`` made
    them (:class:`TwoHalfRunner` keeps both promises); then the frames equal
    ``process``'s. An object with only ``process`` is not a FrameStages: the video
    pipeline runs it whole on one thread.
    """

    def begin(self, frame: np.ndarray) -> S: ...

    def finish(self, staged: S) -> np.ndarray: ...

    def process(self, frame: np.ndarray) -> np.ndarray: ...


class FrameProcessor:
    """Enhance a sequence of frames with one method and its temporal state.

    Args:
        enhancer: the method instance (see :func:`engine.registry.create`).
        params: parameters; None means the method's defaults.

    ``process(frame)`` takes and returns uint8 (H, W, 3) RGB frames; ``begin`` and
    ``finish`` are its two halves (see the module docstring). Call ``reset()`` on a seek or
    a source change so the temporal state does not leak across.
    """

    def __init__(self, enhancer: Enhancer, params: EnhanceParams | None = None) -> None:
        # one lock per half; whoever needs both takes the front one first
        self._lock = threading.Lock()
        self._back_lock = threading.Lock()
        self._epoch = 0
        self._back_epoch = 0
        self._enhancer = enhancer
        self._params = enhancer.descriptor.clamp(params or enhancer.descriptor.default_params())
        self._turn = _SmoothingTurn(TemporalFilter())
        self._smooth_back = False  # frames begun now leave their map smoothing to finish
        self._snap = False         # the next frame begun snaps the filter's extras
        self._previous: ParamMap | None = None  # the last raw estimate (the next solve starts there)
        # its residual-noise ratio travels with each staged frame (see the module docstring)
        self._denoiser = TemporalDenoiser()
        self._out_denoiser = TemporalDenoiser()
        self._spatial = SpatialDenoiser()
        self._chroma = ChromaGuard()
        self._apply_lock = threading.Lock()
        # running averages (ms): each half's fixed work, the smoothing (with the black
        # level), apply, the chroma plan (written by the half that ran it, read by begin to
        # place the movable steps)
        self._avg = {"front": 0.0, "back": 0.0, "smooth": 0.0, "apply": 0.0, "plan": 0.0}
        self._front_work = 0.0  # the caller's own work in the first half's thread (note_front_work)
        self._apply_bands = 1  # bands of the last apply job (the shares of apply begin can take)
        self.timings = ProcessTimings()

    @property
    def enhancer(self) -> Enhancer:
        return self._enhancer

    @property
    def params(self) -> EnhanceParams:
        return self._params

    def set_params(self, params: EnhanceParams) -> None:
        """Use ``params`` (clamped to the method's ranges) from the next frame on.

        A new ``exposure`` or ``iterations`` changes the output level the estimate asks
        for; the temporal filter takes the next frame's level at once (a slider move is
        seen on the next frame, not faded in over the level's ~1 s time constant)."""
        with self._lock:
            old, self._params = self._params, self._enhancer.descriptor.clamp(params)
            if (old.exposure, old.iterations) != (self._params.exposure, self._params.iterations):
                self._snap = True  # taken by whichever half smooths the next frame begun

    def set_enhancer(self, enhancer: Enhancer, params: EnhanceParams | None = None) -> None:
        """Switch method from the next frame on; resets the temporal state."""
        with self._lock:
            self._enhancer = enhancer
            self._params = enhancer.descriptor.clamp(params or enhancer.descriptor.default_params())
            self._new_turn()

    @property
    def temporal(self) -> TemporalFilter:
        """The map's temporal filter (its ``last_cut`` / ``mean_weight`` describe the last
        frame smoothed; a reset or a method change starts a new one, counts carried on)."""
        return self._turn.filter

    def _new_turn(self) -> None:
        """A fresh map filter (the reset state), in a turn of its own (:class:`_SmoothingTurn`);
        the next estimate starts without the last one's solution."""
        self._turn = _SmoothingTurn(self._turn.filter.fresh())
        self._previous = None
        self._smooth_back = False
        self._snap = False

    @property
    def denoiser(self) -> TemporalDenoiser:
        """The temporal denoiser run on the input before estimation."""
        return self._denoiser

    @property
    def output_denoiser(self) -> TemporalDenoiser:
        """The temporal denoiser run on the enhanced frame when the input stage is idle
        (a codec-flattened or clean source; see the module docstring)."""
        return self._out_denoiser

    @property
    def spatial_denoiser(self) -> SpatialDenoiser:
        """The noise-aware spatial denoiser run on the enhanced frame (its ``noise_level``
        and ``effective`` describe the last frame)."""
        return self._spatial

    def reset(self) -> None:
        """Forget the temporal state (call on seek, source change or scene change).

        The first half forgets at once; the second half forgets when it finishes the first
        frame begun after the reset (the staged frame's epoch tells it). A staged frame
        begun before the reset is therefore finished with the state it would have had
        without the reset, so two threads give ``process``'s frames even when one resets
        the processor while the other is still finishing (a segmented export's pre-roll)."""
        with self._lock:
            self._new_turn()
            self._denoiser.reset()
            self._epoch += 1

    def flush(self) -> None:
        """End of stream: every temporal stage is causal, so nothing is pending; the
        state is dropped so the next stream starts clean."""
        with self._lock, self._back_lock:
            self._new_turn()
            self._denoiser.flush()
            self._out_denoiser.flush()
            self._epoch += 1

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Enhance one uint8 (H, W, 3) RGB frame; returns a new uint8 (H, W, 3) frame."""
        return self.finish(self.begin(frame))

    def begin(self, frame: np.ndarray) -> StagedFrame:
        """First half for one uint8 (H, W, 3) RGB frame: input-side temporal denoise,
        estimate, and where there is time for them temporal smoothing, apply and the chroma
        plan. Pass the result to :meth:`finish`, in order."""
        with self._lock:
            enh, params = self._enhancer, self._params
            td = time.perf_counter()
            frame = self._denoiser.process(frame, params.denoise)
            ratio = self._denoiser.noise_ratio
            t0 = time.perf_counter()
            pmap = self._previous = enh.estimate_next(frame, params, self._previous)
            t1 = time.perf_counter()
            self._note("front", (t1 - td) * 1e3)
            # steps that run here: 2 smoothing, apply and plan; 1 smoothing and apply;
            # a share in (0, 1): smoothing and that share of apply's bands; 0 smoothing; 3 none
            moved = self._placement()
            turn = self._turn
            snap, self._snap = self._snap, False
            if moved != 3 and self._smooth_back:
                # the filter comes back once the second half smoothed what it was given;
                # a wait that runs out (staged frames dropped unfinished) leaves it there
                if turn.pinned or not turn.back(_TURN_WAIT_S):
                    turn.pinned, moved = True, 3
                else:
                    self._smooth_back = False
            denoised = self._denoiser.effective > 0.0
            if moved == 3:
                self._smooth_back = True
                turn.leave()
                return StagedFrame(frame, pmap, None, False, None, None, enh, params, denoised,
                                   ratio, self._epoch,
                                   ((t0 - td) * 1e3, (t1 - t0) * 1e3, 0.0, 0.0), turn, snap)
            pmap = self._smooth(turn.filter, pmap, frame, params, snap)
            t2 = time.perf_counter()
            applied = plan = half = job = None
            if moved > 0:  # all of apply from 1 on, else that share of its bands
                job = self._apply_job(enh, frame, pmap, params)
                job.run(len(job.bands) if moved >= 1 else round(moved * len(job.bands)))
                if job.bands_done == len(job.bands):  # (also a method that applies whole)
                    applied, job = job.out, None
                    self._note("apply", (time.perf_counter() - t2) * 1e3)
            if moved == 2:
                plan, half = self._plan(frame, applied, pmap, params, denoised)
            t4 = time.perf_counter()
            return StagedFrame(frame, pmap, applied, moved == 2, plan, half, enh, params,
                               denoised, ratio, self._epoch,
                               ((t0 - td) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t4 - t2) * 1e3),
                               apply_job=job)

    def _note(self, step: str, ms: float) -> None:
        self._avg[step] = _running(self._avg[step], ms)

    def note_front_work(self, ms: float) -> None:
        """Milliseconds the thread that calls :meth:`begin` spent on other work for the
        next frame (the studio's worker reads and decodes the source there, dropped frames
        included). The placement of the movable steps counts its running average as part of
        the first half, so they go where the threads, not just the halves, are balanced.
        Thread-safe; 0 (the default) for a caller with nothing else on that thread."""
        with self._lock:
            self._front_work = _running(self._front_work, max(0.0, float(ms)))

    def _placement(self) -> float:
        """Which of the movable steps (in order: smoothing with the black level, apply,
        the chroma plan) ``begin`` runs: 0 smoothing, 1 also apply, 2 all three, 3 none, or
        a share k / n in (0, 1): smoothing and the first k of apply's n bands (the last
        apply's count), the rest of apply in ``finish``. The choice whose slower half is
        fastest by the running averages (ties: the lower number; no measurements yet: 1).
        Smoothing left to ``finish`` comes back only for a split quicker by 5 %: taking the
        filter back waits for the second half."""
        a = self._avg
        if a["apply"] == 0.0:
            return 1
        front, back, sm, ap, pl = a["front"] + self._front_work, a["back"], a["smooth"], a["apply"], a["plan"]
        n = self._apply_bands
        cost: dict[float, float] = {2: max(front + sm + ap + pl, back), 3: max(front, back + sm + ap + pl)}
        for k in range(n + 1):
            share = ap * k / n
            cost[k / n if 0 < k < n else k // n] = max(front + sm + share, back + pl + ap - share)
        if self._smooth_back:
            cost[3] *= _TURN_MARGIN
        return min(cost, key=lambda k: (cost[k], k))

    def _smooth(self, filt: TemporalFilter, pmap: ParamMap, frame: np.ndarray, params: EnhanceParams,
                snap: bool) -> ParamMap:
        """``pmap`` with the black level and chroma noise of ``frame`` (when denoising),
        smoothed by ``filt`` (which first takes a pending snap of its extras)."""
        t = time.perf_counter()
        if params.denoise > 0.0:  # the black level and chroma noise, smoothed with the map
            pmap = with_cast(pmap, frame)
        if snap:
            filt.snap_extras()
        pmap = filt.update(pmap, params.smoothing)
        self._note("smooth", (time.perf_counter() - t) * 1e3)
        return pmap

    def _apply(self, enh: Enhancer, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        t = time.perf_counter()
        out = self._apply_job(enh, frame, pmap, params).result()
        self._note("apply", (time.perf_counter() - t) * 1e3)
        return out

    def _apply_job(self, enh: Enhancer, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> ApplyJob:
        """``enh.apply_job`` (one half at a time: it reads and builds the enhancer's tables);
        its bands then run on either half without the lock."""
        with self._apply_lock:
            job = enh.apply_job(frame, pmap, params)
        self._apply_bands = len(job.bands)
        return job

    def _plan(self, frame: np.ndarray, applied: np.ndarray, pmap: ParamMap, params: EnhanceParams,
              shared: bool) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The chroma guard's correction for ``applied``, and, when ``shared`` (the spatial
        stage will take ``applied`` as it is: the input side averaged), the half-size copy
        both start from (the spatial stage makes it anyway; the plan's analysis copy is its
        further halvings); else None."""
        t = time.perf_counter()
        h, w = applied.shape[:2]
        half = half_size(applied) if shared and params.denoise > 0.0 and h >= 3 and w >= 3 else None
        plan = self._chroma.plan(frame, applied, pmap, params.denoise, params.strength, half)
        self._note("plan", (time.perf_counter() - t) * 1e3)
        return plan, half

    def finish(self, staged: StagedFrame) -> np.ndarray:
        """Second half: chroma guard, output-side temporal denoise (when the input side did
        not average), spatial denoise. Returns a new uint8 (H, W, 3) RGB frame."""
        with self._back_lock:
            params = staged.params
            if staged.epoch != self._back_epoch:
                self._out_denoiser.reset()
                self._back_epoch = staged.epoch
            ts = time.perf_counter()
            pmap = staged.pmap
            if staged.smoothing is not None:
                try:
                    pmap = self._smooth(staged.smoothing.filter, pmap, staged.frame, params, staged.snap)
                finally:  # a failure must not leave the first half waiting for the filter
                    staged.smoothing.done()
            t2 = time.perf_counter()
            applied = staged.applied
            if staged.apply_job is not None:  # begun in the first half: its remaining bands
                applied = staged.apply_job.result()
                self._note("apply", staged.front_ms[3] + (time.perf_counter() - t2) * 1e3)
            elif applied is None:
                applied = self._apply(staged.enhancer, staged.frame, pmap, params)
            plan, half = staged.chroma, staged.half
            if not staged.planned:
                plan, half = self._plan(staged.frame, applied, pmap, params, staged.input_denoised)
            tp = time.perf_counter()
            # with nothing in between (the input side averaged), the spatial stage adds it
            correction = plan if staged.input_denoised else None
            out = applied if staged.input_denoised else self._chroma.add(applied, plan)
            t3 = time.perf_counter()
            ratio = staged.noise_ratio  # the input side's residual noise, for the spatial stage
            if staged.input_denoised:
                self._out_denoiser.reset()
            else:  # nothing averaged on the input side: the noise shows after the gain
                out = self._out_denoiser.process(out, params.denoise)
                ratio = self._out_denoiser.noise_ratio
            t4 = time.perf_counter()
            out = self._spatial.process(out, params.denoise, ratio, correction, half)
            t5 = time.perf_counter()
            self._note("back", (t5 - tp) * 1e3)
        dn, est, sm, ap = staged.front_ms
        self.timings = ProcessTimings(est, sm + (t2 - ts) * 1e3, ap + (t3 - t2) * 1e3, dn + (t5 - t3) * 1e3,
                                      (t5 - t4) * 1e3)
        # a plain frame: one a stage passed through may carry a temporal state's float levels
        # (engine.frame.with_levels), which a queued output frame should not keep alive
        return np.asarray(out)


T = TypeVar("T")  # what is submitted to a TwoHalfRunner
R = TypeVar("R")  # what its finish returns


class TwoHalfRunner(Generic[T, S, R]):
    """Run ``begin`` on the caller's thread and ``finish`` on a thread of its own, so that
    item t+1's first half overlaps item t's second half.

    :meth:`submit` runs ``begin(item)`` in the calling thread and hands the staged value
    to the finish thread (``name``) through a queue of ``depth`` slots, blocking while it is
    full; the finish thread runs ``finish(staged)`` and then ``deliver(result)`` on each,
    in the order they were submitted. After the last item, :meth:`end`: the finish thread
    works through what is waiting, calls ``on_end()`` and ends. One thread at a time
    submits, so neither half ever overlaps itself.

    Errors: an exception in ``begin`` is raised by :meth:`submit` to its caller, and the
    runner goes on (the caller decides). The first exception in ``finish``, ``deliver`` or
    ``on_end`` is kept in :attr:`error`, passed to ``on_error`` (from the finish thread),
    and stops the runner.

    Stopping: :meth:`stop` sets the stop event (the owner's, when ``stop`` is given, so the
    owner's stop ends the runner too). Both sides look at it at least every 50 ms: a
    blocked :meth:`submit` or :meth:`end` returns False, the items still waiting are
    dropped, and the finish thread ends after the item it is finishing. The thread is a
    daemon (it never keeps the process alive); :meth:`join` waits for it. As a context
    manager it is started on entry and stopped and joined on exit.

    Args:
        begin: ``begin(item) -> staged``, the first half.
        finish: ``finish(staged) -> result``, the second half.
        deliver: ``deliver(result)``, run on the finish thread right after ``finish``
            (None: results are dropped, e.g. when ``finish`` hands them on itself).
        on_end: run on the finish thread after the last item, once :meth:`end` was called.
        on_error: ``on_error(exc)`` on the first error of the finish thread.
        depth: staged items that may wait between the halves (at least 1).
        stop: the stop event to share; None makes a private one.
        name: the finish thread's name.
    """

    def __init__(self, begin: Callable[[T], S], finish: Callable[[S], R], *,
                 deliver: Callable[[R], Any] | None = None, on_end: Callable[[], Any] | None = None,
                 on_error: Callable[[BaseException], Any] | None = None, depth: int = 1,
                 stop: threading.Event | None = None, name: str = "lowlight-finish") -> None:
        self._begin, self._finish, self._deliver = begin, finish, deliver
        self._on_end, self._on_error = on_end, on_error
        self._q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = stop if stop is not None else threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def error(self) -> BaseException | None:
        """The first error of the finish thread, or None."""
        return self._error

    def start(self) -> "TwoHalfRunner[T, S, R]":
        """Start the finish thread (once; an owner may also start :attr:`thread` itself)."""
        self.thread.start()
        return self

    def submit(self, item: T) -> bool:
        """``begin(item)`` here, then hand it on; False when stopped first (the staged item
        is dropped). Raises what ``begin`` raises."""
        return self._hand(self._begin(item))

    def end(self) -> bool:
        """No more items: the finish thread finishes the waiting ones, calls ``on_end`` and
        ends. False when stopped first."""
        return self._hand(_END)

    def stop(self) -> None:
        """Drop the waiting items and end the finish thread (returns at once)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the finish thread; True when it has ended (or never started)."""
        if self.thread.ident is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def __enter__(self) -> "TwoHalfRunner[T, S, R]":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.join()

    def _hand(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        # while the finish thread runs, OpenCV takes the thread count of two-half runs
        release = hold_halves_threads()
        try:
            self._work()
        finally:
            release()

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    item = self._q.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if self._stop.is_set():
                    return
                if item is _END:
                    if self._on_end is not None:
                        self._on_end()
                    return
                out = self._finish(item)
                if self._deliver is not None:
                    self._deliver(out)
        except BaseException as exc:  # noqa: BLE001 - kept for the owner, which re-raises it
            self._error = exc
            if self._on_error is not None:
                try:
                    self._on_error(exc)
                except Exception:  # noqa: BLE001 - the error itself is already kept
                    pass
            self._stop.set()


class TwoStage:
    """Iterate a :class:`FrameStages`' frames with its two halves on two threads (a
    :class:`TwoHalfRunner`: ``begin`` in the caller's thread, ``finish`` in a helper).

    ``run(frames)`` yields the enhanced frames of an iterable of uint8 (H, W, 3) RGB frames,
    in order, the same frames ``process`` would give. At most ``depth`` staged frames wait
    between the halves. An error in either half (or in ``frames``) is raised in the caller
    after the frames finished before it; the helper ends with the iteration, on an error
    and when the generator is closed early, and never outlives ``run``.
    """

    def __init__(self, processor: FrameStages, depth: int = 1) -> None:
        self.processor = processor
        self.depth = max(1, int(depth))

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        done: queue.Queue = queue.Queue()  # unbounded, but at most depth + 1 frames wait here
        runner: TwoHalfRunner[np.ndarray, Any, np.ndarray] = TwoHalfRunner(
            self.processor.begin, self.processor.finish, deliver=done.put, depth=self.depth)
        failed: Exception | None = None
        with runner:
            it = iter(frames)
            while True:
                try:
                    frame = next(it, _END)
                    if frame is _END:
                        runner.end()
                        break
                    if not runner.submit(frame):
                        break
                except Exception as exc:  # noqa: BLE001 - raised after the frames begun before it
                    failed = exc
                    runner.end()
                    break
                yield from _waiting(done)
            runner.join()
            yield from _waiting(done)
        if runner.error is not None:
            raise runner.error
        if failed is not None:
            raise failed


def _running(avg: float, ms: float) -> float:
    """A running average of milliseconds (the first value taken as it is)."""
    return ms if avg == 0.0 else 0.8 * avg + 0.2 * ms


def _waiting(q: queue.Queue) -> Iterator[Any]:
    """The items already in ``q``, without blocking."""
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return
        yield item


def enhance_still(enhancer: Enhancer, frame: np.ndarray, params: EnhanceParams | None = None,
                  *, reference: bool = False) -> np.ndarray:
    """Enhance one picture the way a video's first frame is enhanced.

    The fast path is a fresh one-frame :class:`FrameProcessor` (the temporal stages pass
    a first frame through, so this is estimate → apply → spatial denoise); ``reference``
    uses ``enhancer.reference`` (the network at full resolution) followed by the same
    spatial denoise. ``params`` are clamped to the method's ranges; None means defaults.

    Args:
        enhancer: the method instance.
        frame: uint8 (H, W, 3) RGB picture.
        params: parameters (``denoise`` 0 gives exactly ``enhance`` / ``reference``).
        reference: full-resolution reference path instead of the fast path.

    Returns:
        uint8 (H, W, 3) RGB enhanced picture.
    """
    p = enhancer.descriptor.clamp(params or enhancer.descriptor.default_params())
    if reference:
        out = enhancer.reference(frame, p)
        if p.denoise > 0.0:  # the guard needs to know whether the method brings its own colour
            out = ChromaGuard().process(frame, out, with_cast(enhancer.estimate(frame, p), frame), p.denoise)
        return SpatialDenoiser().process(out, p.denoise)
    return FrameProcessor(enhancer, p).process(frame)
