"""Image files: which names are still pictures, reading one into the frame contract, and
writing one atomically. The still-image batch (:mod:`engine.jobs.stills`), image-sequence
sources (:mod:`engine.video.sources`) and the studio's open dialog all go through here.

Reading: PNG, JPEG, BMP, TIFF, WebP, PPM and PGM (8- or 16-bit, grey, grey + alpha, RGB,
RGBA) become uint8 (H, W, 3) RGB through :func:`engine.frame.to_rgb8`; a JPEG's EXIF
orientation is applied, and a truncated JPEG is an error (libjpeg only warns and fills the
missing rows with grey). Writing: the format follows the file suffix; the picture goes to a
temporary name beside the target and is renamed over it only once complete, so a failure
never leaves a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from engine.files.atomic import replacing
from engine.frame import check_rgb8, to_rgb8

__all__ = ["IMAGE_SUFFIXES", "ImageError", "is_image_path", "read_image", "write_image"]

# Lower-case suffixes of the still pictures every reader and writer accepts (a tuple, so
# that ``str.endswith`` takes it too).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                                   ".pgm")
_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
_GREY_SUFFIXES = frozenset({".pgm"})  # formats that hold one grey channel only


class ImageError(Exception):
    """An image file cannot be read or written; the message is one line naming the file."""


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when ``path``'s suffix is one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _jpeg_complete(data: bytes) -> bool:
    """True when a JPEG byte string has an end-of-image marker after its last scan.

    libjpeg only warns about a truncated file and fills the missing rows with grey, so
    truncation is detected here: 0xFFD9 cannot occur inside entropy-coded data (0xFF is
    byte-stuffed there), so a complete file has it after the last start-of-scan marker.
    """
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos) >= 0


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a still picture as a frame.

    The file's bytes are decoded with ``cv2.imdecode`` (the same decoders as
    ``cv2.imread``, but any path the OS accepts works): ``IMREAD_UNCHANGED`` keeps
    16-bit, grey and alpha for :func:`engine.frame.to_rgb8` to convert; JPEGs are decoded
    with ``IMREAD_COLOR`` so that their EXIF orientation is applied.

    Args:
        path: a picture with one of :data:`IMAGE_SUFFIXES` (other formats OpenCV decodes
            also work; the format is recognised from the content, not the name).

    Returns:
        uint8 (H, W, 3) RGB, C-contiguous, upright. 16-bit is rounded to 8-bit, alpha dropped.

    Raises:
        ImageError: one line naming the file when it is missing, a folder, empty,
            truncated, corrupt or not a picture.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise ImageError(f"{p}: is a folder, not an image") from None
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{p}: empty file")
    is_jpeg = data[:3] == b"\xff\xd8\xff"
    flags = cv2.IMREAD_COLOR if is_jpeg else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise ImageError(f"{p}: not a readable image (corrupt or unsupported format)")
    if is_jpeg and not _jpeg_complete(data):
        raise ImageError(f"{p}: truncated JPEG (no end-of-image marker)")
    try:
        return to_rgb8(img, bgr=True)
    except ValueError as exc:
        raise ImageError(f"{p}: {exc}") from None


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, jpeg_quality: int = 95) -> Path:
    """Write a frame atomically; the format follows the suffix.

    The encoded bytes go to a temporary file beside ``path`` which is then renamed over
    the target (``os.replace``), so readers never see a partial file and a failure leaves
    no temporary behind. Parent folders must exist. WebP is written lossless; PGM holds
    grey only, so the picture's BT.601 luma is written there.

    Args:
        path: target file with one of :data:`IMAGE_SUFFIXES` (any case).
        image: uint8 (H, W, 3) RGB (the frame contract).
        jpeg_quality: 0..100, used for JPEG only.

    Returns:
        The target path.

    Raises:
        ImageError: unsupported suffix, encoding failure or an OS error, naming the file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ImageError(f"{p}: unsupported image format {p.suffix or '(no suffix)'!r}; "
                         f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    check_rgb8(np.ascontiguousarray(image))
    params: list[int] = []
    if suffix in _JPEG_SUFFIXES:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    if suffix in _GREY_SUFFIXES:
        pixels = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    else:
        pixels = np.ascontiguousarray(image[:, :, ::-1])
    try:
        ok, buf = cv2.imencode(suffix, pixels, params)
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"{p}: could not encode the image as {suffix}")
    try:
        with replacing(p, suffix=".tmp") as tmp, open(tmp, "wb") as f:
            f.write(buf.tobytes())
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise ImageError(f"{p}: cannot write ({exc.strerror or exc})") from None
    return p
