"""The studio for daily use: an honest status line (labelled latency, drops over a recent
window, "paused" instead of a stale speed, a warning with what to do when playback falls
behind), a smaller preview and every-frame playback, opening a file keeps playing,
the About box (version, third-party licences), and the launcher's one-line message when
Qt's xcb platform plugin cannot load."""

from __future__ import annotations

import html

from app import cli_studio, status_line
from app.about import studio_version
from app.player import DROP_WINDOW_S, Player, PlayerStats
from conftest import FakeSource


def _stats(**kw) -> PlayerStats:
    base = dict(fps=25.0, latency_ms=42.4, dropped=7, runtime="numpy/cpu", runtime_b="",
                dropped_recent=3, shown_recent=240, playing=True, window_s=DROP_WINDOW_S)
    base.update(kw)
    return PlayerStats(**base)


def test_status_texts_are_labelled():
    s = _stats()
    assert status_line.latency_text(s) == "latency 42 ms"
    assert status_line.dropped_text(s) == "3 dropped (last 10 s)"
    assert status_line.fps_text(s, playing=True) == "25.0 fps"
    assert status_line.fps_text(s, playing=False) == "paused"
    assert status_line.fps_text(_stats(playing=False), playing=True) == "paused"


def test_falling_behind_needs_a_steady_share_of_drops():
    assert status_line.falling_behind(_stats()) is None  # 3 of 243: keeps up
    behind = status_line.falling_behind(_stats(dropped_recent=120, shown_recent=120))
    assert behind and "cannot keep up" in behind and "120 of 240" in behind
    assert "Preview size" in behind and "Every frame" in behind
    assert status_line.falling_behind(_stats(dropped_recent=120, shown_recent=120, window_s=2.0)) is None
    assert status_line.falling_behind(_stats(dropped_recent=120, shown_recent=120, playing=False)) is None


def test_window_status_line_paused_and_behind(qtbot, window):
    window.open_spec("fake-long")
    qtbot.waitUntil(lambda: window.last_bundle is not None, timeout=10000)
    window.player.play()
    qtbot.waitUntil(lambda: window.last_stats is not None and window.last_stats.playing, timeout=10000)
    qtbot.waitUntil(lambda: window.fps_label.text().endswith("fps"), timeout=10000)
    assert window.latency_label.text().startswith("latency ")
    assert window.dropped_label.text().endswith("dropped (last 10 s)")
    window.player.pause()
    qtbot.waitUntil(lambda: not window._playing, timeout=5000)
    assert window.fps_label.text() == "paused"  # not the last speed seen while playing
    window._playing = True
    window._on_stats(_stats(dropped_recent=200, shown_recent=100))
    assert window.falling_behind and window.banner.isVisible()
    assert "cannot keep up" in window.banner.label.text()


def test_recent_drops_are_counted_in_the_window(qtbot):
    """A source far faster than real time: the player drops to keep time and the recent
    count says so; every-frame mode shows each frame and drops none."""
    p = Player()
    seen: list = []
    stats: list[PlayerStats] = []
    p.frame_ready.connect(lambda b: (seen.append(b.index), p.frame_shown()))
    p.stats_changed.connect(stats.append)
    p.start()
    try:
        p.open_source(lambda: FakeSource(frames=100000, fps=2000.0), play=True)
        qtbot.waitUntil(lambda: any(s.playing and s.dropped_recent > 20 for s in stats), timeout=10000)
        s = [s for s in stats if s.playing][-1]
        assert s.dropped_recent <= s.dropped and s.window_s <= DROP_WINDOW_S
        p.set_every_frame(True)
        p.seek(0.0)
        qtbot.wait(300)
        start = len(seen)
        qtbot.waitUntil(lambda: len(seen) >= start + 40, timeout=20000)
        run = seen[start + 5:start + 40]
        assert run == list(range(run[0], run[0] + len(run)))  # consecutive: nothing dropped
    finally:
        p.stop(2000)


def test_smaller_preview_enhances_a_reduced_copy(qtbot):
    p = Player()
    got: list = []
    p.frame_ready.connect(lambda b: (got.append(b), p.frame_shown()))
    p.start()
    try:
        p.set_method("a", "gamma")
        p.open_source(lambda: FakeSource(w=64, h=48), play=False)
        qtbot.waitUntil(lambda: bool(got), timeout=10000)
        assert got[-1].enhanced.shape == (48, 64, 3)
        p.set_preview_scale(0.5)
        qtbot.waitUntil(lambda: got[-1].enhanced.shape == (24, 32, 3), timeout=10000)
        assert got[-1].original.shape == (24, 32, 3)
    finally:
        p.stop(2000)


def test_opening_a_file_keeps_playing_when_it_was_playing(qtbot, window):
    window.open_spec("fake-long", play=True)
    qtbot.waitUntil(lambda: window._playing and window.frames_shown > 3, timeout=10000)
    window.open_spec("fake-long")
    shown = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown > shown + 5, timeout=10000)
    assert window._playing
    window.player.pause()
    qtbot.waitUntil(lambda: not window._playing, timeout=5000)
    window.open_spec("fake-long")
    qtbot.wait(400)
    assert not window._playing


def test_about_names_version_and_third_party_licences(window):
    text = html.unescape(window.about_html())
    assert studio_version() != "unknown" and f"Lowlight Studio {studio_version()}" in text
    for name, licence in (("PySide6", "LGPLv3"), ("FFmpeg", "LGPL"), ("ONNX Runtime", "MIT"),
                          ("PyTorch", "BSD"), ("OpenCV", "Apache 2.0"), ("NumPy", "BSD")):
        assert name in text and licence in text


def test_missing_xcb_library_is_one_line_that_says_what_to_install():
    def missing(lib: str):
        def load(path: str) -> None:
            raise OSError(f"{lib}: cannot open shared object file: No such file or directory")
        return load

    env = {"DISPLAY": ":0"}
    line = cli_studio.platform_problem(env, load=missing("libxcb-cursor.so.0"), plugin="/x/libqxcb.so")
    assert line is not None and "\n" not in line
    assert "libxcb-cursor.so.0 is missing" in line and "apt install libxcb-cursor0" in line
    assert "libxcb-keysyms1" in line and "libxcb-icccm4" in line
    line = cli_studio.platform_problem(env, load=missing("libxcb-icccm.so.4"), plugin="/x/libqxcb.so")
    assert "libxcb-icccm4" in line
    # another platform, or a plugin that loads: nothing to say
    assert cli_studio.platform_problem({"QT_QPA_PLATFORM": "offscreen"}, load=missing("x.so.1"),
                                       plugin="/x/libqxcb.so") is None
    assert cli_studio.platform_problem(env, load=lambda p: None, plugin="/x/libqxcb.so") is None
    # PySide6's own plugin loads on this machine (the studio's tests run under xcb too)
    assert cli_studio.platform_problem(env) is None


def test_no_display_is_one_line_instead_of_a_qt_abort():
    line = cli_studio.platform_problem({}, load=lambda p: None, plugin="/x/libqxcb.so")
    assert line is not None and "\n" not in line and "no display" in line and "--cli" in line
    assert "no display" in cli_studio.platform_problem({"QT_QPA_PLATFORM": "xcb"}, load=lambda p: None,
                                                       plugin="/x/libqxcb.so")
    wayland = {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}
    assert cli_studio.platform_problem(wayland, load=lambda p: None, plugin="/x/libqxcb.so") is None


def test_launcher_prints_the_line_and_exits(monkeypatch, capsys):
    monkeypatch.setattr(cli_studio, "platform_problem", lambda: "lowlight studio: install libxcb-cursor0")
    from PySide6.QtWidgets import QApplication

    monkeypatch.setattr(QApplication, "instance", staticmethod(lambda: None))
    assert cli_studio.run_studio("demo") == 1
    assert capsys.readouterr().err.strip() == "lowlight studio: install libxcb-cursor0"
