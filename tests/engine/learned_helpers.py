"""Test helpers for the learned methods: small checkpoints made on the fly.

The nets are randomly initialised (fixed seed) and their output layer is nudged so the
untrained net already brightens (SCI residual ≈ 0.2, Zero-DCE curves ≈ 0.5), which
makes strength and iteration effects visible. Files go to a tmp folder with a manifest.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from engine.models.sci import IlluminationStage
from engine.models.zerodce import DCENet, DCENetPP
from engine.runtime.weights import update_manifest_entry

METHODS = ("sci", "zerodce", "zerodce++")
FILES = {"sci": "sci.pt", "zerodce": "zerodce.pt", "zerodce++": "zerodcepp.pt"}


def make_net(method: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    if method == "sci":
        net = IlluminationStage()
        with torch.no_grad():
            net.out_conv[0].bias.fill_(-1.4)
        return net.eval()
    net = DCENet() if method == "zerodce" else DCENetPP()
    last = net.conv7 if method == "zerodce" else net.conv7.point
    with torch.no_grad():
        last.weight.mul_(0.3)
        last.bias.fill_(0.5)
    return net.eval()


def write_checkpoint(folder: Path, method: str, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    net = make_net(method, seed)
    path = folder / FILES[method]
    torch.save({"format": 1, "method": method, "state_dict": net.state_dict(), "arch": {},
                "train_size": 256, "exposure_level": 0.6}, path)
    update_manifest_entry({"file": path.name, "kind": "checkpoint", "method": method}, folder)
    return path


def smooth_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A dark, smooth uint8 (h, w, 3) frame: low-frequency blobs, no texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(3):
            fy, fx, ph = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), rng.uniform(0, 6.3)
            img[:, :, c] += np.sin(2 * np.pi * (fy * y + fx * x) + ph)
    img = 0.12 + 0.06 * img / 3.0
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def make_weights(folder: Path, onnx: bool = False) -> Path:
    """Checkpoints for every learned method (and their ONNX graphs when ``onnx``)."""
    from engine.runtime.onnx_export import export_method
    from engine.runtime.selection import network_spec

    for m in METHODS:
        write_checkpoint(folder, m)
    if onnx:
        for m in METHODS:
            export_method(network_spec(m), folder, weights=str(folder / FILES[m]))
    return folder


class WeightsEnv:
    """Point LOWLIGHT_WEIGHTS at ``folder`` for a block (module-scoped fixtures)."""

    def __init__(self, folder: Path) -> None:
        import os

        self.folder, self._os = folder, os
        self._old = os.environ.get("LOWLIGHT_WEIGHTS")
        os.environ["LOWLIGHT_WEIGHTS"] = str(folder)

    def restore(self) -> None:
        if self._old is None:
            self._os.environ.pop("LOWLIGHT_WEIGHTS", None)
        else:
            self._os.environ["LOWLIGHT_WEIGHTS"] = self._old


@contextmanager
def onnx_enhancers(folder: Path) -> Iterator[dict]:
    """Test checkpoints and ONNX graphs in ``folder``, and one ONNX Runtime CPU enhancer
    per learned method on them, for a block (module-scoped fixtures)."""
    from engine import registry

    env = WeightsEnv(make_weights(folder, onnx=True))
    try:
        yield {m: registry.create(m, backend="onnx", device="cpu") for m in METHODS}
    finally:
        env.restore()
