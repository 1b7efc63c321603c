"""Path names: whether two names lead to the same file, the natural order of numbered names,
and distinct output names for inputs that share a name."""

from __future__ import annotations

import os
import re

__all__ = ["same_file", "natural_key", "distinct_outputs"]


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


def distinct_outputs(paths: list[str]) -> list[str]:
    """``paths`` with repeats made distinct, in order: the first keeps its name, a later
    one with the same name (compared case-insensitively, as on macOS and Windows disks)
    gets ``-2``, ``-3``... before its extension (``out/clip_enhanced-2.mp4``), skipping
    names already taken. The result depends only on the list, so a rerun of the same
    command picks the same names."""
    taken: set[str] = set()
    out: list[str] = []
    for p in paths:
        name = p
        root, ext = os.path.splitext(p)
        n = 1
        while os.path.normcase(os.path.abspath(name)).lower() in taken:
            n += 1
            name = f"{root}-{n}{ext}"
        taken.add(os.path.normcase(os.path.abspath(name)).lower())
        out.append(name)
    return out
