"""The method catalogue: every method's :class:`~engine.enhancer.MethodDescriptor`
(name, paper, licence, parameters with ranges and defaults), apart from its code.

One module per implementation module of :mod:`engine.models` (``catalog/sci.py``
describes what ``models/sci.py`` implements). Each defines ``METHODS``, a tuple of
descriptors whose ``factory`` is a ``"engine.models.<module>:<function>"`` string, and
may define ``ORDER`` (default 50; smaller first, ties by module name): the registry's
order within a family. These modules import no PyTorch, ONNX Runtime or network code,
so :mod:`engine.registry` can list methods without loading them. How to add a method:
see :mod:`engine.models`.
"""

from __future__ import annotations

import importlib
import pkgutil

from engine.enhancer import MethodDescriptor

__all__ = ["load"]


def load() -> list[MethodDescriptor]:
    """Import every catalogue module; their descriptors in ``ORDER``, then module name."""
    mods = [importlib.import_module(f"{__name__}.{info.name}")
            for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    mods.sort(key=lambda m: (getattr(m, "ORDER", 50), m.__name__))
    return [d for m in mods for d in m.METHODS]
