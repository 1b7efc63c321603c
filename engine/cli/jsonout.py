"""Strict JSON output shared by the sub-commands that print or write figures."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["json_safe"]


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN/inf float (not valid JSON) replaced by None, recursively
    through dicts, lists and tuples (tuples become lists)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
