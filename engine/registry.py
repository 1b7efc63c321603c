"""One registry of enhancement methods, each described by a
:class:`~engine.enhancer.MethodDescriptor`.

The CLI options and the studio's controls are built from this registry, never from
hard-coded lists. The descriptors come from :mod:`engine.models.catalog`, which the
lookup functions here import on first use; it is free of PyTorch and ONNX Runtime, so
listing methods, their parameters and the CLI's help stays cheap. A method's network
module is imported only when an enhancer is created (see :attr:`MethodDescriptor.factory`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from engine.enhancer import Enhancer, MethodDescriptor

__all__ = [
    "register",
    "get",
    "names",
    "descriptors",
    "create",
    "implementation",
    "UnknownMethodError",
]


class UnknownMethodError(KeyError):
    """Raised for a method name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown method"


_REGISTRY: dict[str, MethodDescriptor] = {}
_loaded = False


def register(descriptor: MethodDescriptor) -> MethodDescriptor:
    """Add ``descriptor`` to the registry (re-registering the same name replaces it)."""
    _REGISTRY[descriptor.name] = descriptor
    return descriptor


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        from engine.models import catalog

        for d in catalog.load():
            _REGISTRY.setdefault(d.name, d)  # a name registered before the catalogue keeps its entry
        _loaded = True


def names() -> list[str]:
    """Registered method names, learned methods first, in registration order."""
    _ensure_loaded()
    return [d.name for d in descriptors()]


def descriptors() -> list[MethodDescriptor]:
    """All descriptors, learned methods first, in registration order."""
    _ensure_loaded()
    ds = list(_REGISTRY.values())
    return [d for d in ds if d.family == "learned"] + [d for d in ds if d.family != "learned"]


def get(name: str) -> MethodDescriptor:
    """The descriptor registered as ``name`` (case-insensitive)."""
    _ensure_loaded()
    key = name.lower()
    if key not in _REGISTRY:
        raise UnknownMethodError(f"unknown method {name!r}; choose from {', '.join(names())}")
    return _REGISTRY[key]


def create(name: str, *, backend: str = "auto", device: str = "auto", weights: str | None = None) -> "Enhancer":
    """Create the enhancer registered as ``name``.

    Args:
        backend: ``"auto"``, ``"torch"`` or ``"onnx"`` (ignored by classical methods).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        weights: path of a checkpoint to use instead of the shipped one.
    """
    return get(name).create(backend=backend, device=device, weights=weights)


def implementation(name: str) -> ModuleType | None:
    """Import and return the module that implements ``name`` (a learned method's module
    registers its network with :mod:`engine.runtime.selection` on import); None when the
    method's factory is a plain callable."""
    module = get(name).module
    return importlib.import_module(module) if module else None
