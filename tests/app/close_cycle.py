"""One studio life in a process of its own, for the exit stress test: open a 1080p clip,
play it in the A/B view, switch views, close the window like Alt+F4 and let the process
exit as ``lowlight studio`` does. Prints ``close_ms=<ms>`` on success; the parent checks
the exit status and looks for fatal errors on stderr.

Usage: python tests/app/close_cycle.py [--play-s S] [--size WxH] [--settings INI]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--play-s", type=float, default=1.5)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--settings", default=None)
    ap.add_argument("--method-a", default="sci")
    ap.add_argument("--method-b", default="zerodce")
    args = ap.parse_args()
    if args.settings:
        os.environ["LOWLIGHT_SETTINGS"] = args.settings
    w, h = (int(v) for v in args.size.split("x"))

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.cli_studio import finish_process
    from app.main_window import MainWindow
    from conftest import FakeSource

    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = MainWindow(source_opener=lambda spec: FakeSource(frames=100000, w=w, h=h, fps=30.0))
    win.controls.set_method(args.method_a)
    win.controls.set_method_b(args.method_b)
    win.set_view("ab")
    win.resize(1280, 800)
    win.show()
    win.open_spec("fake")
    win.player.play()
    result = {"close_ms": None}
    views = ["ab", "side", "split", "enhanced", "ab"]
    step = max(0.05, args.play_s / len(views))
    for i, mode in enumerate(views):
        QTimer.singleShot(int(1000 * step * i), lambda m=mode: win.set_view(m))

    def close() -> None:
        t0 = time.perf_counter()
        win.close()
        result["close_ms"] = (time.perf_counter() - t0) * 1e3

    QTimer.singleShot(int(1000 * args.play_s), close)
    loop = QEventLoop()
    win.closed.connect(loop.quit)
    loop.exec()
    shown = win.frames_shown
    win.deleteLater()
    print(f"close_ms={result['close_ms']:.1f} frames_shown={shown}", flush=True)
    return finish_process(0)  # as `lowlight studio` ends


if __name__ == "__main__":
    sys.exit(main())
