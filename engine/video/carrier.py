"""Carry what an input file holds beside its video into an output container: every
audio stream, subtitle and data streams, chapters and container metadata, all cut to
the export's trim range.

Audio: each audio stream, in the input's order and with its language and title tags,
is stream-copied with ``copy`` when the output container accepts its codec (packet
accuracy at the trim points), else, and with ``aac``, re-encoded to AAC (sample
accuracy); ``none`` drops them all. An audio stream that cannot be added is named in a
note. Subtitle and data streams are copied when the output container accepts their
codec (a note says which were not).

The input is opened once. Subtitle and data packets are read in one pass when the
output is set up (they are few and must be on hand to interleave by time); the audio
streams are then read together as the video advances, from a seek back to the first
packet the first audio stream needs (the other streams' packets before the trim start
are skipped as they come).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["StreamCarrier"]

#: seconds of slack when comparing audio packet times with the trim points
_AUDIO_TIME_TOLERANCE = 1e-6
#: container tags that describe the input file itself, not its content
_OWN_FILE_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder", "creation_time")
#: audio stream tags carried to the output (what tells the tracks apart in a player)
_AUDIO_TAGS = ("language", "title")


def _start_seconds(stream: Any) -> float:
    st = stream.start_time
    return float(st * stream.time_base) if st is not None and st > 0 else 0.0


class _AudioTrack:
    """One carried audio stream: input and output stream, ``"copied"`` or ``"aac"``, the
    AAC resampler and sample count, and whether it is finished."""

    def __init__(self, a_in: Any, a_out: Any, mode: str, resampler: Any = None) -> None:
        self.a_in = a_in
        self.index = a_in.index  # kept: a closed input's stream objects are not readable
        self.a_out = a_out
        self.mode = mode
        self.resampler = resampler
        self.t0 = _start_seconds(a_in)
        self.samples = 0
        self.done = False


class StreamCarrier:
    """The streams of ``path`` other than its video, carried into an output container.

    Args:
        path: the input file. An input that cannot be opened carries nothing.
        audio: ``"copy"``, ``"aac"`` or ``"none"`` (see the module docstring).
        audio_bitrate: AAC bit rate in bit/s when re-encoding.
        start: trim start in seconds of the input; output time 0 is this instant.
        end: trim end in seconds of the input (None = the end).

    Use: :meth:`attach` once the output's video stream exists (before anything is
    muxed), then :meth:`pump` as the video advances, :meth:`finish` after the last video
    packet, and :meth:`close` (also on failure).
    """

    def __init__(self, path: str, *, audio: str = "copy", audio_bitrate: int = 160_000,
                 start: float = 0.0, end: float | None = None) -> None:
        import av

        self._av = av
        self.path = path
        self.audio = audio
        self.audio_bitrate = audio_bitrate
        self.start = float(start or 0.0)
        self.end = end
        #: the first audio stream's ``"copied"`` or ``"aac"``, or ``"absent"`` (no audio carried)
        self.audio_mode = "absent"
        #: what could not be carried, one line each
        self.notes: list[str] = []
        self._mux: Callable[[Any], None] | None = None
        self._tracks: dict[int, _AudioTrack] = {}  # by input stream index, input order
        self._a_in: Any = None  # the first carried audio stream: trim seeks follow it
        self._a_iter: Iterator[Any] = iter(())
        self._a_pending: Any = None
        self._a_done = True
        self._others: list[tuple[float, Any]] = []  # (output seconds, packet), by time
        try:
            self._inp: Any = av.open(path, "r")
        except Exception:
            self._inp = None

    # ------------------------------------------------------------------------ setup
    def attach(self, out: Any, mux: Callable[[Any], None]) -> None:
        """Add the carried streams to the PyAV output container ``out`` (after its video
        stream, so the audio streams are 1, 2, ...), copy the input's container tags that ``out``
        does not set already, and its chapters. ``mux`` writes one packet to ``out``."""
        self._mux = mux
        inp = self._inp
        if inp is None:
            return
        if self.audio != "none":
            for a_in in inp.streams.audio:
                self._add_audio(out, a_in)
        for k, v in inp.metadata.items():
            if k not in _OWN_FILE_TAGS and k not in out.metadata:
                out.metadata[k] = v
        self._copy_chapters(out)
        pairs = self._add_others(out)
        first_audio = self._read_others(pairs) if pairs else None
        if self._a_in is not None:
            self._position_audio(rewind=bool(pairs), first_needed=first_audio)

    def _add_audio(self, out: Any, a_in: Any) -> None:
        # the codec's canonical name (the decoder's name may differ, e.g. mp3float)
        name = a_in.codec_context.codec.canonical_name if a_in.codec_context else None
        resampler = None
        try:
            if self.audio == "copy" and name and name in out.supported_codecs:
                a_out = out.add_stream_from_template(a_in)
                mode = "copied"
            else:
                rate = a_in.codec_context.sample_rate or 48000
                layout = a_in.codec_context.layout.name if a_in.codec_context.layout else "stereo"
                if layout not in ("mono", "stereo"):
                    layout = "stereo"
                a_out = out.add_stream("aac", rate=rate, layout=layout)
                a_out.bit_rate = self.audio_bitrate
                resampler = self._av.AudioResampler(format="fltp", layout=layout, rate=rate)
                mode = "aac"
        except Exception as exc:  # an encoder or container that refuses this stream
            self.notes.append(f"audio stream {a_in.index} ({name or 'unknown codec'}) not "
                              f"carried ({exc})")
            return
        for k in _AUDIO_TAGS:
            if k in a_in.metadata:
                a_out.metadata[k] = a_in.metadata[k]
        if self._a_in is None:
            self._a_in = a_in
            self.audio_mode = mode
        self._tracks[a_in.index] = _AudioTrack(a_in, a_out, mode, resampler)
        self._a_done = False

    def _copy_chapters(self, out: Any) -> None:
        lo, hi = self.start, self.end
        chapters = []
        for ch in self._inp.chapters():
            tb = ch["time_base"] or Fraction(1, 1000)
            a, b = float(ch["start"] * tb), float(ch["end"] * tb)
            if (hi is not None and a >= hi) or b <= lo:
                continue
            a, b = max(a, lo) - lo, (min(b, hi) if hi is not None else b) - lo
            chapters.append({"id": len(chapters) + 1, "start": int(round(a / tb)),
                             "end": int(round(b / tb)), "time_base": tb,
                             "metadata": dict(ch["metadata"])})
        if chapters:
            out.set_chapters(chapters)

    def _add_others(self, out: Any) -> list[tuple[Any, Any]]:
        """Add an output stream for each subtitle and data stream ``out`` can hold;
        returns (input stream, output stream) pairs."""
        pairs = []
        for st in self._inp.streams:
            if st.type not in ("subtitle", "data"):
                continue
            name = st.codec_context.name if st.codec_context is not None else None
            label = f"{st.type} stream {st.index} ({name or 'unknown codec'})"
            if not name or name not in out.supported_codecs:
                self.notes.append(f"{label} not copied: {Path(out.name).suffix} cannot "
                                  "hold it (try .mkv)")
                continue
            try:
                out_st = out.add_stream_from_template(st)
            except Exception as exc:
                self.notes.append(f"{label} not copied ({exc})")
                continue
            for k, v in st.metadata.items():
                out_st.metadata[k] = v
            pairs.append((st, out_st))
        return pairs

    def _read_others(self, pairs: list[tuple[Any, Any]]) -> int | None:
        """Read the packets of the paired streams within the trim range (retimed to the
        output); returns the pts of the first packet of the first audio stream that the
        trim range needs (None when none is or no audio is carried)."""
        inp, a_in = self._inp, self._a_in
        t0 = float(inp.start_time) / 1e6 if inp.start_time and inp.start_time > 0 else 0.0
        lo, hi = self.start, self.end
        out_of = {a.index: b for a, b in pairs}
        first_audio = None
        streams = [p[0] for p in pairs] + ([a_in] if a_in is not None else [])
        for pkt in inp.demux(*streams):
            if pkt.pts is None or pkt.size == 0:
                continue
            if a_in is not None and pkt.stream.index == a_in.index:
                if first_audio is None and not self._before_start(pkt, self._tracks[a_in.index]):
                    first_audio = pkt.pts
                continue
            tb = pkt.time_base
            t = float(pkt.pts * tb) - t0
            if t < lo - 1e-6 or (hi is not None and t >= hi):
                continue
            shift = int(round((t0 + lo) / tb))
            pkt.pts -= shift
            if pkt.dts is not None:
                pkt.dts -= shift
            pkt.stream = out_of[pkt.stream.index]
            self._others.append((t - lo, pkt))
        self._others.sort(key=lambda e: e[0])
        return first_audio

    def _position_audio(self, *, rewind: bool, first_needed: int | None) -> None:
        """Point the audio reader at the packets to carry. After the subtitle/data pass
        the input is at its end: seek back to the first audio packet needed (a reader
        that starts earlier skips the same packets a fresh one does)."""
        inp, a_in = self._inp, self._a_in
        if rewind:
            if first_needed is None:
                return  # nothing in range: the reader stays at the end
            try:
                inp.seek(first_needed, stream=a_in, backward=True)
                it = inp.demux(*self._audio_inputs())
                first = next((p for p in it if p.pts is not None and p.size
                              and p.stream.index == a_in.index), None)
            except Exception:
                first = None
            if first is not None and first.pts <= first_needed and len(self._tracks) == 1:
                self._a_iter, self._a_pending = it, first
                return
            # the demuxer could not seek back exactly, or other audio streams' packets
            # were passed over looking for the first one's: read the audio afresh
            inp.close()
            inp = self._inp = self._av.open(self.path, "r")
            self._rebind(inp)
            a_in = self._a_in
        if self.start > 0:
            try:
                inp.seek(int(self.start / a_in.time_base), stream=a_in, backward=True)
            except Exception:
                pass
        self._a_iter = inp.demux(*self._audio_inputs())

    def _audio_inputs(self) -> list[Any]:
        return [t.a_in for t in self._tracks.values()]

    def _rebind(self, inp: Any) -> None:
        """Point the tracks at the same streams of a freshly opened input."""
        by_index = {st.index: st for st in inp.streams}
        for t in self._tracks.values():
            t.a_in = by_index[t.index]
        self._a_in = next(iter(self._tracks.values())).a_in

    def _before_start(self, pkt: Any, track: _AudioTrack) -> bool:
        """True for an audio packet that ends before the trim start."""
        tb = track.a_in.time_base
        t_src = float(pkt.pts * tb) - track.t0
        dur = float(pkt.duration * tb) if pkt.duration else 0.0
        return self.start > 0 and t_src + dur <= self.start + _AUDIO_TIME_TOLERANCE

    # ------------------------------------------------------------------------ muxing
    def pump(self, until: float | None) -> None:
        """Mux the carried packets up to ``until`` seconds of output time (None = all)."""
        self._pump_audio(until)
        self._pump_others(until)

    def finish(self) -> None:
        """Mux everything left (after the last video packet) and flush the AAC encoder."""
        self._pump_audio(None)
        self._finish_audio()
        self._pump_others(None)

    def close(self) -> None:
        """Close the input (the carried packets already muxed stay in the output)."""
        if self._inp is not None:
            try:
                self._inp.close()
            except Exception:
                pass
            self._inp = None

    def _pump_others(self, until: float | None) -> None:
        n = 0
        for t, pkt in self._others:
            if until is not None and t > until:
                break
            self._mux(pkt)
            n += 1
        if n:
            del self._others[:n]

    def _pump_audio(self, until: float | None) -> None:
        if self._a_done:
            return
        while True:
            pkt = self._a_pending
            if pkt is None:
                try:
                    pkt = next(self._a_iter)
                except (StopIteration, Exception):
                    self._finish_audio()
                    return
                if pkt.pts is None or pkt.size == 0:
                    if pkt.size == 0:
                        self._finish_audio()
                        return
                    continue
            track = self._tracks.get(pkt.stream.index)
            if track is None or track.done:
                continue
            tb = track.a_in.time_base
            t_src = float(pkt.pts * tb) - track.t0
            t_out = t_src - self.start
            if until is not None and t_out > until:
                self._a_pending = pkt
                return
            self._a_pending = None
            if self.end is not None and t_src >= self.end - _AUDIO_TIME_TOLERANCE:
                self._finish_track(track)
                if all(t.done for t in self._tracks.values()):
                    self._a_done = True
                    return
                continue
            if self._before_start(pkt, track):
                continue
            if track.mode == "copied":
                shift = int(round((track.t0 + self.start) / tb))
                pkt.pts -= shift
                if pkt.dts is not None:
                    pkt.dts -= shift
                if pkt.pts < 0 and self.start > 0:
                    continue  # overlaps the trim start
                pkt.stream = track.a_out
                self._mux(pkt)
            else:
                for fr in pkt.decode():
                    self._encode_audio(track, fr, t_src)

    def _encode_audio(self, track: _AudioTrack, fr: Any, t_src: float) -> None:
        rate = fr.sample_rate
        arr_start = t_src
        for rf in track.resampler.resample(fr):
            data = rf.to_ndarray()  # (channels, samples) fltp
            n = data.shape[1]
            lo = 0
            hi = n
            if self.start > 0 and arr_start < self.start:
                lo = min(n, int(round((self.start - arr_start) * rate)))
            if self.end is not None and arr_start + n / rate > self.end:
                hi = max(lo, int(round((self.end - arr_start) * rate)))
            arr_start += n / rate
            if hi <= lo:
                continue
            cut = np.ascontiguousarray(data[:, lo:hi])
            nf = self._av.AudioFrame.from_ndarray(cut, format="fltp", layout=rf.layout.name)
            nf.sample_rate = rate
            nf.pts = track.samples
            nf.time_base = Fraction(1, rate)
            track.samples += cut.shape[1]
            for p in track.a_out.encode(nf):
                self._mux(p)

    def _finish_track(self, track: _AudioTrack) -> None:
        if track.done:
            return
        track.done = True
        if track.mode == "aac":
            for p in track.a_out.encode(None):
                self._mux(p)

    def _finish_audio(self) -> None:
        if self._a_done:
            return
        self._a_done = True
        for track in self._tracks.values():
            self._finish_track(track)
