"""Studio test setup: offscreen Qt, temporary settings, a fake source, and a check that
fails any test during which Qt warned about cross-thread object or widget access."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before any Qt import

import threading  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QtMsgType, qInstallMessageHandler  # noqa: E402

from engine.frame import Frame  # noqa: E402
from engine.video.base import Source, SourceInfo, VideoError  # noqa: E402

# Qt messages that mean an object or widget was used from the wrong thread.
THREAD_PATTERNS = (
    "thread", "qobject::", "qpixmap", "qbasictimer", "timers cannot", "cannot create children",
    "cannot send events", "qwidget", "qpainter::begin",
)
_recorded: list[str] = []


def _is_thread_warning(msg: str) -> bool:
    m = msg.lower()
    return any(p in m for p in THREAD_PATTERNS)


def _handler(mode: QtMsgType, _ctx: object, msg: str) -> None:
    if mode != QtMsgType.QtDebugMsg and _is_thread_warning(msg):
        _recorded.append(msg)


# Active whenever pytest-qt's per-test capture is not (between tests, at teardown).
qInstallMessageHandler(_handler)
QCoreApplication.setOrganizationName("LowlightTests")
QCoreApplication.setApplicationName("lowlight-tests")


@pytest.fixture(autouse=True)
def _no_cross_thread_warnings(request, qtlog):  # noqa: ANN001 - pytest-qt fixture
    _recorded.clear()
    yield
    if request.node.get_closest_marker("expect_thread_warning"):
        return
    bad = [r.message for r in qtlog.records if _is_thread_warning(r.message)] + list(_recorded)
    if bad:
        pytest.fail("Qt warned about cross-thread access:\n" + "\n".join(bad))


def pytest_configure(config) -> None:  # noqa: ANN001
    config.addinivalue_line("markers", "expect_thread_warning: the test provokes one on purpose")


@pytest.fixture(autouse=True)
def _temp_settings(tmp_path, monkeypatch) -> str:  # noqa: ANN001
    """Every test gets its own settings file (the user's settings are never touched)."""
    path = str(tmp_path / "settings.ini")
    monkeypatch.setenv("LOWLIGHT_SETTINGS", path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _temp_cache(tmp_path_factory) -> None:  # noqa: ANN001
    """The generated demo clip goes to a per-session cache, not ~/.cache."""
    os.environ["LOWLIGHT_CACHE"] = str(tmp_path_factory.mktemp("cache"))


class FakeSource(Source):
    """A deterministic synthetic clip: ``frames`` dark gradient frames of (h, w) at ``fps``.

    ``fail_at`` makes ``read`` raise :class:`VideoError` at that index (an unplugged camera).
    ``live`` makes it a non-seekable live source.
    """

    def __init__(self, frames: int = 10, w: int = 64, h: int = 48, fps: float = 25.0,
                 fail_at: int | None = None, live: bool = False, block: bool = False) -> None:
        self.frames, self.fps, self.fail_at, self.live, self.block = frames, fps, fail_at, live, block
        self._i = 0
        self._closed = threading.Event()
        self._info = SourceInfo("fake", w, h, fps, None if live else frames,
                                None if live else frames / fps, is_live=live, seekable=not live)
        y, x = np.mgrid[0:h, 0:w]
        self._base = (5 + 40 * x / max(1, w - 1))[..., None] * np.array([1.0, 0.8, 0.6])

    @property
    def info(self) -> SourceInfo:
        return self._info

    def read(self) -> Frame | None:
        if self._closed.is_set():
            return None
        if self.fail_at is not None and self._i >= self.fail_at:
            raise VideoError("fake camera was unplugged")
        if not self.live and self._i >= self.frames:
            return None
        if self.block and self._i > 0:
            self._closed.wait(30)  # a camera that hangs until closed
            return None
        img = np.clip(self._base + (self._i % 7), 0, 255).astype(np.uint8)
        f = Frame(np.ascontiguousarray(img), self._i, self._i / self.fps, "fake")
        self._i += 1
        return f

    def seek(self, seconds: float) -> None:
        if self.live:
            raise VideoError("fake cannot seek")
        self._i = max(0, min(self.frames, int(round(seconds * self.fps))))

    def close(self) -> None:
        self._closed.set()


@pytest.fixture
def fake_opener():
    """A ``spec -> Source`` opener: ``fake``, ``fake-live``, ``fake-broken``, ``fake-hang``;
    anything else goes to the engine."""

    def opener(spec: str) -> Source:
        if spec == "fake":
            return FakeSource()
        if spec == "fake-long":
            return FakeSource(frames=100000)
        if spec == "fake-live":
            return FakeSource(live=True)
        if spec == "fake-broken":
            return FakeSource(live=True, fail_at=3)
        if spec == "fake-hang":
            return FakeSource(live=True, block=True)
        from app.main_window import open_engine_source

        return open_engine_source(spec)

    return opener


def make_clip(path, frames: int = 10, w: int = 64, h: int = 48, fps: int = 10) -> str:
    """Write a tiny dark H.264 (or MPEG-4 when H.264 is missing) clip with PyAV."""
    import av

    path = str(path)
    with av.open(path, "w") as out:
        try:
            stream = out.add_stream("libx264", rate=fps)
        except Exception:  # noqa: BLE001 - encoder availability differs between builds
            stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        y, x = np.mgrid[0:h, 0:w]
        for i in range(frames):
            img = np.clip(8 + 30 * x / w + 2 * i, 0, 255).astype(np.uint8)
            rgb = np.ascontiguousarray(np.stack([img, img * 0.8, img * 0.6], -1).astype(np.uint8))
            for pkt in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return path


@pytest.fixture
def tiny_clip(tmp_path) -> str:  # noqa: ANN001
    return make_clip(tmp_path / "tiny.mp4")


_USABLE: list[str] | None = None


def usable_methods() -> list[str]:
    """Registered methods that can be created here (learned ones need their weights)."""
    global _USABLE
    if _USABLE is None:
        from engine import registry

        _USABLE = []
        for name in registry.names():
            try:
                registry.create(name)
            except Exception:  # noqa: BLE001 - e.g. weights not trained in this checkout
                continue
            _USABLE.append(name)
    return list(_USABLE)


def show_studio(qtbot, opener):  # noqa: ANN001, ANN201 - pytest-qt fixture; returns MainWindow
    """A studio window over the test's temporary settings, opening sources with ``opener``,
    registered with ``qtbot`` and shown at 900x600 pixels."""
    from app.main_window import MainWindow
    from app.settings import Settings

    w = MainWindow(Settings(), source_opener=opener)
    qtbot.addWidget(w)
    w.resize(900, 600)
    w.show()
    return w


@pytest.fixture
def window(qtbot, fake_opener):  # noqa: ANN001, ANN201
    """A shown studio window over :func:`fake_opener`, closed after the test."""
    w = show_studio(qtbot, fake_opener)
    yield w
    w.close()


def open_and_wait(qtbot, w, spec: str = "fake") -> None:  # noqa: ANN001
    """Open ``spec`` in window ``w`` and wait (10 s at most) for its first rendered bundle."""
    w.open_spec(spec)
    qtbot.waitUntil(lambda: w.last_bundle is not None, timeout=10000)


def fresh_bundle(qtbot, w, check=lambda b: True, timeout: int = 10000):  # noqa: ANN001, ANN201
    """Wait for a bundle rendered after now that satisfies ``check``; return it."""
    start = w.last_bundle.serial if w.last_bundle is not None else 0
    qtbot.waitUntil(lambda: w.last_bundle is not None and w.last_bundle.serial > start
                    and check(w.last_bundle), timeout=timeout)
    return w.last_bundle
