"""The suite's guard against cross-thread Qt use really sees such warnings."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QTimer

import pytest

from conftest import _is_thread_warning


@pytest.mark.expect_thread_warning
def test_cross_thread_timer_warning_is_detected(qtlog):
    owner = QObject()  # lives in the GUI thread

    def misuse() -> None:
        t = QTimer(owner)  # creating a child of a GUI-thread object from another thread
        t.start(5)

    th = threading.Thread(target=misuse)
    th.start()
    th.join()
    msgs = [r.message for r in qtlog.records]
    assert any(_is_thread_warning(m) for m in msgs), msgs
