"""Command-line options generated from the method registry (shared by sub-commands)."""

from __future__ import annotations

import argparse
from typing import Any

from engine import registry
from engine.params import EnhanceParams

__all__ = ["add_method_options", "params_from_args", "add_runtime_options"]


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--device`` (what was chosen is printed by the commands)."""
    parser.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                        help="runtime for learned methods (default: auto = ONNX Runtime when "
                             "the exported graph is present, else PyTorch)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="device (default: auto = CUDA when available)")
    parser.add_argument("--weights", default=None, help="use this checkpoint instead of the shipped one")


def add_method_options(parser: argparse.ArgumentParser, *, default_method: str = "sci",
                       allow_all: bool = False) -> None:
    """``--method`` plus one option per parameter any registered method takes.

    The help of each parameter option lists, per method, its range, default and meaning,
    all read from the descriptors.
    """
    descs = registry.descriptors()
    choices = [d.name for d in descs] + (["all"] if allow_all else [])
    parser.add_argument("--method", "-m", default=default_method, choices=choices,
                        help="enhancement method: " + "; ".join(f"{d.name} = {d.title}" for d in descs))
    by_param: dict[str, list[str]] = {}
    kinds: dict[str, type] = {}
    for d in descs:
        for s in d.params:
            by_param.setdefault(s.name, []).append(
                f"{d.name}: {s.minimum}..{s.maximum}, default {s.default} ({s.help})")
            kinds[s.name] = int if s.is_int else float
    for name in EnhanceParams().as_dict():
        if name not in by_param:
            continue
        parser.add_argument(f"--{name}", type=kinds[name], default=None,
                            help="; ".join(by_param[name]))
    add_runtime_options(parser)


def params_from_args(method: str, args: argparse.Namespace) -> EnhanceParams:
    """The method's defaults overridden by the parameter options given, clamped."""
    values: dict[str, Any] = {k: getattr(args, k, None) for k in EnhanceParams().as_dict()}
    return registry.get(method).params_from(values)
