"""Every audio stream of the input reaches the output: an mkv with an English and a
French track keeps both, in order, with their language tags and their own sound, for
stream copy, AAC re-encoding, trims and the segmented (resumable) export."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main

TRACKS = (("eng", 440.0, "aac"), ("fre", 660.0, "mp2"))
SECONDS = 2.0


def make_two_audio_clip(path: Path, *, fps: int = 10, subtitles: bool = False) -> Path:
    """64×48 H.264 video of ``SECONDS`` with two mono audio streams: English 440 Hz AAC
    and French 660 Hz MP2, each tagged with its language (and an SRT subtitle stream
    with ``subtitles``, which makes the carrier read the file twice)."""
    import av

    frames = int(SECONDS * fps)
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,200 --> 00:00:00,900\nbonjour\n\n", encoding="utf-8")
    with av.open(str(srt)) as sub_in, av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.options = {"crf": "10", "preset": "ultrafast"}
        streams = []
        for lang, _, codec in TRACKS:
            a = out.add_stream(codec, rate=48000, layout="mono")
            a.metadata["language"] = lang
            streams.append(a)
        ss = out.add_stream_from_template(sub_in.streams[0]) if subtitles else None
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 + 5 * i, np.uint8), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in vs.encode(vf):
                out.mux(p)
            if i == 0 and ss is not None:
                for p in sub_in.demux(sub_in.streams[0]):
                    if p.size:
                        p.stream = ss
                        out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        n = int(SECONDS * 48000)
        t = np.arange(n) / 48000.0
        for a, (_, freq, _) in zip(streams, TRACKS):
            fmt = a.codec_context.format.name
            tone = (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
            step = a.codec_context.frame_size or 1152
            for k in range(0, n, step):
                part = tone[None, k:k + step]
                arr = part if fmt.startswith("flt") else (part * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout="mono")
                af.sample_rate, af.pts, af.time_base = 48000, k, Fraction(1, 48000)
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode(None):
                out.mux(p)
    return path


def audio_tracks(path: Path) -> list[tuple[str | None, float, float]]:
    """(language, dominant frequency in Hz, seconds of sound) of each audio stream."""
    import av

    res = []
    with av.open(str(path)) as c:
        count = len(c.streams.audio)
    for k in range(count):
        with av.open(str(path)) as c:
            s = c.streams.audio[k]
            lang, rate = s.metadata.get("language"), s.codec_context.sample_rate
            chunks = [f.to_ndarray().reshape(-1, f.samples)[0].astype(np.float64) for f in c.decode(s)]
        x = np.concatenate(chunks)
        spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
        res.append((lang, float(np.argmax(spec) * rate / len(x)), len(x) / rate))
    return res


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_two_audio_clip(tmp_path_factory.mktemp("two") / "two.mkv")


@pytest.fixture(scope="module")
def clip_subs(tmp_path_factory) -> Path:
    return make_two_audio_clip(tmp_path_factory.mktemp("two") / "two_subs.mkv", subtitles=True)


def test_maker_writes_two_tracks(clip):
    got = audio_tracks(clip)
    assert [g[0] for g in got] == ["eng", "fre"]
    assert abs(got[0][1] - 440) < 5 and abs(got[1][1] - 660) < 5


@pytest.mark.parametrize("ext,extra,seconds", [
    (".mkv", [], SECONDS),
    (".mp4", [], SECONDS),
    (".mkv", ["--audio", "aac"], SECONDS),
    (".mkv", ["--start", "0.5", "--end", "1.5"], 1.0),
    (".mp4", ["--start", "0.35", "--audio", "aac"], SECONDS - 0.35),
    (".mkv", ["--segment-seconds", "0.6"], SECONDS),
])
def test_every_audio_stream_is_kept(clip, tmp_path, ext, extra, seconds):
    out = tmp_path / ("o" + ext)
    assert main(["enhance", str(clip), "-o", str(out), "-m", "gamma", "-q", "--preset",
                 "ultrafast", *extra]) == 0
    got = audio_tracks(out)
    assert [g[0] for g in got] == ["eng", "fre"], got
    for (lang, freq, dur), (_, want, _) in zip(got, TRACKS):
        assert abs(freq - want) < 5, (lang, freq)
        assert abs(dur - seconds) < 0.1, (lang, dur)  # packet accuracy at trims (copy)


@pytest.mark.parametrize("extra,seconds", [([], SECONDS), (["--start", "0.5"], SECONDS - 0.5),
                                           (["--audio", "aac", "--end", "1.2"], 1.2)])
def test_every_audio_stream_is_kept_beside_subtitles(clip_subs, tmp_path, extra, seconds):
    import av

    out = tmp_path / "o.mkv"
    assert main(["enhance", str(clip_subs), "-o", str(out), "-m", "gamma", "-q", "--preset",
                 "ultrafast", *extra]) == 0
    got = audio_tracks(out)
    assert [g[0] for g in got] == ["eng", "fre"], got
    for (lang, freq, dur), (_, want, _) in zip(got, TRACKS):
        assert abs(freq - want) < 5 and abs(dur - seconds) < 0.1, (lang, freq, dur)
    with av.open(str(out)) as c:
        assert len(c.streams.subtitles) == 1


def test_audio_none_drops_them_all(clip, tmp_path):
    out = tmp_path / "o.mkv"
    assert main(["enhance", str(clip), "-o", str(out), "-m", "gamma", "-q", "--audio", "none"]) == 0
    assert audio_tracks(out) == []
