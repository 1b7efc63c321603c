"""``lowlight demo``: the README's main job.

With a display (``DISPLAY``, ``WAYLAND_DISPLAY`` or ``QT_QPA_PLATFORM`` set) it opens the
studio on the built-in demo clip. Without one it falls back to the command line: the demo
clip is enhanced with the default method through the engine's export function, with a
progress line, and the path of the result is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["COMMAND", "HELP", "register", "run", "has_display", "main"]

COMMAND = "demo"
HELP = "the main job: the studio on the demo clip (or, without a display, enhance it on the CLI)"
ORDER = 5


def has_display(env: dict[str, str] | None = None) -> bool:
    """True when a GUI can be shown: DISPLAY, WAYLAND_DISPLAY or QT_QPA_PLATFORM is set."""
    env = os.environ if env is None else env
    return any(env.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cli", action="store_true",
                        help="enhance on the command line even when a display is available")
    parser.add_argument("--output", "-o", default=None,
                        help="where the CLI fallback writes the enhanced clip "
                             "(default: out/lowlight-demo-<method>.mp4)")
    parser.add_argument("--method", "-m", default=None,
                        help="method for the CLI fallback (default: the first registered method "
                             "that is available here)")
    parser.set_defaults(run=run)


def default_method() -> str:
    """The first registered method that can be created here (learned methods need weights)."""
    from engine import registry

    errors = []
    for name in registry.names():
        try:
            registry.create(name)
        except Exception as exc:  # noqa: BLE001 - e.g. weights missing: try the next one
            errors.append(f"{name}: {exc}")
            continue
        return name
    raise RuntimeError("no enhancement method is available: " + "; ".join(errors))


def _figures(p: Any) -> dict[str, Any]:
    """Display figures from an :class:`engine.video.export.ExportProgress`: done, total,
    fraction (0..1 or None when the length is unknown), fps, eta_text, final."""
    from app.timecodes import format_eta

    done, total = int(p.frames_done), p.frames_total
    frac = p.fraction if p.fraction is not None else (min(1.0, done / total) if total else None)
    return {"done": done, "total": total, "fraction": frac, "fps": float(p.fps or 0.0),
            "eta_text": format_eta(p.eta_s), "final": bool(p.finished)}


class _ProgressLine:
    """Prints ``[#####.....]  42%  120/180 frames  35.1 fps  ETA 0:02`` on one line."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self._last = 0.0
        self._final_shown = False

    def __call__(self, p: Any) -> None:
        now = time.monotonic()
        fig = _figures(p)
        if self._final_shown or (now - self._last < 0.2 and not fig["final"]):
            return
        self._last = now
        self._final_shown = fig["final"]
        frac = fig["fraction"]
        bar = "#" * int(round(frac * 30)) if frac is not None else ""
        pct = f"{frac * 100:3.0f}%" if frac is not None else "  ?%"
        total = f"/{fig['total']}" if fig["total"] else ""
        eta = fig["eta_text"]
        self.stream.write(f"\r[{bar:<30}] {pct}  {fig['done']}{total} frames  "
                          f"{fig['fps']:.1f} fps  ETA {eta}   ")
        self.stream.flush()


def run_cli(output: str | None = None, method: str | None = None) -> int:
    """Enhance the demo clip to ``output`` with ``method``; print where it went."""
    from engine import registry
    from engine.video.export import ExportOptions, export_video

    name = method or default_method()
    desc = registry.get(name)
    # The default target is the demo's own result in the git-ignored out/ folder: a re-run
    # replaces it. A target the user names is never replaced.
    target = Path(output or Path("out") / f"lowlight-demo-{name}.mp4").resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"Enhancing the demo clip with {desc.title} → {target}")
    print("(generating the demo clip first if this is the first run)")
    cancel = threading.Event()
    try:
        export_video("demo", str(target), method=name, params=desc.default_params(),
                     options=ExportOptions(overwrite=output is None), progress=_ProgressLine(),
                     cancel=cancel)
    except KeyboardInterrupt:
        cancel.set()
        print("\ninterrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback
        print(f"\nlowlight demo: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
              file=sys.stderr)
        return 1
    print(f"\nDone: {target}")
    return 0


def run(args: argparse.Namespace) -> int:
    if has_display() and not args.cli:
        from app.cli_studio import run_studio

        return run_studio("demo")
    if not args.cli:
        print("No display found (DISPLAY / WAYLAND_DISPLAY / QT_QPA_PLATFORM unset): "
              "running the command-line demo instead of the studio.")
    return run_cli(args.output, args.method)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli_demo", description=HELP)
    register(parser)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
