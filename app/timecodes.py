"""How the studio writes times: playback positions and export ranges (``m:ss.cc``) and
remaining time (``m:ss``). Unknown, negative or NaN seconds show as dashes."""

from __future__ import annotations

__all__ = ["format_time", "format_eta"]


def format_time(seconds: float | None) -> str:
    """``m:ss.cc`` for a position in seconds ("–:––" when unknown)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–:––"
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:05.2f}"


def format_eta(seconds: float | None) -> str:
    """``m:ss`` for a remaining time in seconds, rounded to whole seconds ("–" when unknown)."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"
