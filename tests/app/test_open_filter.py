"""The open dialog's filter offers exactly what the engine opens: its video suffixes and its
still-image suffixes (one list each, no third copy in the studio)."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QFileDialog

from app.main_window import VIDEO_FILTER
from engine.files.images import IMAGE_SUFFIXES
from engine.video.sources import VIDEO_EXTENSIONS


def test_the_filter_lists_every_suffix_the_engine_opens(qtbot) -> None:  # noqa: ANN001 - pytest-qt
    first, everything = VIDEO_FILTER.split(";;")
    patterns = re.fullmatch(r"Video and images \((.*)\)", first).group(1).split()
    assert patterns == [f"*{s}" for s in (*VIDEO_EXTENSIONS, *IMAGE_SUFFIXES)]
    assert {"*.webp", "*.ppm", "*.pgm", "*.mts"} <= set(patterns)
    assert everything == "All files (*)"
    dialog = QFileDialog()
    qtbot.addWidget(dialog)
    dialog.setNameFilter(VIDEO_FILTER)
    assert dialog.nameFilters() == [first, everything]
