"""The frame contract shared by every module.

Frames cross module boundaries as ``numpy.ndarray`` of dtype uint8, shape (H, W, 3),
RGB channel order, C-contiguous. A :class:`Frame` record carries the pixels together with
the frame index, the presentation time in seconds (from the container) and the source id.
Grey, 16-bit, float and alpha inputs are converted once, at the source, by :func:`to_rgb8`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["Frame", "to_rgb8", "check_rgb8", "levels_to_float", "RoundedLevels", "with_levels", "float_levels"]


@dataclass(frozen=True)
class Frame:
    """One decoded picture and where it came from.

    Attributes:
        image: uint8 array, shape (H, W, 3), RGB, C-contiguous.
        index: 0-based position in the source, in decode order after any trimming.
        pts: presentation time in seconds from the container (None when unknown,
            e.g. a still image).
        source_id: a short string naming the source (path, ``camera:0``, ``demo``).
        duration: frame duration in seconds when the container states it, else None.
        extra: free-form per-frame metadata (e.g. the container's raw pts and time base).
    """

    image: np.ndarray
    index: int = 0
    pts: float | None = None
    source_id: str = ""
    duration: float | None = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def with_image(self, image: np.ndarray) -> "Frame":
        """Return a copy of this record carrying ``image`` (same index, pts, source)."""
        return Frame(image, self.index, self.pts, self.source_id, self.duration, self.extra)


def check_rgb8(image: np.ndarray) -> np.ndarray:
    """Raise ``ValueError`` unless ``image`` honours the frame contract; return it.

    The contract: uint8, shape (H, W, 3) with H, W >= 1, C-contiguous.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"frame must be uint8 (H, W, 3) RGB, got dtype={image.dtype} shape={image.shape}"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"frame must be at least 1x1, got shape={image.shape}")
    if not image.flags.c_contiguous:
        raise ValueError("frame must be C-contiguous (use numpy.ascontiguousarray)")
    return image


def levels_to_float(image: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Copy a uint8 array (any shape) into the equally shaped float32 array ``out`` as
    levels 0..255 (exact) and return ``out``. Through OpenCV, whose thread pool splits
    it: on two cores about twice as fast as numpy's ``copyto`` on a 720p frame (0.3 against
    0.6 ms), on one core the same; arrays of fewer than 16 values go through numpy, since
    OpenCV reads a 1×1 array as a scalar."""
    if image.shape != out.shape or image.dtype != np.uint8 or out.dtype != np.float32:
        raise ValueError(f"need uint8 and float32 arrays of one shape, got {image.dtype} "
                         f"{image.shape} and {out.dtype} {out.shape}")
    if image.size < 16 or not out.flags.c_contiguous:
        np.copyto(out, image, casting="unsafe")
    else:  # as one-channel 2-D planes (OpenCV takes at most 4 channels with a scalar)
        rows = image.shape[0] if image.ndim > 1 else 1
        cv2.add(image.reshape(rows, -1), 0.0, dst=out.reshape(rows, -1), dtype=cv2.CV_32F)
    return out


class RoundedLevels(np.ndarray):
    """A uint8 frame that carries the float32 levels it is the rounding of.

    A stage that computes a frame in float levels and hands on their rounding (the temporal
    denoiser's recursive state) can attach the floats, so the next step that needs float
    levels of the frame anyway (the methods' table apply, :mod:`engine.models.lut2d`) takes
    them instead of converting the frame again (720p: 0.5 ms; 1080p: 1.2 ms). The frame is
    a frame like any other (the contract holds); anything made from it (views, copies,
    arithmetic) is a plain frame, so the floats never outlive the pixels they describe.
    Make one with :func:`with_levels`, read it with :func:`float_levels`.
    """

    levels: np.ndarray | None = None

    def __array_finalize__(self, obj: object) -> None:
        self.levels = None


def with_levels(frame: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``frame`` (uint8) as a :class:`RoundedLevels` carrying ``levels``: float32 of the same
    shape whose round-to-nearest (saturated to 0..255, as ``cv2.convertScaleAbs`` does for
    values >= 0) is ``frame``. The caller must not change ``levels`` afterwards."""
    if levels.shape != frame.shape or levels.dtype != np.float32 or frame.dtype != np.uint8:
        raise ValueError(f"need uint8 and float32 arrays of one shape, got {frame.dtype} "
                         f"{frame.shape} and {levels.dtype} {levels.shape}")
    out = frame.view(RoundedLevels)
    out.levels = levels
    return out


def float_levels(frame: np.ndarray) -> np.ndarray | None:
    """The float32 levels ``frame`` is the rounding of (a C-contiguous array of its shape),
    or None when it carries none."""
    levels = getattr(frame, "levels", None)
    if levels is None or levels.shape != frame.shape or not levels.flags.c_contiguous:
        return None
    return levels


def to_rgb8(image: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Convert any common still/video picture to the frame contract.

    Args:
        image: array of shape (H, W), (H, W, 1), (H, W, 2) (grey + alpha), (H, W, 3) or
            (H, W, 4) (colour + alpha); dtype uint8, uint16 (full 0..65535 range), bool,
            or float (0..1 range, values outside are clipped).
        bgr: True when the colour channels are in OpenCV's BGR(A) order.

    Returns:
        uint8 array (H, W, 3), RGB, C-contiguous. Alpha is dropped (composited over
        black would darken the picture further, so it is simply discarded); 16-bit is
        rounded to the nearest 8-bit level.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"unsupported picture shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"empty picture of shape {a.shape}")
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        a = np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0)
        a = (a * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer):
        a = np.clip(a, 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unsupported picture dtype {a.dtype}")
    c = a.shape[2]
    if c in (1, 2):
        a = np.repeat(a[:, :, :1], 3, axis=2)
    elif c == 4:
        a = a[:, :, :3]
    if bgr and c >= 3:
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)
