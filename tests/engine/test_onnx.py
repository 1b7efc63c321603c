"""ONNX export: the command, the manifest records, determinism, parity with PyTorch
(uint8 outputs within one level) and integrity checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import registry
from engine.cli import main
from engine.models.zerodce import DCENetPP
from engine.params import EnhanceParams
from engine.runtime.onnx_export import ExportError, check_parity, export_network
from engine.runtime.weights import WeightsError, sha256_file

from learned_helpers import FILES, METHODS, make_net, write_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import os

    folder = tmp_path_factory.mktemp("weights")
    old = os.environ.get("LOWLIGHT_WEIGHTS")
    os.environ["LOWLIGHT_WEIGHTS"] = str(folder)
    try:
        for m in METHODS:
            write_checkpoint(folder, m)
        assert main(["export-onnx"]) == 0
        yield folder
    finally:
        if old is None:
            os.environ.pop("LOWLIGHT_WEIGHTS", None)
        else:
            os.environ["LOWLIGHT_WEIGHTS"] = old


def test_export_all_writes_graphs_and_manifest(exported) -> None:
    manifest = json.loads((exported / "MANIFEST.json").read_text())
    entries = {e["file"]: e for e in manifest["files"]}
    for m in METHODS:
        onnx = FILES[m].replace(".pt", ".onnx")
        e = entries[onnx]
        assert (exported / onnx).exists()
        assert e["kind"] == "onnx" and e["method"] == m and e["source"] == FILES[m]
        assert e["source_sha256"] == sha256_file(exported / FILES[m])
        assert e["sha256"] == sha256_file(exported / onnx)
        assert e["opset"] >= 13 and e["command"].startswith(f"lowlight export-onnx --method {m}")
    assert not list(exported.glob("*.tmp"))


def test_export_is_deterministic(exported, tmp_path) -> None:
    assert main(["export-onnx", "--method", "zerodce++", "--out-dir", str(tmp_path)]) == 0
    assert sha256_file(tmp_path / "zerodcepp.onnx") == sha256_file(exported / "zerodcepp.onnx")
    entry = json.loads((tmp_path / "MANIFEST.json").read_text())["files"][0]
    assert entry["command"] == f"lowlight export-onnx --method zerodce++ --out-dir {tmp_path}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(1, 1), (23, 37), (64, 40)])
def test_torch_and_onnx_outputs_agree(exported, method, shape) -> None:
    ort_enh = registry.create(method, backend="onnx", device="cpu")
    pt_enh = registry.create(method, backend="torch", device="cpu")
    f = np.random.default_rng(shape[0]).integers(0, 100, (*shape, 3), dtype=np.uint8)
    for enh in (ort_enh, pt_enh):
        enh.estimate_size = 24
    for p in (pt_enh.descriptor.default_params(), EnhanceParams(iterations=2, strength=1.6)):
        p = pt_enh.descriptor.clamp(p)
        for call in ("enhance", "reference"):
            a = getattr(ort_enh, call)(f, p).astype(int)
            b = getattr(pt_enh, call)(f, p).astype(int)
            assert np.abs(a - b).max() <= 1, (method, call, p)


def test_tampered_graph_is_refused(exported, tmp_path, monkeypatch) -> None:
    import shutil

    for f in exported.iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(tmp_path))
    data = bytearray((tmp_path / "sci.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "sci.onnx").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"sci\.onnx fails its integrity check"):
        registry.create("sci", backend="onnx")
    data = bytearray((tmp_path / "zerodce.pt").read_bytes())
    data[-10] ^= 0x80
    (tmp_path / "zerodce.pt").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"zerodce\.pt fails its integrity check"):
        registry.create("zerodce", backend="torch")


def test_parity_check_catches_a_wrong_graph(tmp_path) -> None:
    export_network(make_net("zerodce++", seed=0), tmp_path / "a.onnx")
    with pytest.raises(ExportError, match="differs from torch"):
        check_parity(make_net("zerodce++", seed=1), tmp_path / "a.onnx")


def test_export_without_checkpoint_fails_cleanly(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(tmp_path))
    assert main(["export-onnx", "--method", "sci"]) == 1
    err = capsys.readouterr().err
    assert "sci.pt" in err and "lowlight train --method sci" in err
    assert not (tmp_path / "sci.onnx").exists()


def test_checkpoint_of_a_training_cascade_loads(tmp_path, monkeypatch) -> None:
    """SCI checkpoints holding the whole training net (stage.* keys) load too."""
    import torch

    from engine.models.sci import SCITrainingNet
    from engine.runtime.weights import update_manifest_entry

    torch.manual_seed(0)
    net = SCITrainingNet()
    torch.save({"format": 1, "method": "sci", "state_dict": net.state_dict(), "arch": {"stages": 3}},
               tmp_path / "sci.pt")
    update_manifest_entry({"file": "sci.pt", "kind": "checkpoint"}, tmp_path)
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(tmp_path))
    enh = registry.create("sci", backend="torch", device="cpu")
    f = np.full((8, 8, 3), 30, np.uint8)
    assert enh.reference(f).shape == f.shape


def test_wrong_architecture_is_a_weights_error(tmp_path, monkeypatch) -> None:
    import torch

    from engine.runtime.weights import update_manifest_entry

    torch.save({"format": 1, "method": "zerodce", "state_dict": DCENetPP().state_dict(), "arch": {}},
               tmp_path / "zerodce.pt")
    update_manifest_entry({"file": "zerodce.pt", "kind": "checkpoint"}, tmp_path)
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="does not fit the zerodce network"):
        registry.create("zerodce", backend="torch")


def test_export_a_given_checkpoint(tmp_path) -> None:
    own = tmp_path / "own"
    ckpt = write_checkpoint(own, "zerodce", seed=2)
    out = tmp_path / "out"
    assert main(["export-onnx", "--method", "zerodce", "--weights", str(ckpt), "--out-dir", str(out)]) == 0
    entry = json.loads((out / "MANIFEST.json").read_text())["files"][0]
    assert entry["file"] == "zerodce.onnx" and entry["source_sha256"] == sha256_file(ckpt)
    assert main(["export-onnx", "--weights", str(ckpt), "--out-dir", str(out)]) == 2  # needs one method
