"""``lowlight studio [SOURCE] [--screenshot PNG --after N]``: open the studio.

Registered as a ``lowlight`` sub-command through the ``lowlight.commands`` entry point
(see pyproject.toml), so the engine's CLI never imports Qt.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

__all__ = ["COMMAND", "HELP", "register", "run", "run_studio", "main", "platform_problem",
           "binding_problem", "finish_process", "XCB_PACKAGES"]

COMMAND = "studio"
HELP = "open the studio (GUI) on a video file, folder, camera:N or the demo clip"
ORDER = 10
SCREENSHOT_TIMEOUT_S = 120.0
#: seconds the process waits at exit for workers still busy (a model loading, an export
#: honouring its cancel) before it leaves without them
EXIT_WAIT_S = 30.0

#: libraries Qt's xcb platform plugin needs that desktop installs often lack → Debian package
XCB_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1",
}
_XCB_USUAL = "libxcb-cursor0 libxcb-keysyms1 libxcb-icccm4"


def _xcb_plugin() -> Path | None:
    import PySide6

    p = Path(PySide6.__file__).resolve().parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return p if p.exists() else None


def platform_problem(environ: Mapping[str, str] | None = None,
                     load: Callable[[str], object] = ctypes.CDLL,
                     plugin: Path | None | bool = True) -> str | None:
    """One line saying what is wrong when Qt's xcb platform plugin cannot start here (Qt
    itself would abort with a long message): no ``DISPLAY``, or a library the plugin needs
    is missing (and what to install); None when it loads or Qt will not use it (another
    ``QT_QPA_PLATFORM``, a Wayland session, not Linux).

    ``load`` opens a shared library (raises OSError naming the missing dependency);
    ``plugin`` is the plugin's path (True: PySide6's own)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    wanted = env.get("QT_QPA_PLATFORM", "")
    if wanted and not wanted.startswith("xcb"):
        return None
    if not wanted and env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return None
    if not env.get("DISPLAY"):  # Qt would abort with a page about plugins and libraries
        return ("lowlight studio: no display to show the window on (DISPLAY is not set); without a "
                "display use lowlight demo --cli or lowlight enhance, or run it on a virtual one "
                "(xvfb-run lowlight studio)")
    path = _xcb_plugin() if plugin is True else plugin
    if not path:
        return None
    try:
        load(str(path))
    except OSError as exc:
        m = re.search(r"(lib[\w.+-]+?\.so(?:\.\d+)*)\s*:", str(exc))
        lib = m.group(1) if m else str(exc).split(":")[0]
        pkgs = " ".join(p for p in dict.fromkeys([XCB_PACKAGES.get(lib, ""), *_XCB_USUAL.split()]) if p)
        return (f"lowlight studio: Qt cannot load its xcb platform plugin ({lib} is missing); "
                f"install: sudo apt install {pkgs} (Debian/Ubuntu; without a display use "
                "lowlight demo --cli or lowlight enhance)")
    return None


def binding_problem(emit: Callable[[], object] | None = None, times: int = 64) -> str | None:
    """One line when the installed PySide6 loses a reference to ``True`` on every signal
    emission (6.12.0's ``SignalInstance.emit`` returns it without one): the studio emits
    several signals a frame, and once True's count reaches zero the interpreter aborts
    ("bool_dealloc"), during playback or at exit. None when the binding is sound.

    ``emit`` performs one emission (default: a signal of a probe object); the references a
    faulty binding took during the probe are given back."""
    if emit is None:
        from PySide6.QtCore import QObject, Signal

        class _Probe(QObject):
            ping = Signal()

        probe = _Probe()
        emit = probe.ping.emit
    before = sys.getrefcount(True)
    for _ in range(times):
        emit()
    lost = before - sys.getrefcount(True)
    for _ in range(max(0, lost)):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    if lost < times // 2:
        return None
    import PySide6

    v = PySide6.__version__
    return (f"lowlight studio: PySide6 {v} loses a reference to True on every signal, which aborts "
            f"the studio after a few thousand frames; install another release: "
            f"pip install 'PySide6-Essentials!={v}'")


def finish_process(status: int, timeout_s: float = EXIT_WAIT_S) -> int:
    """Wait for the studio's workers before the interpreter exits (see
    ``app.player.wait_for_workers``: a worker still running Python while the interpreter
    tears down crashed the studio at exit) and return ``status``; a worker that has not
    ended after ``timeout_s`` seconds is left behind by ending the process at once."""
    from app.player import wait_for_workers

    if wait_for_workers(timeout_s):
        return status
    print(f"lowlight studio: a worker did not stop within {timeout_s:.0f} s; leaving without it",
          file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the studio's options and ``set_defaults(run=run)``."""
    from engine import registry

    parser.add_argument("source", nargs="?", default="demo",
                        help="video file, image folder, camera:N or 'demo' (default: demo)")
    parser.add_argument("--method", "-m", choices=registry.names(), default=None,
                        help="method A to start with (default: the last one used)")
    parser.add_argument("--view", choices=["enhanced", "original", "split", "side", "ab"], default=None,
                        help="view to start with (default: the last one used)")
    parser.add_argument("--size", default=None, metavar="WxH",
                        help="window size in pixels, e.g. 1280x800")
    parser.add_argument("--screenshot", metavar="PNG", default=None,
                        help="render --after frames, save a screenshot of the whole window to PNG, exit")
    parser.add_argument("--after", type=int, default=30, metavar="N",
                        help="frames to render before the screenshot (default: 30)")
    parser.add_argument("--queue", nargs="*", default=None, metavar="FILE",
                        help="show the queue panel (View > Queue, Ctrl+B), adding FILEs (videos or "
                             "folders) with method A; outputs go to --queue-output or the remembered folder")
    parser.add_argument("--queue-output", default=None, metavar="DIR",
                        help="output folder of the queue (remembered)")
    parser.set_defaults(run=run)


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit(f"lowlight studio: --size must look like 1280x800, got {text!r}") from None
    return max(320, w), max(240, h)


def run_studio(source: str = "demo", *, method: str | None = None, view: str | None = None,
               size: tuple[int, int] | None = None, screenshot: str | None = None,
               after: int = 30, queue: list[str] | None = None,
               queue_output: str | None = None) -> int:
    """Run the studio on ``source`` until the window closes; returns the exit status.

    With ``screenshot``, play ``after`` frames, save the whole window as PNG there and
    exit (status 1 when the source failed to show any frame). ``queue`` (a list, may be
    empty) shows the queue panel with those files added.
    """
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance()
    if app is None:
        problem = platform_problem() or binding_problem()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        app = QApplication(sys.argv[:1])
        app.setApplicationName("Lowlight Studio")
        app.setOrganizationName("Lowlight")
    win = MainWindow()
    if method:
        win.controls.set_method(method)
    if view:
        win.set_view(view)
    if size:
        win.resize(*size)
    if queue is not None:
        if queue_output:
            os.makedirs(queue_output, exist_ok=True)
            win.queue_panel.set_output_folder(os.path.abspath(queue_output))
        if queue and not win.queue_panel.output_folder:
            print("lowlight studio: --queue FILE needs --queue-output DIR (once; it is remembered)",
                  file=sys.stderr)
            return 2
        win.queue_dock.show()
        if queue:
            win.queue_panel.add_paths(queue)
    win.show()
    status = {"code": 0}
    if screenshot:
        done = {"saved": False}

        def shoot(ok: bool) -> None:
            if done["saved"]:
                return
            done["saved"] = True
            app.processEvents()
            shot = win.grab()  # while playing: the status line shows live figures
            win.player.pause()
            win.queue_panel.cancel()  # a screenshot run never leaves an export behind
            if not shot.save(screenshot, "PNG"):
                print(f"lowlight studio: could not write {screenshot}", file=sys.stderr)
                status["code"] = 1
            elif not ok:
                for msg in dict.fromkeys(win.errors or ["no frame was shown"]):
                    print(f"lowlight studio: {msg}", file=sys.stderr)
                print(f"screenshot (showing the problem) saved to {screenshot}", file=sys.stderr)
                status["code"] = 1
            else:
                print(f"screenshot saved to {screenshot}")
            win.close()

        def on_frame(_b: object) -> None:
            if win.frames_shown >= max(1, after):
                # let the last frame and the status line paint first
                QTimer.singleShot(50, lambda: shoot(True))

        win.frame_shown.connect(on_frame)
        win.player.error.connect(lambda _m: QTimer.singleShot(200, lambda: shoot(False))
                                 if win.last_bundle is None else None)
        QTimer.singleShot(int(SCREENSHOT_TIMEOUT_S * 1000), lambda: shoot(False))
    # open only once every handler is connected: a fast failure must not go unseen; it
    # plays at once (a paused first frame of a dark clip tells nothing)
    win.open_spec(source, play=True)
    if screenshot:
        win.player.set_loop(True)
        win.player.play()
    # a local loop that ends with the window (works under an existing QApplication too)
    loop = QEventLoop()
    win.closed.connect(loop.quit)
    loop.exec()
    win.deleteLater()
    return finish_process(status["code"])


def run(args: argparse.Namespace) -> int:
    return run_studio(args.source, method=args.method, view=args.view, size=_parse_size(args.size),
                      screenshot=args.screenshot, after=args.after, queue=args.queue,
                      queue_output=args.queue_output)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app`` entry: the studio command's own parser."""
    parser = argparse.ArgumentParser(prog="python -m app", description=HELP)
    register(parser)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)
