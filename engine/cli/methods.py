"""``lowlight methods``: the registered methods, their papers, licences and parameters.

    lowlight methods                 one table: family and each parameter's range [default]
    lowlight methods sci lime        each method in full: summary, paper, licence, weights,
                                     runtimes and what every parameter does
    lowlight methods --json          everything, machine-readable

Read from the catalogue alone: no network is loaded.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from engine import registry
from engine.cli.options import fmt_range, fmt_value, method_summary
from engine.params import EnhanceParams
from engine.enhancer import MethodDescriptor

__all__ = ["COMMAND", "HELP", "register", "run", "table", "details", "as_json"]

COMMAND = "methods"
HELP = "list the enhancement methods: family, paper, licence, parameters with ranges and defaults"
ORDER = 50


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", metavar="METHOD", nargs="*",
                        help="show these methods in full (default: a table of all)")
    parser.add_argument("--json", action="store_true",
                        help="print every method (or the named ones) as JSON")
    parser.set_defaults(run=run)


def _param_names(descs: list[MethodDescriptor]) -> list[str]:
    """Parameter names any of ``descs`` takes, in :class:`EnhanceParams` order."""
    return [n for n in EnhanceParams().as_dict() if any(d.spec(n) for d in descs)]


def table(descs: list[MethodDescriptor], width: int = 88) -> str:
    """One row per method: name, family, then each parameter's ``min..max [default]``
    (``-`` where the method does not take it); then each method's paper and licence,
    wrapped at ``width`` columns."""
    params = _param_names(descs)
    head = ["method", "family", *params]
    rows = [head]
    for d in descs:
        cells = []
        for n in params:
            s = d.spec(n)
            cells.append(f"{fmt_value(s.minimum)}..{fmt_value(s.maximum)} [{fmt_value(s.default)}]" if s else "-")
        rows.append([d.name, d.family, *cells])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("(range [default]; - = not used; `lowlight methods NAME` explains each parameter)")
    lines.append("")
    pad = " " * (widths[0] + 2)
    for d in descs:
        lines.extend(textwrap.wrap(f"{d.title}: {d.paper}", width, initial_indent=d.name.ljust(widths[0] + 2),
                                   subsequent_indent=pad))
        lines.extend(textwrap.wrap(f"licence: {d.licence}", width, initial_indent=pad, subsequent_indent=pad))
    return "\n".join(lines)


def details(d: MethodDescriptor, width: int = 88) -> str:
    """Method ``d`` in full: :func:`engine.cli.options.method_summary` and one paragraph
    per parameter."""
    out = textwrap.wrap(method_summary(d), width)
    out.append("parameters:")
    for s in d.params:
        out.extend(textwrap.wrap(f"{s.help}. Range {fmt_range(s)}", width,
                                 initial_indent=f"  --{s.name:<11} ", subsequent_indent=" " * 16))
    return "\n".join(out)


def as_json(d: MethodDescriptor) -> dict[str, Any]:
    """Method ``d`` as a JSON-ready dict (every descriptor field but the factory)."""
    return {
        "name": d.name, "title": d.title, "family": d.family, "summary": d.summary,
        "paper": d.paper, "licence": d.licence, "weights": d.weights, "backends": list(d.backends),
        "params": [{"name": s.name, "type": "int" if s.is_int else "float", "default": s.default,
                    "minimum": s.minimum, "maximum": s.maximum, "step": s.step, "help": s.help}
                   for s in d.params],
    }


def run(args: argparse.Namespace) -> int:
    try:
        descs = [registry.get(n) for n in args.names] if args.names else registry.descriptors()
    except registry.UnknownMethodError as exc:
        print(f"lowlight methods: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([as_json(d) for d in descs], indent=2, ensure_ascii=False))
    elif args.names:
        print("\n\n".join(details(d) for d in descs))
    else:
        print(table(descs))
    return 0
