"""The ``lowlight`` command line: one sub-command per module in this package.

Each sub-command module defines ``COMMAND`` (its name), ``HELP`` (one line) and
``register(parser)`` which adds its options and sets ``parser.set_defaults(run=fn)``,
where ``fn(args) -> int`` returns the exit status.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from importlib.metadata import entry_points
from typing import Sequence

__all__ = ["main", "build_parser"]


def _command_modules() -> list:
    """Sub-command modules: this package's own, then plug-ins declared under the
    ``lowlight.commands`` entry-point group (the studio registers ``studio`` and ``demo``
    that way, so the engine never imports the Qt app)."""
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "options":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register") and hasattr(mod, "COMMAND"):
            mods.append(mod)
    for ep in entry_points(group="lowlight.commands"):
        try:
            mods.append(ep.load())
        except ImportError as exc:  # e.g. Qt libraries missing: the engine commands still work
            print(f"lowlight: command {ep.name!r} unavailable: {exc}", file=sys.stderr)
    return sorted(mods, key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lowlight",
        description="Lowlight Studio: real-time low-light image and video enhancement.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.COMMAND, help=mod.HELP, description=mod.HELP)
        mod.register(p)
    return parser


_HELP_FLAGS = ("-h", "--help")


def _help_last(argv: list[str]) -> list[str]:
    """``argv`` with a help flag moved to the end when a method is chosen too: argparse
    prints help where it meets the flag, and ``--method`` points the parameter options'
    help at the chosen method (:mod:`engine.cli.options`), so ``--help -m M`` shows M's
    values as ``-m M --help`` does."""
    picks_method = any(a in ("-m", "--method") or a.startswith("--method=") for a in argv)
    helps = [a for a in argv if a in _HELP_FLAGS]
    if not (helps and picks_method):
        return argv
    return [a for a in argv if a not in _HELP_FLAGS] + helps[:1]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lowlight`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(_help_last(list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from engine.runtime.environment import EnvSettingError, check as check_environment

    try:
        for line in check_environment():
            print(f"lowlight: warning: {line}", file=sys.stderr)
    except EnvSettingError as exc:
        print(f"lowlight: error: {exc}", file=sys.stderr)
        return 2
    check_args = getattr(args, "check_args", None)
    if check_args is not None:
        try:  # values the parser cannot judge alone (a range that depends on --method)
            check_args(args)
        except ValueError as exc:
            print(f"lowlight {args.command}: error: {exc}", file=sys.stderr)
            return 2
    from engine.cli import _signals

    # SIGTERM/SIGHUP take Ctrl-C's clean path; the status is 128 + the signal (130/143/129).
    # Only the engine's own commands: a plug-in (the Qt studio) runs an event loop, where the
    # exception would land in some slot instead of stopping the program.
    ours = getattr(args.run, "__module__", "").startswith(__name__ + ".")
    with _signals.handle_stop_signals(enabled=ours):
        try:
            status = int(args.run(args) or 0)
            if _signals.received() or status == 130:
                _signals.settle_threads()
            return _signals.exit_status() if _signals.received() else status
        except KeyboardInterrupt as exc:
            try:
                print(_signals.reason(exc), file=sys.stderr)
            except OSError:  # the terminal is gone (SIGHUP)
                pass
            _signals.settle_threads()
            return _signals.exit_status(exc)
        except BrokenPipeError:
            return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
