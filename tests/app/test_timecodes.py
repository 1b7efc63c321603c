"""The studio's time texts: positions m:ss.cc, remaining time m:ss, dashes when unknown."""

from __future__ import annotations

import math

import pytest

from app.timecodes import format_eta, format_time


@pytest.mark.parametrize("seconds,text", [(0.0, "0:00.00"), (61.5, "1:01.50"), (3599.994, "59:59.99"),
                                          (None, "–:––"), (math.nan, "–:––"), (-1.0, "–:––")])
def test_positions(seconds: float | None, text: str) -> None:
    assert format_time(seconds) == text


@pytest.mark.parametrize("seconds,text", [(0.0, "0:00"), (59.6, "1:00"), (125.0, "2:05"),
                                          (None, "–"), (math.nan, "–"), (-3.0, "–")])
def test_remaining_time(seconds: float | None, text: str) -> None:
    assert format_eta(seconds) == text
