"""Network sources, live recording, the virtual camera and the live bench, each against a
stream the test starts itself (engine.lab.live_stream: MPEG-TS over UDP/TCP from a generated
clip, paced in real time; GStreamer's RTSP server in a system-Python subprocess, skipped
where it is not installed)."""

from __future__ import annotations

import _thread
import os
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import av
import numpy as np
import pytest

from engine.cli import main
from engine.lab.live_stream import StreamSender, encode_clip, free_port
from engine.video.base import VideoError
from engine.video.live import LiveRun, LiveWindow, is_live_spec, open_recording
from engine.video.network import (NetworkSource, is_stream_url, redact_text, redact_url,
                                  stream_options)
from engine.video.sources import open_source

W, H = 192, 108
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def clip():
    return encode_clip(W, H, fps=30, loop_frames=30, gop=15, audio=True)


def _sender(clip, kind: str, **kw) -> tuple[StreamSender, str]:
    url = f"{kind}://127.0.0.1:{free_port(kind)}"
    s = StreamSender(clip, url, **kw).start()
    if kind == "tcp":
        assert s.listening.wait(5)
    return s, url


def _decode(path: Path) -> tuple[list[np.ndarray], list[float], list[str]]:
    with av.open(str(path)) as c:
        kinds = [s.type for s in c.streams]
        frames = list(c.decode(video=0))
        return ([f.to_ndarray(format="rgb24") for f in frames],
                [float(f.pts * f.time_base) for f in frames], kinds)


# ------------------------------------------------------------------ addresses and secrets
def test_stream_urls_are_told_from_files():
    assert is_stream_url("udp://127.0.0.1:5000") and is_stream_url("RTSP://cam/x")
    assert is_stream_url("https://host/live.m3u8") and is_stream_url("tcp://h:1")
    assert not is_stream_url("clip.mp4") and not is_stream_url("/tmp/udp:5") and not is_stream_url(3)
    assert is_live_spec("camera:0") and is_live_spec(0) and is_live_spec("rtsp://x/y")
    assert not is_live_spec("clip.mp4") and not is_live_spec("demo")


@pytest.mark.parametrize("url, shown", [
    ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://***@10.0.0.5:554/stream1"),
    ("rtsp://admin@cam/x", "rtsp://***@cam/x"),
    ("http://cam/video.cgi?user=admin&password=hunter2&res=hd",
     "http://cam/video.cgi?user=***&password=***&res=hd"),
    ("http://h/a?token=hunter2", "http://h/a?token=***"),
    ("udp://127.0.0.1:5000", "udp://127.0.0.1:5000"),
    ("rtsp://u:p%40ss@h/x", "rtsp://***@h/x"),
    ("not a url", "not a url"),
])
def test_redact_url_hides_credentials(url, shown):
    assert redact_url(url) == shown


def test_redact_text_finds_addresses_in_messages():
    msg = "Server returned 401 for rtsp://admin:hunter2@cam/x (and 'http://u:pw@h/y?key=k1')"
    out = redact_text(msg)
    assert "hunter2" not in out and "pw@" not in out and "k1" not in out
    assert "rtsp://***@cam/x" in out and "http://***@h/y?key=***" in out


def test_failed_stream_messages_never_show_the_password():
    seen = []
    with pytest.raises(VideoError) as ei:
        NetworkSource(f"rtsp://admin:hunter2@127.0.0.1:{free_port('tcp')}/x", timeout=0.5,
                      on_status=seen.append)
    assert "hunter2" not in str(ei.value) and "admin" not in str(ei.value)
    assert "rtsp://***@127.0.0.1" in str(ei.value)
    assert seen and all("hunter2" not in s.message and "hunter2" not in s.url for s in seen)


def test_low_latency_options():
    o = stream_options("rtsp://h/x", timeout=2.0)
    assert o["rtsp_transport"] == "tcp" and o["timeout"] == "2000000"
    assert "nobuffer" in o["fflags"] and "noparse" not in o["fflags"]
    assert int(o["probesize"]) <= 1_000_000 and int(o["analyzeduration"]) <= 1_000_000
    assert stream_options("rtsp://h/x", transport="udp")["rtsp_transport"] == "udp"
    u = stream_options("udp://127.0.0.1:5000")
    assert u["fflags"] == "nobuffer+noparse" and u["overrun_nonfatal"] == "1"
    assert stream_options("udp://127.0.0.1:5000", parse=True)["fflags"] == "nobuffer"
    with pytest.raises(VideoError, match="tcp or udp"):
        stream_options("rtsp://h/x", transport="sctp")


def test_a_silent_address_is_a_clear_error_not_a_missing_file():
    with pytest.raises(VideoError) as ei:
        NetworkSource(f"udp://127.0.0.1:{free_port()}", timeout=0.5)
    assert "no such file" not in str(ei.value) and "udp://127.0.0.1" in str(ei.value)


# ------------------------------------------------------------------ reading
@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_reads_a_live_mpegts_stream(clip, kind):
    sender, url = _sender(clip, kind)
    try:
        src = open_source(url)
        assert isinstance(src, NetworkSource)
        info = src.info
        assert (info.width, info.height) == (W, H) and info.is_live and not info.seekable
        assert info.has_audio and info.codec == "h264" and abs(info.fps - 30) < 0.5
        frames = [src.read() for _ in range(20)]
        ts = [f.pts for f in frames]
        assert ts[0] == 0.0 and all(b > a for a, b in zip(ts, ts[1:]))
        assert abs((ts[-1] - ts[0]) / 19 - 1 / 30) < 2e-3  # the stream's own clock
        assert all(f.image.shape == (H, W, 3) and f.image.dtype == np.uint8 for f in frames)
        assert all(sender.sent_at(f.extra["pts"]) is not None for f in frames)
        assert src.take_audio()  # the AAC packets came with the pictures
        assert src.decode_errors == 0 and src.lost_frames == 0
        src.close()
        assert src.read() is None and src.status.state == "closed"
    finally:
        sender.stop()


@pytest.mark.parametrize("kind, restart_pts", [("tcp", None), ("udp", 0)])
def test_a_dropped_stream_is_reported_and_resumes(clip, kind, restart_pts):
    """The sender stops and comes back (UDP: from pts 0, as a restarted camera); the source
    says so and reading resumes with rising times."""
    sender, url = _sender(clip, kind)
    seen = []
    src = NetworkSource(url, timeout=0.6, on_status=lambda s: seen.append(s.state))
    try:
        for _ in range(10):
            last = src.read()
        start = sender.next_pts if restart_pts is None else restart_pts
        sender.stop()
        back = {}

        def come_back():
            time.sleep(0.8)
            back["sender"] = StreamSender(clip, url, start_pts=start).start()
            back["t"] = time.monotonic()

        threading.Thread(target=come_back, daemon=True).start()
        deadline = time.monotonic() + 15
        while src.reconnects == 0 and time.monotonic() < deadline:
            f = src.read()
            assert f.pts > last.pts
            last = f
        assert src.reconnects == 1
        after = src.read()
        assert after.pts > last.pts
        assert time.monotonic() - back["t"] < 3.0
        assert "lost" in seen and "retrying" in seen and seen[-1] == "playing"
    finally:
        src.close()
        sender.stop()
        if "sender" in back:
            back["sender"].stop()


def test_no_reconnect_raises_on_a_drop(clip):
    sender, url = _sender(clip, "tcp")
    src = NetworkSource(url, timeout=0.5, reconnect=False)
    try:
        src.read()
        sender.stop()
        with pytest.raises(VideoError, match="connection lost"):
            for _ in range(200):
                src.read()
    finally:
        src.close()


# ------------------------------------------------------------------ recording
def test_record_a_udp_stream_from_the_command_line(clip, tmp_path, capsys):
    sender, url = _sender(clip, "udp")
    out = tmp_path / "live.mp4"
    try:
        rc = main(["enhance", url, "-o", str(out), "--end", "2", "-m", "gamma", "-q"])
    finally:
        sender.stop()
    assert rc == 0, capsys.readouterr().err
    frames, ts, kinds = _decode(out)
    assert kinds == ["video", "audio"]
    assert len(frames) >= 40  # 60 sent in 2 s; a loaded machine may drop some
    assert ts[0] == 0.0 and ts[-1] < 2.0 and all(b > a for a, b in zip(ts, ts[1:]))
    # enhanced: far brighter than the dark clip that was sent
    assert np.mean(frames[len(frames) // 2]) > 2 * 25
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert 1.5 < float(a.duration * a.time_base) <= 2.1
    line = capsys.readouterr().out
    assert "frames" in line and "dropped" in line
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporaries left


def test_ctrl_c_finishes_the_recording(clip, tmp_path):
    """Ctrl-C (a KeyboardInterrupt in the main thread) ends a live run with a playable file."""
    sender, url = _sender(clip, "udp")
    out = tmp_path / "stopped.mp4"
    try:
        from engine.video.export import ExportOptions

        src = NetworkSource(url)
        opts = ExportOptions(preset="ultrafast", overwrite=True)
        run = LiveRun(src, None, make_sink=lambda w: open_recording(str(out), opts, w))
        threading.Timer(1.0, _thread.interrupt_main).start()
        # a Ctrl-C that never arrives must fail the test, not hang the suite
        guard = threading.Timer(30.0, run.stop)
        guard.start()
        t0 = time.monotonic()
        try:
            res = run.run()
        finally:
            guard.cancel()
    finally:
        sender.stop()
    assert time.monotonic() - t0 < 25.0, "the simulated Ctrl-C did not stop the run"
    assert res.stopped_by == "stop" and res.frames >= 15
    frames, ts, kinds = _decode(out)
    assert len(frames) == res.frames and "audio" in kinds


def test_record_a_camera_until_the_length(tmp_path):
    """A camera (a fake OpenCV capture at 30 fps) recorded for 1 s: its arrival clock."""
    from engine.video.export import ExportOptions
    from engine.video.sources import CameraSource

    class Capture:
        def __init__(self):
            self.n = 0

        def isOpened(self):  # noqa: N802 - OpenCV's API
            return True

        def read(self):
            time.sleep(1 / 30)
            self.n += 1
            return True, np.full((48, 64, 3), 20 + self.n % 10, np.uint8)

        def get(self, prop):
            return 30.0

        def set(self, prop, value):
            return True

        def release(self):
            pass

    cam = CameraSource(0, capture_factory=lambda d: Capture())
    out = tmp_path / "cam.mp4"
    opts = ExportOptions(preset="ultrafast")
    res = LiveRun(cam, None, make_sink=lambda w: open_recording(str(out), opts, w), end=1.0).run()
    assert res.stopped_by == "end" and 20 <= res.frames <= 31
    frames, ts, kinds = _decode(out)
    assert kinds == ["video"] and len(frames) == res.frames and ts[-1] < 1.0


def test_live_cli_refusals(tmp_path, capsys):
    url = "udp://127.0.0.1:9"
    assert main(["enhance", url, "clip.mp4", "-o", str(tmp_path)]) == 2
    assert main(["enhance", url, "-o", str(tmp_path / "a.mp4"), "--start", "3"]) == 2
    assert main(["enhance", url]) == 2
    assert main(["enhance", "clip.mp4", "--virtual-camera"]) == 2
    err = capsys.readouterr().err
    assert "only input" in err and "--start applies to files" in err and "-o OUT" in err
    assert "--virtual-camera takes a live source" in err


def test_live_window_ends_at_the_length():
    class Src:
        info = None

        def __init__(self):
            self.i = 0
            self.closed = False

        def read(self):
            from engine.frame import Frame

            self.i += 1
            return Frame(np.zeros((2, 2, 3), np.uint8), self.i, 10.0 + self.i * 0.1, "s")

        def close(self):
            self.closed = True

    s = Src()
    w = LiveWindow(s, end=0.5)
    ts = [f.pts for f in iter(w.read, None)]
    assert ts == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4]) and s.closed
    with pytest.raises(VideoError):
        LiveWindow(Src(), end=0)


# ------------------------------------------------------------------ virtual camera
class _FakeCamera:
    sent: list[np.ndarray] = []

    def __init__(self, width, height, fps, *, fmt=None, device=None, backend=None):
        self.args = (width, height, fps, fmt)
        self.device = device or "/dev/video42"
        self.closed = False

    def send(self, frame):
        assert frame.shape == (self.args[1], self.args[0], 3) and frame.flags.c_contiguous
        _FakeCamera.sent.append(frame.copy())

    def close(self):
        self.closed = True


def _fake_pyvirtualcam(camera=_FakeCamera):
    mod = types.ModuleType("pyvirtualcam")
    mod.Camera = camera
    mod.PixelFormat = types.SimpleNamespace(RGB="RGB", BGR="BGR")
    return mod


def test_no_virtual_camera_package_says_what_to_install(monkeypatch):
    from engine.video.virtualcam import VirtualCameraSink, VirtualCameraUnavailable

    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails
    with pytest.raises(VirtualCameraUnavailable) as ei:
        VirtualCameraSink(64, 48, 30)
    msg = str(ei.value)
    assert "\n" not in msg and "pyvirtualcam" in msg and "virtualcam]" in msg


@pytest.mark.parametrize("platform, words", [("linux", "v4l2loopback"), ("win32", "OBS"), ("darwin", "OBS")])
def test_no_virtual_camera_device_says_what_to_install(monkeypatch, platform, words):
    from engine.video import virtualcam

    def no_device(*a, **k):
        raise RuntimeError("'v4l2loopback' backend: no device found")

    monkeypatch.setitem(sys.modules, "pyvirtualcam", _fake_pyvirtualcam(no_device))
    monkeypatch.setattr(virtualcam.sys, "platform", platform)
    with pytest.raises(virtualcam.VirtualCameraUnavailable) as ei:
        virtualcam.VirtualCameraSink(64, 48, 30)
    assert words in str(ei.value) and "\n" not in str(ei.value)


def test_virtual_camera_on_this_machine_fails_cleanly_or_sends(clip, capsys):
    """Without a fake: pyvirtualcam may be missing or have no device here; either way one
    line and exit status 2 (no traceback); with a device the run succeeds."""
    sender, url = _sender(clip, "udp")
    try:
        rc = main(["enhance", url, "--virtual-camera", "--end", "0.5", "-m", "gamma", "-q"])
    finally:
        sender.stop()
    err = capsys.readouterr().err
    assert rc in (0, 2)
    if rc == 2:
        lines = [l for l in err.splitlines() if "error" in l]
        assert len(lines) == 1 and ("v4l2loopback" in lines[0] or "OBS" in lines[0])
        assert "Traceback" not in err


def test_virtual_camera_sends_the_enhanced_picture(clip, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", _fake_pyvirtualcam())
    _FakeCamera.sent = []
    sender, url = _sender(clip, "udp")
    out = tmp_path / "also.mp4"
    try:
        rc = main(["enhance", url, "--virtual-camera", "-o", str(out), "--end", "1", "-m", "gamma", "-q"])
    finally:
        sender.stop()
    assert rc == 0, capsys.readouterr().err
    frames, _, _ = _decode(out)
    assert len(_FakeCamera.sent) == len(frames) >= 15
    assert _FakeCamera.sent[0].shape == (H, W, 3) and np.mean(_FakeCamera.sent[-1]) > 50


def test_record_goes_on_when_the_virtual_camera_is_missing(clip, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    sender, url = _sender(clip, "udp")
    out = tmp_path / "rec.mp4"
    try:
        rc = main(["enhance", url, "--virtual-camera", "-o", str(out), "--end", "0.5", "-m", "gamma", "-q"])
    finally:
        sender.stop()
    err = capsys.readouterr().err
    assert rc == 0 and out.exists()
    assert "recording only" in err and "pyvirtualcam" in err


# ------------------------------------------------------------------ live bench
def test_live_bench_json(capsys):
    import json

    rc = main(["bench", "--live", "udp", "--sizes", "160x96", "--live-seconds", "1.5",
               "--methods", "gamma", "--json", "-q"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out)[0]
    assert rec["stage"] == "live" and rec["basis"] == "send" and (rec["width"], rec["height"]) == (160, 96)
    assert rec["frames_out"] >= 30 and 0 < rec["latency_p50_ms"] <= rec["latency_p95_ms"] < 1000
    for k in ("dropped_late", "dropped_late_enhance", "dropped_late_write", "dropped_decode", "lost_frames"):
        assert rec[k] >= 0
    assert rec["dropped_late"] == rec["dropped_late_enhance"] + rec["dropped_late_write"]


# ------------------------------------------------------------------ RTSP
def _rtsp_server(port: int) -> subprocess.Popen:
    py = shutil.which("python3", path="/usr/bin") or "/usr/bin/python3"
    if not os.path.exists(py):
        pytest.skip("no system python3 for the GStreamer RTSP server")
    p = subprocess.Popen([py, str(HERE / "rtsp_server.py"), str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        p.wait()
        pytest.skip(f"GStreamer RTSP server not available ({line or 'no output'}): apt-get install "
                    "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-ugly python3-gi")
    return p


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_stream(transport):
    port = free_port("tcp")
    server = _rtsp_server(port)
    try:
        src = NetworkSource(f"rtsp://127.0.0.1:{port}/live", transport=transport)
        frames = [src.read() for _ in range(10)]
        assert src.info.width == 320 and frames[-1].image.shape == (180, 320, 3)
        assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
        src.close()
    finally:
        server.kill()
        server.wait()


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_reconnects_within_3_s_of_the_servers_return(transport):
    port = free_port("tcp")
    server = _rtsp_server(port)
    src = NetworkSource(f"rtsp://127.0.0.1:{port}/live", transport=transport, timeout=1.0)
    try:
        for _ in range(5):
            src.read()
        server.kill()
        server.wait()
        time.sleep(1.5)
        server = _rtsp_server(port)
        back = time.monotonic()
        while src.reconnects == 0:
            src.read()
            assert time.monotonic() - back < 10
        took = time.monotonic() - back
        print(f"RTSP ({transport}) reconnect {took:.2f} s after the server's return")
        assert took < 3.0
    finally:
        src.close()
        server.kill()
        server.wait()


def test_split_and_put_back_the_password():
    from engine.video.network import split_password, with_password

    assert split_password("rtsp://admin:p%40ss@cam:554/x?a=1") == ("rtsp://admin@cam:554/x?a=1", "p@ss")
    assert split_password("udp://127.0.0.1:5000") == ("udp://127.0.0.1:5000", None)
    assert with_password("rtsp://admin@cam:554/x", "p@ss") == "rtsp://admin:p%40ss@cam:554/x"
    assert with_password("rtsp://cam/x", "pw") == "rtsp://cam/x"


def test_latest_frame_source_repeats_the_last_picture_while_the_stream_is_down():
    from engine.frame import Frame
    from engine.video.live import LatestFrameSource

    gate = threading.Event()

    class Slow:
        info = None

        def __init__(self):
            self.n = 0
            self.closed = False

        def read(self):
            if self.n >= 2:
                gate.wait(5)  # the stream stalls
                if self.closed:
                    return None
            self.n += 1
            return Frame(np.full((2, 2, 3), self.n, np.uint8), self.n, self.n / 30, "s")

        def close(self):
            self.closed = True
            gate.set()

    inner = Slow()
    src = LatestFrameSource(inner, hold=0.1)
    first = src.read()
    assert first is not None and not first.extra.get("repeat")
    t0 = time.monotonic()
    again = [src.read() for _ in range(3)]
    assert time.monotonic() - t0 < 1.0  # never stuck on the stalled stream
    assert again[-1].extra.get("repeat") and again[-1].index == 2
    src.close()
    assert inner.closed and src.read() is None


# ------------------------------------------------------------------ HTTP: MJPEG and HLS
class _HTTPServer:
    """A local HTTP server on a thread: ``handler`` class, served at 127.0.0.1:port."""

    def __init__(self, handler):
        from http.server import ThreadingHTTPServer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_mjpeg_stream():
    import cv2
    from http.server import BaseHTTPRequestHandler

    from engine.lab.bench import synthetic_clip

    jpegs = [cv2.imencode(".jpg", f[:, :, ::-1])[1].tobytes() for f in synthetic_clip(W, H, 10)]

    class MJPEG(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):  # noqa: N802 - http.server API
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            try:
                for i in range(300):
                    j = jpegs[i % len(jpegs)]
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(j)).encode() + b"\r\n\r\n" + j + b"\r\n")
                    self.wfile.flush()
                    time.sleep(1 / 30)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = _HTTPServer(MJPEG)
    try:
        src = open_source(f"http://127.0.0.1:{server.port}/video.mjpg")
        frames = [src.read() for _ in range(10)]
        assert src.info.codec == "mjpeg" and frames[-1].image.shape == (H, W, 3)
        assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
        src.close()
    finally:
        server.stop()


def test_http_hls_playlist_reads_to_its_end(clip, tmp_path):
    """A VOD HLS playlist (MPEG-TS segments) is read through and ends; it is not retried."""
    from fractions import Fraction
    from functools import partial
    from http.server import SimpleHTTPRequestHandler

    n = 45
    with av.open(str(tmp_path / "index.m3u8"), "w", format="hls",
                 options={"hls_time": "0.5", "hls_list_size": "0", "hls_playlist_type": "vod"}) as out:
        st = out.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.options = {"g": "15", "bf": "0"}
        for i in range(n):
            f = av.VideoFrame(W, H, "yuv420p")
            for p in f.planes:
                p.update(bytes([16 + i % 50]) * p.buffer_size)
            f.pts, f.time_base = i, Fraction(1, 30)
            for pkt in st.encode(f):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    server = _HTTPServer(partial(Quiet, directory=str(tmp_path)))
    try:
        seen = []
        src = NetworkSource(f"http://127.0.0.1:{server.port}/index.m3u8", on_status=seen.append)
        frames = list(src)
        assert len(frames) == n and all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
        assert src.reconnects == 0 and "lost" not in [s.state for s in seen]
        src.close()
    finally:
        server.stop()
