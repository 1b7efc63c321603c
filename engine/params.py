"""Enhancement parameters: plain, frozen data that every method understands.

A parameter change takes effect on the next frame; no model is reloaded for it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["EnhanceParams", "ParamSpec"]


@dataclass(frozen=True)
class EnhanceParams:
    """Parameters of one enhancement call.

    Attributes:
        iterations: curve applications (Zero-DCE family) or stage repeats (SCI); each
            method's descriptor gives its range and what the number means. 1..16.
        strength: 0 = the original frame, 1 = the method's default, up to 2 = stronger.
            Raising strength never darkens any pixel.
        smoothing: temporal smoothing of the low-resolution parameter map, 0 = off, 1 = max.
        denoise: temporal/spatial denoise amount, 0 = off, 1 = max.
        exposure: target mean brightness (BT.601 luma, 0..1) of the output that the
            method's own control reaches per frame, with highlight protection;
            0 = off (the method's fixed gain). Methods without it ignore it.
    """

    iterations: int = 8
    strength: float = 1.0
    smoothing: float = 0.0
    denoise: float = 0.0
    exposure: float = 0.0

    def replace(self, **changes: Any) -> "EnhanceParams":
        """Return a copy with ``changes`` applied (unknown names raise ``TypeError``)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ParamSpec:
    """Range and meaning of one parameter for one method (drives CLI options and sliders).

    Attributes:
        name: field name in :class:`EnhanceParams`.
        default: the method's default value.
        minimum, maximum: inclusive range.
        step: slider / CLI granularity (1 for integers).
        help: one line saying what the parameter does for this method, with units.
    """

    name: str
    default: float | int
    minimum: float | int
    maximum: float | int
    step: float | int
    help: str

    @property
    def is_int(self) -> bool:
        return isinstance(self.default, int) and isinstance(self.step, int)

    def clamp(self, value: float | int) -> float | int:
        """Return ``value`` clamped into [minimum, maximum], as int for integer specs."""
        v = min(max(value, self.minimum), self.maximum)
        return int(round(v)) if self.is_int else float(v)
