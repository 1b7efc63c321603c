"""Persistent studio settings (QSettings, INI format) and named presets.

Settings live in the user's QSettings location under organisation ``Lowlight`` and
application ``Lowlight Studio``. Setting the environment variable ``LOWLIGHT_SETTINGS``
to a file path stores them in that INI file instead (tests use a temporary file so the
user's settings are never touched).
"""

from __future__ import annotations

import json
import os
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from engine.params import EnhanceParams

__all__ = ["Settings", "ORGANIZATION", "APPLICATION", "MAX_RECENT"]

ORGANIZATION = "Lowlight"
APPLICATION = "Lowlight Studio"
MAX_RECENT = 8


class Settings:
    """Typed accessors over one QSettings store.

    Args:
        path: INI file to use; None means ``$LOWLIGHT_SETTINGS`` when set, else the
            user's standard location for ``ORGANIZATION``/``APPLICATION``.
    """

    def __init__(self, path: str | None = None) -> None:
        path = path or os.environ.get("LOWLIGHT_SETTINGS")
        if path:
            self.qs = QSettings(path, QSettings.Format.IniFormat)
        else:
            self.qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                ORGANIZATION, APPLICATION)

    # -- plain values -------------------------------------------------------------
    def _get_str(self, key: str, default: str = "") -> str:
        v = self.qs.value(key, default)
        return str(v) if v is not None else default

    @property
    def last_folder(self) -> str:
        return self._get_str("files/last_folder", "")

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.qs.setValue("files/last_folder", folder)

    @property
    def queue_output_folder(self) -> str:
        """Where the queue panel writes its outputs ("" until chosen once)."""
        return self._get_str("queue/output_folder", "")

    @queue_output_folder.setter
    def queue_output_folder(self, folder: str) -> None:
        self.qs.setValue("queue/output_folder", folder)

    @property
    def recent_files(self) -> list[str]:
        raw = self._get_str("files/recent", "[]")
        try:
            items = json.loads(raw)
        except ValueError:
            return []
        return [str(x) for x in items if isinstance(x, str)][:MAX_RECENT]

    def add_recent(self, path: str) -> list[str]:
        """Put ``path`` first in the recent-files list (at most ``MAX_RECENT``); return it."""
        items = [p for p in self.recent_files if p != path]
        items.insert(0, path)
        items = items[:MAX_RECENT]
        self.qs.setValue("files/recent", json.dumps(items))
        return items

    def clear_recent(self) -> None:
        self.qs.setValue("files/recent", "[]")

    @property
    def method(self) -> str:
        return self._get_str("enhance/method", "")

    @method.setter
    def method(self, name: str) -> None:
        self.qs.setValue("enhance/method", name)

    @property
    def method_b(self) -> str:
        return self._get_str("enhance/method_b", "")

    @method_b.setter
    def method_b(self, name: str) -> None:
        self.qs.setValue("enhance/method_b", name)

    def params_for(self, method: str) -> dict[str, Any]:
        """Last parameter values used with ``method`` (may be empty; callers clamp)."""
        raw = self._get_str(f"params/{method}", "{}")
        try:
            d = json.loads(raw)
        except ValueError:
            return {}
        known = EnhanceParams().as_dict()
        return {k: v for k, v in d.items() if k in known and isinstance(v, (int, float))}

    def set_params_for(self, method: str, params: EnhanceParams) -> None:
        self.qs.setValue(f"params/{method}", json.dumps(params.as_dict()))

    def params_b_for(self, method: str) -> dict[str, Any]:
        """Last parameter values method B (the A/B view's second side) used with ``method``."""
        raw = self._get_str(f"params_b/{method}", "{}")
        try:
            d = json.loads(raw)
        except ValueError:
            return {}
        known = EnhanceParams().as_dict()
        return {k: v for k, v in d.items() if k in known and isinstance(v, (int, float))}

    def set_params_b_for(self, method: str, params: EnhanceParams) -> None:
        self.qs.setValue(f"params_b/{method}", json.dumps(params.as_dict()))

    @property
    def link_ab(self) -> bool:
        """Whether a slider move on one side of the A/B comparison moves the other side too."""
        return self._get_str("enhance/link_ab", "false") == "true"

    @link_ab.setter
    def link_ab(self, on: bool) -> None:
        self.qs.setValue("enhance/link_ab", "true" if on else "false")

    @property
    def pane_layout(self) -> str:
        """How the two-pane views place their panes: ``auto``, ``columns`` or ``rows``."""
        return self._get_str("view/pane_layout", "auto")

    @pane_layout.setter
    def pane_layout(self, layout: str) -> None:
        self.qs.setValue("view/pane_layout", layout)

    @property
    def scope_kind(self) -> str:
        """What the scope dock draws: ``histogram`` or ``waveform``."""
        return self._get_str("view/scope_kind", "histogram")

    @scope_kind.setter
    def scope_kind(self, kind: str) -> None:
        self.qs.setValue("view/scope_kind", kind)

    @property
    def view(self) -> str:
        return self._get_str("view/mode", "split")

    @view.setter
    def view(self, mode: str) -> None:
        self.qs.setValue("view/mode", mode)

    @property
    def loop(self) -> bool:
        return self._get_str("view/loop", "true") == "true"

    @loop.setter
    def loop(self, on: bool) -> None:
        self.qs.setValue("view/loop", "true" if on else "false")

    @property
    def geometry(self) -> QByteArray | None:
        v = self.qs.value("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @geometry.setter
    def geometry(self, data: QByteArray) -> None:
        self.qs.setValue("window/geometry", data)

    @property
    def window_state(self) -> QByteArray | None:
        v = self.qs.value("window/state")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @window_state.setter
    def window_state(self, data: QByteArray) -> None:
        self.qs.setValue("window/state", data)

    # -- presets ------------------------------------------------------------------
    def presets(self) -> dict[str, dict[str, Any]]:
        """Named presets: ``{name: {"method": str, "params": {...}}}``."""
        raw = self._get_str("presets/all", "{}")
        try:
            d = json.loads(raw)
        except ValueError:
            return {}
        return {str(k): v for k, v in d.items()
                if isinstance(v, dict) and isinstance(v.get("method"), str)}

    def save_preset(self, name: str, method: str, params: EnhanceParams) -> None:
        d = self.presets()
        d[name] = {"method": method, "params": params.as_dict()}
        self.qs.setValue("presets/all", json.dumps(d, sort_keys=True))

    def delete_preset(self, name: str) -> None:
        d = self.presets()
        d.pop(name, None)
        self.qs.setValue("presets/all", json.dumps(d, sort_keys=True))

    def sync(self) -> None:
        self.qs.sync()
