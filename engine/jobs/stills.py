"""Still images: collecting inputs from files and folders, and enhancing a batch of them.

Reading and writing the files (suffixes, EXIF orientation, truncated JPEGs, 16-bit, grey and
alpha, atomic writes) belong to :mod:`engine.files.images`; its names are re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from engine.files.images import IMAGE_SUFFIXES, ImageError, is_image_path, read_image, write_image
from engine.files.paths import same_file
from engine.jobs.memory import MemoryLimitError, check_frame_memory, image_size

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

# A batch's own failures (no images, an output clash) and its files' share one class, so
# callers catch one.
StillError = ImageError


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
    (unreadable, exists, clash, too big for the memory the job may use: see
    :mod:`engine.jobs.memory`) logs one line starting with ``error:`` naming it, and the
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
            size = image_size(src)  # from the header: a picture too big is refused undecoded
            if size is not None:
                check_frame_memory(src, *size, video=False, reference=reference)
            frame = read_image(src)
            if size is None:
                check_frame_memory(src, frame.shape[1], frame.shape[0], video=False,
                                   reference=reference)
            result = enhance_still(enhancer, frame, params, reference=reference)
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(target, result)
            written.add(key)
            ok += 1
            log(f"{src} -> {target}")
        except (StillError, MemoryLimitError) as exc:
            failed += 1
            log(f"error: {exc}")
        except Exception as exc:  # one bad file must not stop the batch
            failed += 1
            log(f"error: {src}: {type(exc).__name__}: {exc}")
    return ok, failed
