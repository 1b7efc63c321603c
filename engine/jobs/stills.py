"""Still images: reading any common picture into the frame contract, writing atomically,
collecting inputs from files and folders, and enhancing a batch of them.

Reading: PNG, JPEG, BMP and TIFF (8- or 16-bit, grey, grey + alpha, RGB, RGBA) become
uint8 (H, W, 3) RGB through :func:`engine.frame.to_rgb8`. Writing: the format follows the
file suffix; the picture goes to a temporary name beside the target and is renamed over
it only once complete, so a failure never leaves a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import cv2
import numpy as np

from engine.files.atomic import replacing
from engine.files.paths import same_file
from engine.frame import check_rgb8, to_rgb8

if TYPE_CHECKING:
    from engine.enhancer import Enhancer
    from engine.params import EnhanceParams

__all__ = [
    "StillError",
    "IMAGE_SUFFIXES",
    "is_image_path",
    "read_image",
    "write_image",
    "collect_inputs",
    "enhance_images",
]

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})


class StillError(Exception):
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
    16-bit, grey and alpha for :func:`to_rgb8` to convert; JPEGs are decoded with
    ``IMREAD_COLOR`` so that their EXIF orientation is applied.

    Args:
        path: a PNG, JPEG, BMP or TIFF file (other formats OpenCV decodes also work).

    Returns:
        uint8 (H, W, 3) RGB, C-contiguous. 16-bit is rounded to 8-bit, alpha dropped.

    Raises:
        StillError: one line naming the file when it is missing, empty, truncated,
            corrupt or not a picture.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except IsADirectoryError:
        raise StillError(f"{p}: is a folder, not an image") from None
    except FileNotFoundError:
        raise StillError(f"{p}: no such file") from None
    except OSError as exc:
        raise StillError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise StillError(f"{p}: empty file")
    is_jpeg = data[:3] == b"\xff\xd8\xff"
    flags = cv2.IMREAD_COLOR if is_jpeg else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        img = None
    if img is None or img.size == 0:
        raise StillError(f"{p}: not a readable image (corrupt or unsupported format)")
    if is_jpeg and not _jpeg_complete(data):
        raise StillError(f"{p}: truncated JPEG (no end-of-image marker)")
    try:
        return to_rgb8(img, bgr=True)
    except ValueError as exc:
        raise StillError(f"{p}: {exc}") from None


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, jpeg_quality: int = 95) -> Path:
    """Write a frame atomically; the format follows the suffix (PNG, JPEG, BMP, TIFF).

    The encoded bytes go to a temporary file beside ``path`` which is then renamed over
    the target (``os.replace``), so readers never see a partial file and a failure leaves
    no temporary behind. Parent folders must exist.

    Args:
        path: target file; suffix .png, .jpg/.jpeg, .bmp, .tif/.tiff (any case).
        image: uint8 (H, W, 3) RGB (the frame contract).
        jpeg_quality: 0..100, used for JPEG only.

    Returns:
        The target path.

    Raises:
        StillError: unsupported suffix, encoding failure or an OS error, naming the file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise StillError(f"{p}: unsupported image format {p.suffix or '(no suffix)'!r}; "
                         f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    check_rgb8(np.ascontiguousarray(image))
    params: list[int] = []
    if suffix in _JPEG_SUFFIXES:
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(image[:, :, ::-1]), params)
    if not ok:
        raise StillError(f"{p}: could not encode the image as {suffix}")
    try:
        with replacing(p, suffix=".tmp") as tmp, open(tmp, "wb") as f:
            f.write(buf.tobytes())
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise StillError(f"{p}: cannot write ({exc.strerror or exc})") from None
    return p


def collect_inputs(paths: Iterable[str | os.PathLike[str]], *, recursive: bool = True
                   ) -> list[tuple[Path, Path]]:
    """Expand files and folders into the list of images to process.

    Files named explicitly are kept whatever their suffix (reading them reports any
    problem); folders contribute the files with an image suffix, sorted, recursing into
    subfolders when ``recursive``. Hidden files (starting with '.') in folders are skipped.

    Returns:
        ``(file, relative_name)`` pairs, in order, without duplicates: ``relative_name`` is
        the file's path relative to the folder it was found in (its bare name for a file
        named explicitly); batch outputs reuse it.

    Raises:
        StillError: a path that does not exist.
    """
    out: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(f for f in p.glob(pattern)
                           if f.is_file() and is_image_path(f)
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            items = [(f, f.relative_to(p)) for f in found]
        elif p.exists():
            items = [(p, Path(p.name))]
        else:
            raise StillError(f"{p}: no such file or folder")
        for f, rel in items:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append((f, rel))
    return out


def enhance_images(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    enhancer: "Enhancer",
    params: "EnhanceParams",
    *,
    overwrite: bool = False,
    reference: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[int, int]:
    """Enhance still images and write the results.

    ``output`` is a file when there is exactly one input image and ``output`` has an
    image suffix (the output format follows that suffix); otherwise it is a folder
    (created if needed) receiving each result under the input's relative name (folder
    inputs keep their subfolder layout), in the input's format. An input is never
    overwritten, and an existing output only with ``overwrite``. A file that fails
    (unreadable, exists, clash) logs one line starting with ``error:`` naming it, and the
    batch goes on.

    Args:
        inputs: image files and/or folders (folders are searched recursively).
        output: output file or folder.
        enhancer: any registered enhancer (see :func:`engine.registry.create`).
        params: enhancement parameters (``denoise`` drives the spatial denoise stage, as
            for a video's frames: see :func:`engine.stages.processor.enhance_still`).
        overwrite: replace existing output files.
        reference: use the full-resolution reference path instead of the fast path.
        log: receives one line per written file and per failure.

    Returns:
        ``(ok, failed)`` counts.

    Raises:
        StillError: an input path that does not exist, or no images found.
    """
    from engine.stages.processor import enhance_still  # the per-frame steps of a video, on one picture

    items = collect_inputs(inputs)
    if not items:
        raise StillError(f"no images found in {', '.join(str(i) for i in inputs)}")
    out = Path(output)
    single_file = len(items) == 1 and is_image_path(out) and not out.is_dir()
    input_keys = {f.resolve() for f, _ in items}
    written: set[Path] = set()
    ok = failed = 0
    for src, rel in items:
        target = out if single_file else out / rel
        try:
            key = target.resolve()
            if key in input_keys or same_file(src, target):
                raise StillError(f"{src}: output {target} is an input; refusing to overwrite it")
            if key in written:
                raise StillError(f"{src}: output {target} was already written by another input")
            if target.exists() and not overwrite:
                raise StillError(f"{src}: output {target} exists (use overwrite to replace it)")
            frame = read_image(src)
            result = enhance_still(enhancer, frame, params, reference=reference)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(target, result)
            written.add(key)
            ok += 1
            log(f"{src} -> {target}")
        except StillError as exc:
            failed += 1
            log(f"error: {exc}")
        except Exception as exc:  # one bad file must not stop the batch
            failed += 1
            log(f"error: {src}: {type(exc).__name__}: {exc}")
    return ok, failed
