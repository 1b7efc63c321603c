"""One registry of enhancement methods, each described by a :class:`MethodDescriptor`.

The CLI options and the studio's controls are built from this registry, never from
hard-coded lists. The descriptors come from :mod:`engine.models.catalog`, which the
lookup functions here import on first use; it is free of PyTorch and ONNX Runtime, so
listing methods, their parameters and the CLI's help stays cheap. A method's network
module is imported only when an enhancer is created (see :attr:`MethodDescriptor.factory`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Union

from engine.params import EnhanceParams, ParamSpec

if TYPE_CHECKING:
    from engine.enhancer import Enhancer

__all__ = [
    "MethodDescriptor",
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


@dataclass(frozen=True)
class MethodDescriptor:
    """What a method is and which parameters it takes.

    Attributes:
        name: registry key used by the CLI (``--method``) and settings, e.g. ``"sci"``.
        title: display name, e.g. ``"Zero-DCE++"``.
        family: ``"learned"`` or ``"classical"``.
        paper: citation (authors, venue, year) or a short description for classical methods.
        licence: licence of the method's code/weights as shipped here.
        summary: one line on what the method does.
        params: the parameters this method uses, with ranges and defaults.
        factory: ``factory(backend=..., device=..., weights=...) -> Enhancer``, or the
            same function named as ``"package.module:function"``, imported on the first
            :meth:`create` (the catalogue's form: the network module and PyTorch load only
            when the method is used).
        weights: checkpoint file name in ``weights/`` for learned methods, else None.
        backends: runtimes the method supports, in order of preference.
    """

    name: str
    title: str
    family: str
    paper: str
    licence: str
    summary: str
    params: tuple[ParamSpec, ...]
    factory: Union[Callable[..., "Enhancer"], str] = field(compare=False, repr=False)
    weights: str | None = None
    backends: tuple[str, ...] = ("numpy",)

    @property
    def module(self) -> str | None:
        """The module that implements the method (``"engine.models.sci"``) when the
        factory is named by a string, else None."""
        return self.factory.partition(":")[0] if isinstance(self.factory, str) else None

    def resolve_factory(self) -> Callable[..., "Enhancer"]:
        """The factory function, importing its module when it is named by a string."""
        if not isinstance(self.factory, str):
            return self.factory
        module, _, attr = self.factory.partition(":")
        if not attr:
            raise ValueError(f"{self.name}: factory {self.factory!r} is not 'package.module:function'")
        return getattr(importlib.import_module(module), attr)

    def create(self, *, backend: str = "auto", device: str = "auto", weights: str | None = None) -> "Enhancer":
        """A new enhancer of this method (arguments as :func:`engine.registry.create`)."""
        return self.resolve_factory()(backend=backend, device=device, weights=weights)

    def spec(self, name: str) -> ParamSpec | None:
        """Return the :class:`ParamSpec` called ``name``, or None if the method ignores it."""
        for s in self.params:
            if s.name == name:
                return s
        return None

    def default_params(self) -> EnhanceParams:
        """The method's default :class:`EnhanceParams`."""
        return EnhanceParams(**{s.name: s.default for s in self.params})

    def clamp(self, params: EnhanceParams) -> EnhanceParams:
        """Return ``params`` with every value this method uses clamped into its range."""
        return params.replace(**{s.name: s.clamp(getattr(params, s.name)) for s in self.params})

    def params_from(self, values: dict[str, Any]) -> EnhanceParams:
        """Defaults overridden by the non-None entries of ``values``, clamped."""
        base = self.default_params()
        known = {s.name for s in self.params} | set(base.as_dict())
        changes = {k: v for k, v in values.items() if v is not None and k in known}
        return self.clamp(base.replace(**changes))


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
