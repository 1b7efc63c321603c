"""Resumable (segmented, journaled) export: kill -9 mid-export, rerun, same result."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine import registry
from engine.stages.processor import FrameProcessor
from engine.video.export import ExportCancelled, ExportOptions, export_video
from engine.video.segments import JOURNAL_NAME, read_journal, work_folder
from tests.engine.thread_spy import spy_on_halves
from tests.engine.video_clips import make_clip

HERE = Path(__file__).resolve().parent
OPTS = ExportOptions(preset="veryfast")  # B-frames: segments must join with reordering


def decode_all(path: Path) -> tuple[list[tuple[Fraction, np.ndarray]], list[tuple[int, bytes]], dict]:
    """Decoded video frames (pts in seconds as a Fraction, RGB pixels), audio packets
    (pts, bytes) and container metadata of ``path``."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = [(Fraction(f.pts) * v.time_base, f.to_ndarray(format="rgb24")) for f in c.decode(v)]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size] if c.streams.audio else []
        meta = dict(c.metadata)
    return frames, audio, meta


def _assert_same_frames(fa: list, fb: list) -> None:
    assert len(fa) == len(fb)
    assert [t for t, _ in fa] == [t for t, _ in fb]
    for (_, x), (_, y) in zip(fa, fb):
        assert np.array_equal(x, y)


def assert_same_video(a: Path, b: Path) -> None:
    """The two files hold the same frames at the same times."""
    _assert_same_frames(decode_all(a)[0], decode_all(b)[0])


def assert_same(a: Path, b: Path) -> None:
    """Same frames and times, and the same (non-empty) audio packets."""
    fa, aa, _ = decode_all(a)
    fb, ab, _ = decode_all(b)
    _assert_same_frames(fa, fb)
    assert aa == ab and len(aa) > 0


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "in.mp4", frames=30, fps=10)


def test_segmented_export_matches_frame_count_pts_and_audio_of_plain_export(clip: Path, tmp_path: Path) -> None:
    plain = export_video(clip, tmp_path / "plain.mp4", method="gamma", options=OPTS)
    seg = export_video(clip, tmp_path / "seg.mp4", method="gamma", options=OPTS, segment_seconds=1.0)
    assert seg.frames == plain.frames == 30 and seg.audio == "copied" and seg.resumed_frames == 0
    fa, aa, _ = decode_all(tmp_path / "plain.mp4")
    fb, ab, meta = decode_all(tmp_path / "seg.mp4")
    assert [t for t, _ in fa] == [t for t, _ in fb]
    assert aa == ab
    assert not work_folder(tmp_path / "seg.mp4").exists()  # removed on success
    settings = json.loads(meta["comment"].split(" ", 1)[1])
    assert settings["method"] == "gamma" and "strength" in settings["params"]


def test_kill_and_resume_equals_uninterrupted_run(clip: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref.mp4"
    export_video(clip, ref, method="gamma", options=OPTS, segment_seconds=1.0)
    out = tmp_path / "out.mp4"
    child = subprocess.Popen([sys.executable, str(HERE / "resume_child.py"), str(clip), str(out), "1.0", "26"],
                             cwd=str(HERE.parents[1]), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            j = read_journal(out)
            if j is not None and len(j["segments"]) >= 1:
                break
            assert child.poll() is None, child.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the child never finished a segment")
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    assert not out.exists()  # no target until done
    j = read_journal(out)
    assert j is not None and not j["ended"] and j["segments"][0]["status"] == "done"
    res = export_video(clip, out, method="gamma", options=OPTS, segment_seconds=1.0)
    assert res.resumed_frames >= 10 and res.frames == 30
    assert_same(ref, out)
    assert not work_folder(out).exists()


def test_cancel_keeps_segments_and_resume_finishes(clip: Path, tmp_path: Path) -> None:
    ref = tmp_path / "ref.mp4"
    export_video(clip, ref, method="gamma", options=OPTS, segment_seconds=1.0)
    out = tmp_path / "out.mp4"
    cancel = threading.Event()

    class Cancelling(FrameProcessor):
        n = 0

        def begin(self, frame):  # the export runs the halves (process is not called)
            self.n += 1
            if self.n == 24:  # after the first segment's frames went by
                cancel.set()
            return super().begin(frame)

    # the cancel lands once segment 0 is in the journal (the sink thread writes it)
    proc = Cancelling(registry.create("gamma"))
    with pytest.raises(ExportCancelled):
        export_video(clip, out, processor=proc, options=OPTS, segment_seconds=1.0, cancel=cancel)
    assert not out.exists()
    res = export_video(clip, out, method="gamma", options=OPTS, segment_seconds=1.0)
    assert res.frames == 30
    assert_same(ref, out)


def test_changed_settings_start_over(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    folder = work_folder(out)
    folder.mkdir()
    (folder / JOURNAL_NAME).write_text(json.dumps({"version": 2, "input": {}, "key": {}, "segments": [
        {"file": "seg_00000.nut", "frames": 10}]}))
    res = export_video(clip, out, method="gamma", options=OPTS, segment_seconds=1.0)
    assert res.resumed_frames == 0 and res.frames == 30 and not folder.exists()


def test_pause_gives_the_same_frames(clip: Path, tmp_path: Path) -> None:
    pause = threading.Event()
    pause.set()
    while_paused: list[int] = []

    def progress(p) -> None:  # a few reports while paused, then go on
        if pause.is_set():
            while_paused.append(p.frames_done)
            if len(while_paused) >= 3:
                pause.clear()

    # lossless FFV1: a plain (multi-threaded) x264 encode may differ between runs by itself
    lossless = ExportOptions(codec="ffv1")
    export_video(clip, tmp_path / "p.mkv", method="gamma", options=lossless, pause=pause, progress=progress)
    export_video(clip, tmp_path / "u.mkv", method="gamma", options=lossless)
    assert_same(tmp_path / "u.mkv", tmp_path / "p.mkv")
    assert while_paused == [0, 0, 0]  # nothing moved while paused


def _encode_segment(path: Path, images: list[np.ndarray]) -> list[bytes]:
    """Encode ``images`` as one deterministic segment (as the segmented export does) and
    return its video packets."""
    from engine.frame import Frame
    from engine.video.sinks import VideoFileSink

    sink = VideoFileSink(str(path), replace(OPTS, audio="none", overwrite=True), fps=10.0,
                         time_base=Fraction(1, 16000), deterministic=True)
    for i, img in enumerate(images):
        sink.write(Frame(img, i, i / 10.0))
    sink.close()
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def test_deterministic_segments_are_bit_exact_whatever_ran_before(tmp_path: Path) -> None:
    """Regression: x264's macroblock-tree rate control made the bitstream of the same frames
    depend on what earlier encodes in the process had left in memory, so a resumed export
    differed from an uninterrupted one in a few B-frames (about 1 run in 5 of the cancel test
    above). Encodes of other content in between must not change a segment's packets."""
    from tests.engine.video_clips import frame_image

    images = [np.ascontiguousarray(np.clip(frame_image(i).astype(np.int16) * 2 + 5, 0, 255).astype(np.uint8))
              for i in range(10)]
    rng = np.random.default_rng(7)
    first = _encode_segment(tmp_path / "a.mov", images)
    assert b"mbtree=0" in first[0] and b"threads=1 " in first[0]  # x264's options SEI
    for k in range(50):
        noise = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(10)]
        _encode_segment(tmp_path / "noise.mov", noise)
        assert _encode_segment(tmp_path / "a.mov", images) == first, f"differs on encode {k + 2}"


def test_segmented_export_runs_the_processor_halves_on_two_threads(clip: Path, tmp_path: Path,
                                                                   monkeypatch) -> None:
    """The pre-roll wrapper hands both halves on: a resumable export runs ``begin`` on the
    pipeline's enhance thread and ``finish`` on its finish thread, as a plain export does."""
    threads = spy_on_halves(monkeypatch)
    res = export_video(clip, tmp_path / "seg.mp4", method="gamma", options=OPTS, segment_seconds=1.0)
    assert res.frames == 30
    assert threads == {"begin": {"lowlight-enhance"}, "finish": {"lowlight-finish"}}


def _flattened_clip(n: int) -> list[np.ndarray]:
    """A dark textured scene with under half a level of noise: the output-side temporal
    denoiser carries state from frame to frame (a codec-flattened phone clip)."""
    import cv2

    rng = np.random.default_rng(4)
    tex = cv2.GaussianBlur(rng.uniform(0, 1, (40, 56, 3)).astype(np.float32), (0, 0), 2.0)
    scene = 12.0 * (0.4 + 1.2 * (tex - tex.min()) / (tex.max() - tex.min()))
    return [np.clip(np.rint(scene + rng.normal(0, 0.4, scene.shape)), 0, 255).astype(np.uint8)
            for _ in range(n)]


@pytest.mark.parametrize("halves", [True, False])
def test_preroll_wrapper_on_two_threads_gives_the_one_thread_frames(halves: bool) -> None:
    """Segment starts reset the processor while the previous segment's last frame may still
    be in ``finish``: on two threads the frames equal ``process``'s, for a processor with
    halves and for one with only ``process`` (the CLI's reference path)."""
    from engine.stages.processor import TwoStage
    from engine.video.segments import _PrerollProcessor

    class WholeOnly:
        def __init__(self) -> None:
            self.proc = FrameProcessor(registry.create("sci"))

        def process(self, image):
            return self.proc.process(image)

        def reset(self) -> None:
            self.proc.reset()

    def make() -> _PrerollProcessor:
        inner = FrameProcessor(registry.create("sci")) if halves else WholeOnly()
        return _PrerollProcessor(inner, per_seg=4, preroll=3, first_index=0, history=[])

    frames = _flattened_clip(14)
    one = make()
    expected = [one.process(f) for f in frames]
    two = make()
    got = list(TwoStage(two).run(frames))
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    if halves:
        assert two.processor.output_denoiser.effective > 0.0  # the state the reset must not cut


def test_segmented_export_without_a_method_copies_the_frames(clip: Path, tmp_path: Path) -> None:
    """Regression: with no method (a re-encode) the segmented export wrapped a missing
    processor and failed on the first frame."""
    plain = export_video(clip, tmp_path / "p.mp4", options=OPTS)
    seg = export_video(clip, tmp_path / "s.mp4", options=OPTS, segment_seconds=1.0)
    assert seg.frames == plain.frames == 30 and seg.audio == "copied"
    fa, aa, _ = decode_all(tmp_path / "p.mp4")
    fb, ab, meta = decode_all(tmp_path / "s.mp4")
    assert [t for t, _ in fa] == [t for t, _ in fb] and aa == ab
    assert json.loads(meta["comment"].split(" ", 1)[1])["method"] is None


def test_ffv1_exports_in_segments_and_resumes(clip: Path, tmp_path: Path) -> None:
    """FFV1 segments go in .mkv (a .mov cannot hold FFV1: the segmented export used to fail
    on its first segment); the joined file is lossless, equal to a second run, and a
    leftover journal of .mov segments is started over."""
    opts = ExportOptions(codec="ffv1")
    plain = export_video(clip, tmp_path / "plain.mkv", method="gamma", options=opts)
    seg = export_video(clip, tmp_path / "seg.mkv", method="gamma", options=opts, segment_seconds=1.0)
    assert seg.frames == plain.frames == 30
    fa, _, _ = decode_all(tmp_path / "plain.mkv")
    fb, _, _ = decode_all(tmp_path / "seg.mkv")
    assert [t for t, _ in fa] == [t for t, _ in fb]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(fa[:10], fb[:10]))  # the first segment
    again = tmp_path / "again.mkv"
    work = work_folder(again)
    work.mkdir()
    (work / JOURNAL_NAME).write_text(json.dumps({"segment_ext": ".mov", "segments": []}))
    export_video(clip, again, method="gamma", options=opts, segment_seconds=1.0)
    assert_same_video(tmp_path / "seg.mkv", again)

