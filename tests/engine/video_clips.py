"""Tiny synthetic media files made with PyAV for the video tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_image(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """A dark frame whose mean encodes ``i`` (index recoverable after lossy coding)."""
    img = np.full((h, w, 3), 10 + 8 * i, np.uint8)
    img[: h // 4, : w // 4] = (200, 30, 30)  # red marker top-left: shows orientation
    return img


def make_clip(path: Path, n: int = 10, w: int = 64, h: int = 48, *, audio: bool = True,
              vfr: bool = False, rotation: int = 0, codec: str = "libx264") -> Path:
    """Write an ``n``-frame clip; VFR uses irregular timestamps in a 1/1000 time base."""
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=25)
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
        if codec == "libx264":
            vs.options = {"preset": "ultrafast", "crf": "10"}
        vs.codec_context.time_base = tb
        if rotation:
            vs.set_display_rotation(rotation)
        aus = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        t_ms = 0
        a_done = 0
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(frame_image(i, w, h), format="rgb24")
            vf.pts = t_ms
            vf.time_base = tb
            for p in vs.encode(vf):
                out.mux(p)
            t_ms += (40 if not vfr else (20 if i % 2 else 70))
            if aus is not None:
                want = int(t_ms * 48)
                k = want - a_done
                af = av.AudioFrame.from_ndarray(
                    (0.1 * np.sin(np.arange(a_done, want) / 20.0)).astype(np.float32)[None],
                    format="flt", layout="mono")
                af.sample_rate = 48000
                af.pts = a_done
                af.time_base = Fraction(1, 48000)
                a_done += k
                for p in aus.encode(af):
                    out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if aus is not None:
            for p in aus.encode(None):
                out.mux(p)
    return path


def make_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        aus = out.add_stream("aac", rate=48000, layout="mono")
        af = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.float32), format="flt", layout="mono")
        af.sample_rate = 48000
        af.pts = 0
        for p in aus.encode(af):
            out.mux(p)
        for p in aus.encode(None):
            out.mux(p)
    return path


def streams(path: Path) -> dict:
    """{"video": (codec, w, h, frames, rotation, [pts seconds]), "audio": (codec, seconds)}."""
    res = {}
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        pts, rot = [], 0
        for f in c.decode(vs):
            pts.append(float(f.pts * f.time_base))
            rot = f.rotation
        res["video"] = (vs.codec_context.name, vs.codec_context.width, vs.codec_context.height,
                        len(pts), rot, pts)
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            n = sum(fr.samples for fr in c.decode(a))
            res["audio"] = (a.codec_context.name, n / a.codec_context.sample_rate)
    return res
