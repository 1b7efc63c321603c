"""Atomic file output: write beside the target under a hidden temporary name, then rename.

A reader never sees a half-written target, and a failure (exception, Ctrl-C, full disk)
leaves neither the target nor the temporary file behind.

Temporaries a killed process left behind (SIGKILL, power loss) are recognised by their
name and by a lock: a writer holds an exclusive ``flock`` on its temporary for as long as
it writes (:func:`lock_path`), the kernel drops it when the process dies, and
:func:`remove_stale_temps` removes only unlocked temporaries of our naming that are older
than a few seconds (the age covers the instant between creating a temporary and locking
it).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["reserve_temp", "replacing", "lock_path", "unlock", "remove_stale_temps",
           "rename_no_replace", "TEMP_TOKEN", "STALE_AFTER_S"]

#: the random part of a temporary name made by :func:`reserve_temp` (8 hex digits)
TEMP_TOKEN = r"[0-9a-f]{8}"
#: an unlocked temporary younger than this (seconds since its last change) is left alone
STALE_AFTER_S = 5.0


def reserve_temp(folder: str, prefix: str, suffix: str = "", *, directory: bool = False) -> str:
    """Create a new, empty, hidden temporary file (or folder) in ``folder`` and return its
    path. Unlike :mod:`tempfile` (mode 0600/0700), it gets the usual permissions
    (0666/0777 less the umask), which the renamed result keeps.

    Raises:
        OSError: the folder cannot be written.
    """
    for _ in range(100):
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")  # TEMP_TOKEN
        try:
            if directory:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return path
        except FileExistsError:
            continue
        except BaseException as exc:  # Ctrl-C / SIGTERM between creating and returning it
            if not isinstance(exc, OSError):
                _remove_quietly(path, directory)
            raise
    raise FileExistsError(errno.EEXIST, "no free temporary name", folder)


def _remove_quietly(path: str, directory: bool) -> None:
    try:
        os.rmdir(path) if directory else os.unlink(path)
    except OSError:
        pass


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


def lock_path(path: str | os.PathLike[str], *, directory: bool = False) -> int | None:
    """Take an exclusive, non-blocking ``flock`` on the file or folder ``path`` (without
    following a symbolic link) and return the descriptor holding it (release it with
    :func:`unlock`). None when the file system cannot lock (the caller goes on unlocked).

    Raises:
        BlockingIOError: another open description (another process, or another export in
            this one) holds the lock.
        OSError: ``path`` cannot be opened (missing, a symbolic link: ``ELOOP``).
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0)
    fd = os.open(path, flags)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            return None
        raise
    return fd


def unlock(fd: int | None) -> None:
    """Release a lock taken by :func:`lock_path` (None: nothing to do)."""
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def remove_stale_temps(folder: str | os.PathLike[str], prefix: str, suffix: str = "", *,
                       now: float | None = None) -> list[str]:
    """Remove what killed writers left in ``folder``: files or folders named
    ``prefix`` + :data:`TEMP_TOKEN` + ``suffix`` that no process holds locked
    (:func:`lock_path`) and that have not changed for :data:`STALE_AFTER_S` seconds.
    Symbolic links and anything else are never touched. Returns the removed names.
    Errors (a name that vanished, no permission) skip that entry."""
    rx = re.compile(re.escape(prefix) + TEMP_TOKEN + re.escape(suffix) + r"\Z")
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not rx.match(name):
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            if os.path.islink(path) or now - st.st_mtime < STALE_AFTER_S:
                continue
            fd = lock_path(path, directory=is_dir)
            if fd is None:
                continue  # no locks here: liveness cannot be told, leave it
        except OSError:  # locked by a live writer, vanished, unreadable
            continue
        try:
            if is_dir:
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(name)
        except OSError:
            pass
        finally:
            unlock(fd)
    return removed


def rename_no_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Move the file ``src`` to ``dst`` only if ``dst`` does not exist, atomically: a hard
    link to ``dst`` (which fails when ``dst`` exists, even if it appeared a moment ago)
    then the removal of ``src``. On a file system without hard links it falls back to a
    check then :func:`os.replace`, which is not atomic.

    Raises:
        FileExistsError: ``dst`` exists (``src`` is left as it was).
        OSError: any other failure.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS,
                             errno.EACCES):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "File exists", os.fspath(dst)) from exc
        os.replace(src, dst)
        return
    os.unlink(src)
