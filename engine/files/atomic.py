"""Atomic file output: write beside the target under a hidden temporary name, then rename.

A reader never sees a half-written target, and a failure (exception, Ctrl-C, full disk)
leaves neither the target nor the temporary file behind.
"""

from __future__ import annotations

import errno
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["reserve_temp", "replacing"]


def reserve_temp(folder: str, prefix: str, suffix: str = "", *, directory: bool = False) -> str:
    """Create a new, empty, hidden temporary file (or folder) in ``folder`` and return its
    path. Unlike :mod:`tempfile` (mode 0600/0700), it gets the usual permissions
    (0666/0777 less the umask), which the renamed result keeps.

    Raises:
        OSError: the folder cannot be written.
    """
    for _ in range(100):
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            if directory:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", folder)


@contextmanager
def replacing(target: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on a normal exit it replaces ``target``,
    on an exception it is removed and the exception propagates.

    Args:
        target: the final file; its folder must exist.
        suffix: the temporary name's ending (default: the target's own suffix, so writers
            that choose a format by extension, e.g. ``numpy.save`` or PyAV, keep working).
    """
    p = Path(target)
    tmp = Path(reserve_temp(str(p.parent), f".{p.name}.", p.suffix if suffix is None else suffix))
    try:
        yield tmp
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
