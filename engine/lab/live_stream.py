"""A local live stream for tests and ``lowlight bench --live``: a generated dark clip,
encoded once to H.264 (and AAC when asked) and sent as MPEG-TS over UDP or TCP, paced in
real time like a camera.

The clip (:func:`engine.lab.bench.synthetic_clip`, ``loop_frames`` long) is encoded the way
a live encoder would (x264 ``zerolatency``: no B-frames, so pts = dts; a keyframe every
``gop`` frames, so a receiver that (re)connects starts decoding within that many frames)
and then looped with timestamps that keep rising. Sending only remuxes packets, so the
sender costs almost no CPU beside the receiver it feeds.

The muxer keeps the packets' timestamps (``mpegts_copyts``), so a receiver's raw pts (90 kHz)
equal the sender's; :meth:`StreamSender.sent_at` gives the wall time (``time.perf_counter``)
each video pts was sent: the "glass" moment of a glass-to-glass latency.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["EncodedClip", "encode_clip", "StreamSender", "free_port"]

#: MPEG-TS clock: 90 kHz
TS_TIME_BASE = Fraction(1, 90000)


def free_port(kind: str = "udp") -> int:
    """A port on 127.0.0.1 that is free right now (``kind``: ``"udp"`` or ``"tcp"``)."""
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


@dataclass
class _Packet:
    """One encoded packet of the loop: stream kind, payload, pts/dts in 90 kHz, keyframe."""

    kind: str
    data: bytes
    pts: int
    dts: int
    key: bool


@dataclass
class EncodedClip:
    """An encoded loop: packets (by dts), its duration in 90 kHz ticks, and the streams'
    parameters (size, fps, whether audio is present)."""

    packets: list[_Packet]
    duration: int
    width: int
    height: int
    fps: int
    audio: bool
    audio_extradata: bytes | None = None


def encode_clip(width: int, height: int, *, fps: int = 30, loop_frames: int = 60, gop: int = 15,
                audio: bool = False, seed: int = 0, crf: int = 23) -> EncodedClip:
    """Encode ``loop_frames`` frames of the generated dark clip (uint8 RGB, even
    ``width`` × ``height``) to H.264 (x264 veryfast zerolatency, CRF ``crf``, keyframe every
    ``gop`` frames) and, with ``audio``, a 440 Hz AAC tone (48 kHz mono) of the same length."""
    import av

    from engine.lab.bench import synthetic_clip

    frames = synthetic_clip(width, height, loop_frames, seed=seed)
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, fps)
    enc.framerate = Fraction(fps, 1)
    enc.options = {"preset": "veryfast", "tune": "zerolatency", "crf": str(crf),
                   "g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0"}
    ticks = 90000 // fps
    packets: list[_Packet] = []

    def keep(p: Any) -> None:
        packets.append(_Packet("video", bytes(p), int(p.pts) * ticks, int(p.dts) * ticks, p.is_keyframe))

    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
        vf.pts = i
        for p in enc.encode(vf):
            keep(p)
    for p in enc.encode(None):
        keep(p)
    duration = loop_frames * ticks
    extradata = None
    if audio:
        rate = 48000
        aenc = av.CodecContext.create("aac", "w")
        aenc.sample_rate, aenc.layout, aenc.format = rate, "mono", "fltp"
        aenc.time_base = Fraction(1, rate)
        total = int(round(loop_frames / fps * rate))
        t = np.arange(total, dtype=np.float32) / rate
        tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
        n = 1024
        for start in range(0, total - n + 1, n):
            af = av.AudioFrame.from_ndarray(tone[None, start:start + n], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
            for p in aenc.encode(af):
                packets.append(_Packet("audio", bytes(p), int(p.pts * 90000 // rate),
                                       int(p.dts * 90000 // rate), True))
        for p in aenc.encode(None):
            packets.append(_Packet("audio", bytes(p), int(p.pts * 90000 // rate),
                                   int(p.dts * 90000 // rate), True))
        # the encoder's priming packet has a negative pts, which would make the muxer shift
        # every timestamp; a looped tone does not miss it
        packets = [p for p in packets if p.kind == "video" or 0 <= p.dts < duration]
        extradata = bytes(aenc.extradata or b"")
    packets.sort(key=lambda p: (p.dts, p.kind != "video"))
    return EncodedClip(packets, duration, width, height, fps, audio, extradata)


class _SocketWriter:
    """A write-only file object over a connected socket (PyAV writes the stream into it)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def write(self, data: bytes) -> int:
        self.conn.sendall(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass


class StreamSender:
    """Send an :class:`EncodedClip` as a live MPEG-TS stream on a thread.

    Args:
        clip: what to send (looped).
        url: ``udp://127.0.0.1:PORT`` (datagrams to a receiver bound there) or
            ``tcp://127.0.0.1:PORT`` (this sender listens; one receiver connects).
        seconds: stop after this much stream time (None: until :meth:`stop`).
        start_pts: the first video pts (90 kHz): a restarted sender may continue the
            timeline of the last one or start again from 0 as a restarted camera does.

    ``start()`` returns at once; :attr:`packets_sent`, :meth:`sent_at` and :attr:`error`
    tell what happened. For TCP the stream starts when a receiver connects.
    """

    def __init__(self, clip: EncodedClip, url: str, *, seconds: float | None = None,
                 start_pts: int = 0) -> None:
        self.clip = clip
        self.url = url
        self.seconds = seconds
        self.start_pts = int(start_pts)
        self.packets_sent = 0
        self.error: BaseException | None = None
        self.next_pts = self.start_pts
        self._sent: dict[int, float] = {}
        self._stop = threading.Event()
        self._writer: _SocketWriter | None = None
        self._thread = threading.Thread(target=self._run, name="lowlight-stream-sender", daemon=True)
        self.started = threading.Event()  # set once the output is open (TCP: a receiver connected)
        self.listening = threading.Event()  # TCP: set once a receiver may connect

    def start(self) -> "StreamSender":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending and close the output (the receiver sees silence or a closed
        connection)."""
        self._stop.set()
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def frames_sent(self) -> int:
        """Video frames sent so far."""
        return len(self._sent)

    def sent_at(self, pts: int) -> float | None:
        """``time.perf_counter()`` when the video packet with raw pts ``pts`` (90 kHz) went
        out, or None."""
        return self._sent.get(int(pts))

    def _open(self) -> Any:
        import av

        opts = {"mpegts_copyts": "1", "max_delay": "0", "flush_packets": "1",
                "omit_video_pes_length": "0"}
        if self.url.startswith("tcp://"):
            self._writer = self._accept()
            return av.open(self._writer, "w", format="mpegts", options=opts)
        url = self.url + ("&" if "?" in self.url else "?") + "pkt_size=1316"
        return av.open(url, "w", format="mpegts", options=opts)

    def _accept(self) -> "_SocketWriter":
        """Listen on the TCP address and wait for one receiver (polling :meth:`stop`)."""
        import socket

        host, _, port = self.url[len("tcp://"):].split("?")[0].rpartition(":")
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind((host or "127.0.0.1", int(port)))
            srv.listen(1)
            srv.settimeout(0.05)
            self.listening.set()
            while not self._stop.is_set():
                try:
                    conn, _ = srv.accept()
                except socket.timeout:
                    continue
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return _SocketWriter(conn)
            raise ConnectionAbortedError("stopped before a receiver connected")
        finally:
            srv.close()

    def _run(self) -> None:
        import av

        out = None
        try:
            out = self._open()
            vs = out.add_stream("h264", rate=self.clip.fps)
            vs.width, vs.height, vs.pix_fmt = self.clip.width, self.clip.height, "yuv420p"
            vs.time_base = TS_TIME_BASE
            streams = {"video": vs}
            if self.clip.audio:
                a = out.add_stream("aac", rate=48000)
                a.layout = "mono"
                a.codec_context.extradata = self.clip.audio_extradata  # raw AAC: the muxer writes ADTS from it
                a.time_base = TS_TIME_BASE
                streams["audio"] = a
            self.started.set()
            t0 = time.perf_counter()
            loop = 0
            limit = None if self.seconds is None else int(self.seconds * 90000)
            while not self._stop.is_set():
                shift = self.start_pts + loop * self.clip.duration
                for p in self.clip.packets:
                    if self._stop.is_set():
                        break
                    dts = p.dts + shift
                    if limit is not None and dts - self.start_pts >= limit:
                        self._stop.set()
                        break
                    due = t0 + (dts - self.start_pts) / 90000.0
                    while (wait := due - time.perf_counter()) > 0 and not self._stop.is_set():
                        time.sleep(min(wait, 0.05))
                    pkt = av.Packet(p.data)
                    pkt.stream = streams[p.kind]
                    pkt.pts, pkt.dts, pkt.time_base = p.pts + shift, dts, TS_TIME_BASE
                    if p.key and p.kind == "video":
                        pkt.is_keyframe = True
                    out.mux(pkt)
                    if p.kind == "video":
                        self._sent[p.pts + shift] = time.perf_counter()
                        self.next_pts = p.pts + shift + 90000 // self.clip.fps
                    self.packets_sent += 1
                loop += 1
        except BaseException as exc:  # a receiver that went away (TCP) ends the sender
            if not self._stop.is_set():
                self.error = exc
        finally:
            if out is not None:
                try:
                    out.close()
                except Exception:
                    pass
            if self._writer is not None:
                self._writer.close()
