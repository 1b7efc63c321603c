"""The ``LOWLIGHT_*`` environment settings, read and checked in one place.

==========================  ===============================================================
``LOWLIGHT_THREADS``        whole number ≥ 1: intra-op threads of CPU inference; more than
                            4 per CPU of this machine is clamped to that (a warning says so)
``LOWLIGHT_WEIGHTS``        folder of checkpoints, ONNX graphs and MANIFEST.json
``LOWLIGHT_CACHE``          cache folder (the demo clip; training's decoded-image caches)
``LOWLIGHT_MEMORY_LIMIT``   memory one picture or video job may plan to use: bytes, or a
                            number with K, M, G or T (binary units, e.g. ``12G``); ``off``
                            turns the check off. Default: the kernel's MemAvailable
``LOWLIGHT_SETTINGS``       the studio's settings file (read by the app)
==========================  ===============================================================

A value that cannot be used raises :class:`EnvSettingError` whose one-line message names
the variable, its value and what it takes; ``lowlight`` checks every setting at start
(:func:`check`) so a bad one is refused before any work.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

__all__ = ["EnvSettingError", "KNOWN", "setting", "cpu_count", "threads", "weights_folder", "cache_folder",
           "memory_limit", "available_memory", "parse_bytes", "check"]

KNOWN = ("LOWLIGHT_THREADS", "LOWLIGHT_WEIGHTS", "LOWLIGHT_CACHE", "LOWLIGHT_MEMORY_LIMIT",
         "LOWLIGHT_SETTINGS")


_THREADS_PER_CPU = 4


class EnvSettingError(ValueError):
    """A ``LOWLIGHT_*`` environment variable holds a value that cannot be used; the
    message is one line naming the variable."""


def setting(name: str) -> str | None:
    """The variable's value stripped, None when unset or empty."""
    v = os.environ.get(name)
    return v.strip() if v and v.strip() else None


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask; the machine's count elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _thread_setting() -> tuple[int | None, str | None]:
    """(threads from ``LOWLIGHT_THREADS`` or None when unset, a warning when clamped)."""
    raw = setting("LOWLIGHT_THREADS")
    if raw is None:
        return None, None
    # a little oversubscription is allowed (thread-count experiments); thousands of
    # threads only cost memory and make the process deaf to Ctrl-C
    machine = max(cpu_count(), os.cpu_count() or 1)
    ceiling = _THREADS_PER_CPU * machine
    try:
        n = int(raw)
    except ValueError:
        raise EnvSettingError(f"LOWLIGHT_THREADS must be a whole number of threads from 1 to "
                              f"{ceiling}, not {raw!r}") from None
    if n < 1:
        raise EnvSettingError(f"LOWLIGHT_THREADS must be at least 1, not {raw!r}")
    if n > ceiling:
        return ceiling, (f"LOWLIGHT_THREADS={raw} is more than {_THREADS_PER_CPU} threads per "
                         f"CPU of this machine ({machine} CPUs); using {ceiling}")
    return n, None


def threads() -> int:
    """Intra-op threads for CPU inference: ``LOWLIGHT_THREADS`` (1 .. 4 per CPU of the
    machine, clamped), else the CPUs this process may use."""
    n, _ = _thread_setting()
    return n if n is not None else cpu_count()


def _folder(name: str) -> Path | None:
    raw = setting(name)
    if raw is None:
        return None
    p = Path(raw).expanduser()
    if p.exists() and not p.is_dir():
        raise EnvSettingError(f"{name}={raw} is not a folder")
    return p


def weights_folder() -> Path | None:
    """``LOWLIGHT_WEIGHTS`` as a path (None when unset)."""
    return _folder("LOWLIGHT_WEIGHTS")


def cache_folder() -> Path | None:
    """``LOWLIGHT_CACHE`` as a path (None when unset); callers create it and report a
    failure naming the variable."""
    return _folder("LOWLIGHT_CACHE")


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int:
    """``"12G"`` → 12 × 2**30; ``"512M"``, ``"1.5G"``, ``"4096"`` (bytes), an optional
    trailing ``B`` or ``iB``. Raises ValueError for anything else or a value ≤ 0."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise ValueError(text)
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(value) or value < 1:
        raise ValueError(text)
    return int(value)


def available_memory() -> int | None:
    """Bytes the kernel says a new job can use without swapping (MemAvailable of
    /proc/meminfo); None where it is not known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_limit() -> int | None:
    """Bytes one picture or video job may plan to use: ``LOWLIGHT_MEMORY_LIMIT``, else
    MemAvailable; None when the check is off (``LOWLIGHT_MEMORY_LIMIT=off``) or the
    available memory is unknown."""
    raw = setting("LOWLIGHT_MEMORY_LIMIT")
    if raw is None:
        return available_memory()
    if raw.lower() in ("off", "none", "0"):
        return None
    try:
        return parse_bytes(raw)
    except ValueError:
        raise EnvSettingError(f"LOWLIGHT_MEMORY_LIMIT must be a size such as 8G, 512M or a "
                              f"number of bytes, or off; not {raw!r}") from None


def check() -> list[str]:
    """Check every ``LOWLIGHT_*`` setting; returns warning lines (a clamped value).

    Raises:
        EnvSettingError: the first setting that cannot be used.
    """
    _, warning = _thread_setting()
    weights_folder()
    cache_folder()
    memory_limit()
    return [warning] if warning else []
