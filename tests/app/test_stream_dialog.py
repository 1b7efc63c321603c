"""File ▸ Open stream…, the stream's banner and Record, against a local UDP MPEG-TS stream
the test sends itself (engine.lab.live_stream)."""

from __future__ import annotations

import time

import av
import pytest
from PySide6.QtWidgets import QDialog

from app.main_window import MainWindow
from app.settings import Settings
from app.stream_dialog import StreamDialog, recent_urls, remember_url
from engine.lab.live_stream import StreamSender, encode_clip, free_port


@pytest.fixture(scope="module")
def clip():
    return encode_clip(160, 96, fps=30, loop_frames=30, gop=15)


@pytest.fixture
def window(qtbot):
    w = MainWindow(Settings())
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def test_recent_urls_never_keep_the_password(qtbot, tmp_path):
    s = Settings()
    assert remember_url(s, "rtsp://admin:hunter2@cam:554/live") == "rtsp://admin@cam:554/live"
    remember_url(s, "http://cam/v.cgi?user=admin&pwd=hunter2")
    remember_url(s, "udp://127.0.0.1:5000")
    assert recent_urls(s)[0] == "udp://127.0.0.1:5000"
    assert recent_urls(s)[1] == "http://cam/v.cgi?user=***&pwd=***"
    s.sync()
    with open(s.qs.fileName(), encoding="utf-8", errors="replace") as f:
        assert "hunter2" not in f.read()


def test_dialog_puts_the_password_back_in_memory_only(qtbot):
    s = Settings()
    remember_url(s, "rtsp://admin:old@cam/live")
    dlg = StreamDialog(s)
    qtbot.addWidget(dlg)
    assert dlg.address.itemText(0) == "rtsp://admin@cam/live"
    dlg.address.setCurrentText("rtsp://admin@cam/live")
    dlg.password.setText("s3cret")
    dlg.transport_box.setCurrentText("UDP")
    dlg._accept()
    assert dlg.result() == QDialog.DialogCode.Accepted
    assert dlg.url == "rtsp://admin:s3cret@cam/live" and dlg.transport == "udp"
    assert all("s3cret" not in u for u in recent_urls(s))


def test_dialog_refuses_a_file_name(qtbot):
    dlg = StreamDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.address.setCurrentText("clip.mp4")
    dlg._accept()
    assert dlg.url is None and "stream address" in dlg.message.text()


def test_menu_has_open_stream_and_record(window):
    texts = [a.text() for a in window.menuBar().actions()[0].menu().actions()]
    assert "Open &stream…" in texts and "&Record…" in texts


def test_open_a_stream_without_blocking_then_drop_and_resume(qtbot, window, clip):
    url = f"udp://127.0.0.1:{free_port()}"
    sender = StreamSender(clip, url).start()
    try:
        t0 = time.perf_counter()
        window.streams.open_url(url)
        assert time.perf_counter() - t0 < 0.2  # connecting happens in the player's thread
        qtbot.waitUntil(lambda: window.last_bundle is not None, timeout=10000)
        assert window.last_bundle.enhanced.shape == (96, 160, 3)
        sender.stop()
        qtbot.waitUntil(lambda: window.banner.isVisible() and "connection lost" in window.banner.label.text(),
                        timeout=10000)
        serial = window.last_bundle.serial
        qtbot.wait(300)  # the window stays responsive, the last picture stays up
        sender = StreamSender(clip, url).start()
        qtbot.waitUntil(lambda: not window.banner.isVisible(), timeout=10000)
        qtbot.waitUntil(lambda: window.last_bundle.serial > serial + 5, timeout=10000)
    finally:
        sender.stop()


def test_a_stream_address_given_as_a_spec_opens_as_a_stream(qtbot, window, clip):
    """``lowlight studio URL`` and drops reach open_spec: the address goes the stream's way
    (read off the GUI thread, the title without the password)."""
    port = free_port()
    sender = StreamSender(clip, f"udp://127.0.0.1:{port}").start()
    try:
        window.open_spec(f"udp://user:hunter2@127.0.0.1:{port}")
        assert "hunter2" not in window.windowTitle() and "hunter2" not in window.source_spec
        qtbot.waitUntil(lambda: window.last_bundle is not None, timeout=10000)
    finally:
        sender.stop()


def test_record_while_watching(qtbot, window, clip, tmp_path):
    url = f"udp://127.0.0.1:{free_port()}"
    sender = StreamSender(clip, url).start()
    out = tmp_path / "rec.mp4"
    done = []
    window.streams.recorder.finished.connect(lambda p, n, e: done.append((p, n, e)))
    try:
        window.streams.open_url(url)
        qtbot.waitUntil(lambda: window.last_bundle is not None, timeout=10000)
        window.streams.start_recording(str(out))
        qtbot.wait(1000)
        window.streams.stop_recording()
        qtbot.waitUntil(lambda: bool(done), timeout=5000)
    finally:
        sender.stop()
    path, frames, error = done[0]
    assert error == "" and frames >= 10
    with av.open(str(out)) as c:
        decoded = list(c.decode(video=0))
        assert len(decoded) == frames
        ts = [float(f.pts * f.time_base) for f in decoded]
        assert ts[0] == 0.0 and all(b > a for a, b in zip(ts, ts[1:]))
