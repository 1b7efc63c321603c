"""Shipped weights: locating, verifying (sha256 against weights/MANIFEST.json) and loading.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``. Nothing is downloaded.
The weights folder is ``<repo>/weights`` unless ``LOWLIGHT_WEIGHTS`` names another one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engine.files.atomic import replacing

__all__ = [
    "WeightsError",
    "weights_dir",
    "manifest_path",
    "load_manifest",
    "manifest_entry",
    "sha256_file",
    "verify",
    "load_checkpoint",
    "update_manifest_entry",
]


class WeightsError(RuntimeError):
    """A weights file is missing, unlisted in the manifest, or fails its sha256 check."""


def weights_dir() -> Path:
    """The folder holding checkpoints, ONNX graphs and MANIFEST.json."""
    from engine.runtime.environment import weights_folder

    return weights_folder() or Path(__file__).resolve().parents[2] / "weights"


def manifest_path(folder: Path | None = None) -> Path:
    return (folder or weights_dir()) / "MANIFEST.json"


def load_manifest(folder: Path | None = None) -> dict[str, Any]:
    """Read MANIFEST.json (``{"version": 1, "files": [entry, ...]}``); empty if absent."""
    p = manifest_path(folder)
    if not p.exists():
        return {"version": 1, "files": []}
    with p.open(encoding="utf-8") as f:
        return json.load(f)


def manifest_entry(file_name: str, folder: Path | None = None) -> dict[str, Any] | None:
    """The manifest entry whose ``file`` is ``file_name``, or None."""
    for e in load_manifest(folder).get("files", []):
        if e.get("file") == file_name:
            return e
    return None


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | os.PathLike[str]) -> Path:
    """Check a shipped weights file against its manifest sha256; return its path.

    A file outside the weights folder (a user's own checkpoint) is not checked.
    Raises :class:`WeightsError` when the file is missing, unlisted or altered.
    """
    p = Path(path)
    if not p.is_absolute() and not p.exists():
        p = weights_dir() / p
    if not p.exists():
        raise WeightsError(f"weights file not found: {p}")
    folder = weights_dir().resolve()
    if p.resolve().parent != folder:
        return p
    entry = manifest_entry(p.name)
    if entry is None:
        raise WeightsError(f"{p.name} is not listed in {manifest_path()}")
    actual = sha256_file(p)
    if actual != entry.get("sha256"):
        raise WeightsError(
            f"{p.name} fails its integrity check: sha256 {actual[:12]}… but MANIFEST.json "
            f"records {str(entry.get('sha256'))[:12]}…; the file was altered or is incomplete"
        )
    return p


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Verify and load a checkpoint dict (``{"state_dict": ..., "method": ..., ...}``)."""
    import torch

    p = verify(path)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or not a torch file
        raise WeightsError(f"cannot load checkpoint {p}: {exc}") from exc
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise WeightsError(f"{p} is not a Lowlight checkpoint (no state_dict)")
    return ckpt


def update_manifest_entry(entry: dict[str, Any], folder: Path | None = None) -> None:
    """Insert or replace the entry for ``entry["file"]``, computing its sha256; atomic write."""
    folder = folder or weights_dir()
    m = load_manifest(folder)
    entry = dict(entry)
    entry["sha256"] = sha256_file(folder / entry["file"])
    files = [e for e in m.get("files", []) if e.get("file") != entry["file"]]
    files.append(entry)
    m["files"] = sorted(files, key=lambda e: e["file"])
    with replacing(manifest_path(folder)) as tmp:
        tmp.write_text(json.dumps(m, indent=2) + "\n", encoding="utf-8")
