"""Paired training (NAFNet, MIRNetv2, jin2023): the networks' contract (shapes, range, odd
sizes, parameter counts), the fixed block validation split, the losses, a training smoke run
on tiny pairs made here, resume = uninterrupted, and the ``lowlight train --pairs`` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.models import jin2023, mirnetv2, nafnet
from engine.train.data import DataError
from engine.train.paired import (
    PairedConfig,
    charbonnier,
    compute_losses,
    default_weights,
    perceptual_substitute,
    ssim_loss_map,
    train_paired,
)
from engine.train.paired_data import PairCropSampler, block_split, list_pairs, load_pairs

REPO = Path(__file__).resolve().parents[2]
MODULES = {"nafnet": nafnet, "mirnetv2": mirnetv2, "jin2023": jin2023}


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("hw", [(37, 53), (16, 16), (5, 9), (64, 31)])
def test_network_keeps_odd_shapes_and_range(name, hw):
    torch.manual_seed(0)
    net = MODULES[name].build().eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_parameter_counts_of_the_default_configs():
    assert _params(nafnet.build()) == 1_137_203
    assert _params(mirnetv2.build()) == 181_647
    assert _params(jin2023.build()) == 1_099  # the paper: about 1.3 k
    # the training-only auxiliary blocks are not part of the inference network
    tr = jin2023.build_training(3)
    assert _params(tr) == 1_099 + 2 * (3 * 3 * 9 + 3 + 1)


def test_module_constants_and_build_overrides():
    for mod in MODULES.values():
        assert isinstance(mod.ARCH, dict) and mod.PAPER and "research use" in mod.LICENCE
    small = nafnet.build(width=8, enc_blocks=[1, 1], dec_blocks=[1, 1])
    assert small.multiple == 4 and _params(small) < _params(nafnet.build())
    assert _params(mirnetv2.build(channels=8)) < _params(mirnetv2.build())


def test_nafnet_starts_as_identity_plus_ending_conv():
    # beta/gamma start at zero, so each NAF block is the identity at initialisation
    blk = nafnet.NAFBlock(8)
    x = torch.randn(1, 8, 9, 7)
    assert torch.equal(blk(x), x)


def test_jin2023_illumination_and_retinex_output():
    torch.manual_seed(1)
    net = jin2023.build().eval()
    x = torch.rand(1, 3, 23, 17) * 0.3
    with torch.no_grad():
        u = net.illumination(x)
        y = net(x)
    assert u.shape == x.shape and float(u.min()) > 0.0 and float(u.max()) <= 1.0
    assert torch.allclose(y, torch.clamp(x / u, 0, 1))
    assert torch.all(u >= x - 1e-6)  # u = x + r with r > 0: the output never darkens


def test_jin2023_training_cascade_shares_one_stage():
    tr = jin2023.build_training(3)
    x = torch.rand(2, 3, 20, 20)
    inputs, illus, outs = tr(x)
    assert len(inputs) == len(illus) == len(outs) == 3
    assert torch.equal(inputs[0], x)
    with torch.no_grad():
        assert torch.allclose(tr.net(x), outs[0])


# ---------------------------------------------------------------- split and data


def test_block_split_is_disjoint_contiguous_and_fixed():
    names = [str(n) for n in range(1, 406)]
    tr, va, gu = block_split(names, 0.1, 4, 2)
    assert len(va) == 41
    assert not (set(tr) & set(va)) and not (set(tr) & set(gu)) and not (set(va) & set(gu))
    assert sorted(tr + va + gu) == list(range(405))
    runs = np.split(np.array(va), np.flatnonzero(np.diff(va) > 1) + 1)
    assert len(runs) == 4 and all(len(r) >= 10 for r in runs)
    for r in runs:  # the guard band keeps the neighbours of every block out of training
        for k in (1, 2):
            assert r[0] - k not in tr and r[-1] + k not in tr
    assert block_split(names, 0.1, 4, 2) == (tr, va, gu)


@pytest.mark.parametrize("n", [6, 10, 57, 485])
def test_block_split_never_overlaps_any_size(n):
    tr, va, gu = block_split([str(i) for i in range(n)], 0.1, 4, 2)
    assert tr and va and not (set(tr) & set(va))


def test_block_split_refuses_a_set_the_guard_band_would_empty():
    with pytest.raises(DataError, match="no training pairs"):
        block_split(["1", "2", "3"], 0.1, 4, 2)


def _make_pairs(folder: Path, n: int = 20, h: int = 40, w: int = 56) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    low, high = folder / "low", folder / "high"
    low.mkdir(parents=True)
    high.mkdir(parents=True)
    for i in range(1, n + 1):
        hi = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (5, 5), 2)
        lo = (hi.astype(np.float32) * 0.15).astype(np.uint8)
        cv2.imwrite(str(low / f"{i}.png"), lo)
        cv2.imwrite(str(high / f"{i}.png"), hi)
    return low, high


def test_list_pairs_matches_stems_and_reports_orphans(tmp_path):
    low, high = _make_pairs(tmp_path, 4)
    pairs = list_pairs(low, high)
    assert [p.name for p in pairs] == ["1", "2", "3", "4"]
    (high / "4.png").unlink()
    with pytest.raises(DataError, match="without a partner"):
        list_pairs(low, high)


def test_crop_sampler_aligns_pairs_and_is_seeded(tmp_path):
    low, high = _make_pairs(tmp_path, 6)
    data = load_pairs(list_pairs(low, high))
    s = PairCropSampler(data, batch=3, crop=24, scale_min=0.5, crops_per_image=2)
    assert s.batches_per_epoch() == 4
    a = list(s.epoch(np.random.default_rng(5)))
    b = list(s.epoch(np.random.default_rng(5)))
    assert len(a) == 4
    for (l1, h1), (l2, h2) in zip(a, b):
        assert l1.shape == (3, 3, 24, 24) and torch.equal(l1, l2) and torch.equal(h1, h2)
        # the low image is 0.15 x the high one: crops and flips were applied alike
        assert torch.allclose(l1, h1 * 0.15, atol=3 / 255)


# ---------------------------------------------------------------- losses


def test_losses_vanish_at_the_target_and_grow_away():
    t = torch.rand(2, 3, 24, 24)
    assert charbonnier(t, t).item() == pytest.approx(1e-3, abs=1e-7)
    assert charbonnier(t * 0.5, t) > charbonnier(t * 0.9, t)
    assert perceptual_substitute(t, t).item() == pytest.approx(0.0, abs=1e-5)
    assert ssim_loss_map(t, t).mean().item() == pytest.approx(1.0, abs=1e-5)
    assert perceptual_substitute(t * 0.3, t) > perceptual_substitute(t * 0.8, t) > 0


def test_jin2023_loss_has_the_three_terms_and_the_ablation_drops_one():
    torch.manual_seed(0)
    net = jin2023.build_training(3)
    lo, hi = torch.rand(2, 3, 24, 24) * 0.2, torch.rand(2, 3, 24, 24)
    w = default_weights("jin2023")
    assert w == {"fid": 0.8, "smooth": 0.65, "perc": 0.5}
    total, terms = compute_losses("jin2023", net, lo, hi, w)
    assert total.item() == pytest.approx(0.8 * terms["fid"] + 0.65 * terms["smooth"] + 0.5 * terms["perc"], rel=1e-5)
    total0, terms0 = compute_losses("jin2023", net, lo, hi, {**w, "perc": 0.0})
    assert total0.item() == pytest.approx(0.8 * terms0["fid"] + 0.65 * terms0["smooth"], rel=1e-5)


# ---------------------------------------------------------------- training runs


def _cfg(tmp_path: Path, low: Path, high: Path, method: str, epochs: int, run: str, **kw) -> PairedConfig:
    small = {"nafnet": {"width": 8, "enc_blocks": [1, 1], "dec_blocks": [1, 1]}, "mirnetv2": {"channels": 8}}
    return PairedConfig(method=method, low=str(low), high=str(high), epochs=epochs,
                        out=str(tmp_path / run / f"{method}.pt"), batch=4, crop=24, scale_min=0.5,
                        run_dir=str(tmp_path / run), arch=small.get(method, {}), val_reduced=32, **kw)


@pytest.mark.parametrize("method", ["nafnet", "mirnetv2", "jin2023"])
def test_training_smoke_exports_a_loadable_checkpoint(tmp_path, method):
    low, high = _make_pairs(tmp_path / "d")
    res = train_paired(_cfg(tmp_path, low, high, method, 2, "r"), progress=False, log=lambda s: None)
    assert res["epochs_run"] == 2 and len(res["history"]) == 2
    assert set(res["validation"]).isdisjoint(res["guard"])
    assert {"psnr", "ssim", "psnr_reduced", "ssim_reduced"} <= set(res["history"][-1])
    assert res["baseline"]["psnr"] < 15.0  # the dark inputs are far from their targets
    ck = torch.load(tmp_path / "r" / f"{method}.pt", map_location="cpu", weights_only=True)
    assert ck["method"] == method and ck["epoch"] == res["best_epoch"]
    net = MODULES[method].build(**ck["arch"])
    net.load_state_dict(ck["state_dict"])
    y = net.eval()(torch.rand(1, 3, 19, 23))
    assert y.shape == (1, 3, 19, 23)


def test_training_improves_nafnet_on_an_easy_task(tmp_path):
    low, high = _make_pairs(tmp_path / "d")
    cfg = _cfg(tmp_path, low, high, "nafnet", 8, "r", lr=3e-3, crops_per_image=4)
    res = train_paired(cfg, progress=False, log=lambda s: None)
    assert res["best"]["psnr"] > res["baseline"]["psnr"] + 3.0


def test_resume_equals_uninterrupted(tmp_path):
    low, high = _make_pairs(tmp_path / "d")
    full = train_paired(_cfg(tmp_path, low, high, "jin2023", 3, "a"), progress=False, log=lambda s: None)
    # interrupted after 2 of the 3 planned epochs (same schedule), then resumed for the last one
    _train_epochs(_cfg(tmp_path, low, high, "jin2023", 3, "b"), stop_after=2)
    rest = _cfg(tmp_path, low, high, "jin2023", 3, "b", resume=True)
    res = train_paired(rest, progress=False, log=lambda s: None)
    assert res["epochs_run"] == 1
    assert _same_but_timing(res["history"], full["history"])
    a = torch.load(tmp_path / "a" / "jin2023.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b" / "jin2023.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _same_but_timing(h1: list[dict], h2: list[dict]) -> bool:
    strip = lambda h: [{k: v for k, v in r.items() if k != "epoch_s"} for r in h]  # noqa: E731
    return strip(h1) == strip(h2)


def _train_epochs(cfg: PairedConfig, stop_after: int) -> None:
    """Run ``cfg`` but interrupt it (as a kill would) after ``stop_after`` epochs."""

    class Stop(Exception):
        pass

    def log(line: str) -> None:
        if f"epoch {stop_after}/" in line:
            raise Stop

    with pytest.raises(Stop):
        train_paired(cfg, progress=False, log=log)


def test_cli_trains_pairs_and_records_the_manifest(tmp_path):
    low, high = _make_pairs(tmp_path / "d", n=12)
    out = tmp_path / "w" / "jin2023.pt"
    cmd = [sys.executable, "-m", "engine", "train", "--method", "jin2023", "--pairs", str(low), str(high),
           "--epochs", "1", "--crop", "24", "--batch", "4", "--out", str(out), "--run-dir",
           str(tmp_path / "run"), "--no-progress", "--manifest", "--val-reduced", "0"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "w" / "MANIFEST.json").read_text())
    e = m["files"][0]
    assert e["file"] == "jin2023.pt" and e["parameters"] == 1099 and len(e["sha256"]) == 64
    assert e["data"]["validation_pairs"] and "research use" in e["data"]["licence"]
    assert "psnr" in e["metrics"]["validation"] and "psnr" in e["metrics"]["validation_input"]


def test_cli_rejects_bad_combinations(tmp_path):
    low, high = _make_pairs(tmp_path / "d", n=4)
    base = [sys.executable, "-m", "engine", "train", "--epochs", "1"]
    for extra, msg in [
        (["--method", "sci", "--pairs", str(low), str(high)], "--pairs trains"),
        (["--method", "nafnet"], "exactly one of --data"),
        (["--method", "nafnet", "--pairs", str(low), str(high), "--crop", "16-32"], "one crop size"),
    ]:
        r = subprocess.run(base + extra, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and msg in r.stderr, r.stderr


def test_resume_with_no_epochs_left_exports_the_best_epoch_again(tmp_path):
    # how a run stopped by the clock is exported: resume with --epochs = the epochs done
    low, high = _make_pairs(tmp_path / "d")
    cfg = _cfg(tmp_path, low, high, "jin2023", 2, "r")
    first = train_paired(cfg, progress=False, log=lambda s: None)
    again = _cfg(tmp_path, low, high, "jin2023", 2, "r", resume=True)
    again.out = str(tmp_path / "again.pt")
    res = train_paired(again, progress=False, log=lambda s: None)
    assert res["epochs_run"] == 0 and res["best_epoch"] == first["best_epoch"]
    assert res["history"] == first["history"] and res["baseline"] == first["baseline"]
    a = torch.load(cfg.out, weights_only=True)["state_dict"]
    b = torch.load(again.out, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    low, high = _make_pairs(tmp_path / "d")
    first = _cfg(tmp_path, low, high, "nafnet", 1, "a")
    train_paired(first, progress=False, log=lambda s: None)
    # one epoch at a learning rate too small to move the weights measurably: the
    # validation figures are those of the initial checkpoint, not of random weights
    tuned = _cfg(tmp_path, low, high, "nafnet", 1, "b", init=first.out, lr=1e-12)
    res = train_paired(tuned, progress=False, log=lambda s: None)
    fresh = train_paired(_cfg(tmp_path, low, high, "nafnet", 1, "c", lr=1e-12), progress=False, log=lambda s: None)
    a = torch.load(first.out, weights_only=True)["state_dict"]
    b = torch.load(tuned.out, weights_only=True)["state_dict"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert res["history"][0]["psnr"] != fresh["history"][0]["psnr"]
    with pytest.raises(Exception, match="not a mirnetv2 checkpoint"):
        train_paired(_cfg(tmp_path, low, high, "mirnetv2", 1, "d", init=first.out), progress=False,
                     log=lambda s: None)


def test_ema_validates_and_exports_the_averaged_weights_and_resumes(tmp_path):
    low, high = _make_pairs(tmp_path / "d")
    full = train_paired(_cfg(tmp_path, low, high, "nafnet", 3, "a", ema=0.9, lr=3e-3), progress=False,
                        log=lambda s: None)
    plain = train_paired(_cfg(tmp_path, low, high, "nafnet", 3, "p", lr=3e-3), progress=False,
                         log=lambda s: None)
    assert [h["psnr"] for h in full["history"]] != [h["psnr"] for h in plain["history"]]
    # the exported weights are the average, not the last raw weights
    st = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    ck = torch.load(tmp_path / "a" / "nafnet.pt", weights_only=True)
    assert full["best_epoch"] == 3  # the easy task improves every epoch
    assert all(torch.equal(ck["state_dict"][k], st["ema_state"][k]) for k in ck["state_dict"])
    assert not all(torch.equal(st["model"][k], st["ema_state"][k]) for k in ck["state_dict"])
    # resumed runs carry the average on
    _train_epochs(_cfg(tmp_path, low, high, "nafnet", 3, "b", ema=0.9, lr=3e-3), stop_after=2)
    res = train_paired(_cfg(tmp_path, low, high, "nafnet", 3, "b", ema=0.9, lr=3e-3, resume=True),
                       progress=False, log=lambda s: None)
    assert _same_but_timing(res["history"], full["history"])
    with pytest.raises(Exception, match="EMA decay"):
        train_paired(_cfg(tmp_path, low, high, "nafnet", 1, "e", ema=1.0), progress=False, log=lambda s: None)
