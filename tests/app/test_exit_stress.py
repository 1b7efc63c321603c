"""Exit stress: the studio opens a 1080p clip, plays it in the A/B view, switches views
and is closed, many times, each in a process of its own (tests/app/close_cycle.py), as
`lowlight studio` runs and ends. A worker thread still running Python while the
interpreter finalised crashed one close in a few (aborts, segmentation faults,
``bool_dealloc`` errors); the process now waits for its workers first."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CYCLES = int(os.environ.get("LOWLIGHT_EXIT_CYCLES", "20"))
FATAL = ("Fatal Python error", "Segmentation fault", "Aborted", "QThread: Destroyed", "bool_dealloc")


@pytest.mark.slow
def test_open_play_switch_close_many_times(tmp_path):
    rng = random.Random(7)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    settings = tmp_path / "settings.ini"
    closes = []
    for i in range(CYCLES):
        # learned methods: closes during model loading and 1080p A/B frames; classical
        # ones: closes while playing at full pace
        a, b = ("sci", "zerodce") if i % 2 else ("gamma", "clahe")
        play = round(rng.uniform(0.2, 2.5), 2)
        r = subprocess.run([sys.executable, "-X", "faulthandler", str(HERE / "close_cycle.py"),
                            "--settings", str(settings), "--play-s", str(play), "--method-a", a,
                            "--method-b", b], capture_output=True, text=True, env=env, timeout=120)
        bad = [m for m in FATAL if m in r.stderr]
        assert r.returncode == 0 and not bad, f"cycle {i} ({a}/{b}, {play} s): rc {r.returncode}\n{r.stderr[-3000:]}"
        closes.append(float(r.stdout.split("close_ms=")[1].split()[0]))
    assert max(closes) < 1500, closes  # the window itself closes at once; workers end after
