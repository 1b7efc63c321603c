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


class _Setting:
    """One stored value of :class:`Settings`, read and written under a fixed key.

    ``kind`` fixes the conversion, the same both ways so an existing settings file reads
    unchanged:

    - ``str``: stored as given; read as ``str(value)``, ``default`` when absent.
    - ``bool``: stored as the text ``"true"``/``"false"``; read as ``== "true"``.
    - ``QByteArray``: stored as given; read back only as a non-empty ``QByteArray``,
      else None (``default`` must be None).
    """

    def __init__(self, key: str, default: Any, kind: type, doc: str = "") -> None:
        if kind not in (str, bool, QByteArray):
            raise TypeError(f"unsupported setting kind {kind!r}")
        self.key, self.default, self.kind = key, default, kind
        self.__doc__ = doc

    def __get__(self, obj: "Settings | None", owner: type | None = None) -> Any:
        if obj is None:
            return self
        if self.kind is bool:
            return obj._get_str(self.key, "true" if self.default else "false") == "true"
        if self.kind is QByteArray:
            v = obj.qs.value(self.key)
            return v if isinstance(v, QByteArray) and not v.isEmpty() else None
        return obj._get_str(self.key, self.default)

    def __set__(self, obj: "Settings", value: Any) -> None:
        if self.kind is bool:
            value = "true" if value else "false"
        obj.qs.setValue(self.key, value)


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

    last_folder = _Setting("files/last_folder", "", str,
                           "The folder the last file dialog opened in (\"\" until one did).")
    queue_output_folder = _Setting("queue/output_folder", "", str,
                                   "Where the queue panel writes its outputs (\"\" until chosen once).")

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

    method = _Setting("enhance/method", "", str,
                      "Method A's registry name (\"\" until one was chosen).")
    method_b = _Setting("enhance/method_b", "", str,
                        "Method B's registry name, the A/B view's second side (\"\" until chosen).")

    def _params_json(self, key: str) -> dict[str, Any]:
        """The JSON parameter dict stored at ``key``, keeping only known numeric parameters."""
        raw = self._get_str(key, "{}")
        try:
            d = json.loads(raw)
        except ValueError:
            return {}
        known = EnhanceParams().as_dict()
        return {k: v for k, v in d.items() if k in known and isinstance(v, (int, float))}

    def params_for(self, method: str) -> dict[str, Any]:
        """Last parameter values used with ``method`` (may be empty; callers clamp)."""
        return self._params_json(f"params/{method}")

    def set_params_for(self, method: str, params: EnhanceParams) -> None:
        self.qs.setValue(f"params/{method}", json.dumps(params.as_dict()))

    def params_b_for(self, method: str) -> dict[str, Any]:
        """Last parameter values method B (the A/B view's second side) used with ``method``."""
        return self._params_json(f"params_b/{method}")

    def set_params_b_for(self, method: str, params: EnhanceParams) -> None:
        self.qs.setValue(f"params_b/{method}", json.dumps(params.as_dict()))

    link_ab = _Setting("enhance/link_ab", False, bool,
                       "Whether a slider move on one side of the A/B comparison moves the other side too.")
    pane_layout = _Setting("view/pane_layout", "auto", str,
                           "How the two-pane views place their panes: ``auto``, ``columns`` or ``rows``.")
    scope_kind = _Setting("view/scope_kind", "histogram", str,
                          "What the scope dock draws: ``histogram`` or ``waveform``.")
    view = _Setting("view/mode", "split", str, "The viewer's mode name (default ``split``).")
    loop = _Setting("view/loop", True, bool, "Whether playback starts again at the end of a file.")
    geometry = _Setting("window/geometry", None, QByteArray,
                        "The main window's saved geometry (None until saved).")
    window_state = _Setting("window/state", None, QByteArray,
                            "The main window's saved dock/toolbar state (None until saved).")

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
