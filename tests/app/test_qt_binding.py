"""The Qt binding itself: PySide6 6.12.0's ``SignalInstance.emit`` returned ``True``
without a reference, so every emitted signal lowered True's count and the studio, which
emits several signals a frame, aborted ("bool_dealloc") after a few thousand frames or at
exit. pyproject.toml excludes that release; the studio refuses to start on a binding that
does it."""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

from app.cli_studio import binding_problem


class _Emitter(QObject):
    plain = Signal()
    value = Signal(object)
    flag = Signal(bool)


def test_emitting_signals_keeps_the_reference_counts_of_true_false_and_none() -> None:
    e = _Emitter()
    got: list = []
    e.value.connect(got.append)
    e.flag.connect(lambda b: None)
    counts = lambda: (sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None))  # noqa: E731
    before = counts()
    for i in range(300):
        e.plain.emit()
        e.value.emit(i)
        e.flag.emit(False)
    after = counts()
    assert len(got) == 300
    # a faulty binding loses one reference per emit (-900 here); allow other threads' noise
    assert all(abs(a - b) <= 10 for a, b in zip(after, before)), (before, after)


def test_the_installed_binding_passes_the_studio_check() -> None:
    assert binding_problem() is None


def test_a_binding_that_loses_references_is_refused_and_the_probe_gives_them_back() -> None:
    before = sys.getrefcount(True)
    msg = binding_problem(emit=lambda: ctypes.pythonapi.Py_DecRef(ctypes.py_object(True)))
    assert msg is not None and "loses a reference to True" in msg and "PySide6-Essentials!=" in msg
    assert abs(sys.getrefcount(True) - before) <= 2
