"""Named encode profiles (``--encode fast|small``), their expert overrides, and the threads
an export gives its decoder and its encoder (engine.runtime.threads)."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

from engine.cli import main
from engine.runtime import threads as thread_plan
from engine.runtime.threads import (ExportThreads, export_threads, halves_opencv_count, halves_opencv_threads,
                                   hold_halves_threads)
from engine.video.base import VideoError
from engine.video.codecs import CODECS
from engine.video.export import (DEFAULT_ENCODE, ENCODE_PROFILES, PRESETS, ExportOptions,
                                 export_video)
from tests.engine.video_clips import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("profiles") / "in.mp4", frames=6, audio=None)


@pytest.fixture(scope="module")
def tall_clip(tmp_path_factory) -> Path:
    # x264 gives each thread a few macroblock rows: 48 pixels would cap it at one
    return make_clip(tmp_path_factory.mktemp("profiles") / "tall.mp4", frames=4, width=128,
                     height=256, audio=None)


def x264_settings(path: Path) -> dict[str, str]:
    """The settings x264 wrote into the stream (its options SEI): ``subme``, ``ref``,
    ``crf``, ``threads``..."""
    data = path.read_bytes()
    m = re.search(rb"options: ([^\x00]*)", data)
    assert m, "no x264 options SEI in the file"
    return dict(kv.split("=", 1) for kv in m.group(1).decode("ascii", "replace").split() if "=" in kv)


# ----------------------------------------------------------------------------- the table
def test_profiles_are_a_fast_default_and_a_smaller_one() -> None:
    assert DEFAULT_ENCODE == "fast" and set(ENCODE_PROFILES) == {"fast", "small"}
    for name, p in ENCODE_PROFILES.items():
        assert p.name == name and p.preset in PRESETS and p.label and p.summary
        assert set(p.crf) == {"h264", "h265"} and all(0 <= v <= 51 for v in p.crf.values())
        assert p.crf_for("ffv1") is None and p.crf_for("h264_nvenc") is None
    fast, small = ENCODE_PROFILES["fast"], ENCODE_PROFILES["small"]
    # a higher CRF is what makes the file smaller; never a faster preset than fast's
    assert all(small.crf[c] > fast.crf[c] for c in fast.crf)
    assert PRESETS.index(small.preset) >= PRESETS.index(fast.preset)


def test_options_take_the_profile_unless_overridden() -> None:
    fast, small = ENCODE_PROFILES["fast"], ENCODE_PROFILES["small"]
    o = ExportOptions()
    assert (o.encode, o.preset, o.crf) == ("fast", fast.preset, fast.crf["h264"])
    o = ExportOptions(encode="small", codec="h265")
    assert (o.preset, o.crf) == (small.preset, small.crf["h265"])
    o = ExportOptions(encode="small", preset="slow", crf=18)
    assert (o.preset, o.crf) == ("slow", 18)
    # hardware encoders and FFV1 keep their own quality setting
    assert ExportOptions(codec="h264_nvenc").crf is None
    assert ExportOptions(codec="ffv1").crf is None


@pytest.mark.parametrize("kw, word", [({"encode": "tiny"}, "encode profile"),
                                      ({"preset": "quick"}, "preset"),
                                      ({"encoder_threads": 0}, "threads")])
def test_bad_options_are_refused_with_one_line(kw, word) -> None:
    with pytest.raises(VideoError, match=word):
        ExportOptions(**kw).validate()


# ----------------------------------------------------------------------------- threads
def test_thread_plan_on_small_and_large_machines(monkeypatch) -> None:
    assert export_threads(1) == ExportThreads(1, 1)
    assert export_threads(2) == ExportThreads(2, 2)
    assert export_threads(4) == ExportThreads(4, 4)
    assert export_threads(16) == ExportThreads(16, 0)  # x264's own choice
    monkeypatch.setattr(thread_plan, "cpu_count", lambda: 2)
    assert export_threads() == ExportThreads(2, 2)


def test_opencv_runs_one_thread_during_two_half_runs_on_two_cores_only() -> None:
    assert halves_opencv_threads(1) == 1
    assert halves_opencv_threads(2) == 1
    assert halves_opencv_threads(3) is None  # not measured: OpenCV keeps its count
    assert halves_opencv_threads(16) is None
    # the count that follows from OpenCV's count now (never raised)
    assert halves_opencv_count(3, cores=2) == 1 and halves_opencv_count(1, cores=2) == 1
    assert halves_opencv_count(4, cores=8) == 4


@pytest.fixture()
def opencv_threads():
    before = cv2.getNumThreads()
    yield
    cv2.setNumThreads(before)


def test_overlapping_holds_share_the_setting_and_the_last_release_restores_it(monkeypatch,
                                                                           opencv_threads) -> None:
    monkeypatch.setattr(thread_plan, "cpu_count", lambda: 2)
    cv2.setNumThreads(3)
    first, second = hold_halves_threads(), hold_halves_threads()
    assert cv2.getNumThreads() == 1
    first()
    first()  # a second call of the same release does nothing
    assert cv2.getNumThreads() == 1
    second()
    assert cv2.getNumThreads() == 3
    # a count set by someone else during the hold is theirs to keep
    release = hold_halves_threads()
    cv2.setNumThreads(2)
    release()
    assert cv2.getNumThreads() == 2
    # a larger machine leaves OpenCV's count alone
    monkeypatch.setattr(thread_plan, "cpu_count", lambda: 8)
    cv2.setNumThreads(3)
    release = hold_halves_threads()
    assert cv2.getNumThreads() == 3
    release()
    assert cv2.getNumThreads() == 3


def test_the_export_gives_the_planned_threads_to_the_encoder(tall_clip, tmp_path, monkeypatch) -> None:
    import engine.video.export as export_mod

    monkeypatch.setattr(export_mod, "export_threads", lambda: ExportThreads(2, 3))
    out = tmp_path / "o.mp4"
    export_video(tall_clip, out, method="gamma", options=ExportOptions(audio="none"))
    assert x264_settings(out)["threads"] == "3"
    # an explicit count wins over the plan
    export_video(tall_clip, out, method="gamma",
                 options=ExportOptions(audio="none", encoder_threads=2, overwrite=True))
    assert x264_settings(out)["threads"] == "2"
    # the plan's 0 leaves the encoder its own choice
    monkeypatch.setattr(export_mod, "export_threads", lambda: ExportThreads(64, 0))
    export_video(tall_clip, out, method="gamma", options=ExportOptions(audio="none", overwrite=True))
    assert int(x264_settings(out)["threads"]) >= 1


# ----------------------------------------------------------------------------- the CLI
def test_enhance_help_names_the_profiles(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["enhance", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--encode {fast,small}" in out and "default fast" in out
    for p in ENCODE_PROFILES.values():
        assert p.summary in out
    assert "overrides the --encode profile's preset" in out


@pytest.mark.parametrize("argv, preset, crf", [
    ([], ENCODE_PROFILES["fast"].preset, ENCODE_PROFILES["fast"].crf["h264"]),
    (["--encode", "small"], ENCODE_PROFILES["small"].preset, ENCODE_PROFILES["small"].crf["h264"]),
    (["--encode", "small", "--preset", "ultrafast", "--crf", "30"], "ultrafast", 30),
])
def test_enhance_writes_with_the_chosen_profile(clip, tmp_path, argv, preset, crf) -> None:
    out = tmp_path / "o.mp4"
    assert main(["enhance", str(clip), "-o", str(out), "-m", "gamma", "-q", *argv]) == 0
    s = x264_settings(out)
    assert float(s["crf"]) == crf
    # x264 writes the settings a preset stands for; subme tells these presets apart
    subme = {"ultrafast": "0", "superfast": "1", "veryfast": "2", "medium": "7"}
    assert s["subme"] == subme[preset]


def test_batch_takes_the_profile(clip, tmp_path) -> None:
    out = tmp_path / "out"
    assert main(["batch", str(clip), "-o", str(out), "-m", "gamma", "-q", "--encode", "small"]) == 0
    (written,) = out.glob("*.mp4")
    s = x264_settings(written)
    assert float(s["crf"]) == ENCODE_PROFILES["small"].crf["h264"]


def test_unknown_profile_is_an_argument_error(clip, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["enhance", str(clip), "-o", str(tmp_path / "o.mp4"), "--encode", "tiny"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert CODECS["h264"][0] == "libx264"
