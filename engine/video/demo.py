"""The generated demo clip: a deterministic, procedural dark scene for trying the studio
without a camera or a file of one's own.

Recipe (version :data:`DEMO_VERSION`): 640×360, 30 fps, 6 s (180 frames), H.264 (yuv420p,
CRF 18) with an AAC audio track (a quiet 220 Hz tone, mono, 48 kHz, about -30 dBFS).

- 0.0–3.5 s: a dark room; a ball rolls across a table; a lamp is switched on at 2.0 s
  (light ramps up over 3 frames).
- 3.5 s: a scene cut to a night street: lit windows and a car with headlights driving by.
- Every frame carries signal-dependent sensor noise (shot + read noise) drawn from a
  generator seeded by the frame index, so the clip is identical on every machine and run.

The clip is written on first use to ``$LOWLIGHT_CACHE`` (default ``~/.cache/lowlight``)
under a temporary name and renamed into place, so a crash never leaves a broken cache.
"""

from __future__ import annotations

import os
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from engine.files.atomic import replacing
from engine.video.base import VideoError

__all__ = ["DEMO_VERSION", "DEMO_WIDTH", "DEMO_HEIGHT", "DEMO_FPS", "DEMO_FRAMES",
           "DEMO_CUT_FRAME", "DEMO_LIGHT_FRAME", "cache_dir", "demo_clip_path",
           "render_demo_frame", "write_demo_clip"]

DEMO_VERSION = 1
DEMO_WIDTH, DEMO_HEIGHT, DEMO_FPS = 640, 360, 30
DEMO_FRAMES = 180
DEMO_LIGHT_FRAME = 60   # the lamp switches on here (2.0 s)
DEMO_CUT_FRAME = 105    # the scene cut (3.5 s)
_AUDIO_RATE = 48000
_EXPOSURE = 0.15
_lock = threading.Lock()


def cache_dir() -> Path:
    """``$LOWLIGHT_CACHE`` or ``~/.cache/lowlight`` (created when missing).

    Raises:
        VideoError: the folder cannot be created (one line naming it and the variable).
    """
    from engine.runtime.environment import EnvSettingError, cache_folder

    try:
        env = cache_folder()
    except EnvSettingError as exc:
        raise VideoError(str(exc)) from None
    d = env or Path.home() / ".cache" / "lowlight"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VideoError(f"cannot create the cache folder {d} ({exc.strerror or exc}); set "
                         "LOWLIGHT_CACHE to a writable folder") from None
    return d


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return x / max(width - 1, 1), y / max(height - 1, 1)


def _room(i: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Linear-light radiance (float32 (H, W, 3), 0..1) of the room at frame ``i``."""
    h, w = x.shape
    wall = np.stack([0.05 + 0.02 * x, 0.045 + 0.015 * x, 0.04 + 0.01 * y], -1)
    img = np.where((y > 0.62)[..., None], np.array([0.06, 0.045, 0.03], np.float32), wall)
    # wallpaper stripes give the enhancers texture to bring out
    img = img * (1.0 + 0.15 * (np.sin(x * 90.0) > 0.6)[..., None])
    table = (y > 0.55) & (y < 0.6) & (x > 0.15) & (x < 0.85)
    img[table] = (0.09, 0.06, 0.04)
    # the ball rolls along the table and back
    t = i / DEMO_FPS
    bx = 0.2 + 0.6 * (0.5 - 0.5 * np.cos(t * 1.6))
    by = 0.55 - 0.06
    r2 = ((x - bx) * w) ** 2 + ((y - by) * h) ** 2
    ball = r2 < (0.06 * h) ** 2
    shade = np.clip(1.0 - r2 / (0.06 * h) ** 2, 0, 1)[..., None]
    img = np.where(ball[..., None], np.array([0.25, 0.08, 0.06], np.float32) * (0.5 + 0.5 * shade), img)
    # lamp: off → on over three frames, a warm pool of light from the top right
    on = float(np.clip((i - DEMO_LIGHT_FRAME + 1) / 3.0, 0.0, 1.0))
    lx, ly = 0.82, 0.15
    d2 = (x - lx) ** 2 * (w / h) ** 2 + (y - ly) ** 2
    pool = 1.0 + on * 2.5 * np.exp(-d2 / 0.18)[..., None] * np.array([1.0, 0.85, 0.6], np.float32)
    img = img * pool
    lamp = d2 < 0.0015
    img[lamp] = (0.08 + 0.9 * on, 0.07 + 0.8 * on, 0.05 + 0.5 * on)
    return img


def _street(i: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Linear-light radiance of the night street at frame ``i``."""
    h, w = x.shape
    sky = np.stack([0.01 + 0.01 * y, 0.012 + 0.012 * y, 0.03 + 0.02 * (1 - y)], -1)
    img = sky.astype(np.float32)
    building = (x > 0.1) & (x < 0.55) & (y > 0.15) & (y < 0.7)
    img[building] = (0.03, 0.028, 0.025)
    wx, wy = (x - 0.1) / 0.45 * 6, (y - 0.15) / 0.55 * 5
    window = building & ((wx % 1) > 0.3) & ((wx % 1) < 0.7) & ((wy % 1) > 0.3) & ((wy % 1) < 0.7)
    lit = window & (((np.floor(wx) * 7 + np.floor(wy) * 3) % 5) < 2)
    img[lit] = (0.35, 0.28, 0.12)
    road = y > 0.75
    img[road] = (0.02, 0.02, 0.022)
    # a car drives right to left with headlights
    t = (i - DEMO_CUT_FRAME) / DEMO_FPS
    cx = 1.1 - 0.5 * t
    car = (x > cx) & (x < cx + 0.22) & (y > 0.72) & (y < 0.82)
    img[car] = (0.05, 0.05, 0.07)
    d2 = ((x - cx) * w / h) ** 2 + (y - 0.77) ** 2
    img = img + (0.9 * np.exp(-d2 / 0.0006))[..., None] * np.array([1.0, 1.0, 0.85], np.float32)
    return img


def render_demo_frame(i: int, width: int = DEMO_WIDTH, height: int = DEMO_HEIGHT) -> np.ndarray:
    """Frame ``i`` of the demo clip (before compression) as uint8 (H, W, 3) RGB.

    Deterministic: the same ``i`` and size always give the same picture.
    """
    x, y = _grid(width, height)
    lin = _room(i, x, y) if i < DEMO_CUT_FRAME else _street(i, x, y)
    lin = lin * _EXPOSURE  # under-exposed, as a phone at night would record it
    rng = np.random.default_rng(1000 + i)
    # sensor noise in linear light: shot noise (signal dependent) + read noise
    sigma = np.sqrt(np.clip(lin, 0, 1) * 0.0004 + 0.00002).astype(np.float32)
    lin = lin + sigma * rng.standard_normal(lin.shape, dtype=np.float32)
    img = np.clip(lin, 0.0, 1.0) ** (1 / 2.2)  # camera gamma
    return np.ascontiguousarray((img * 255.0 + 0.5).astype(np.uint8))


def _tone(n: int, start: int) -> np.ndarray:
    t = (np.arange(start, start + n) / _AUDIO_RATE).astype(np.float64)
    return (0.03 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)[None, :]


def write_demo_clip(path: str | os.PathLike, *, frames: int = DEMO_FRAMES,
                    width: int = DEMO_WIDTH, height: int = DEMO_HEIGHT) -> Path:
    """Write the demo clip (video + AAC tone) to ``path`` atomically; return the path."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=DEMO_FPS)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"crf": "18", "preset": "fast"}
        vs.codec_context.time_base = Fraction(1, DEMO_FPS)
        aus = out.add_stream("aac", rate=_AUDIO_RATE, layout="mono")
        samples_per_frame = _AUDIO_RATE // DEMO_FPS
        a_done = 0
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(render_demo_frame(i, width, height), format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, DEMO_FPS)
            for p in vs.encode(vf):
                out.mux(p)
            af = av.AudioFrame.from_ndarray(_tone(samples_per_frame, a_done), format="flt",
                                            layout="mono")
            af.sample_rate = _AUDIO_RATE
            af.pts = a_done
            af.time_base = Fraction(1, _AUDIO_RATE)
            a_done += samples_per_frame
            for p in aus.encode(af):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        for p in aus.encode(None):
            out.mux(p)
    return path


def demo_clip_path() -> Path:
    """Path of the cached demo clip, generating it first if needed (a few seconds).

    Raises:
        VideoError: the cache folder cannot be written.
    """
    path = cache_dir() / f"demo-v{DEMO_VERSION}.mp4"
    with _lock:
        if not path.exists():
            try:
                write_demo_clip(path)
            except OSError as exc:
                raise VideoError(f"{path}: cannot write the demo clip ({exc.strerror or exc})") from exc
    return path
