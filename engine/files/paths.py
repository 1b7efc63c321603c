"""Path names: whether two names lead to the same file, and the natural order of numbered names."""

from __future__ import annotations

import os
import re

__all__ = ["same_file", "natural_key"]


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


def natural_key(name: str | os.PathLike[str]) -> list[int | str]:
    """Sort key that orders numbered names as people count: ``f_2.png`` before ``f_10.png``.

    Digit runs compare as integers, the rest case-insensitively."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", os.fspath(name))]
