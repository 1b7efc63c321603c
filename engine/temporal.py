"""Temporal smoothing of the low-resolution parameter maps (against flicker).

An exponential moving average over :class:`engine.enhancer.ParamMap` data, reset when
the map's shape or kind changes. (Motion-adaptive weights and scene-cut resets are
layered on top of this.)
"""

from __future__ import annotations

import numpy as np

from engine.enhancer import ParamMap

__all__ = ["TemporalFilter"]


class TemporalFilter:
    """Exponential moving average of parameter maps.

    ``update(pmap, smoothing)`` returns the smoothed map; ``smoothing`` in [0, 1], 0 = off
    (the map passes through and the state is dropped).
    """

    def __init__(self) -> None:
        self._state: np.ndarray | None = None
        self._kind: str | None = None

    def reset(self) -> None:
        """Forget the history; the next map passes through unchanged."""
        self._state = None
        self._kind = None

    def flush(self) -> None:
        """End of stream: nothing is buffered, so this only resets."""
        self.reset()

    def update(self, pmap: ParamMap, smoothing: float) -> ParamMap:
        if smoothing <= 0.0:
            self.reset()
            return pmap
        if self._state is None or self._state.shape != pmap.data.shape or self._kind != pmap.kind:
            self._state = pmap.data.astype(np.float32, copy=True)
            self._kind = pmap.kind
            return pmap
        alpha = 1.0 - 0.95 * float(min(smoothing, 1.0))
        self._state += alpha * (pmap.data - self._state)
        out = pmap.copy()
        out.data = self._state.copy()
        return out
