"""The texts of the studio's status line, and when to say that the machine cannot keep up.

Pure functions of :class:`app.player.PlayerStats` (no widgets), so the wording is tested
without a window.
"""

from __future__ import annotations

from app.player import DROP_WINDOW_S, PlayerStats

__all__ = ["fps_text", "latency_text", "dropped_text", "falling_behind", "BEHIND_SHARE",
           "BEHIND_MIN_S", "PAUSED"]

PAUSED = "paused"
#: share of the recent frames dropped that counts as falling behind (0..1)
BEHIND_SHARE = 0.2
#: playback must have run this many seconds before a shortfall counts as steady
BEHIND_MIN_S = 5.0


def fps_text(stats: PlayerStats | None, playing: bool) -> str:
    """``"24.8 fps"`` while playing, ``"paused"`` otherwise (never a stale speed)."""
    if not playing or stats is None or not stats.playing:
        return PAUSED
    return f"{stats.fps:.1f} fps" if stats.fps else "– fps"


def latency_text(stats: PlayerStats | None) -> str:
    """``"latency 42 ms"``: read-to-shown time of the last frame."""
    return "latency – ms" if stats is None else f"latency {stats.latency_ms:.0f} ms"


def dropped_text(stats: PlayerStats | None) -> str:
    """``"3 dropped (last 10 s)"``: frames skipped over the recent window."""
    n = 0 if stats is None else stats.dropped_recent
    return f"{n} dropped (last {DROP_WINDOW_S:.0f} s)"


def falling_behind(stats: PlayerStats | None) -> str | None:
    """A one-line warning with what to do when playback has been dropping a steady share
    of frames (at least :data:`BEHIND_SHARE` of them over the last :data:`BEHIND_MIN_S` s
    or more of playing); None when it keeps up, is paused or has just started."""
    if stats is None or not stats.playing or stats.window_s < BEHIND_MIN_S:
        return None
    total = stats.dropped_recent + stats.shown_recent
    if total < 10 or stats.dropped_recent < BEHIND_SHARE * total:
        return None
    return (f"This machine cannot keep up: {stats.dropped_recent} of {total} frames were dropped "
            f"in the last {stats.window_s:.0f} s. Try a smaller preview (Playback ▸ Preview size), "
            "Playback ▸ Every frame (slower than real time, nothing dropped), a single view "
            "instead of A/B, or a lighter method. Exports are not affected: they keep every frame.")
