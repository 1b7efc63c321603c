"""Faults and odd input around outputs (issue 24): same-name clips, two exports to one
path, Ctrl-C / SIGTERM / SIGHUP on exports and batches, stale temporaries of killed runs,
image sequences on another mount or overwritten by a shorter run, folder inputs into one
file, and the segment work folder (links, locks, full disk)."""

from __future__ import annotations

import _thread
import errno
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.files.atomic import remove_stale_temps
from engine.files.paths import distinct_outputs
from engine.jobs.queue import JobQueue, JobSettings
from engine.video.base import VideoError
from engine.video.export import ExportOptions, export_video
from engine.video.segments import JOURNAL_NAME, read_journal, work_folder

from tests.engine.video_clips import fill_disk_after, make_clip

ROOT = Path(__file__).resolve().parents[2]
FAST = ExportOptions(preset="ultrafast")


def _partials(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial-" in p.name)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("faults") / "c.mp4", frames=20, audio="aac")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Long and large enough that an export is still running a moment after it starts."""
    return make_clip(tmp_path_factory.mktemp("faults_long") / "long.mp4", frames=240, width=320,
                     height=240, audio="aac", fps=30)


# ------------------------------------------------------------------ same-name clips (2)
def test_distinct_outputs_numbers_repeats_in_order() -> None:
    got = distinct_outputs(["o/clip_enhanced.mp4", "o/clip_enhanced.mp4", "o/b.mp4", "o/CLIP_enhanced.mp4"])
    assert got == ["o/clip_enhanced.mp4", "o/clip_enhanced-2.mp4", "o/b.mp4", "o/CLIP_enhanced-3.mp4"]


@pytest.fixture()
def same_names(tmp_path: Path) -> list[Path]:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    return [make_clip(tmp_path / "x" / "clip.mp4", frames=6, audio=None),
            make_clip(tmp_path / "y" / "clip.mp4", frames=7, audio=None),
            make_clip(tmp_path / "x" / "clip.mov", frames=8, audio=None)]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_batch_keeps_every_same_name_clip(same_names: list[Path], tmp_path: Path, jobs: str) -> None:
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "engine", "batch", *map(str, same_names), "-o", str(out),
                        "-m", "gamma", "--preset", "ultrafast", "--overwrite", "-j", jobs],
                       capture_output=True, text=True, cwd=str(ROOT), timeout=180)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["clip_enhanced-2.mp4", "clip_enhanced-3.mp4", "clip_enhanced.mp4"]
    from tests.engine.video_clips import probe

    assert [probe(out / n)["frames"] for n in ("clip_enhanced.mp4", "clip_enhanced-2.mp4",
                                                "clip_enhanced-3.mp4")] == [6, 7, 8]
    assert r.stderr.count("another input has the same name") == 2


def test_enhance_into_a_folder_keeps_every_same_name_clip(same_names: list[Path], tmp_path: Path,
                                                           capsys) -> None:
    out = tmp_path / "out"
    rc = main(["enhance", *map(str, same_names), "-o", str(out) + "/", "-m", "gamma",
               "--preset", "ultrafast", "-q"])
    assert rc == 0
    assert sorted(os.listdir(out)) == ["clip_enhanced-2.mp4", "clip_enhanced-3.mp4", "clip_enhanced.mp4"]
    assert capsys.readouterr().err.count("another input has the same name") == 2


# ------------------------------------------------------------------ two exports to one path (3)
def _write_meanwhile(target: Path):
    """A progress callback that plays another run finishing ``target`` mid-export."""
    def progress(p) -> None:
        if not target.exists():
            target.write_bytes(b"the other run's result")
    return progress


def test_target_written_meanwhile_is_kept_without_overwrite(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    with pytest.raises(VideoError, match="already exists .*another run"):
        export_video(clip, out, method="gamma", options=FAST, progress=_write_meanwhile(out))
    assert out.read_bytes() == b"the other run's result"
    assert _partials(tmp_path) == []


def test_target_written_meanwhile_with_overwrite_is_replaced_with_a_note(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    res = export_video(clip, out, method="gamma", options=ExportOptions(preset="ultrafast", overwrite=True),
                       progress=_write_meanwhile(out))
    assert res.frames == 20 and out.stat().st_size > 1000
    assert any("another run" in n and "replaced" in n for n in res.notes)
    again = export_video(clip, out, method="gamma", options=ExportOptions(preset="ultrafast", overwrite=True))
    assert not any("another run" in n for n in again.notes)  # a plain overwrite says nothing


# ------------------------------------------------------------------ Ctrl-C on a parallel queue (4)
def test_interrupted_parallel_queue_joins_its_workers_and_leaves_no_partial(long_clip: Path,
                                                                             tmp_path: Path) -> None:
    fired = threading.Event()

    def on_change(it) -> None:
        if it.frames_done > 0 and not fired.is_set():
            fired.set()
            _thread.interrupt_main()

    q = JobQueue(on_change=on_change)
    for i in range(3):
        q.add(str(long_clip), str(tmp_path / f"o{i}.mp4"), JobSettings(method="gamma", options=FAST))
    with pytest.raises(KeyboardInterrupt):
        q.run(jobs=2)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("lowlight-batch-")]
    assert _partials(tmp_path) == [] and not list(tmp_path.glob("o*.mp4"))


# ------------------------------------------------------------------ SIGTERM / SIGHUP (4, 5)
def _run_until_partial(cmd: list[str], out_dir: Path, sig: int) -> subprocess.CompletedProcess:
    child = subprocess.Popen(cmd, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _partials(out_dir):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no export started"
            time.sleep(0.005)
        child.send_signal(sig)
        so, se = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return subprocess.CompletedProcess(cmd, child.returncode, so, se)


@pytest.mark.parametrize("sig,status,word", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                             (signal.SIGHUP, 129, "hung up (SIGHUP)"),
                                             (signal.SIGINT, 130, "interrupted")])
def test_stop_signals_cancel_an_export_cleanly(long_clip: Path, tmp_path: Path, sig: int, status: int,
                                               word: str) -> None:
    out = tmp_path / "o.mp4"
    r = _run_until_partial([sys.executable, "-m", "engine", "enhance", str(long_clip), "-o", str(out),
                            "-m", "gamma", "-q"], tmp_path, sig)
    assert r.returncode == status, r.stderr
    assert f"{word}; nothing was written" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stop_signals_on_a_parallel_batch_remove_every_partial(long_clip: Path, tmp_path: Path,
                                                              sig: int, status: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    ins = []
    for i in range(3):
        p = tmp_path / f"in{i}.mp4"
        os.link(long_clip, p)
        ins.append(str(p))
    r = _run_until_partial([sys.executable, "-m", "engine", "batch", *ins, "-o", str(out), "-m", "gamma",
                            "-j", "2", "-q"], out, sig)
    assert r.returncode == status, r.stderr
    assert _partials(out) == []
    assert "terminate called" not in r.stderr and "Traceback" not in r.stderr
    assert "partial outputs removed" in r.stderr


# ------------------------------------------------------------------ stale temporaries (5)
def test_a_rerun_removes_stale_temporaries_and_leaves_live_ones(clip: Path, tmp_path: Path) -> None:
    old = time.time() - 3600
    stale = tmp_path / ".o.partial-0123abcd.mp4"
    live = tmp_path / ".o.partial-89abcdef.mp4"
    other = tmp_path / ".o.partial-notours.mp4"
    elsewhere = tmp_path / ".p.partial-0123abcd.mp4"  # another target's: not this run's business
    stale_seq = tmp_path / ".seq.partial-00ff00ff"
    for p in (stale, live, other, elsewhere):
        p.write_bytes(b"x")
        os.utime(p, (old, old))
    stale_seq.mkdir()
    (stale_seq / "frame_000000.png").write_bytes(b"x")
    os.utime(stale_seq, (old, old))
    fd = os.open(live, os.O_RDONLY)  # a live writer holds its temporary locked
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        export_video(clip, tmp_path / "o.mp4", method="gamma", options=FAST)
        export_video(clip, str(tmp_path / "seq") + "/", method="gamma", options=FAST)
        assert not stale.exists() and not stale_seq.exists()
        assert live.exists() and other.exists() and elsewhere.exists()
    finally:
        os.close(fd)


def test_a_fresh_unlocked_temporary_is_not_taken_for_stale(tmp_path: Path) -> None:
    young = tmp_path / ".o.partial-0123abcd.mp4"  # just created, not yet locked by its writer
    young.write_bytes(b"x")
    assert remove_stale_temps(tmp_path, ".o.partial-", ".mp4") == []
    assert remove_stale_temps(tmp_path, ".o.partial-", ".mp4", now=time.time() + 60) == [young.name]


def test_a_rerun_after_sigkill_removes_the_killed_runs_temporary(long_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    r = _run_until_partial([sys.executable, "-m", "engine", "enhance", str(long_clip), "-o", str(out),
                            "-m", "gamma", "-q"], tmp_path, signal.SIGKILL)
    assert r.returncode == -signal.SIGKILL
    left = _partials(tmp_path)
    assert len(left) == 1
    old = time.time() - 60
    os.utime(tmp_path / left[0], (old, old))
    short = make_clip(tmp_path.parent / f"{tmp_path.name}_short.mp4", frames=4, audio=None)
    export_video(short, out, method="gamma", options=FAST)
    assert _partials(tmp_path) == []


# ------------------------------------------------------------------ image sequences (8, 15)
def test_image_sequence_into_a_folder_on_another_mount(clip: Path, tmp_path: Path, monkeypatch) -> None:
    mount = tmp_path / "mnt"  # plays a mount point: nothing is renamed or linked across it
    mount.mkdir()
    inside = lambda p: os.path.abspath(p).startswith(str(mount) + os.sep)  # noqa: E731
    for name in ("replace", "rename", "link"):
        real = getattr(os, name)

        def fake(src, dst, *a, _real=real, **kw):
            if inside(src) != inside(dst):
                raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))
            return _real(src, dst, *a, **kw)
        monkeypatch.setattr(os, name, fake)
    res = export_video(clip, str(mount) + "/", method="gamma", options=FAST)
    assert res.frames == 20 and len(os.listdir(mount)) == 20
    res = export_video(clip, str(mount / "f_%03d.png"), method="gamma", options=FAST)
    assert res.frames == 20 and len(os.listdir(mount)) == 40


def test_overwrite_of_a_longer_sequence_removes_its_extra_frames(clip: Path, tmp_path: Path) -> None:
    pattern = str(tmp_path / "f_%04d.png")
    export_video(clip, pattern, method="gamma", options=FAST)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "g_0050.png").write_bytes(b"not this sequence")
    export_video(clip, pattern, method="gamma", options=ExportOptions(overwrite=True, end=0.5))
    assert sorted(os.listdir(tmp_path)) == [f"f_{i:04d}.png" for i in range(5)] + ["g_0050.png", "notes.txt"]


# ------------------------------------------------------------------ one file for many (14)
def test_a_folder_or_several_inputs_into_one_video_file_is_refused(clip: Path, tmp_path: Path, capsys) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    out = tmp_path / "one.mp4"
    assert main(["enhance", str(frames), "-o", str(out), "-m", "gamma"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0]
    assert main(["enhance", str(clip), str(clip), "-o", str(out), "-m", "gamma"]) == 2
    assert "2 inputs" in capsys.readouterr().err
    assert main(["batch", str(clip), "-o", str(out), "-m", "gamma"]) == 2
    assert "output folder" in capsys.readouterr().err
    assert not out.exists()


# ------------------------------------------------------------------ batch hides truncation (11)
def test_batch_says_a_clip_was_truncated(tmp_path: Path) -> None:
    full = make_clip(tmp_path / "full.mkv", frames=20, audio=None)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 6 // 10])
    r = subprocess.run([sys.executable, "-m", "engine", "batch", str(cut), "-o", str(tmp_path / "out"),
                        "-m", "gamma", "--preset", "ultrafast"],
                       capture_output=True, text=True, cwd=str(ROOT), timeout=120)
    assert r.returncode == 0, r.stderr
    done = [line for line in r.stderr.splitlines() if line.startswith("[done]")]
    assert len(done) == 1 and "truncated" in done[0]
    assert "warning" in r.stderr.splitlines()[-1] and "truncated" in r.stderr.splitlines()[-1]


# ------------------------------------------------------------------ segment work folder (16, 17, 18)
SEG = ExportOptions(preset="ultrafast")


def test_a_link_at_the_work_folder_name_is_not_followed(clip: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "o.mp4"
    work_folder(out).symlink_to(elsewhere)
    with pytest.raises(VideoError, match="symbolic link"):
        export_video(clip, out, method="gamma", options=SEG, segment_seconds=0.5)
    assert list(elsewhere.iterdir()) == [] and not out.exists()
    assert read_journal(out) is None


def test_a_second_identical_segmented_run_is_refused_while_the_first_runs(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    folder = work_folder(out)
    folder.mkdir()
    fd = os.open(folder, os.O_RDONLY)  # the first run holds its work folder
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(VideoError, match="another run"):
            export_video(clip, out, method="gamma", options=SEG, segment_seconds=0.5)
    finally:
        os.close(fd)
    res = export_video(clip, out, method="gamma", options=SEG, segment_seconds=0.5)
    assert res.frames == 20 and not folder.exists()


def test_two_identical_segmented_runs_at_once(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    outcomes: list[object] = []

    def one() -> None:
        try:
            outcomes.append(export_video(clip, out, method="gamma", options=SEG, segment_seconds=0.3).frames)
        except VideoError as exc:
            outcomes.append(str(exc))

    ts = [threading.Thread(target=one) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert 20 in outcomes, outcomes
    assert all(o == 20 or "another run" in str(o) or "already exists" in str(o) for o in outcomes), outcomes
    assert not work_folder(out).exists() and _partials(tmp_path) == []


def test_disk_full_in_segment_mode_says_the_journal_is_kept(clip: Path, tmp_path: Path, monkeypatch) -> None:
    fill_disk_after(monkeypatch, 12)
    out = tmp_path / "o.mp4"
    with pytest.raises(VideoError) as ei:
        export_video(clip, out, method="gamma", options=SEG, segment_seconds=0.5)
    msg = str(ei.value)
    assert "disk is full" in msg and "kept on purpose" in msg and "run the same command again" in msg
    assert "nothing was written" not in msg and str(work_folder(out)) in msg
    assert (work_folder(out) / JOURNAL_NAME).is_file() and not out.exists()


def test_frames_written_meanwhile_are_kept_and_nothing_is_half_moved(clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    folder.mkdir()

    def progress(p) -> None:  # another run finishes frame 5 of the same sequence meanwhile
        if not (folder / "frame_000005.png").exists():
            (folder / "frame_000005.png").write_bytes(b"the other run's frame")

    with pytest.raises(VideoError, match="frame_000005.png appeared"):
        export_video(clip, str(folder) + "/", method="gamma", options=FAST, progress=progress)
    assert os.listdir(folder) == ["frame_000005.png"]
    assert (folder / "frame_000005.png").read_bytes() == b"the other run's frame"
