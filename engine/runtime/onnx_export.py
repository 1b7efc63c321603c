"""Export a learned method's inference network to ONNX (dynamic H, W) and check it.

The graph: input ``image`` float32 (1, 3, H, W) in [0, 1] → output ``maps`` float32
(1, C, H, W) (SCI: the illumination residual, C = 3; Zero-DCE: 8 curve maps, C = 24;
Zero-DCE++: one curve map, C = 3). Right after export ONNX Runtime runs the graph on
a few odd sizes and the result must match PyTorch (max |Δ| ≤ ``PARITY_TOL``).
The TorchScript-based exporter is used: its output is byte-for-byte deterministic.
"""

from __future__ import annotations

import io
import os
import shlex
import warnings
from pathlib import Path

import numpy as np

from engine.files.atomic import replacing
from engine.runtime.selection import NetworkSpec, checkpoint_path, load_module
from engine.runtime.weights import sha256_file, update_manifest_entry, weights_dir

__all__ = ["OPSET", "PARITY_TOL", "ExportError", "export_network", "export_method", "check_parity"]

OPSET = 17
PARITY_TOL = 1e-4
_PARITY_SIZES = ((1, 1), (37, 53), (96, 64))


class ExportError(RuntimeError):
    """The export failed or the exported graph does not match PyTorch."""


def _graph_bytes(module) -> bytes:
    import torch

    dummy = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices
        torch.onnx.export(
            module, (dummy,), buf, input_names=["image"], output_names=["maps"],
            dynamic_axes={"image": {2: "height", 3: "width"}, "maps": {2: "height", 3: "width"}},
            opset_version=OPSET, do_constant_folding=True, dynamo=False,
        )
    return buf.getvalue()


def check_parity(module, onnx_path: str | os.PathLike[str]) -> float:
    """Max |torch − ONNX Runtime| over a few random inputs of odd sizes; raises
    :class:`ExportError` above ``PARITY_TOL``."""
    import onnxruntime as ort
    import torch

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for h, w in _PARITY_SIZES:
        x = rng.random((1, 3, h, w), dtype=np.float32)
        with torch.inference_mode():
            ref = module(torch.from_numpy(x)).numpy()
        got = sess.run(None, {"image": x})[0]
        if got.shape != ref.shape:
            raise ExportError(f"{onnx_path}: output shape {got.shape} != torch {ref.shape} at {h}x{w}")
        worst = max(worst, float(np.abs(got - ref).max()))
    if worst > PARITY_TOL:
        raise ExportError(f"{onnx_path}: ONNX Runtime differs from torch by {worst:.2e} (> {PARITY_TOL})")
    return worst


def export_network(module, out_path: str | os.PathLike[str]) -> float:
    """Export ``module`` (eval, CPU, float32) to ``out_path`` atomically and check parity;
    returns the max abs difference. Nothing is left at ``out_path`` on failure."""
    out = Path(out_path)
    module = module.eval().float().cpu()
    with replacing(out) as tmp:
        tmp.write_bytes(_graph_bytes(module))
        diff = check_parity(module, tmp)
    return diff


def export_method(spec: NetworkSpec, out_dir: str | os.PathLike[str] | None = None,
                  weights: str | None = None, command: str | None = None) -> dict:
    """Export the method's checkpoint to ``<out_dir>/<name>.onnx`` and record it in that
    folder's MANIFEST.json (kind ``onnx``, source checkpoint and its sha256, opset,
    command). Returns the manifest entry."""
    folder = Path(out_dir) if out_dir else weights_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the output folder {folder} ({exc.strerror or exc})") from None
    ckpt = checkpoint_path(spec, weights)
    module = load_module(spec, ckpt)
    onnx_path = folder / spec.onnx_file
    try:
        diff = export_network(module, onnx_path)
    except OSError as exc:
        raise ExportError(f"cannot write {onnx_path} ({exc.strerror or exc})") from None
    entry = {
        "file": onnx_path.name,
        "kind": "onnx",
        "method": spec.method,
        "source": ckpt.name,
        "source_sha256": sha256_file(ckpt),
        "opset": OPSET,
        "parity_max_abs": float(f"{diff:.3g}"),
        "command": command or f"lowlight export-onnx --method {shlex.quote(spec.method)}",
    }
    try:
        update_manifest_entry(entry, folder)
    except OSError as exc:
        raise ExportError(f"cannot write {folder / 'MANIFEST.json'} ({exc.strerror or exc})") from None
    return entry
