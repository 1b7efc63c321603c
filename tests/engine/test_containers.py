"""Faithful containers: subtitles, chapters, metadata, 10-bit, hardware-encoder fallback,
processing settings written into the output."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from engine.video.base import VideoError
from engine.video.codecs import available_codecs, encoder_opens
from engine.video.export import ExportOptions, export_video
from tests.engine.video_clips import frame_image

OPTS = ExportOptions(preset="ultrafast")


def make_rich_clip(path: Path, *, frames: int = 20, pix_fmt: str = "yuv420p", subtitles: bool = True) -> Path:
    """A 64×48 10 fps mkv with an AAC tone, an SRT subtitle stream (2 cues, language eng),
    two chapters and a title tag."""
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,500\nline one\n\n"
                   "2\n00:00:01,200 --> 00:00:01,700\nline two\n\n", encoding="utf-8")
    with av.open(str(srt)) as sub_in, av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 64, 48, pix_fmt
        vs.options = {"preset": "ultrafast", "crf": "10"}
        aus = out.add_stream("aac", rate=48000, layout="mono")
        ss = None
        if subtitles:
            ss = out.add_stream_from_template(sub_in.streams[0])
            ss.metadata["language"] = "eng"
        out.metadata["title"] = "Night walk"
        out.set_chapters([{"id": 1, "start": 0, "end": 1000, "time_base": Fraction(1, 1000),
                           "metadata": {"title": "Start"}},
                          {"id": 2, "start": 1000, "end": frames * 100, "time_base": Fraction(1, 1000),
                           "metadata": {"title": "Later"}}])
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 10)
            for p in vs.encode(vf):
                out.mux(p)
            if i == 0 and ss is not None:
                for p in sub_in.demux(sub_in.streams[0]):
                    if p.size:
                        p.stream = ss
                        out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        n = int(48000 * frames / 10)
        t = np.arange(n) / 48000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        for k in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k:k + 1024]), format="flt", layout="mono")
            af.sample_rate, af.pts = 48000, k
            for p in aus.encode(af):
                out.mux(p)
        for p in aus.encode(None):
            out.mux(p)
    return path


def subs_of(path: Path) -> list[tuple[bytes, float]]:
    with av.open(str(path)) as c:
        if not c.streams.subtitles:
            return []
        s = c.streams.subtitles[0]
        return [(bytes(p), round(float(p.pts * p.time_base), 3)) for p in c.demux(s) if p.size]


@pytest.mark.parametrize("segment_seconds", [None, 0.5])
def test_subtitles_chapters_and_metadata_are_kept(tmp_path: Path, segment_seconds) -> None:
    src = make_rich_clip(tmp_path / "in.mkv")
    out = tmp_path / "out.mkv"
    res = export_video(src, out, method="gamma", options=OPTS, segment_seconds=segment_seconds)
    assert res.frames == 20 and res.audio == "copied"
    assert subs_of(out) == subs_of(src) == [(b"line one", 0.0), (b"line two", 1.2)]
    with av.open(str(out)) as c:
        assert c.streams.subtitles[0].metadata.get("language") == "eng"
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Start", "Later"]
        tags = {k.lower(): v for k, v in c.metadata.items()}  # Matroska upper-cases some names
        assert tags.get("title") == "Night walk"
        settings = json.loads(tags["comment"].split(" ", 1)[1])
    assert settings["method"] == "gamma" and settings["params"]["strength"] == 1.0
    assert settings["engine_version"]


def test_trim_cuts_subtitles_and_chapters(tmp_path: Path) -> None:
    src = make_rich_clip(tmp_path / "in.mkv")
    out = tmp_path / "out.mkv"
    export_video(src, out, method="gamma", options=ExportOptions(preset="ultrafast", start=1.0))
    assert subs_of(out) == [(b"line two", 0.2)]
    with av.open(str(out)) as c:
        chs = c.chapters()
    assert [ch["metadata"]["title"] for ch in chs] == ["Later"]
    assert chs[0]["start"] == 0


def test_mp4_target_notes_a_subtitle_it_cannot_hold(tmp_path: Path) -> None:
    src = make_rich_clip(tmp_path / "in.mkv")
    res = export_video(src, tmp_path / "out.mp4", method="gamma", options=OPTS)
    assert res.frames == 20
    assert any("subtitle" in n and ".mkv" in n for n in res.notes)


def test_ten_bit_input_stays_ten_bit(tmp_path: Path) -> None:
    src = make_rich_clip(tmp_path / "in10.mkv", pix_fmt="yuv420p10le", subtitles=False)
    out = tmp_path / "out.mkv"
    export_video(src, out, method="gamma", options=OPTS)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
    out8 = tmp_path / "out8.mkv"
    export_video(src, out8, method="gamma", options=ExportOptions(preset="ultrafast", pix_fmt="yuv420p"))
    with av.open(str(out8)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_bad_pix_fmt_is_a_clear_error(tmp_path: Path) -> None:
    src = make_rich_clip(tmp_path / "in.mkv", subtitles=False)
    with pytest.raises(VideoError, match="pixel format"):
        export_video(src, tmp_path / "o.mkv", options=ExportOptions(pix_fmt="rgb48be"))
    assert not (tmp_path / "o.mkv").exists()


def test_hardware_encoder_falls_back_to_software_when_it_cannot_open(tmp_path: Path) -> None:
    src = make_rich_clip(tmp_path / "in.mkv", subtitles=False)
    assert "h264" in available_codecs()
    res = export_video(src, tmp_path / "o.mp4", method="gamma",
                       options=ExportOptions(codec="h264_vaapi", preset="ultrafast"))
    assert res.frames == 20
    if encoder_opens("h264_vaapi", 64, 48, "nv12"):
        assert res.encoder == "h264_vaapi"
    else:
        assert res.encoder == "libx264" and any("h264_vaapi" in n for n in res.notes)
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert c.streams.video[0].frames == 20


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        return [(p.pts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


class _CannotSeek:
    """A PyAV input container whose ``seek`` fails (as some demuxers' do)."""

    def __init__(self, container) -> None:
        self._c = container

    def __getattr__(self, name):
        return getattr(self._c, name)

    def seek(self, *args, **kwargs):
        raise av.error.ValueError(22, "seek refused")


@pytest.mark.parametrize("seek_fails", [False, True])
def test_input_is_opened_once_for_audio_and_subtitles(tmp_path: Path, monkeypatch, seek_fails: bool) -> None:
    """The carrier reads the subtitles in a first pass and then the audio from the same
    opened input (seeking back); every audio packet is copied, none twice. A demuxer that
    cannot seek back makes it read the audio afresh, with the same result."""
    src = make_rich_clip(tmp_path / "in.mkv")
    opened: list[str] = []
    real_open = av.open

    def counting_open(file, *args, **kwargs):
        c = real_open(file, *args, **kwargs)
        if str(file) == str(src):
            opened.append(str(file))
            if seek_fails and len(opened) == 2:  # the carrier's (the source's is first)
                return _CannotSeek(c)
        return c

    monkeypatch.setattr(av, "open", counting_open)
    out = tmp_path / "out.mkv"
    res = export_video(src, out, method="gamma", options=OPTS)
    monkeypatch.setattr(av, "open", real_open)
    assert res.audio == "copied" and subs_of(out) == subs_of(src)
    assert len(opened) == (3 if seek_fails else 2)  # the video source, the carrier(, afresh)
    assert audio_packets(out) == audio_packets(src)
