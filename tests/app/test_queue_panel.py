"""The queue panel drives the engine's JobQueue from a worker thread through signals only:
good clips finish and decode, a bad file fails and the queue goes on; reorder/remove
change the engine queue; pause/resume; cancel leaves no output; closing the window
asks first, and "cancel jobs" cancels."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.queue_panel import QueuePanel, settings_summary
from app.settings import Settings
from conftest import make_clip
from engine import registry


def _frames(path: str) -> int:
    from engine.video.sources import open_source

    with open_source(path) as src:
        return sum(1 for _ in src)


def _panel(qtbot, out: Path, method: str = "gamma", **changes) -> QueuePanel:
    params = registry.get(method).default_params().replace(**changes)
    panel = QueuePanel(Settings(), lambda: (method, params))
    qtbot.addWidget(panel)
    panel.set_output_folder(str(out))
    panel.show()
    return panel


def _idle(qtbot, ms: int) -> None:
    qtbot.wait(ms)


@pytest.fixture
def clips(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    a = make_clip(src / "a.mp4", frames=10)
    b = make_clip(src / "b.mp4", frames=12, w=48, h=32)
    bad = src / "bad.mp4"
    bad.write_bytes(b"this is not a video")
    out = tmp_path / "out"
    out.mkdir()
    return a, str(bad), b, out


def _order(panel: QueuePanel) -> list[str]:
    return [Path(it.input).name for it in panel.queue.items]


def _table_order(panel: QueuePanel) -> list[str]:
    return [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]


def test_queue_runs_good_items_fails_bad_one_and_goes_on(qtbot, clips):
    a, bad, b, out = clips
    panel = _panel(qtbot, out, strength=0.8)
    items = panel.add_paths([a, bad, b])
    assert _order(panel) == ["a.mp4", "bad.mp4", "b.mp4"] == _table_order(panel)
    # each item keeps the method and parameters current when it was added, shown in its row
    assert all(it.settings.method == "gamma" for it in items)
    assert items[0].settings.params["strength"] == pytest.approx(0.8)
    assert panel.table.item(0, 1).text() == settings_summary(items[0].settings)
    assert "Gamma" in panel.table.item(0, 1).text() or "gamma" in panel.table.item(0, 1).text().lower()
    seen = []
    panel.item_updated.connect(lambda s: seen.append((s.id, s.status)))
    with qtbot.waitSignal(panel.run_finished, timeout=120000):
        assert panel.run()
    status = {Path(it.input).name: it.status for it in panel.queue.items}
    assert status == {"a.mp4": "done", "bad.mp4": "failed", "b.mp4": "done"}
    assert panel.queue.get(items[1].id).error
    # the table shows it; the bad one did not stop the queue (b ran after it)
    assert [panel.table.item(r, 2).data(0x0100) for r in range(3)] == ["done", "failed", "done"]
    assert [panel.table.item(r, 3).text() for r in (0, 2)] == ["100 %", "100 %"]
    assert (items[2].id, "done") in seen and (items[1].id, "failed") in seen
    assert _frames(str(out / "a_enhanced.mp4")) == 10
    assert _frames(str(out / "b_enhanced.mp4")) == 12
    assert not (out / "bad_enhanced.mp4").exists()
    assert "2/3 done" in panel.summary.text() and "1 failed" in panel.summary.text()
    assert panel.overall.value() == 1000


def test_add_folder_and_output_folder_is_remembered(qtbot, clips, tmp_path):
    a, bad, b, out = clips
    panel = _panel(qtbot, out)
    added = panel.add_paths([str(Path(a).parent)])
    # the folder expands to its video files, sorted (bad.mp4 has a video extension)
    assert [Path(it.input).name for it in added] == ["a.mp4", "b.mp4", "bad.mp4"]
    assert all(Path(it.output).parent == out for it in added)
    assert Settings().queue_output_folder == str(out)
    again = QueuePanel(Settings(), lambda: ("gamma", registry.get("gamma").default_params()))
    qtbot.addWidget(again)
    assert again.output_folder == str(out)


def test_reorder_and_remove_change_the_engine_queue(qtbot, clips):
    a, bad, b, out = clips
    panel = _panel(qtbot, out)
    ia, ibad, ib = panel.add_paths([a, bad, b])
    panel.select_id(ib.id)
    panel.move_selected(-1)
    assert _order(panel) == ["a.mp4", "b.mp4", "bad.mp4"] == _table_order(panel)
    assert panel.selected_id() == ib.id
    panel.move_selected(-1)
    assert _order(panel) == ["b.mp4", "a.mp4", "bad.mp4"] == _table_order(panel)
    panel.select_id(ia.id)
    panel.move_selected(1)
    assert _order(panel) == ["b.mp4", "bad.mp4", "a.mp4"]
    panel.select_id(ibad.id)
    assert panel.remove_btn.isEnabled()
    panel.remove_selected()
    assert _order(panel) == ["b.mp4", "a.mp4"] == _table_order(panel)
    with qtbot.waitSignal(panel.run_finished, timeout=120000):
        panel.run()
    assert [it.status for it in panel.queue.items] == ["done", "done"]


def test_pause_then_resume_finishes_the_queue(qtbot, clips):
    a, bad, b, out = clips
    panel = _panel(qtbot, out)
    panel.add_paths([a, b])
    assert panel.toggle_pause() is True  # paused before the first item starts
    assert panel.run()
    assert panel.pause_btn.text() == "Resume" and panel.pause_btn.isEnabled()
    _idle(qtbot, 800)
    assert [it.status for it in panel.queue.items] == ["pending", "pending"]
    assert "paused" in panel.summary.text()
    assert not list(out.iterdir())
    with qtbot.waitSignal(panel.run_finished, timeout=120000):
        assert panel.toggle_pause() is False
    assert [it.status for it in panel.queue.items] == ["done", "done"]
    assert _frames(str(out / "a_enhanced.mp4")) == 10


def test_pause_mid_item_holds_progress(qtbot, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    clip = make_clip(tmp_path / "long.mp4", frames=400, w=64, h=48, fps=30)
    panel = _panel(qtbot, out)
    (item,) = panel.add_paths([clip])
    panel.run()
    qtbot.waitUntil(lambda: panel.queue.get(item.id).status != "pending", timeout=60000)
    panel.toggle_pause()
    if panel.queue.get(item.id).status == "done":
        pytest.skip("the clip finished before the pause arrived")
    assert panel.queue.get(item.id).status == "paused"
    _idle(qtbot, 600)  # frames already read drain
    held = panel.queue.get(item.id).frames_done
    _idle(qtbot, 600)
    assert panel.queue.get(item.id).frames_done == held and panel.queue.get(item.id).status == "paused"
    with qtbot.waitSignal(panel.run_finished, timeout=120000):
        panel.toggle_pause()
    assert panel.queue.get(item.id).status == "done"
    assert _frames(str(out / "long_enhanced.mp4")) == 400


def test_cancel_leaves_no_output_files(qtbot, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    c1 = make_clip(tmp_path / "c1.mp4", frames=300)
    c2 = make_clip(tmp_path / "c2.mp4", frames=10)
    panel = _panel(qtbot, out)
    i1, i2 = panel.add_paths([c1, c2])
    panel.run()
    qtbot.waitUntil(lambda: panel.queue.get(i1.id).status != "pending", timeout=60000)
    panel.toggle_pause()  # hold it mid-export so the cancel surely lands while it runs
    if panel.queue.get(i1.id).status == "done":
        pytest.skip("the clip finished before the pause arrived")
    with qtbot.waitSignal(panel.run_finished, timeout=30000):
        panel.cancel()
    assert [it.status for it in panel.queue.items] == ["cancelled", "cancelled"]
    assert list(out.iterdir()) == []
    assert panel.table.item(0, 2).text() == "Cancelled"
    assert not panel.running


def test_closing_the_window_cancels_a_running_queue(qtbot, tmp_path, fake_opener):
    from app.main_window import MainWindow

    out = tmp_path / "out"
    out.mkdir()
    clip = make_clip(tmp_path / "long.mp4", frames=400)
    win = MainWindow(source_opener=fake_opener)
    qtbot.addWidget(win)
    win.show()
    assert not win.queue_dock.isVisible()
    win.queue_action.trigger()  # View ▸ Queue
    assert win.queue_dock.isVisible() and win.queue_action.shortcut().toString() == "Ctrl+B"
    panel = win.queue_panel
    panel.set_output_folder(str(out))
    (item,) = panel.add_paths([clip])
    assert item.settings.method == win.controls.method
    panel.run()
    qtbot.waitUntil(lambda: panel.queue.get(item.id).status != "pending", timeout=60000)
    asked = []
    win.ask_close_with_jobs = lambda n: asked.append(n) or "cancel"
    t0 = time.perf_counter()
    win.close()
    took = time.perf_counter() - t0
    assert asked == [1] or panel.queue.get(item.id).status == "done"
    assert took < 5.0  # generous hang check (the design target is under one second)
    qtbot.waitUntil(lambda: not panel.runner.isRunning(), timeout=10000)
    if panel.queue.get(item.id).status != "done":
        assert panel.queue.get(item.id).status == "cancelled"
        assert list(out.iterdir()) == []


def test_same_clip_twice_gets_distinct_outputs(qtbot, clips):
    a, bad, b, out = clips
    panel = _panel(qtbot, out)
    i1, i2 = panel.add_paths([a, a])
    assert i1.output != i2.output and Path(i2.output).name == "a_enhanced_2.mp4"
    with qtbot.waitSignal(panel.run_finished, timeout=120000):
        panel.run()
    assert [it.status for it in panel.queue.items] == ["done", "done"]


def test_summary_names_a_profile_other_than_the_default():
    from engine.jobs.queue import JobSettings
    from engine.video.export import DEFAULT_ENCODE, ENCODE_PROFILES, ExportOptions

    plain = settings_summary(JobSettings(method="gamma", options=ExportOptions()))
    assert not any(p.label in plain for p in ENCODE_PROFILES.values())
    other = next(n for n in ENCODE_PROFILES if n != DEFAULT_ENCODE)
    text = settings_summary(JobSettings(method="gamma", options=ExportOptions(encode=other)))
    assert text == f"{plain} · {ENCODE_PROFILES[other].label}"
