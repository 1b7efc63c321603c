"""``--weights`` never runs another model: a checkpoint of another method, an older
checkpoint without its method recorded, a stale ONNX graph beside a user's checkpoint."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import registry
from engine.cli import main
from engine.runtime.onnx_export import export_method
from engine.runtime.selection import network_spec, resolve
from engine.runtime.weights import WeightsError

from learned_helpers import write_checkpoint


def _without_method(src: Path, dst: Path) -> Path:
    """A copy of a checkpoint as written before the method was recorded in it."""
    data = torch.load(src, map_location="cpu", weights_only=True)
    data.pop("method", None)
    torch.save(data, dst)
    return dst


@pytest.mark.parametrize("method,file", [("zerodce", "sci.pt"), ("sci", "zerodce.pt"),
                                         ("zerodce++", "zerodce.pt")])
@pytest.mark.parametrize("backend", ["auto", "onnx", "torch"])
def test_another_methods_checkpoint_is_refused(weights, method, file, backend):
    with pytest.raises(WeightsError, match=f"holds weights for .*not '{re.escape(method)}'.*use --method"):
        registry.create(method, backend=backend, device="cpu", weights=str(weights / file))


def test_cli_names_the_mismatch_in_one_line(weights, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    assert main(["enhance", "demo", "-o", str(out), "-m", "zerodce",
                 "--weights", str(weights / "sci.pt"), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds weights for 'sci', not 'zerodce'" in err and len(err.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("method,file,fits", [("sci", "zerodce.pt", "zerodce"),
                                              ("zerodce", "sci.pt", "sci"),
                                              ("zerodce++", "zerodce.pt", "zerodce")])
def test_older_checkpoint_judged_by_its_parameters(weights, tmp_path, method, file, fits):
    old = _without_method(weights / file, tmp_path / "old.pt")
    with pytest.raises(WeightsError, match=re.escape(f"does not fit the {method} network; it fits {fits}")) as e:
        registry.create(method, device="cpu", weights=str(old))
    assert "\n" not in str(e.value) and len(str(e.value)) < 400
    # and the same file under its own method runs
    assert registry.create(fits, device="cpu", weights=str(old)).runtime_label() == "torch/cpu"


def test_stale_graph_beside_a_user_checkpoint_is_not_run(weights, tmp_path):
    own = tmp_path / "own"
    ckpt = write_checkpoint(own, "sci", seed=7)
    shutil.copy(weights / "sci.onnx", own / "sci.onnx")  # a graph of other weights
    kind, _, path = resolve(network_spec("sci"), "auto", "cpu", str(ckpt))
    assert (kind, path) == ("torch", ckpt)
    with pytest.raises(WeightsError, match="was not exported from the current sci.pt"):
        resolve(network_spec("sci"), "onnx", "cpu", str(ckpt))
    # exported from this very checkpoint (its MANIFEST.json says so): the graph is used
    export_method(network_spec("sci"), own, str(ckpt))
    kind, _, path = resolve(network_spec("sci"), "auto", "cpu", str(ckpt))
    assert (kind, path) == ("onnx", own / "sci.onnx")
    # and a changed checkpoint makes it stale again
    write_checkpoint(own, "sci", seed=8)
    assert resolve(network_spec("sci"), "auto", "cpu", str(ckpt))[0] == "torch"


def test_stale_graph_would_give_other_pictures(weights, tmp_path):
    """The case above matters: the shipped graph and the user's weights differ."""
    own = tmp_path / "own"
    ckpt = write_checkpoint(own, "sci", seed=7)
    frame = np.full((32, 48, 3), 30, np.uint8)
    mine = registry.create("sci", backend="torch", device="cpu", weights=str(ckpt))
    shipped = registry.create("sci", backend="onnx", device="cpu")
    shutil.copy(weights / "sci.onnx", own / "sci.onnx")
    chosen = registry.create("sci", device="cpu", weights=str(ckpt))
    params = registry.get("sci").default_params()
    a, b = mine.enhance(frame, params), shipped.enhance(frame, params)
    assert not np.array_equal(a, b)
    assert np.array_equal(chosen.enhance(frame, params), a)


def test_graph_of_another_method_given_directly(weights):
    with pytest.raises(WeightsError, match="is the graph of 'zerodce', not 'sci'"):
        registry.create("sci", device="cpu", weights=str(weights / "zerodce.onnx"))
