"""Memory a picture or video job needs, judged before any pixel is decoded.

A picture's size is read from its file header (:func:`image_size`: PNG, JPEG, WebP, BMP,
TIFF, PPM/PGM; a few dozen bytes, nothing decoded) and a video's from its stream
parameters; :func:`check_frame_memory` compares the job's estimated peak with the memory
it may use (:func:`engine.runtime.environment.memory_limit`: ``LOWLIGHT_MEMORY_LIMIT``,
else the kernel's MemAvailable) and refuses with one line naming both, so a 20000×20000
picture is an error message instead of a machine that swaps and then kills the process.

The estimates are peak resident memory per pixel above the idle process, measured with
the shipped methods (sci, zerodce, zerodce++, lime, clahe, gamma) on 2000×1500 and
4000×3000 stills and 1080p/2160p videos, rounded up: stills 63–95 B/px on the fast path
and up to 400 B/px on the reference path (zerodce's curve iterations at full
resolution); videos 170–220 B/px on the fast path (decoder and encoder frame buffers
and the pipeline's queues come on top of the frame's own processing), 389 B/px for
zerodce's reference path at 2160p.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

__all__ = ["MemoryLimitError", "STILL_FAST_BYTES_PER_PIXEL", "STILL_REFERENCE_BYTES_PER_PIXEL",
           "VIDEO_FAST_BYTES_PER_PIXEL", "VIDEO_REFERENCE_BYTES_PER_PIXEL", "image_size",
           "frame_bytes", "check_frame_memory", "fmt_bytes"]

STILL_FAST_BYTES_PER_PIXEL = 100
STILL_REFERENCE_BYTES_PER_PIXEL = 400
VIDEO_FAST_BYTES_PER_PIXEL = 250
VIDEO_REFERENCE_BYTES_PER_PIXEL = 450


class MemoryLimitError(ValueError):
    """A job would need more memory than it may use; one line naming the size, the
    estimate and the limit."""


def fmt_bytes(n: float) -> str:
    """``"23.4 GB"``, ``"512 MB"``, ``"1.4 MB"`` (binary units, as /proc/meminfo)."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    return f"{n / (1 << 20):.0f} MB" if n >= 10 << 20 else f"{n / (1 << 20):.1f} MB"


def _png(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return w, h
    return None


def _jpeg(f) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame marker (SOF0..SOF15 but DHT, JPG,
    DAC), walking the marker segments from the start of the file."""
    f.seek(2)
    while True:
        b = f.read(1)
        while b and b != b"\xff":
            b = f.read(1)
        while b == b"\xff":
            b = f.read(1)
        if not b:
            return None
        marker = b[0]
        if marker in (0x01,) or 0xD0 <= marker <= 0xD9:
            continue  # markers without a length
        seg = f.read(2)
        if len(seg) < 2:
            return None
        length = struct.unpack(">H", seg)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data = f.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return w, h
        f.seek(length - 2, os.SEEK_CUR)


def _webp(head: bytes) -> tuple[int, int] | None:
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    kind = head[12:16]
    if kind == b"VP8X":
        w = 1 + int.from_bytes(head[24:27], "little")
        h = 1 + int.from_bytes(head[27:30], "little")
        return w, h
    if kind == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _bmp(head: bytes) -> tuple[int, int] | None:
    if head[:2] != b"BM":
        return None
    size = struct.unpack("<I", head[14:18])[0]
    if size == 12:  # OS/2 core header
        w, h = struct.unpack("<HH", head[18:22])
        return w, h
    w, h = struct.unpack("<ii", head[18:26])
    return abs(w), abs(h)


def _tiff(f, head: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first image file directory."""
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or struct.unpack(order + "H", head[2:4])[0] != 42:
        return None
    f.seek(struct.unpack(order + "I", head[4:8])[0])
    count_raw = f.read(2)
    if len(count_raw) < 2:
        return None
    size: dict[int, int] = {}
    for _ in range(min(struct.unpack(order + "H", count_raw)[0], 4096)):
        entry = f.read(12)
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            fmt = order + ("H" if kind == 3 else "I")
            size[tag] = struct.unpack(fmt, entry[8:10] if kind == 3 else entry[8:12])[0]
    return (size[256], size[257]) if len(size) == 2 else None


def _pnm(f, head: bytes) -> tuple[int, int] | None:
    if head[:1] != b"P" or head[1:2] not in b"123456":
        return None
    f.seek(2)
    numbers: list[int] = []
    token = b""
    while len(numbers) < 2:
        c = f.read(1)
        if not c:
            return None
        if c == b"#":
            f.readline()
        elif c.isdigit():
            token += c
        elif token:
            numbers.append(int(token))
            token = b""
    return numbers[0], numbers[1]


def image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) in pixels from a picture file's header, without decoding it;
    None for a format not recognised here or a header that cannot be read (the decoder
    then judges the file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            for parse in (_png, _webp, _bmp):
                got = parse(head)
                if got:
                    return got
            if head[:3] == b"\xff\xd8\xff":
                return _jpeg(f)
            return _tiff(f, head) or _pnm(f, head)
    except (OSError, struct.error, ValueError, IndexError):
        return None


def frame_bytes(width: int, height: int, *, video: bool, reference: bool) -> int:
    """Estimated peak memory in bytes to enhance ``width`` × ``height`` frames: one still
    picture, or a video (decoder, pipeline queues and encoder included)."""
    if video:
        per_pixel = VIDEO_REFERENCE_BYTES_PER_PIXEL if reference else VIDEO_FAST_BYTES_PER_PIXEL
    else:
        per_pixel = STILL_REFERENCE_BYTES_PER_PIXEL if reference else STILL_FAST_BYTES_PER_PIXEL
    return int(width) * int(height) * per_pixel


def check_frame_memory(name: str | os.PathLike[str], width: int, height: int, *, video: bool,
                       reference: bool = False) -> None:
    """Refuse a job whose frames need more memory than it may use.

    Args:
        name: the input, as the message names it.
        width, height: frame size in pixels.
        video: a video (True) or one still picture (False).
        reference: the full-resolution reference path.

    Raises:
        MemoryLimitError: one line: the size, the estimate, the limit and how to change it.
        engine.runtime.environment.EnvSettingError: ``LOWLIGHT_MEMORY_LIMIT`` is unusable.
    """
    from engine.runtime.environment import memory_limit, setting

    limit = memory_limit()
    if limit is None:
        return
    need = frame_bytes(width, height, video=video, reference=reference)
    if need <= limit:
        return
    what = f"{width}x{height} video frames need" if video else f"a {width}x{height} picture needs"
    if setting("LOWLIGHT_MEMORY_LIMIT") is not None:
        allowed = f"the {fmt_bytes(limit)} set by LOWLIGHT_MEMORY_LIMIT"
    else:
        allowed = f"the {fmt_bytes(limit)} of memory available (MemAvailable)"
    raise MemoryLimitError(
        f"{Path(name)}: {what} about {fmt_bytes(need)} to enhance"
        f"{' on the reference path' if reference else ''}, more than {allowed}; scale it down "
        "first, or set LOWLIGHT_MEMORY_LIMIT (a size such as 64G, or off)")
