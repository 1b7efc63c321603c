"""The Enhancer interface: every method is split into *estimate* and *apply*.

1. ``estimate`` runs on a downscaled copy of the frame (long side ``estimate_size``
   pixels) and returns a low-resolution :class:`ParamMap` (SCI: illumination,
   Zero-DCE: curve maps, classical: a gain or illumination map).
2. The temporal filter may smooth that small map between frames.
3. ``apply`` upsamples the map and applies it to the full-resolution frame with cheap
   per-pixel arithmetic or a lookup table.

``reference`` runs the method at full resolution (the quality and speed baseline).
Frames follow the contract in :mod:`engine.frame`: uint8 (H, W, 3) RGB.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
import importlib
from typing import Any, Callable, Union

import cv2
import numpy as np

from engine.params import EnhanceParams, ParamSpec

__all__ = ["MethodDescriptor", "ParamMap", "Enhancer", "ApplyJob", "downscale"]


@dataclass(frozen=True)
class MethodDescriptor:
    """What a method is and which parameters it takes.

    Attributes:
        name: registry key used by the CLI (``--method``) and settings, e.g. ``"sci"``.
        title: display name, e.g. ``"Zero-DCE++"``.
        family: ``"learned"`` or ``"classical"``.
        paper: citation (authors, venue, year) or a short description for classical methods.
        licence: licence of the method's code/weights as shipped here.
        summary: one line on what the method does.
        params: the parameters this method uses, with ranges and defaults.
        factory: ``factory(backend=..., device=..., weights=...) -> Enhancer``, or the
            same function named as ``"package.module:function"``, imported on the first
            :meth:`create` (the catalogue's form: the network module and PyTorch load only
            when the method is used).
        weights: checkpoint file name in ``weights/`` for learned methods, else None.
        backends: runtimes the method supports, in order of preference.
    """

    name: str
    title: str
    family: str
    paper: str
    licence: str
    summary: str
    params: tuple[ParamSpec, ...]
    factory: Union[Callable[..., "Enhancer"], str] = field(compare=False, repr=False)
    weights: str | None = None
    backends: tuple[str, ...] = ("numpy",)

    @property
    def module(self) -> str | None:
        """The module that implements the method (``"engine.models.sci"``) when the
        factory is named by a string, else None."""
        return self.factory.partition(":")[0] if isinstance(self.factory, str) else None

    def resolve_factory(self) -> Callable[..., "Enhancer"]:
        """The factory function, importing its module when it is named by a string."""
        if not isinstance(self.factory, str):
            return self.factory
        module, _, attr = self.factory.partition(":")
        if not attr:
            raise ValueError(f"{self.name}: factory {self.factory!r} is not 'package.module:function'")
        return getattr(importlib.import_module(module), attr)

    def create(self, *, backend: str = "auto", device: str = "auto", weights: str | None = None) -> "Enhancer":
        """A new enhancer of this method (arguments as :func:`engine.registry.create`)."""
        return self.resolve_factory()(backend=backend, device=device, weights=weights)

    def spec(self, name: str) -> ParamSpec | None:
        """Return the :class:`ParamSpec` called ``name``, or None if the method ignores it."""
        for s in self.params:
            if s.name == name:
                return s
        return None

    def default_params(self) -> EnhanceParams:
        """The method's default :class:`EnhanceParams`."""
        return EnhanceParams(**{s.name: s.default for s in self.params})

    def clamp(self, params: EnhanceParams) -> EnhanceParams:
        """Return ``params`` with every value this method uses clamped into its range."""
        return params.replace(**{s.name: s.clamp(getattr(params, s.name)) for s in self.params})

    def params_from(self, values: dict[str, Any]) -> EnhanceParams:
        """Defaults overridden by the non-None entries of ``values``, clamped."""
        base = self.default_params()
        known = {s.name for s in self.params} | set(base.as_dict())
        changes = {k: v for k, v in values.items() if v is not None and k in known}
        return self.clamp(base.replace(**changes))


@dataclass
class ParamMap:
    """A low-resolution per-pixel parameter map produced by ``Enhancer.estimate``.

    Attributes:
        data: float32 array (h, w, C), C-contiguous; its meaning is given by ``kind``.
        kind: what the channels hold, e.g. ``"illumination"`` (SCI, LIME; values in
            (0, 1]), ``"curve"`` (Zero-DCE curve parameters in [-1, 1]), ``"gain"``.
        frame_shape: (H, W) of the full-resolution frame the map belongs to.
        small: the downscaled uint8 (h, w, 3) frame the map was estimated from (the
            temporal filter uses it for motion and scene-cut detection).
        extra: method-specific extras (e.g. the exposure control's wanted output level).
        exposure_power: how the temporal filter carries its smoothed state when the frame
            gets k times brighter (global exposure change, measured on the small frames): the
            state is multiplied by ``k ** exposure_power`` before it is blended. Methods set
            it so that their output brightness does not move with k (LIME x·T^(−γs): 1/(γs);
            CLAHE x·g^s: −1/s), so a smoothed map holds the picture steady through exposure
            flicker, as the learned methods' smoothed output level does; 0 = no carry. A
            float array of length C gives each channel its own power (the paired methods'
            affine grid: −1 for the matrix A, 0 for the offset b).
    """

    data: np.ndarray
    kind: str
    frame_shape: tuple[int, int]
    small: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    exposure_power: float | np.ndarray = 0.0

    def copy(self) -> "ParamMap":
        return ParamMap(self.data.copy(), self.kind, self.frame_shape, self.small, dict(self.extra),
                        self.exposure_power)


def downscale(frame: np.ndarray, long_side: int) -> np.ndarray:
    """Return a copy of ``frame`` whose long side is at most ``long_side`` pixels.

    Aspect ratio is kept; each side is at least 1 pixel. Uses area averaging
    (anti-aliased). A frame that is already small enough is returned unchanged (no copy).

    Args:
        frame: uint8 (H, W, 3).
        long_side: target long side in pixels, >= 1.
    """
    h, w = frame.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return frame
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)


class ApplyJob:
    """One frame's apply, made ready and then run band by band, possibly by two threads
    in turn (the processor's two halves share a frame's apply between them).

    ``bands`` are row ranges (r0, r1) that cover the output's rows in order;
    ``run_band(r0, r1)`` writes those rows of ``out`` and may run on any thread (it uses no
    state it shares with other jobs or with the enhancer that made it). One thread at a
    time calls :meth:`run` or :meth:`result`, each band runs once, in order.

    Attributes:
        out: the output, uint8 (H, W, 3), complete once every band ran.
        bands: the row ranges, in order.
    """

    def __init__(self, out: np.ndarray, bands: list[tuple[int, int]],
                 run_band: Callable[[int, int], None] | None) -> None:
        self.out, self.bands = out, bands
        self._run_band = run_band
        self._next = 0 if run_band is not None else len(bands)

    @classmethod
    def done(cls, out: np.ndarray) -> "ApplyJob":
        """A job whose output was made whole already (a method that does not run by bands)."""
        return cls(out, [(0, out.shape[0])], None)

    @property
    def bands_done(self) -> int:
        """How many bands have run."""
        return self._next

    def run(self, upto: int) -> None:
        """Run the bands not run yet before index ``upto`` (0..len(bands))."""
        end = min(int(upto), len(self.bands))
        while self._next < end:
            r0, r1 = self.bands[self._next]
            self._run_band(r0, r1)  # type: ignore[misc]
            self._next += 1

    def result(self) -> np.ndarray:
        """Run what is left and return :attr:`out`."""
        self.run(len(self.bands))
        return self.out


class Enhancer(ABC):
    """Base class of every method. Instances are created through
    :func:`engine.registry.create`. ``estimate`` and ``apply`` may run at the same time on
    two threads for different frames (the two halves of
    :class:`engine.stages.processor.FrameProcessor` in a pipeline), so they share no mutable state
    beyond caches that are replaced whole; otherwise one thread at a time.

    Attributes:
        descriptor: the registry entry this enhancer implements.
        backend: ``"torch"``, ``"onnx"`` or ``"numpy"`` (classical methods).
        device: ``"cpu"`` or ``"cuda"``.
        estimate_size: long side, in pixels, of the copy ``estimate`` works on.
    """

    descriptor: "MethodDescriptor"
    backend: str = "numpy"
    device: str = "cpu"
    estimate_size: int = 256

    @abstractmethod
    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        """Estimate the low-resolution parameter map of ``frame`` (uint8 (H, W, 3))."""

    def estimate_next(self, frame: np.ndarray, params: EnhanceParams, previous: ParamMap | None) -> ParamMap:
        """``estimate`` for the next frame of a stream whose last estimate was ``previous``
        (None: the first frame, or after a reset). Methods that solve a per-frame exposure
        control start the solve from the previous frame's solution; the result equals
        ``estimate``'s within the solver's tolerance (0.05 grey levels of the output mean).
        The default is ``estimate``."""
        return self.estimate(frame, params)

    @abstractmethod
    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        """Apply ``pmap`` to the full-resolution ``frame``; return uint8 (H, W, 3)."""

    def apply_job(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> ApplyJob:
        """``apply`` as an :class:`ApplyJob`: whatever needs the enhancer's own state (tables,
        the exposure control) is done here, the per-pixel rest band by band on any thread;
        ``job.result()`` equals ``apply``'s output. The default runs ``apply`` whole here."""
        return ApplyJob.done(self.apply(frame, pmap, params))

    @abstractmethod
    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        """Full-resolution reference path (no downscaling); uint8 (H, W, 3)."""

    def enhance(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        """Fast path for one frame: ``apply(frame, estimate(frame))``; uint8 (H, W, 3)."""
        p = params if params is not None else self.descriptor.default_params()
        return self.apply(frame, self.estimate(frame, p), p)

    def runtime_label(self) -> str:
        """Human-readable runtime in use, e.g. ``"onnx/CPUExecutionProvider"``."""
        return f"{self.backend}/{self.device}"
