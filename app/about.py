"""The About box's text: the studio's version, its methods' papers and licences, and the
third-party software it runs on with their licences."""

from __future__ import annotations

import html
from importlib import metadata

__all__ = ["DISTRIBUTION", "THIRD_PARTY", "studio_version", "third_party_html"]

#: the distribution name in pyproject.toml
DISTRIBUTION = "lowlight-studio"

#: (name, what it does here, licence, distributions that may carry it: first found shows its version)
THIRD_PARTY = (
    ("Qt / PySide6", "the window and widgets", "LGPLv3", ("PySide6", "PySide6-Essentials")),
    ("FFmpeg (through PyAV)", "video decoding and encoding", "LGPL (FFmpeg); PyAV: BSD", ("av",)),
    ("ONNX Runtime", "runs the exported networks", "MIT", ("onnxruntime", "onnxruntime-gpu")),
    ("PyTorch", "runs and trains the networks", "BSD-3-Clause", ("torch",)),
    ("OpenCV", "cameras, resizing, classical methods", "Apache 2.0",
     ("opencv-python-headless", "opencv-python", "opencv-contrib-python")),
    ("NumPy", "frames and arithmetic", "BSD-3-Clause", ("numpy",)),
)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def studio_version() -> str:
    """The installed version of Lowlight Studio (package metadata), or ``"unknown"`` when it
    runs from a checkout that was never installed."""
    return _version(DISTRIBUTION) or "unknown"


def third_party_html() -> str:
    """An HTML list of the third-party software with licence and installed version ("not
    installed" for optional parts that are absent)."""
    rows = []
    for name, role, licence, dists in THIRD_PARTY:
        v = next((found for found in map(_version, dists) if found), None)
        ver = f" {html.escape(v)}" if v else " (not installed)"
        rows.append(f"<li><b>{html.escape(name)}</b>{ver} — {html.escape(role)}; "
                    f"licence: {html.escape(licence)}</li>")
    return "<p>Third-party software:</p><ul>" + "".join(rows) + "</ul>"
