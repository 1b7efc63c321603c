"""Tiny video files made with PyAV for the video tests (64×48, a few frames, audio)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np


def frame_image(i: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A dark uint8 (H, W, 3) RGB test picture: a gradient whose level encodes ``i``,
    with a bright marker in the top-left corner (to check orientation)."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = (10 + 8 * i) % 200
    img[..., 1] = (x * 40 // max(width - 1, 1)).astype(np.uint8)
    img[..., 2] = (y * 40 // max(height - 1, 1)).astype(np.uint8)
    img[: max(1, height // 4), : max(1, width // 4)] = 230
    return img


def make_clip(path: Path, *, frames: int = 12, width: int = 64, height: int = 48,
              pts_ms: Sequence[int] | None = None, audio: str | None = "aac",
              rotation_ccw: int = 0, codec: str = "libx264", fps: int = 10,
              audio_seconds: float | None = None) -> Path:
    """Write a test clip. ``pts_ms``: frame times in milliseconds (variable frame rate);
    default ``i * 1000 / fps``. ``audio``: "aac", "mp2", "libopus" or None (a 440 Hz tone
    lasting the clip). ``rotation_ccw``: display matrix rotation in degrees."""
    import av

    path = Path(path)
    if pts_ms is None:
        pts_ms = [int(round(i * 1000 / fps)) for i in range(frames)]
    frames = len(pts_ms)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = width, height
        vs.pix_fmt = "yuv420p" if (width % 2 == 0 and height % 2 == 0) or codec != "libx264" else "yuv444p"
        if codec == "libx264":
            vs.options = {"crf": "10", "preset": "ultrafast"}
        vs.codec_context.time_base = Fraction(1, 1000)
        vs.time_base = Fraction(1, 1000)
        if rotation_ccw:
            vs.set_display_rotation(rotation_ccw)
        aus = None
        if audio:
            rate = 48000
            aus = out.add_stream(audio, rate=rate, layout="mono" if audio != "libopus" else "stereo")
        for i, t in enumerate(pts_ms):
            vf = av.VideoFrame.from_ndarray(frame_image(i, width, height), format="rgb24")
            vf.pts = int(t)
            vf.time_base = Fraction(1, 1000)
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if aus is not None:
            total = audio_seconds if audio_seconds is not None else (pts_ms[-1] + 1000 / fps) / 1000.0
            n = int(total * 48000)
            t = np.arange(n) / 48000.0
            tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            layout = aus.codec_context.layout.name
            ch = 2 if layout == "stereo" else 1
            fmt = aus.codec_context.format.name
            chunk = 960
            for k in range(0, n, chunk):
                part = np.repeat(tone[None, k:k + chunk], ch, axis=0)
                if fmt.endswith("p"):
                    arr = part if fmt.startswith("flt") else (part * 32767).astype(np.int16)
                else:
                    arr = part.T.reshape(1, -1) if fmt.startswith("flt") else (part.T.reshape(1, -1) * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=layout)
                af.sample_rate = 48000
                af.pts = k
                af.time_base = Fraction(1, 48000)
                for p in aus.encode(af):
                    out.mux(p)
            for p in aus.encode(None):
                out.mux(p)
    return path


def probe(path: Path) -> dict:
    """Read back a file: video codec, stored size, rotation, frame pts (s), audio."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        pts, rot = [], 0
        for f in c.decode(vs):
            pts.append(float(f.pts * f.time_base))
            rot = f.rotation
        a = c.streams.audio[0] if c.streams.audio else None
        info = {"codec": vs.codec_context.name, "width": vs.codec_context.width,
                "height": vs.codec_context.height, "pix_fmt": vs.codec_context.pix_fmt,
                "rotation": rot, "pts": pts, "frames": len(pts),
                "audio": a.codec_context.name if a is not None else None}
    if a is not None:
        with av.open(str(path)) as c:
            a = c.streams.audio[0]
            apts = [(float(p.pts * p.time_base), float(p.duration * p.time_base))
                    for p in c.demux(a) if p.pts is not None]
            info["audio_start"] = min(t for t, _ in apts) if apts else None
            info["audio_end"] = max(t + d for t, d in apts) if apts else None
    return info


def fill_disk_after(monkeypatch, packets: int) -> None:
    """Make every video file sink's muxer fail with ENOSPC ("No space left on device")
    after ``packets`` packets in all, as a full disk does."""
    import errno

    from engine.video.sinks import VideoFileSink

    calls = {"n": 0}
    real = VideoFileSink._mux

    def full(self, packet):
        calls["n"] += 1
        if calls["n"] > packets:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, packet)

    monkeypatch.setattr(VideoFileSink, "_mux", full)
