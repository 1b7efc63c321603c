"""Per-stream enhancement: (temporal denoise →) estimate → temporal smoothing → apply
(→ spatial denoise).

The temporal denoiser (:mod:`engine.denoise`) runs first, on the dark input, because the
enhancement lifts the sensor noise together with the picture; the map is then estimated
from the cleaner frame and smoothed over time (:mod:`engine.temporal`). After apply, the
noise-aware spatial denoiser (:mod:`engine.spatial_denoise`) measures the noise left in
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
stage finds no noise either and passes the frame through.

:class:`FrameProcessor` is what the video pipeline, the CLI and the studio call for each
frame; :func:`enhance_still` runs the same steps on one picture (stills, ``lowlight
eval``), so ``denoise`` means the same everywhere. Parameter and method changes are
thread-safe and take effect on the next frame.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from engine.denoise import TemporalDenoiser
from engine.enhancer import Enhancer
from engine.params import EnhanceParams
from engine.spatial_denoise import SpatialDenoiser
from engine.temporal import TemporalFilter

__all__ = ["FrameProcessor", "ProcessTimings", "enhance_still"]


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


class FrameProcessor:
    """Enhance a sequence of frames with one method and its temporal state.

    Args:
        enhancer: the method instance (see :func:`engine.registry.create`).
        params: parameters; None means the method's defaults.

    ``process(frame)`` takes and returns uint8 (H, W, 3) RGB frames. Call ``reset()`` on a
    seek or a source change so the temporal state does not leak across.
    """

    def __init__(self, enhancer: Enhancer, params: EnhanceParams | None = None) -> None:
        self._lock = threading.Lock()
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
        """Forget the temporal state (call on seek, source change or scene change)."""
        with self._lock:
            self._temporal.reset()
            self._denoiser.reset()
            self._out_denoiser.reset()

    def flush(self) -> None:
        """End of stream: every temporal stage is causal, so nothing is pending; the
        state is dropped so the next stream starts clean."""
        with self._lock:
            self._temporal.flush()
            self._denoiser.flush()
            self._out_denoiser.flush()

    def process(self, frame: np.ndarray) -> np.ndarray:
        """Enhance one uint8 (H, W, 3) RGB frame; returns a new uint8 (H, W, 3) frame."""
        with self._lock:
            enh, params = self._enhancer, self._params
            td = time.perf_counter()
            frame = self._denoiser.process(frame, params.denoise)
            t0 = time.perf_counter()
            pmap = enh.estimate(frame, params)
            t1 = time.perf_counter()
            pmap = self._temporal.update(pmap, params.smoothing)
            t2 = time.perf_counter()
            out = enh.apply(frame, pmap, params)
            t3 = time.perf_counter()
            if self._denoiser.effective > 0.0:
                self._out_denoiser.reset()
                ratio = self._denoiser.noise_ratio
            else:  # nothing averaged on the input side: the noise shows after the gain
                out = self._out_denoiser.process(out, params.denoise)
                ratio = self._out_denoiser.noise_ratio
            t4 = time.perf_counter()
            out = self._spatial.process(out, params.denoise, ratio)
            t5 = time.perf_counter()
        self.timings = ProcessTimings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
                                      (t0 - td + t5 - t3) * 1e3, (t5 - t4) * 1e3)
        return out


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
