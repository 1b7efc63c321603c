"""Network video sources: RTSP, HTTP(S) (MJPEG, HLS, MPEG-TS), and MPEG-TS over UDP or TCP,
read through PyAV (FFmpeg) with low-latency settings, reconnecting when the stream drops.

- :func:`is_stream_url` tells a stream address from a file name; :func:`redact_url` and
  :func:`redact_text` hide the credentials an address may carry (``user:password@`` and
  password-like query values), and every message this module makes goes through them.
- :func:`stream_options` gives the FFmpeg options for an address: no input buffering
  (``fflags=nobuffer``), a bounded probe (``probesize``, ``analyzeduration``), the RTSP
  transport, and, for MPEG-TS over UDP/TCP, packets handed to the decoder as they come
  (``noparse``: one PES packet is one picture, saving the frame or two the parser waits).
  PyAV's open and read timeouts bound every blocking call.
- :class:`NetworkSource` is a live :class:`~engine.video.base.Source`. When the stream
  drops (a read timeout, a closed connection, the end of a playlist) it says so through
  ``on_status`` and reconnects with back-off (0.25 s doubling to ``max_backoff``); reading
  resumes with the first picture of the new connection. A recording served over HTTP (a VOD
  playlist, a file: it has a duration) ends at its end instead. Frame times are seconds on the
  stream's own clock from the first frame, kept rising across reconnects (the wall-clock gap
  is added), so a recording stays in order. The first audio stream's packets are kept for a
  recording (:meth:`NetworkSource.take_audio`).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import numpy as np

from engine.frame import Frame
from engine.video.base import Source, SourceInfo, VideoError

__all__ = ["STREAM_SCHEMES", "is_stream_url", "redact_url", "redact_text", "stream_options",
           "split_password", "with_password", "StreamStatus", "NetworkSource"]

#: address schemes read as network streams
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https", "udp", "tcp", "srt", "rtmp")
#: query keys whose values are secrets (``?user=admin&password=...`` cameras)
_SECRET_KEYS = re.compile(r"(pass|pwd|secret|token|key|auth|sig|user|login|cred)", re.I)
_URL_IN_TEXT = re.compile(r"\b(?:%s)://[^\s'\"<>]+" % "|".join(STREAM_SCHEMES), re.I)


def is_stream_url(spec: object) -> bool:
    """True for a network stream address (``rtsp://``, ``http(s)://``, ``udp://``,
    ``tcp://``, ``srt://``, ``rtmp://``)."""
    if not isinstance(spec, str):
        return False
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


def redact_url(url: str) -> str:
    """``url`` with its credentials hidden: the user-info part (``user:password@``) becomes
    ``***@`` and the values of password-like query keys ``***``. Text that is not a URL comes
    back unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//[^/@\s]*@", "//***@", url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_KEYS.search(k) for k, _ in pairs):
            query = "&".join(f"{quote(k, safe='')}=" + ("***" if _SECRET_KEYS.search(k) else quote(v, safe=""))
                             for k, v in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """``text`` with every stream address in it passed through :func:`redact_url` (FFmpeg
    messages can quote the address they failed on)."""
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), str(text))


def split_password(url: str) -> tuple[str, str | None]:
    """(``url`` without the password of its user-info part, that password or None): what may
    be remembered, and what must not. ``rtsp://admin:pw@cam/x`` → (``rtsp://admin@cam/x``, ``pw``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None
    if parts.password is None or "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment)), \
        unquote(parts.netloc.rsplit("@", 1)[0].split(":", 1)[1])


def with_password(url: str, password: str | None) -> str:
    """``url`` with ``password`` put into its user-info part (``url`` unchanged when the
    password is empty or the URL names no user)."""
    if not password:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def stream_options(url: str, *, transport: str | None = None, timeout: float = 5.0,
                   parse: bool | None = None) -> dict[str, str]:
    """FFmpeg options (``av.open(..., options=)``) for reading ``url`` with low latency.

    Args:
        url: the stream address.
        transport: RTSP only: ``"tcp"`` (interleaved in the RTSP connection; the default,
            it passes firewalls and loses nothing) or ``"udp"``.
        timeout: seconds a socket may wait for data (FFmpeg's own timeouts; PyAV's read
            timeout bounds the rest).
        parse: run FFmpeg's parser over the packets (None: not for MPEG-TS over UDP/TCP,
            where one PES packet carries one picture, yes elsewhere).

    Returns:
        option name → value (strings).
    """
    scheme = _scheme(url)
    us = str(int(timeout * 1e6))
    if parse is None:
        parse = scheme not in ("udp", "tcp")
    opts = {"fflags": "nobuffer" + ("" if parse else "+noparse"), "probesize": "500000",
            "analyzeduration": "1000000", "max_delay": "0"}
    if scheme in ("rtsp", "rtsps"):
        t = (transport or "tcp").lower()
        if t not in ("tcp", "udp"):
            raise VideoError(f"RTSP transport must be tcp or udp, got {transport!r}")
        opts.update({"rtsp_transport": t, "timeout": us})
        if t == "udp":
            opts["reorder_queue_size"] = "0"  # no waiting for late RTP packets
    elif scheme == "udp":
        opts.update({"timeout": us, "overrun_nonfatal": "1", "fifo_size": "100000",
                     "buffer_size": str(4 << 20)})
    elif scheme == "tcp":
        opts.update({"timeout": us})
    elif scheme in ("http", "https"):
        opts.update({"timeout": us, "rw_timeout": us})
    return opts


@dataclass(frozen=True)
class StreamStatus:
    """What a network source is doing, for a status line or banner.

    Attributes:
        state: ``"connecting"``, ``"playing"``, ``"lost"`` (the stream dropped; a retry
            follows), ``"retrying"`` (waiting ``retry_in`` s before the next attempt) or
            ``"closed"``.
        url: the address, credentials hidden.
        message: one line for the user (credentials hidden).
        attempt: reconnect attempts since the stream dropped (0 while playing).
        retry_in: seconds until the next attempt (``"retrying"`` only).
        since: ``time.monotonic()`` when the stream dropped (``"lost"``/``"retrying"``), else None.
    """

    state: str
    url: str
    message: str
    attempt: int = 0
    retry_in: float = 0.0
    since: float | None = None


def _av():
    import av  # imported lazily: PyAV pulls in FFmpeg's libraries

    return av


def _message(exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return redact_text(str(msg).strip())


class NetworkSource(Source):
    """A live network stream through PyAV (see the module docstring).

    Args:
        url: ``rtsp://``, ``http(s)://`` (MJPEG, HLS, TS), ``udp://HOST:PORT`` (MPEG-TS
            datagrams received on PORT), ``tcp://HOST:PORT`` (connect and read MPEG-TS).
        transport: RTSP transport, ``"tcp"`` (default) or ``"udp"``.
        timeout: seconds without data before the stream counts as dropped; also the open
            timeout of each attempt.
        reconnect: retry after a drop (False: a drop raises :class:`VideoError`).
        max_backoff: longest wait between attempts, seconds (waits double from 0.25 s).
        give_up_after: seconds of failed attempts after which ``read`` raises (None: retry
            until closed).
        on_status: ``callback(StreamStatus)``, called from the reading thread on each change.
        options: extra FFmpeg options, added to :func:`stream_options`'s.
        open_factory: ``factory(url, options, timeout) -> container`` with PyAV's container
            API; tests pass a fake. Default ``av.open``.

    The constructor connects (raising :class:`VideoError` when the first attempt fails),
    so :attr:`info` holds the stream's size and rate. Frames are uint8 (H, W, 3) RGB with
    ``pts`` in seconds from the first frame; ``extra`` holds the raw ``pts``, its
    ``time_base`` and the ``arrival`` time (``time.perf_counter()`` when it was decoded).
    Counters: :attr:`decode_errors` (packets that did not decode), :attr:`lost_frames`
    (frames missing from the stream's timeline while connected), :attr:`reconnects`.
    """

    def __init__(self, url: str, *, transport: str | None = None, timeout: float = 3.0,
                 reconnect: bool = True, max_backoff: float = 1.0,
                 give_up_after: float | None = None,
                 on_status: Callable[[StreamStatus], None] | None = None,
                 options: dict[str, str] | None = None,
                 open_factory: Callable[[str, dict[str, str], float], Any] | None = None) -> None:
        if not is_stream_url(url):
            raise VideoError(f"{redact_url(str(url))}: not a stream address "
                             f"({', '.join(s + '://' for s in STREAM_SCHEMES)})")
        self.url = url
        self.safe_url = redact_url(url)
        self.transport = transport
        self.timeout = float(timeout)
        self.reconnect = reconnect
        self.max_backoff = max(0.25, float(max_backoff))
        self.give_up_after = give_up_after
        self.on_status = on_status
        self._extra_options = dict(options or {})
        self._parse: bool | None = None
        self._open = open_factory or self._av_open
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._container: Any = None
        self._index = 0
        self.decode_errors = 0
        self.lost_frames = 0
        self.reconnects = 0
        self.problems: list[str] = []
        self.status: StreamStatus | None = None
        self._audio: deque[tuple[float, Any]] = deque(maxlen=4096)
        self._audio_lock = threading.Lock()
        self.audio_stream: Any = None
        self._t_last: float | None = None  # seconds (our clock) of the last frame
        self._wall_last: float | None = None
        self._base: float | None = None  # stream seconds that map to ``_offset``
        self._offset = 0.0
        self._raw_last: float | None = None
        self._pending: list[Any] = []
        self._ended = False  # a finite stream (HTTP VOD, a file) reached its end
        self._finite = False  # the stream has a length (known once connected)
        self._lost_reason = "the stream dropped"
        self._conn_errors = self._conn_frames = 0  # decode errors and frames of this connection
        self._frame_s = 1.0 / 30.0
        self._report("connecting", f"{self.safe_url}: connecting")
        try:
            self._connect()
            first = self._next_frame(first=True)
        except VideoError:
            self._close_container()
            raise
        if first is None:
            self._close_container()
            raise VideoError(f"{self.safe_url}: the stream sent no picture within {self.timeout:g} s")
        self._peeked: Frame | None = first
        h, w = first.image.shape[:2]
        vs = self._container.streams.video[0]
        fps = float(vs.average_rate or vs.guessed_rate or vs.base_rate or 0) or 30.0
        if fps > 240:  # a 90 kHz tick mistaken for a frame rate
            fps = 30.0
        self._info = SourceInfo(self.safe_url, w, h, fps, None, None, is_live=True, seekable=False,
                                has_audio=self.audio_stream is not None,
                                codec=getattr(vs.codec_context, "name", "") or "")
        self._report("playing", f"{self.safe_url}: playing {w}x{h}")

    # ------------------------------------------------------------------ connection
    def _av_open(self, url: str, options: dict[str, str], timeout: float) -> Any:
        return _av().open(url, "r", options=options, timeout=(timeout, timeout))

    def _report(self, state: str, message: str, attempt: int = 0, retry_in: float = 0.0,
                since: float | None = None) -> None:
        self.status = StreamStatus(state, self.safe_url, redact_text(message), attempt, retry_in, since)
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:
                pass

    def _connect(self) -> None:
        """Open the stream (one attempt). Raises :class:`VideoError`."""
        opts = stream_options(self.url, transport=self.transport, timeout=self.timeout, parse=self._parse)
        if self._finite:  # nothing to skip to: keep the pictures read while probing
            flags = opts.pop("fflags").replace("nobuffer", "").strip("+")
            if flags:
                opts["fflags"] = flags
        opts.update(self._extra_options)
        try:
            c = self._open(self.url, opts, self.timeout)
        except Exception as exc:
            raise VideoError(f"{self.safe_url}: cannot open the stream ({_message(exc)})") from None
        try:
            if not c.streams.video:
                raise VideoError(f"{self.safe_url}: no video stream in it")
            vs = c.streams.video[0]
            cc = vs.codec_context
            if cc is None or not getattr(cc, "name", None):
                raise VideoError(f"{self.safe_url}: unsupported video codec")
            # slice threads decode a picture as soon as it arrives; frame threads would
            # hold one picture per thread back
            vs.thread_type = "SLICE"
            try:
                cc.flags |= int(_av().codec.context.Flags.low_delay)
            except Exception:
                pass
            self.audio_stream = c.streams.audio[0] if c.streams.audio else None
            streams = [vs] + ([self.audio_stream] if self.audio_stream is not None else [])
            self._packets = c.demux(*streams)
        except BaseException:
            try:
                c.close()
            except Exception:
                pass
            raise
        self._container = c
        self._video = vs
        # a recording served over HTTP (a VOD playlist, a file) has a length and a real end;
        # a live stream has neither
        finite = _scheme(self.url) in ("http", "https") and bool(c.duration and c.duration > 0)
        if finite and not self._finite:
            # opened as a live stream, which drops what probing read: open again from the start
            self._finite = True
            self._close_container()
            self._connect()
            return
        self._finite = finite
        rate = float(vs.average_rate or vs.guessed_rate or 0)
        self._frame_s = 1.0 / rate if 1.0 <= rate <= 240.0 else 1.0 / 30.0  # nominal frame time
        self._pending = []
        self._base = None  # the next frame starts this connection's timeline
        self._raw_last = None
        self._conn_errors = 0
        self._conn_frames = 0

    def _close_container(self) -> None:
        c, self._container = self._container, None
        if c is not None:
            try:
                c.close()
            except Exception:
                pass

    # ------------------------------------------------------------------ decoding
    def _stream_seconds(self, pts: int | None, tb: Fraction | None) -> float | None:
        if pts is None or not tb:
            return None
        return float(pts * tb)

    def _clock(self, raw_s: float | None, now: float) -> float:
        """Our time for a picture at stream time ``raw_s`` (seconds), arriving at ``now``
        (monotonic): stream clock differences within a connection, the wall-clock gap
        across reconnects or timestamp jumps, always rising."""
        frame_s = self._frame_s
        if raw_s is None:
            t = (self._t_last + (now - self._wall_last)) if self._t_last is not None else 0.0
        else:
            jump = self._raw_last is not None and not (-1e-6 < raw_s - self._raw_last < 5.0)
            if self._base is None or jump:
                self._base = raw_s
                self._offset = 0.0 if self._t_last is None else \
                    self._t_last + max(frame_s, now - (self._wall_last or now))
            elif self._raw_last is not None:
                step = raw_s - self._raw_last
                if step > 1.5 * self._frame_s:  # pictures missing from the timeline
                    self.lost_frames += int(round(step / self._frame_s)) - 1
            self._raw_last = raw_s
            t = self._offset + (raw_s - self._base)
        if self._t_last is not None and t <= self._t_last:
            t = self._t_last + 1e-3
        self._t_last, self._wall_last = t, now
        return t

    def _next_frame(self, first: bool = False) -> Frame | None:
        """The next decoded picture of the current connection; None when it dropped."""
        av = _av()
        while not self._closed.is_set():
            if self._pending:
                f = self._pending.pop(0)
                now = time.monotonic()
                raw = self._stream_seconds(f.pts, f.time_base or self._video.time_base)
                t = self._clock(raw, now)
                img = np.ascontiguousarray(f.to_ndarray(format="rgb24"))
                frame = Frame(img, self._index, t, self.safe_url, None,
                              {"pts": f.pts, "time_base": f.time_base or self._video.time_base,
                               "arrival": time.perf_counter()})
                self._index += 1
                self._conn_frames += 1
                return frame
            try:
                packet = next(self._packets)
            except StopIteration:
                self._lost_reason = "the stream ended"
                self._ended = self._finite
                return None
            except (av.error.FFmpegError, OSError) as exc:
                # PyAV's read timeout surfaces as FFmpeg's "immediate exit requested"
                timed_out = isinstance(exc, getattr(av.error, "ExitError", ())) or "exit requested" in str(exc).lower()
                self._lost_reason = f"no data for {self.timeout:g} s" if timed_out else _message(exc)
                return None
            if packet.size == 0:
                continue
            if self.audio_stream is not None and packet.stream.index == self.audio_stream.index:
                self._keep_audio(packet)
                continue
            try:
                self._pending.extend(packet.decode())
            except (av.error.FFmpegError, ValueError) as exc:
                self.decode_errors += 1
                self._conn_errors += 1
                if self.decode_errors <= 5:
                    self.problems.append(f"packet not decoded near frame {self._index}: {_message(exc)}")
                if self._parse is None and self._conn_errors >= 3 and self._conn_frames < 30:
                    # pictures split across packets: let FFmpeg's parser join them
                    self._parse = True
                    self.problems.append("the stream splits pictures across packets; parsing them (adds latency)")
                    self._lost_reason = "reopening with the parser"
                    return None
        return None

    def _keep_audio(self, packet: Any) -> None:
        """Queue an audio packet with its time on our clock (seconds); packets before the
        first picture of the recording are dropped."""
        raw = self._stream_seconds(packet.pts, packet.time_base)
        if raw is None or self._base is None:
            return
        t = self._offset + (raw - self._base)
        if t < -1e-3:
            return
        with self._audio_lock:
            self._audio.append((t, packet))

    def take_audio(self) -> list[tuple[float, Any]]:
        """The audio packets received since the last call, as (seconds on the frames'
        clock, PyAV packet of :attr:`audio_stream`), oldest first."""
        with self._audio_lock:
            out = list(self._audio)
            self._audio.clear()
        return out

    # ------------------------------------------------------------------ Source API
    @property
    def info(self) -> SourceInfo:
        return self._info

    def read(self) -> Frame | None:
        """The next picture; while the stream is down, waits and reconnects (None only
        once closed). Raises :class:`VideoError` when reconnecting is off or gave up."""
        with self._lock:
            try:
                return self._read_locked()
            finally:
                if self._closed.is_set():
                    self._close_container()

    def _read_locked(self) -> Frame | None:
        if self._peeked is not None and not self._closed.is_set():
            f, self._peeked = self._peeked, None
            return f
        while not self._closed.is_set():
            if self._container is not None:
                frame = self._next_frame()
                if frame is not None:
                    return frame
                if self._closed.is_set() or self._ended:
                    return None
                self._close_container()
                self._reconnect(self._lost_reason)
            else:
                self._reconnect("not connected")
        return None

    def _reconnect(self, reason: str) -> None:
        """Report the drop and retry with back-off until connected or closed."""
        since = time.monotonic()
        self._report("lost", f"{self.safe_url}: connection lost ({reason}); reconnecting", since=since)
        if not self.reconnect:
            raise VideoError(f"{self.safe_url}: connection lost ({redact_text(reason)})")
        wait, attempt = 0.25, 0
        while not self._closed.is_set():
            attempt += 1
            self._report("retrying", f"{self.safe_url}: connection lost; retry {attempt} in {wait:g} s",
                         attempt, wait, since)
            if self._closed.wait(wait):
                return
            try:
                self._connect()
            except VideoError as exc:
                if self.give_up_after is not None and time.monotonic() - since >= self.give_up_after:
                    raise VideoError(f"{self.safe_url}: gave up reconnecting after "
                                     f"{time.monotonic() - since:.0f} s ({exc})") from None
                wait = min(self.max_backoff, wait * 2)
                continue
            self.reconnects += 1
            self._report("playing", f"{self.safe_url}: reconnected after {time.monotonic() - since:.1f} s")
            return

    def close(self) -> None:
        """Stop reading (any thread): a wait between attempts ends at once; a read blocked
        on the network ends within ``timeout``."""
        self._closed.set()
        if self._lock.acquire(timeout=0.05):
            try:
                self._close_container()
            finally:
                self._lock.release()
        if self.status is None or self.status.state != "closed":
            self._report("closed", f"{self.safe_url}: closed")
