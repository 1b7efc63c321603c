"""Command-line options generated from the method registry (shared by sub-commands)."""

from __future__ import annotations

import argparse
import math
from collections import Counter
from typing import Any, Sequence

from engine import registry
from engine.params import EnhanceParams, ParamSpec
from engine.enhancer import MethodDescriptor

__all__ = ["add_method_options", "params_from_args", "check_param_args", "add_runtime_options",
           "fmt_value", "fmt_range", "param_help", "method_param_help", "method_summary",
           "finite_float", "seconds", "positive_seconds"]


def finite_float(text: str) -> float:
    """argparse type: a finite number (``nan`` and ``inf`` are refused)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return v


def seconds(text: str) -> float:
    """argparse type: a time in seconds, finite and ≥ 0."""
    v = finite_float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 s or more, not {text!r}")
    return v


def positive_seconds(text: str) -> float:
    """argparse type: a duration in seconds, finite and > 0."""
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 s, not {text!r}")
    return v


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--device`` (what was chosen is printed by the commands)."""
    parser.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                        help="runtime for learned methods (default: auto = ONNX Runtime when "
                             "the exported graph is present, else PyTorch)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="device (default: auto = CUDA when available)")
    parser.add_argument("--weights", default=None, help="use this checkpoint instead of the shipped one")


def fmt_value(v: float | int) -> str:
    """A parameter value as written in help: ``1``, ``0.5``, ``0.42`` (no trailing ``.0``)."""
    return str(v) if isinstance(v, int) else f"{v:g}"


def fmt_range(s: ParamSpec) -> str:
    """``"1..16, default 8"``."""
    return f"{fmt_value(s.minimum)}..{fmt_value(s.maximum)}, default {fmt_value(s.default)}"


def param_help(name: str, descs: Sequence[MethodDescriptor]) -> str | None:
    """One description of parameter ``name`` over the methods ``descs``: its meaning (the
    methods' common sentence, else :data:`engine.models.common_params.GENERAL_HELP`), the
    range and default most methods share, then only the methods that differ and those
    that ignore it. None when no method takes it."""
    from engine.models.common_params import GENERAL_HELP

    specs = [(d, d.spec(name)) for d in descs]
    have = [(d, s) for d, s in specs if s is not None]
    if not have:
        return None
    helps = {s.help for _, s in have}
    if len(helps) == 1:
        meaning = helps.pop()
    else:
        meaning = GENERAL_HELP.get(name, "its meaning depends on the method (`lowlight methods`)")
    common, _ = Counter(fmt_range(s) for _, s in have).most_common(1)[0]
    text = f"{meaning}. Range {common}"
    others = [f"{d.name}: {fmt_range(s)}" for d, s in have if fmt_range(s) != common]
    if others:
        text += " (" + "; ".join(others) + ")"
    unused = [d.name for d, s in specs if s is None]
    if unused:
        text += "; not used by " + ", ".join(unused)
    return text


def method_param_help(desc: MethodDescriptor, name: str) -> str:
    """Parameter ``name`` as method ``desc`` has it: its sentence, range and default."""
    s = desc.spec(name)
    if s is None:
        return f"not used by {desc.title}"
    return f"{s.help}. Range {fmt_range(s)}"


def method_summary(desc: MethodDescriptor) -> str:
    """One paragraph on a method: title, family, summary, paper, licence, runtimes."""
    runtimes = f"; runtimes {', '.join(desc.backends)}" if desc.family == "learned" else ""
    weights = f"; weights {desc.weights}" if desc.weights else ""
    return (f"{desc.name} = {desc.title} ({desc.family}): {desc.summary}. Paper: {desc.paper}. "
            f"Licence: {desc.licence}{weights}{runtimes}.")


def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help strings


class _MethodChoice(argparse.Action):
    """``--method``: stores the name and points the parameter options' help at that
    method, so ``-m M --help`` shows M's own ranges, defaults and meanings."""

    def __init__(self, *args: Any, param_actions: dict[str, argparse.Action] | None = None,
                 param_group: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.param_actions = param_actions if param_actions is not None else {}
        self.param_group = param_group

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        if values not in registry.names():  # "all"
            return
        desc = registry.get(values)
        for name, action in self.param_actions.items():
            action.help = _escape(method_param_help(desc, name))
        if self.param_group is not None:
            self.param_group.description = (f"{desc.title}'s values; unset options take its "
                                             "default. `lowlight methods` lists every method's.")
        parser.epilog = _escape(method_summary(desc))


def add_method_options(parser: argparse.ArgumentParser, *, default_method: str | None = "sci",
                       allow_all: bool = False) -> None:
    """``--method`` plus one option per parameter any registered method takes, then the
    runtime options.

    Each parameter option is described once (meaning, the range and default most methods
    share, the methods that differ or ignore it); ``-m M --help`` shows method M's own
    values instead, and ``lowlight methods`` lists them all.
    """
    descs = registry.descriptors()
    choices = [d.name for d in descs] + (["all"] if allow_all else [])
    default = f" (default {default_method})" if default_method else ""
    param_actions: dict[str, argparse.Action] = {}
    group = parser.add_argument_group(
        "method parameters",
        "Unset options take the method's default. `-m M --help` shows method M's ranges, "
        "defaults and meanings; `lowlight methods` lists every method's.")
    parser.add_argument("--method", "-m", default=default_method, choices=choices, action=_MethodChoice,
                        param_actions=param_actions, param_group=group,
                        help=_escape("enhancement method: " + "; ".join(f"{d.name} = {d.title}" for d in descs)
                                     + (" (all = every method)" if allow_all else "") + default))
    for name in EnhanceParams().as_dict():
        text = param_help(name, descs)
        if text is None:
            continue
        kind = int if all(s.is_int for d in descs if (s := d.spec(name))) else finite_float
        param_actions[name] = group.add_argument(f"--{name}", type=kind, default=None, help=_escape(text))
    add_runtime_options(parser)
    parser.set_defaults(check_args=check_param_args)


def check_param_args(args: argparse.Namespace) -> None:
    """Refuse parameter options outside the allowed range: the chosen method's range when
    ``args.method`` names one method, else (``all`` or none chosen) the range of at least
    one method that takes the parameter (each method then clamps it to its own range).

    Raises:
        ValueError: one line naming the option, the value, the method and the range.
    """
    chosen = getattr(args, "method", None)
    single = chosen in registry.names()
    descs = [registry.get(chosen)] if single else registry.descriptors()
    for name in EnhanceParams().as_dict():
        v = getattr(args, name, None)
        if v is None:
            continue
        if not math.isfinite(v):
            raise ValueError(f"--{name} must be a finite number, not {v}")
        specs = [(d, s) for d in descs if (s := d.spec(name)) is not None]
        if not specs or any(s.minimum <= v <= s.maximum for _, s in specs):
            continue
        if single:
            d, s = specs[0]
            raise ValueError(f"--{name} {fmt_value(v)} is out of range for {d.name}: "
                             f"{fmt_value(s.minimum)}..{fmt_value(s.maximum)} "
                             f"(default {fmt_value(s.default)})")
        groups: dict[str, list[str]] = {}
        for d, s in specs:
            groups.setdefault(f"{fmt_value(s.minimum)}..{fmt_value(s.maximum)}", []).append(d.name)
        if len(groups) == 1:
            raise ValueError(f"--{name} {fmt_value(v)} is out of range: {next(iter(groups))} "
                             "for every method")
        ranges = "; ".join(f"{r} for {', '.join(names)}" for r, names in groups.items())
        raise ValueError(f"--{name} {fmt_value(v)} is out of every method's range: {ranges}")


def params_from_args(method: str, args: argparse.Namespace) -> EnhanceParams:
    """The method's defaults overridden by the parameter options given (checked by
    :func:`check_param_args`, raising ValueError; with several methods chosen, a value
    outside ``method``'s own range is clamped into it)."""
    check_param_args(args)
    values: dict[str, Any] = {k: getattr(args, k, None) for k in EnhanceParams().as_dict()}
    return registry.get(method).params_from(values)
