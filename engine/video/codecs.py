"""The video encoders an export can use: the codec table, whether an encoder opens on this
machine, and the pixel format and options each encoder gets.

Pixel formats: 4:2:0 needs even sizes and the picture is never cropped, so odd-sized
H.264/H.265 frames are encoded as 4:4:4 (``yuv444p``); inputs of 10 bits or more give
10-bit output when the encoder takes it; FFV1 is lossless RGB (``bgr0``) at any size.

Names: users see an encoder by what it is (:func:`encoder_label`: "H.264 (NVIDIA GPU)",
"H.265 (software, x265)"), never by FFmpeg's name alone. :func:`probe_encoders` tries each
one once per process (about 20 ms in all on a machine without hardware encoders) and says
which open here; a hardware encoder that does not open falls back to software with a note
(:func:`fallback_note`) that the CLI prints and the studio shows.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from engine.video.base import VideoError

__all__ = ["CODECS", "HARDWARE_CODECS", "HEVC_CODECS", "FFV1_CONTAINERS", "FFV1_PIX_FMT",
           "available_codecs", "encoder_opens", "software_fallback", "choose_pix_fmt",
           "encoder_options", "decoded_pix_fmt", "EncoderInfo", "encoder_label", "probe_encoders",
           "fallback_note", "UNAVAILABLE"]

#: codec option → (FFmpeg encoder, default CRF or None)
CODECS: dict[str, tuple[str, int | None]] = {
    "h264": ("libx264", 20),
    "h265": ("libx265", 24),
    "ffv1": ("ffv1", None),
    # hardware encoders: used when PyAV's FFmpeg has them and they open on this machine,
    # else the export falls back to the software encoder of the same format (with a note)
    "h264_nvenc": ("h264_nvenc", 23),
    "hevc_nvenc": ("hevc_nvenc", 25),
    "h264_qsv": ("h264_qsv", 23),
    "hevc_qsv": ("hevc_qsv", 25),
    "h264_vaapi": ("h264_vaapi", 23),
    "hevc_vaapi": ("hevc_vaapi", 25),
}
HARDWARE_CODECS = tuple(k for k in CODECS if "_" in k)
#: the codec options that write HEVC (tagged ``hvc1`` in MP4/MOV, as Apple players expect)
HEVC_CODECS = ("h265", "hevc_nvenc", "hevc_qsv", "hevc_vaapi")
#: containers that can hold FFV1
FFV1_CONTAINERS = (".mkv", ".avi", ".nut")
#: FFV1's pixel format: lossless RGB (stored with a reversible transform)
FFV1_PIX_FMT = "bgr0"
_SOFTWARE_FALLBACK = {"h264": "h264", "hevc": "h265"}
_encoder_cache: dict[tuple[str, int, int, str], bool] = {}
_FORMAT_NAMES = {"h264": "H.264", "h265": "H.265", "hevc": "H.265"}
_HARDWARE_NAMES = {"nvenc": "NVIDIA GPU", "qsv": "Intel Quick Sync", "vaapi": "VA-API GPU"}
_SOFTWARE_NAMES = {"h264": "H.264 (software, x264)", "h265": "H.265 (software, x265)",
                   "ffv1": "FFV1 lossless (software)"}
#: why an encoder cannot be chosen (shown beside its name)
UNAVAILABLE = "unavailable on this machine"
# a frame size every encoder takes (NVENC refuses very small pictures)
_PROBE_SIZE = (640, 360)
_probe_lock = threading.Lock()
_probe_cache: list["EncoderInfo"] | None = None


@dataclass(frozen=True)
class EncoderInfo:
    """One ``codec`` choice as a user sees it.

    Attributes:
        key: the codec option (a key of :data:`CODECS`, e.g. ``"hevc_nvenc"``).
        encoder: FFmpeg's encoder name (``"hevc_nvenc"``, ``"libx264"``).
        label: what it is, e.g. ``"H.265 (NVIDIA GPU)"`` (:func:`encoder_label`).
        hardware: True for GPU / Quick Sync / VA-API encoders.
        available: True when the encoder opened on this machine.
        reason: why it is not available ("" when it is).
        default_crf: the codec's default quality (None for lossless).
    """

    key: str
    encoder: str
    label: str
    hardware: bool
    available: bool
    reason: str
    default_crf: int | None


def available_codecs() -> list[str]:
    """The ``codec`` choices whose encoder PyAV's FFmpeg has (hardware ones may still fail
    to open on a machine without the device; the export then falls back to software)."""
    import av

    return [k for k, (enc, _) in CODECS.items() if enc in av.codecs_available]


def encoder_opens(name: str, width: int, height: int, pix_fmt: str) -> bool:
    """True when FFmpeg's encoder ``name`` opens for this size (pixels) and pixel format
    here (probes a hardware encoder's device; cached)."""
    key = (name, width, height, pix_fmt)
    if key not in _encoder_cache:
        import av

        ok = False
        if name in av.codecs_available:
            try:
                cc = av.CodecContext.create(name, "w")
                cc.width, cc.height, cc.pix_fmt = width, height, pix_fmt
                cc.time_base = Fraction(1, 25)
                if name == "libx265":
                    cc.options = {"x265-params": "log-level=error"}  # no banner on stderr
                cc.open()
                ok = True
            except Exception:
                ok = False
        _encoder_cache[key] = ok
    return _encoder_cache[key]


def encoder_label(codec: str) -> str:
    """What the codec option ``codec`` is, in words: ``"h264"`` → ``"H.264 (software, x264)"``,
    ``"hevc_qsv"`` → ``"H.265 (Intel Quick Sync)"``; an unknown key is returned as given."""
    if codec in _SOFTWARE_NAMES:
        return _SOFTWARE_NAMES[codec]
    fmt, _, kind = codec.partition("_")
    if fmt in _FORMAT_NAMES and kind in _HARDWARE_NAMES:
        return f"{_FORMAT_NAMES[fmt]} ({_HARDWARE_NAMES[kind]})"
    return codec


def probe_encoders(refresh: bool = False) -> list[EncoderInfo]:
    """Every codec option of :data:`CODECS`, in table order, with whether its encoder opens
    here (a 640×360 picture in the encoder's usual pixel format). Probed once per process
    and cached (``refresh`` probes again); thread-safe, so a GUI may call it off its UI
    thread."""
    global _probe_cache
    with _probe_lock:
        if _probe_cache is not None and not refresh:
            return list(_probe_cache)
        import av

        w, h = _PROBE_SIZE
        found = []
        for key, (enc, crf) in CODECS.items():
            hardware = key in HARDWARE_CODECS
            if enc not in av.codecs_available:
                ok, reason = False, f"{UNAVAILABLE} (this FFmpeg build has no {enc})"
            else:
                pix = FFV1_PIX_FMT if key == "ffv1" else choose_pix_fmt(
                    key, w, h, requested=None, source_pix_fmt=None, target="probe")
                ok = encoder_opens(enc, w, h, pix)
                reason = "" if ok else (f"{UNAVAILABLE} (no device or driver)" if hardware
                                        else UNAVAILABLE)
            found.append(EncoderInfo(key, enc, encoder_label(key), hardware, ok, reason, crf))
        _probe_cache = found
        return list(found)


def fallback_note(requested: str, used: str) -> str:
    """The one line that says a hardware encoder was replaced: ``requested`` and ``used``
    are codec options (``"hevc_nvenc"``, ``"h265"``)."""
    return (f"{encoder_label(requested)} [{requested}] is {UNAVAILABLE} (no device or driver); "
            f"encoded with {encoder_label(used)} instead")


def software_fallback(codec: str) -> str:
    """The software codec option writing the same format as the hardware ``codec``
    (``"hevc_nvenc"`` → ``"h265"``)."""
    return _SOFTWARE_FALLBACK[codec.split("_")[0]]


def _is_deep(pix_fmt: str | None) -> bool:
    """True for a 10/12/16-bit pixel format name (``yuv420p10le``...)."""
    return bool(pix_fmt) and bool(re.search(r"(1[0246])(le|be)$", pix_fmt or ""))


def choose_pix_fmt(codec: str, width: int, height: int, *, requested: str | None,
                   source_pix_fmt: str | None, target: str) -> str:
    """The encoder pixel format for frames of ``width`` × ``height`` pixels: ``requested``
    when given (checked), else 4:2:0 (4:4:4 for odd sizes), 10-bit when ``source_pix_fmt``
    has 10 bits or more and the encoder takes it, ``nv12`` for hardware encoders that
    lack planar 4:2:0.

    Raises:
        VideoError: ``requested`` is a format the encoder refuses, or needs even sizes
            (the message names ``target``).
    """
    import av

    enc = CODECS[codec][0]
    odd = bool(width % 2 or height % 2)
    try:
        formats = {f.name for f in (av.codec.Codec(enc, "w").video_formats or ())}
    except Exception:
        formats = set()
    if requested:
        if formats and requested not in formats:
            raise VideoError(f"{target}: {enc} cannot encode pixel format {requested} "
                             f"(it takes {', '.join(sorted(formats))})")
        if odd and ("420" in requested or "422" in requested or requested.startswith("nv")):
            raise VideoError(f"{target}: {requested} needs even sizes, the frames are "
                             f"{width}x{height}; use a 4:4:4 format")
        return requested
    base = "yuv444p" if odd else "yuv420p"
    if _is_deep(source_pix_fmt) and base + "10le" in formats:
        return base + "10le"
    if formats and base not in formats and "nv12" in formats and not odd:
        return "nv12"  # hardware encoders
    return base


def encoder_options(codec: str, width: int, height: int, *, crf: int | None, preset: str,
                    deterministic: bool) -> dict[str, str]:
    """FFmpeg options of ``codec``'s encoder: its quality setting (``crf`` or the codec's
    default; x264/x265 also ``preset``), FFV1's version by frame size, and with
    ``deterministic`` x264 without macroblock-tree rate control."""
    if codec == "ffv1":
        # version 3 (slices, CRCs) cannot slice tiny pictures; version 1 takes any size
        return {"level": "3", "slicecrc": "1"} if min(width, height) >= 16 else {"level": "1"}
    q = int(crf if crf is not None else CODECS[codec][1])
    if "nvenc" in codec:
        opts = {"rc": "vbr", "cq": str(q)}
    elif "qsv" in codec:
        opts = {"global_quality": str(q)}
    elif "vaapi" in codec:
        opts = {"qp": str(q)}
    else:
        opts = {"crf": str(q), "preset": preset}
    if codec == "h265":
        opts["x265-params"] = "log-level=error"
    if deterministic and CODECS[codec][0] == "libx264":
        # x264's macroblock-tree rate control (on in every preset) gave different
        # bitstreams for the same frames within one process: which bytes it produced
        # depended on what earlier encodes had left in memory (about 1 segment encode
        # in 100 of a 64x48 clip, 1 in 5 cancel+resume runs of test_resume). Segments
        # must be bit-exact for a resume to equal an uninterrupted run.
        opts["x264-params"] = "mbtree=0"
    return opts


def decoded_pix_fmt(stream: Any) -> str | None:
    """The pixel format a PyAV video ``stream`` decodes to (None when unknown)."""
    try:
        return stream.codec_context.format.name
    except Exception:
        return None
