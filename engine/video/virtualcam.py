"""The enhanced picture as a camera other programs can pick (video calls, OBS), through
the ``pyvirtualcam`` package (an optional extra: ``pip install 'lowlight-studio[virtualcam]'``),
imported only when a virtual camera is opened.

``pyvirtualcam`` drives v4l2loopback on Linux and the OBS virtual camera (or Unity Capture)
on Windows and macOS. Where the package or a device is missing,
:class:`VirtualCameraUnavailable` carries one line that says what to install, so a caller
can print it and go on without the virtual camera.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np

from engine.frame import Frame
from engine.video.base import Sink, VideoError

__all__ = ["VirtualCameraUnavailable", "VirtualCameraSink", "install_hint"]


class VirtualCameraUnavailable(VideoError):
    """No virtual camera can be opened here; the message says what to install."""


def install_hint(platform: str | None = None) -> str:
    """What to install for a virtual camera on ``platform`` (default: this one), one line."""
    p = platform or sys.platform
    if p.startswith("linux"):
        return ("install v4l2loopback and load it (Debian/Ubuntu: sudo apt install v4l2loopback-dkms; "
                "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=Lowlight)")
    if p == "darwin":
        return "install OBS Studio and start its virtual camera once (Tools > Start Virtual Camera)"
    return "install OBS Studio (26 or later) and start its virtual camera once, or Unity Capture"


def _package() -> Any:
    try:
        return importlib.import_module("pyvirtualcam")
    except ImportError:
        raise VirtualCameraUnavailable(
            "virtual camera: the pyvirtualcam package is not installed "
            "(pip install 'lowlight-studio[virtualcam]'), and it needs a device: "
            + install_hint()) from None


class VirtualCameraSink(Sink):
    """Send enhanced frames to a virtual camera.

    Args:
        width, height: the picture size (every frame must have it).
        fps: the rate announced to programs reading the camera.
        device: a device to use (e.g. ``/dev/video10``); None = the first free one.
        backend: a pyvirtualcam backend name (``"v4l2loopback"``, ``"obs"``,
            ``"unitycapture"``); None = the platform's default.

    Raises:
        VirtualCameraUnavailable: the package or a device is missing (the message says
            what to install).
    """

    def __init__(self, width: int, height: int, fps: float, *, device: str | None = None,
                 backend: str | None = None) -> None:
        pvc = _package()
        kw: dict[str, Any] = {"fmt": pvc.PixelFormat.RGB}
        if device:
            kw["device"] = device
        if backend:
            kw["backend"] = backend
        try:
            self._cam = pvc.Camera(int(width), int(height), float(fps), **kw)
        except Exception as exc:  # pyvirtualcam raises RuntimeError when no device is found
            raise VirtualCameraUnavailable(
                f"virtual camera: no device could be opened ({str(exc).strip() or type(exc).__name__}); "
                + install_hint()) from None
        self.size = (int(width), int(height))
        self.frames = 0
        self._closed = False

    @property
    def device(self) -> str:
        """The device the frames go to (as pyvirtualcam names it)."""
        return str(getattr(self._cam, "device", ""))

    def write(self, frame: Frame) -> None:
        """Send one frame (uint8 (H, W, 3) RGB of the camera's size)."""
        img = frame.image
        h, w = img.shape[:2]
        if (w, h) != self.size:
            raise VideoError(f"virtual camera: frame {frame.index} is {w}x{h}, the camera is "
                             f"{self.size[0]}x{self.size[1]}")
        try:
            self._cam.send(np.ascontiguousarray(img))
        except Exception as exc:
            raise VideoError(f"virtual camera: sending failed ({exc})") from exc
        self.frames += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._cam.close()
            except Exception:
                pass

    def abort(self) -> None:
        self.close()
