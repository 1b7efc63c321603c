"""Motion-adaptive temporal denoising of full-resolution frames (the ``denoise`` parameter).

Enhancement multiplies dark pixels by large gains and lifts the sensor noise with them,
so :class:`TemporalDenoiser` runs on the dark *input*, before estimation and apply: a
recursive filter that blends each new frame with the previous denoised one,

    out_t = w · in_t + (1 − w) · out_{t−1},

with a per-pixel weight ``w`` that is small (strong averaging) where the pixel did not
change beyond the noise level, and rises to 1 (no averaging, no smear) where it did:

    d = box3×3(luma(|in_t − g·out_{t−1}|))                  (uint8, grey levels)
    w = w_min + (1 − w_min) · clip((d − 2·m) / (2·m), 0, 1),  w_min = 1 / (1 + 7 · denoise)

where ``g`` is the global exposure ratio of ``in_t`` to ``out_{t−1}`` (the previous
output is re-exposed by it, so exposure flicker and lamps are followed, not averaged
away) and ``m`` is the running median of ``d`` over the frame (the noise scale; most of
a frame is static). ``denoise`` 1 averages about 15 static frames (noise std × 0.26), the
default about 5. All steps are OpenCV vectorised operations on preallocated uint8/float32
buffers (one 256-entry LUT maps ``d`` to ``w``); the cost at 1280×720 is a few
milliseconds on one core.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["TemporalDenoiser", "DEFAULT_DENOISE", "min_weight"]

#: Default ``denoise`` (measured: see the denoise figures in the temporal README section).
DEFAULT_DENOISE = 0.5

_LOW, _HIGH = 2.0, 4.0   # ramp of w between LOW·m and HIGH·m (m: median difference)


def min_weight(denoise: float) -> float:
    """Weight of the new frame on static pixels: ``1 / (1 + 7 · denoise)``, denoise in [0, 1]."""
    s = min(max(float(denoise), 0.0), 1.0)
    return 1.0 / (1.0 + 7.0 * s)


class TemporalDenoiser:
    """Recursive, motion-adaptive temporal filter on uint8 (H, W, 3) RGB frames.

    ``process(frame, denoise)`` returns the denoised frame (a new uint8 array). The first
    frame, a frame of a new size and any frame after ``reset()`` pass through unchanged.
    ``denoise`` 0 returns the input and drops the state. One instance serves one stream.

    Attributes:
        noise_level: running median of the blurred luma difference, grey levels.
        moving_fraction: fraction of pixels of the last frame taken as moving (w > w_min).
        gain: global exposure ratio of the last frame to the previous output (the state is
            scaled by it first, so exposure flicker and light changes are followed, not
            averaged away: denoising removes noise, the temporal filter handles flicker).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame; the next one passes through."""
        self._state: np.ndarray | None = None   # float32 (H, W, 3) denoised frame
        self._prev: np.ndarray | None = None    # uint8 copy of it
        self._cur: np.ndarray | None = None     # float32 buffer for the input
        self._lut: np.ndarray | None = None
        self._lut_key: tuple[float, float] | None = None
        self.noise_level = 0.0
        self.moving_fraction = 0.0
        self.gain = 1.0

    def flush(self) -> None:
        """End of stream: the filter holds no frames back; drops the state."""
        self.reset()

    def _weights_lut(self, median: float, denoise: float) -> np.ndarray:
        m = max(0.75, round(median * 4.0) / 4.0)  # quantised so the LUT is rarely rebuilt
        key = (m, round(float(denoise), 3))
        if key != self._lut_key:
            wmin = min_weight(denoise)
            d = np.arange(256, dtype=np.float32)
            ramp = np.clip((d - _LOW * m) / ((_HIGH - _LOW) * m), 0.0, 1.0)
            self._lut = (wmin + (1.0 - wmin) * ramp).astype(np.float32)
            self._lut_key = key
        assert self._lut is not None
        return self._lut

    def process(self, frame: np.ndarray, denoise: float) -> np.ndarray:
        """Denoise one uint8 (H, W, 3) RGB frame; ``denoise`` in [0, 1] (0 = off)."""
        if not denoise > 0.0:
            self.reset()
            return frame
        if self._state is None or self._state.shape != frame.shape:
            self.reset()
            self._state = frame.astype(np.float32)
            self._cur = np.empty_like(self._state)
            self._prev = np.ascontiguousarray(frame).copy()
            return frame
        assert self._prev is not None and self._cur is not None
        # follow global exposure changes (flicker, a lamp) instead of averaging them away:
        # the previous frame is re-exposed to this one's level before it is compared/blended
        gain = (sum(cv2.mean(frame)[:3]) + 1.5) / (sum(cv2.mean(self._prev)[:3]) + 1.5)
        self.gain = gain
        if abs(gain - 1.0) > 0.004:
            cv2.addWeighted(self._state, gain, self._state, 0.0, 0.0, dst=self._state)
            self._prev = cv2.convertScaleAbs(self._state)
        diff = cv2.absdiff(frame, self._prev)
        d = cv2.cvtColor(diff, cv2.COLOR_RGB2GRAY)
        d = cv2.blur(d, (3, 3))
        hist = cv2.calcHist([d], [0], None, [256], [0, 256]).ravel()
        median = float(np.searchsorted(np.cumsum(hist), 0.5 * d.size))
        # track the noise scale slowly; motion bursts raise it only gradually
        self.noise_level = median if self.noise_level <= 0 else (
            0.9 * self.noise_level + 0.1 * min(median, 2.0 * self.noise_level + 1.0))
        lut = self._weights_lut(self.noise_level, denoise)
        w = cv2.LUT(d, lut)
        self.moving_fraction = float(np.count_nonzero(w > lut[0] + 1e-6)) / w.size
        np.copyto(self._cur, frame, casting="unsafe")
        self._state = cv2.blendLinear(self._cur, self._state, w, 1.0 - w)
        out = cv2.convertScaleAbs(self._state)  # rounds and saturates to uint8
        self._prev = out
        return out
