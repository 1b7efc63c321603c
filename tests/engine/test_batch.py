"""The job queue (engine.jobs.queue) and ``lowlight batch``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.jobs.queue import JobQueue, JobSettings, output_for
from engine.video.export import ExportOptions
from tests.engine.test_resume import assert_same
from tests.engine.video_clips import make_clip

SETTINGS = JobSettings(method="gamma", options=ExportOptions(preset="ultrafast"))


@pytest.fixture()
def clips(tmp_path: Path) -> list[Path]:
    d = tmp_path / "in"
    d.mkdir()
    return [make_clip(d / f"c{i}.mp4", frames=8 + i, fps=10) for i in range(3)]


def test_queue_runs_in_order_and_isolates_a_failure(clips: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    started: list[str] = []
    q = JobQueue(on_change=lambda it: started.append(it.input) if it.status == "running"
              and it.input not in started else None)
    items = [q.add(str(c), output_for(str(c), str(out)), SETTINGS) for c in clips]
    b = q.add(str(bad), str(out / "bad.mp4"), SETTINGS)
    q.move(b.id, 1)  # reorder: the broken clip second
    q.remove(items[2].id)
    assert [it.input for it in q.items] == [str(clips[0]), str(bad), str(clips[1])]
    result = q.run()
    assert [it.status for it in result] == ["done", "failed", "done"]
    assert started == [str(clips[0]), str(bad), str(clips[1])]
    assert "broken.mp4" in result[1].error and "\n" not in result[1].error
    assert result[0].frames_done == 8 and result[2].frames_done == 9
    assert os.path.exists(output_for(str(clips[1]), str(out))) and not (out / "bad.mp4").exists()
    p = q.progress()
    assert p.fraction == 1.0 and p.counts["done"] == 2 and p.counts["failed"] == 1


def test_parallel_jobs_and_cancel_pending(clips: list[Path], tmp_path: Path) -> None:
    q = JobQueue()
    its = [q.add(str(c), str(tmp_path / f"o{i}.mp4"), SETTINGS) for i, c in enumerate(clips)]
    q.cancel(its[1].id)
    result = q.run(jobs=2)
    assert [it.status for it in result] == ["done", "cancelled", "done"]
    assert not (tmp_path / "o1.mp4").exists()


def test_pause_resume_gives_the_same_output(clips: list[Path], tmp_path: Path) -> None:
    lossless = JobSettings(method="gamma", options=ExportOptions(codec="ffv1"))  # deterministic
    ref = JobQueue()
    ref.add(str(clips[2]), str(tmp_path / "ref.mkv"), lossless)
    ref.run()
    reports: list[int] = []

    def on_change(it) -> None:  # pause at the first progress report, resume after three more
        if it.status == "running" and not q.paused and not reports:
            q.pause()
        if it.status == "paused":
            reports.append(it.frames_done)
            if len(reports) >= 4:
                q.resume()

    q = JobQueue(on_change=on_change)
    q.add(str(clips[2]), str(tmp_path / "p.mkv"), lossless)
    res = q.run()
    assert res[0].status == "done"
    assert len(set(reports[1:])) == 1  # no frame written while paused
    assert_same(tmp_path / "ref.mkv", tmp_path / "p.mkv")


def test_cancel_whole_queue_from_a_callback(clips: list[Path], tmp_path: Path) -> None:
    def on_change(it) -> None:  # pause as the first item starts, then cancel everything
        if it.status == "running" and not q.paused:
            q.pause()
        elif it.status == "paused":
            q.cancel()

    q = JobQueue(on_change=on_change)
    for i, c in enumerate(clips):
        q.add(str(c), str(tmp_path / f"o{i}.mp4"), SETTINGS)
    res = q.run()
    assert res[0].status == "cancelled" and all(it.status == "cancelled" for it in res)
    assert not list(tmp_path.glob("o*.mp4"))


def test_batch_cli(clips: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "engine", "batch", str(clips[0].parent), "-o", str(out),
                        "-m", "gamma", "--preset", "ultrafast", "--jobs", "2", "-q"],
                       capture_output=True, text=True, cwd=str(Path(__file__).resolve().parents[2]), timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["c0_enhanced.mp4", "c1_enhanced.mp4", "c2_enhanced.mp4"]
    assert "3/3 clips done" in r.stdout


def test_ray_batch(clips: list[Path], tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from engine.jobs.ray_cluster import run_on_ray

    jobs = [(str(c), str(tmp_path / f"r{i}.mp4")) for i, c in enumerate(clips)]
    jobs.append((str(tmp_path / "missing.mp4"), str(tmp_path / "rm.mp4")))
    res = run_on_ray(jobs, JobSettings(method="gamma", options=ExportOptions(preset="ultrafast"),
                                       segment_seconds=0.5))
    assert [r["status"] for r in res] == ["done", "done", "done", "failed"]
    assert [r["frames"] for r in res[:3]] == [8, 9, 10]
