"""Path identity: whether two names lead to the same file."""

from __future__ import annotations

import os

__all__ = ["same_file"]


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name the same file: the same path once symlinks and
    ``..`` are resolved (whether or not it exists yet), or an existing ``b`` that is a hard
    link to ``a``. An unreadable path gives False."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False
