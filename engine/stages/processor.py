"""Per-stream enhancement: (temporal denoise →) estimate → temporal smoothing → apply
(→ spatial denoise).

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

**Two halves.** ``process`` is ``finish(begin(frame))``: :meth:`FrameProcessor.begin` runs
the input-side temporal denoiser, the estimate and the temporal smoothing and returns a
:class:`StagedFrame`; :meth:`FrameProcessor.finish` runs apply, the output-side temporal
denoiser and the spatial stage on it. Each half has its own state and lock, so two threads
can run them at once on consecutive frames (``begin`` of frame t+1 while ``finish`` of
frame t): on two cores that raises the throughput by about a quarter at the cost of one
frame of latency (:class:`TwoStage`, the video pipeline and the studio use it). The output
is the same as ``process``'s, frame for frame, as long as ``finish`` gets the staged
frames in the order ``begin`` made them.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from engine.stages.temporal_denoise import TemporalDenoiser
from engine.enhancer import Enhancer, ParamMap
from engine.params import EnhanceParams
from engine.stages.spatial_denoise import SpatialDenoiser
from engine.stages.map_smoothing import TemporalFilter

__all__ = ["FrameProcessor", "ProcessTimings", "StagedFrame", "TwoStage", "enhance_still"]


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
        pmap: the smoothed parameter map to apply.
        enhancer, params: the method and parameters ``begin`` used (``finish`` applies
            with the same ones, whatever was set in between).
        input_denoised: the input-side temporal denoiser averaged this frame (then the
            output-side one stays off).
        noise_ratio: that denoiser's per-pixel noise ratio for the spatial stage, or None.
        epoch: the processor's reset count when it was begun (``finish`` drops its own
            state when the epoch changes: a frame from before a seek starts afresh).
        front_ms: milliseconds of (input denoise, estimate, smoothing).
    """

    frame: np.ndarray
    pmap: ParamMap
    enhancer: Enhancer
    params: EnhanceParams
    input_denoised: bool
    noise_ratio: np.ndarray | None
    epoch: int
    front_ms: tuple[float, float, float]


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
        self._temporal = TemporalFilter()
        self._denoiser = TemporalDenoiser()
        self._out_denoiser = TemporalDenoiser()
        self._spatial = SpatialDenoiser()
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
                self._temporal.snap_extras()

    def set_enhancer(self, enhancer: Enhancer, params: EnhanceParams | None = None) -> None:
        """Switch method from the next frame on; resets the temporal state."""
        with self._lock:
            self._enhancer = enhancer
            self._params = enhancer.descriptor.clamp(params or enhancer.descriptor.default_params())
            self._temporal.reset()

    @property
    def temporal(self) -> TemporalFilter:
        """The temporal filter (its ``last_cut`` / ``mean_weight`` describe the last frame)."""
        return self._temporal

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
        """Forget the temporal state (call on seek, source change or scene change). A
        staged frame begun before the reset is still finished, with fresh output state."""
        with self._lock, self._back_lock:
            self._temporal.reset()
            self._denoiser.reset()
            self._out_denoiser.reset()
            self._epoch += 1

    def flush(self) -> None:
        """End of stream: every temporal stage is causal, so nothing is pending; the
        state is dropped so the next stream starts clean."""
        with self._lock, self._back_lock:
            self._temporal.flush()
            self._denoiser.flush()
            self._out_denoiser.flush()
            self._epoch += 1

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Enhance one uint8 (H, W, 3) RGB frame; returns a new uint8 (H, W, 3) frame."""
        return self.finish(self.begin(frame))

    def begin(self, frame: np.ndarray) -> StagedFrame:
        """First half for one uint8 (H, W, 3) RGB frame: input-side temporal denoise,
        estimate, temporal smoothing. Pass the result to :meth:`finish`, in order."""
        with self._lock:
            enh, params = self._enhancer, self._params
            td = time.perf_counter()
            frame = self._denoiser.process(frame, params.denoise)
            t0 = time.perf_counter()
            pmap = enh.estimate(frame, params)
            t1 = time.perf_counter()
            pmap = self._temporal.update(pmap, params.smoothing)
            t2 = time.perf_counter()
            return StagedFrame(frame, pmap, enh, params, self._denoiser.effective > 0.0,
                               self._denoiser.noise_ratio, self._epoch,
                               ((t0 - td) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3))

    def finish(self, staged: StagedFrame) -> np.ndarray:
        """Second half: apply, output-side temporal denoise (when the input side did not
        average), spatial denoise. Returns a new uint8 (H, W, 3) RGB frame."""
        with self._back_lock:
            params = staged.params
            if staged.epoch != self._back_epoch:
                self._out_denoiser.reset()
                self._back_epoch = staged.epoch
            t2 = time.perf_counter()
            out = staged.enhancer.apply(staged.frame, staged.pmap, params)
            t3 = time.perf_counter()
            if staged.input_denoised:
                self._out_denoiser.reset()
                ratio = staged.noise_ratio
            else:  # nothing averaged on the input side: the noise shows after the gain
                out = self._out_denoiser.process(out, params.denoise)
                ratio = self._out_denoiser.noise_ratio
            t4 = time.perf_counter()
            out = self._spatial.process(out, params.denoise, ratio)
            t5 = time.perf_counter()
        dn, est, sm = staged.front_ms
        self.timings = ProcessTimings(est, sm, (t3 - t2) * 1e3, dn + (t5 - t3) * 1e3, (t5 - t4) * 1e3)
        return out


class TwoStage:
    """Run a :class:`FrameProcessor`'s two halves on two threads: ``begin`` in a helper
    thread, ``finish`` in the caller's, so consecutive frames overlap.

    ``run(frames)`` yields the enhanced frames of an iterable of uint8 (H, W, 3) RGB frames,
    in order, the same frames ``process`` would give. At most ``depth`` staged frames wait
    between the halves. The helper ends with the iteration, on an error (re-raised in the
    caller) and when the generator is closed early; it never outlives ``run``.
    """

    def __init__(self, processor: FrameProcessor, depth: int = 1) -> None:
        self.processor = processor
        self.depth = max(1, int(depth))

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        q: queue.Queue = queue.Queue(maxsize=self.depth)
        stop = threading.Event()
        end = object()

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def front() -> None:
            try:
                for f in frames:
                    if not put(self.processor.begin(f)):
                        return
                put(end)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                put(exc)

        t = threading.Thread(target=front, name="lowlight-begin", daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if item is end:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield self.processor.finish(item)
        finally:
            stop.set()
            t.join()


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
        return SpatialDenoiser().process(enhancer.reference(frame, p), p.denoise)
    return FrameProcessor(enhancer, p).process(frame)
