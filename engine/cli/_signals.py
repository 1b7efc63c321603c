"""SIGTERM and SIGHUP handled like Ctrl-C for the ``lowlight`` command line.

A stop request from a service manager (``kill``, ``systemctl stop``, ``docker stop``: SIGTERM)
or a closed terminal (SIGHUP) raises :class:`Terminated` in the main thread. It is a
:class:`KeyboardInterrupt`, so it takes the same clean path as Ctrl-C: the running export is
cancelled, its temporary file or folder removed (finished segments of a resumable export
are kept), worker threads are joined, and one line says what happened. The exit status is
the shell's convention for a death by that signal, 128 + its number: 130 for SIGINT
(Ctrl-C), 143 for SIGTERM, 129 for SIGHUP.

Only the first TERM/HUP raises; later ones while the clean-up runs are noted and ignored,
so a second signal cannot cut the clean-up short (SIGKILL still can; a later run removes
what it leaves, see :func:`engine.files.atomic.remove_stale_temps`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

__all__ = ["Terminated", "handle_stop_signals", "received", "exit_status", "reason", "settle_threads"]

_NAMES = {signal.SIGTERM: ("terminated", "SIGTERM")}
if hasattr(signal, "SIGHUP"):
    _NAMES[signal.SIGHUP] = ("hung up", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by ``signum`` (SIGTERM or SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)


_received: list[int] = []


def _raise(signum: int, frame: object) -> None:
    first = not _received
    _received.append(signum)
    if first:
        raise Terminated(signum)


@contextmanager
def handle_stop_signals(enabled: bool = True) -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread
    (outside the main thread, where signals cannot be set, or with ``enabled`` False,
    nothing changes). The previous handlers come back on exit."""
    old: dict[int, object] = {}
    if enabled and threading.current_thread() is threading.main_thread():
        for sig in _NAMES:
            try:
                old[sig] = signal.signal(sig, _raise)
            except (ValueError, OSError):
                pass
    _received.clear()
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def received() -> int | None:
    """The stop signal received inside :func:`handle_stop_signals`, or None."""
    return _received[0] if _received else None


def exit_status(exc: BaseException | None = None) -> int:
    """128 + the signal number: 143 (SIGTERM), 129 (SIGHUP), else 130 (Ctrl-C)."""
    sig = exc.signum if isinstance(exc, Terminated) else received()
    return 128 + sig if sig is not None else 130


def reason(exc: BaseException | None = None) -> str:
    """"interrupted" for Ctrl-C, "terminated (SIGTERM)" or "hung up (SIGHUP)"."""
    sig = exc.signum if isinstance(exc, Terminated) else received()
    if sig is None or sig not in _NAMES:
        return "interrupted"
    word, name = _NAMES[sig]
    return f"{word} ({name})"


def settle_threads(limit_s: float = 10.0) -> None:
    """Wait (at most ``limit_s`` seconds) for the engine's threads (named ``lowlight-*``)
    still finishing after a cancel, e.g. an enhancer inside its last frame. At interpreter
    exit a daemon thread still inside native code is torn down, which some libraries
    answer with an abort ("terminate called without an active exception")."""
    import time

    deadline = time.monotonic() + limit_s
    for t in threading.enumerate():
        if t is threading.current_thread() or not t.name.startswith("lowlight-"):
            continue
        while t.is_alive() and time.monotonic() < deadline:
            try:
                t.join(0.1)
            except KeyboardInterrupt:
                continue
