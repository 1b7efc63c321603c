"""Zero-reference training: losses, data, the loop (smoke, determinism, resume), the
shipped checkpoint format and the ``lowlight train`` CLI. Tiny synthetic data only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.train import losses as L
from engine.train.data import CropSampler, DataError, list_images, mean_grey, select_dark, split_holdout
from engine.train.loop import TrainConfig, build_training_net, compute_losses, train

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- losses

def test_exposure_loss_zero_at_level_and_grows_away():
    x = torch.full((2, 3, 32, 32), 0.6)
    assert L.exposure_loss(x, 0.6).item() == pytest.approx(0.0, abs=1e-6)
    assert L.exposure_loss(torch.full_like(x, 0.2), 0.6).item() == pytest.approx(0.4, abs=1e-6)
    assert L.exposure_loss(torch.full_like(x, 0.2), 0.5) < L.exposure_loss(torch.full_like(x, 0.1), 0.5)


def test_exposure_loss_uses_patch_means():
    # a checkerboard of 0.4/0.8 averages to 0.6 in every 16x16 patch
    x = torch.zeros(1, 3, 32, 32)
    x[..., ::2, ::2] = x[..., 1::2, 1::2] = 0.8
    x[..., ::2, 1::2] = x[..., 1::2, ::2] = 0.4
    assert L.exposure_loss(x, 0.6).item() == pytest.approx(0.0, abs=1e-6)


def test_color_constancy_zero_for_grey_positive_for_cast():
    grey = torch.rand(2, 1, 16, 16).expand(2, 3, 16, 16)
    assert L.color_constancy_loss(grey).item() == pytest.approx(0.0, abs=1e-10)
    cast = torch.cat([torch.full((1, 1, 8, 8), 0.6), torch.full((1, 1, 8, 8), 0.4),
                      torch.full((1, 1, 8, 8), 0.4)], 1)
    # (0.2)^2 + (0.2)^2 + 0
    assert L.color_constancy_loss(cast).item() == pytest.approx(0.08, abs=1e-6)


def test_illumination_smoothness_zero_for_constant_maps():
    a = torch.full((2, 24, 16, 16), 0.3)
    assert L.illumination_smoothness_loss(a).item() == 0.0
    b = a.clone()
    b[..., 8:] = -0.3
    assert L.illumination_smoothness_loss(b).item() > 0


def test_illumination_smoothness_sums_over_channels():
    a = torch.zeros(1, 3, 8, 8)
    a[:, 0, :, 4:] = 1.0  # one vertical edge in one channel: dx mean = 8/(8*7)
    assert L.illumination_smoothness_loss(a).item() == pytest.approx(8 / 56, rel=1e-6)
    assert L.illumination_smoothness_loss(a.repeat(1, 8, 1, 1)).item() == pytest.approx(8 * 8 / 56, rel=1e-6)


def test_spatial_consistency_zero_for_identity_and_scaled_contrast_positive():
    x = torch.rand(2, 3, 32, 32)
    assert L.spatial_consistency_loss(x, x).item() == pytest.approx(0.0, abs=1e-10)
    assert L.spatial_consistency_loss(x * 0.2, x).item() > 0
    # a global offset keeps neighbour differences except at the zero-padded border
    flat = torch.full((1, 3, 32, 32), 0.2)
    assert L.spatial_consistency_loss(flat + 0.3, flat).item() > 0


def test_sci_fidelity_and_smoothness():
    x = torch.rand(1, 3, 16, 16)
    assert L.sci_fidelity_loss(x, x).item() == 0.0
    const = torch.full((1, 3, 16, 16), 0.5)
    assert L.sci_smoothness_loss(x, const).item() == pytest.approx(0.0, abs=1e-7)
    assert L.sci_smoothness_loss(x, x).item() > 0


def test_sci_smoothness_allows_changes_at_input_edges():
    # the same illumination step costs less where the input has an edge than where it is flat
    step = torch.zeros(1, 3, 16, 16)
    step[..., 8:] = 1.0
    illu = step * 0.5 + 0.25
    flat = torch.full_like(step, 0.5)
    assert L.sci_smoothness_loss(step, illu) < L.sci_smoothness_loss(flat, illu)


# ---------------------------------------------------------------- data

def _write_images(folder: Path, n: int, size: int = 40, seed: int = 0, dark: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(n):
        base = (xx / size)[..., None] * rng.uniform(0.3, 1.0, 3) + (yy / size)[..., None] * 0.3
        img = base * (0.15 if dark else 0.6) + rng.normal(0, 0.01, (size, size, 3))
        cv2.imwrite(str(folder / f"{i + 1}.png"), np.clip(img * 255, 0, 255).astype(np.uint8))
    return folder


def test_list_images_natural_order_and_errors(tmp_path):
    d = _write_images(tmp_path / "d", 11)
    assert [f.name for f in list_images(d)][:3] == ["1.png", "2.png", "3.png"]
    assert list_images(d)[-1].name == "11.png"
    with pytest.raises(DataError, match="not found"):
        list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        list_images(tmp_path / "empty")


def test_split_holdout_takes_last_block(tmp_path):
    files = [Path(f"{i}.jpg") for i in range(1, 41)]
    tr, held = split_holdout(files, 0.05)
    assert [f.name for f in held] == ["39.jpg", "40.jpg"] and len(tr) == 38
    assert split_holdout(files, 0.0)[1] == []


def test_crop_sampler_is_seeded_and_in_range():
    imgs = np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    s = CropSampler(imgs, batch=2, crop_min=16, crop_max=48)
    a = list(s.epoch(np.random.default_rng(3)))
    b = list(s.epoch(np.random.default_rng(3)))
    assert len(a) == 2
    for x, y in zip(a, b):
        assert torch.equal(x, y)
        assert x.dtype == torch.float32 and x.shape[1] == 3 and x.shape[2] % 16 == 0
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


def test_select_dark_keeps_only_images_below_the_mean():
    imgs = np.stack([np.full((8, 8, 3), v, np.uint8) for v in (20, 200, 60, 77, 76)])
    np.testing.assert_allclose(mean_grey(imgs), np.array([20, 200, 60, 77, 76]) / 255.0)
    assert select_dark(imgs, 0.3).tolist() == [0, 2, 4]  # 76/255 = 0.298 < 0.3 <= 77/255
    with pytest.raises(DataError, match="no training image"):
        select_dark(imgs, 0.05)
    with pytest.raises(DataError, match="must be in"):
        select_dark(imgs, 0.0)


def test_train_max_mean_selects_under_exposed_images(tmp_path):
    data = tmp_path / "data"
    _write_images(data, 4, dark=True)
    for i in range(5, 9):  # bright images, interleaved in natural order after the dark ones
        cv2.imwrite(str(data / f"{i}.png"), np.full((40, 40, 3), 170, np.uint8))
    r = train(_cfg(tmp_path, "sci", data, max_mean=0.3), progress=False, log=lambda s: None)
    assert r["train_images"] == 4 and r["candidate_images"] == 8
    r = train(_cfg(tmp_path / "all", "sci", data), progress=False, log=lambda s: None)
    assert r["train_images"] == 8


# ---------------------------------------------------------------- loop

def _cfg(tmp_path: Path, method: str, data: Path, **kw) -> TrainConfig:
    base = dict(method=method, data=str(data), epochs=1, out=str(tmp_path / "out" / "w.pt"),
                seed=1, batch=2, size=32, crop_min=16, crop_max=32, holdout=0.0,
                run_dir=str(tmp_path / "run"), use_cache=False, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def _assert_steps_lower_the_loss(cfg, x: torch.Tensor, steps: int = 15) -> None:
    """``steps`` Adam steps (lr 3e-3) of ``cfg``'s net and losses on the batch ``x`` lower the loss."""
    net = build_training_net(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    w = cfg.resolved_weights()
    first = None
    for _ in range(steps):
        loss, _ = compute_losses(cfg, net, x, w)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    final, _ = compute_losses(cfg, net, x, w)
    assert final.item() < first


@pytest.mark.parametrize("method", ["sci", "zerodce", "zerodce++"])
def test_training_steps_lower_the_loss(tmp_path, method):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0.02, 0.2, (2, 3, 32, 32)).astype(np.float32))
    cfg = _cfg(tmp_path, method, tmp_path, lr=3e-3)
    _assert_steps_lower_the_loss(cfg, x)


@pytest.mark.parametrize("method", ["sci", "zerodce++"])
def test_seed_determinism(tmp_path, method):
    data = _write_images(tmp_path / "data", 6)
    r1 = train(_cfg(tmp_path / "a", method, data, epochs=2), progress=False, log=lambda s: None)
    r2 = train(_cfg(tmp_path / "b", method, data, epochs=2), progress=False, log=lambda s: None)
    c1 = torch.load(tmp_path / "a" / "out" / "w.pt", weights_only=True)
    c2 = torch.load(tmp_path / "b" / "out" / "w.pt", weights_only=True)
    assert r1["final_losses"] == r2["final_losses"]
    for k in c1["state_dict"]:
        assert torch.equal(c1["state_dict"][k], c2["state_dict"][k]), k
    r3 = train(_cfg(tmp_path / "c", method, data, epochs=2, seed=2), progress=False, log=lambda s: None)
    assert r3["final_losses"] != r1["final_losses"]


def test_resume_continues_to_the_same_weights(tmp_path):
    data = _write_images(tmp_path / "data", 6)
    train(_cfg(tmp_path / "full", "zerodce", data, epochs=2), progress=False, log=lambda s: None)
    train(_cfg(tmp_path / "part", "zerodce", data, epochs=1), progress=False, log=lambda s: None)
    r = train(_cfg(tmp_path / "part", "zerodce", data, epochs=2, resume=True), progress=False, log=lambda s: None)
    assert r["epochs_run"] == 1 and [h["epoch"] for h in r["history"]] == [1, 2]
    a = torch.load(tmp_path / "full" / "out" / "w.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "part" / "out" / "w.pt", weights_only=True)["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_without_state_fails(tmp_path):
    from engine.train.loop import TrainError

    data = _write_images(tmp_path / "data", 4)
    with pytest.raises(TrainError, match="cannot resume"):
        train(_cfg(tmp_path, "sci", data, resume=True), progress=False, log=lambda s: None)


def test_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LOWLIGHT_CACHE", str(tmp_path / "cache"))
    data = _write_images(tmp_path / "data", 4)
    train(_cfg(tmp_path, "zerodce++", data, use_cache=True), progress=False, log=lambda s: None)
    cached = list((tmp_path / "cache").glob("*.npy"))
    assert len(cached) == 1 and np.load(cached[0]).shape == (4, 32, 32, 3)
    stamp = cached[0].stat().st_mtime_ns
    train(_cfg(tmp_path, "zerodce++", data, use_cache=True), progress=False, log=lambda s: None)
    assert cached[0].stat().st_mtime_ns == stamp


@pytest.mark.parametrize("method,cls_name", [("sci", "IlluminationStage"), ("zerodce", "DCENet"),
                                             ("zerodce++", "DCENetPP")])
def test_checkpoint_format_loads_and_verifies(tmp_path, monkeypatch, method, cls_name):
    import engine.models.sci as sci
    import engine.models.zerodce as zd
    from engine.train.manifest import record
    from engine.runtime.weights import WeightsError, load_checkpoint

    wdir = tmp_path / "weights"
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(wdir))
    data = _write_images(tmp_path / "data", 8)
    cfg = _cfg(tmp_path, method, data, out=str(wdir / "m.pt"), holdout=0.25)
    result = train(cfg, progress=False, log=lambda s: None)
    raw = torch.load(wdir / "m.pt", weights_only=True)
    assert raw["format"] == 1 and raw["method"] == method and raw["train_size"] == 32
    assert raw["exposure_level"] == pytest.approx(0.6)
    cls = getattr(sci if method == "sci" else zd, cls_name)
    net = cls(**raw["arch"])
    net.load_state_dict(raw["state_dict"])  # exact parameter names
    entry = record(cfg, result, "lowlight train --test")
    assert entry["kind"] == "checkpoint" and entry["command"] == "lowlight train --test"
    ck = load_checkpoint("m.pt")
    assert set(ck["state_dict"]) == set(net.state_dict())
    manifest = json.loads((wdir / "MANIFEST.json").read_text())
    assert manifest["files"][0]["file"] == "m.pt" and len(manifest["files"][0]["sha256"]) == 64
    with open(wdir / "m.pt", "ab") as f:
        f.write(b"tampered")
    with pytest.raises(WeightsError, match="integrity"):
        load_checkpoint("m.pt")


# ---------------------------------------------------------------- evaluation helpers

def test_evaluate_enhance_shapes_and_metrics():
    from engine.models.zerodce import DCENetPP
    from engine.models.sci import IlluminationStage
    from engine.train.evaluate import darken, enhance, gamma_to_mean, psnr, ssim

    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (37, 53, 3), dtype=np.uint8)
    for method, net in [("sci", IlluminationStage().eval()), ("zerodce++", DCENetPP().eval())]:
        out = enhance(method, net, img, 16)
        assert out.shape == (37, 53, 3) and 0.0 <= out.min() and out.max() <= 1.0
    g = gamma_to_mean(img)
    assert abs(float((g @ np.array([0.299, 0.587, 0.114])).mean()) - 0.45) < 0.1
    ref = rng.random((32, 32, 3)).astype(np.float32)
    assert psnr(ref, ref) == float("inf") and ssim(ref, ref) == pytest.approx(1.0)
    assert ssim(ref, ref * 0.5) < 1.0
    dark, p = darken((ref * 255).astype(np.uint8), rng)
    assert dark.dtype == np.uint8 and dark.mean() < ref.mean() * 255


# ---------------------------------------------------------------- CLI

def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "engine", "train", *args], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("case", ["missing", "empty", "method"])
def test_cli_errors_are_one_line(tmp_path, case):
    (tmp_path / "empty").mkdir()
    data = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "method": tmp_path / "empty"}[case]
    method = "retinex" if case == "method" else "sci"
    r = _cli("--method", method, "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "w.pt"))
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert {"missing": "not found", "empty": "no images", "method": "unknown method"}[case] in lines[0]
    assert not (tmp_path / "w.pt").exists()


def test_cli_trains_and_records(tmp_path):
    data = _write_images(tmp_path / "data", 6)
    wdir = tmp_path / "weights"
    r = _cli("--method", "zerodce++", "--data", str(data), "--epochs", "1", "--size", "32",
             "--crop", "16-32", "--batch", "2", "--holdout", "0", "--no-progress", "--no-cache",
             "--run-dir", str(tmp_path / "run"), "--manifest", "--weight", "tv=800",
             env_extra={"LOWLIGHT_WEIGHTS": str(wdir)})
    assert r.returncode == 0, r.stderr
    entry = json.loads((wdir / "MANIFEST.json").read_text())["files"][0]
    assert entry["file"] == "zerodcepp.pt" and entry["loss_weights"]["tv"] == 800.0
    assert entry["command"].startswith("lowlight train --method zerodce++")
    assert (tmp_path / "run" / "last.pt").exists()


def test_sci_colour_term_is_optional_and_penalises_a_cast(tmp_path):
    torch.manual_seed(0)
    cfg = _cfg(tmp_path, "sci", tmp_path, weights={"exp": 10.0, "col": 10.0}, exposure_level=0.5)
    net = build_training_net(cfg)
    grey = torch.full((2, 3, 32, 32), 0.1)
    cast = grey.clone()
    cast[:, 1] = 0.2  # green cast
    w = cfg.resolved_weights()
    _, t_grey = compute_losses(cfg, net, grey, w)
    _, t_cast = compute_losses(cfg, net, cast, w)
    assert t_cast["col"] > t_grey["col"]
    off = _cfg(tmp_path, "sci", tmp_path)
    assert off.resolved_weights()["col"] == 0.0
    _, t = compute_losses(off, net, grey, off.resolved_weights())
    assert "col" not in t


# ---------------------------------------------------------------- exposure patch, noise-robust smoothness

def test_exposure_loss_whole_crop_ignores_local_contrast():
    # half 0.3, half 0.7: every 16x16 patch is 0.2 away from E = 0.5, the whole crop is exactly at it
    x = torch.full((1, 3, 32, 32), 0.3)
    x[..., 16:] = 0.7
    assert L.exposure_loss(x, 0.5, patch=16).item() == pytest.approx(0.2, abs=1e-6)
    assert L.exposure_loss(x, 0.5, patch=0).item() == pytest.approx(0.0, abs=1e-6)
    # per image, then averaged over the batch
    y = torch.cat([x, torch.full_like(x, 0.1)])
    assert L.exposure_loss(y, 0.5, patch=0).item() == pytest.approx(0.2, abs=1e-6)


def test_gaussian_blur_keeps_constants_and_removes_noise():
    flat = torch.full((1, 3, 17, 9), 0.4)
    assert torch.allclose(L.gaussian_blur(flat, 2.0), flat, atol=1e-6)
    assert torch.equal(L.gaussian_blur(flat, 0.0), flat)
    noisy = flat + 0.05 * torch.randn(1, 3, 17, 9, generator=torch.Generator().manual_seed(0))
    b = L.gaussian_blur(noisy, 1.5)
    assert b.shape == noisy.shape and b.std() < 0.5 * noisy.std()
    assert L.gaussian_blur(torch.rand(1, 3, 1, 1), 3.0).shape == (1, 3, 1, 1)


def test_sci_smoothness_with_guide_blur_does_not_let_the_illumination_follow_noise():
    # a flat scene with pixel noise: an illumination that copies the noise is cheap when the
    # weights come from the noisy input (noise reads as edges), expensive with a blurred guide
    g = torch.Generator().manual_seed(0)
    noisy = (0.2 + 0.15 * torch.randn(1, 3, 32, 32, generator=g)).clamp(0, 1)
    follows = noisy.clone()
    plain = L.sci_smoothness_loss(noisy, follows)
    robust = L.sci_smoothness_loss(noisy, follows, guide_blur=2.0)
    assert robust > 2 * plain
    # real edges still free the illumination with the blurred guide
    step = torch.zeros(1, 3, 32, 32)
    step[..., 16:] = 1.0
    illu = step * 0.5 + 0.25
    assert L.sci_smoothness_loss(step, illu, guide_blur=1.0) < L.sci_smoothness_loss(
        torch.full_like(step, 0.5), illu, guide_blur=1.0)


def test_new_options_are_validated_and_train(tmp_path):
    data = _write_images(tmp_path / "data", 6)
    with pytest.raises(Exception, match="exposure patch"):
        _cfg(tmp_path, "sci", data, exposure_patch=64).validate()  # larger than the 16 px crops
    with pytest.raises(Exception, match="guide blur"):
        _cfg(tmp_path, "sci", data, guide_blur=-1.0).validate()
    r = train(_cfg(tmp_path / "a", "sci", data, epochs=2, exposure_patch=0, guide_blur=1.5,
                   weights={"exp": 10.0, "col": 10.0}), progress=False, log=lambda s: None)
    assert len(r["history"]) == 2 and "exp" in r["final_losses"]


@pytest.mark.parametrize("method", ["sci", "zerodce"])
def test_training_with_whole_crop_exposure_and_guide_blur_lowers_the_loss(tmp_path, method):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(0.02, 0.2, (2, 3, 32, 32)).astype(np.float32))
    cfg = _cfg(tmp_path, method, tmp_path, lr=3e-3, exposure_patch=0, guide_blur=1.5,
               exposure_level=0.5, **({"weights": {"exp": 10.0, "col": 10.0}} if method == "sci" else {}))
    _assert_steps_lower_the_loss(cfg, x)


def test_init_starts_from_a_checkpoint_and_checks_it(tmp_path):
    data = _write_images(tmp_path / "data", 6)
    train(_cfg(tmp_path / "a", "zerodce++", data, epochs=1), progress=False, log=lambda s: None)
    first = tmp_path / "a" / "out" / "w.pt"

    cfg = _cfg(tmp_path / "b", "zerodce++", data, init=str(first))
    net = build_training_net(cfg)
    from engine.train.loop import _load_init
    _load_init(cfg, net)
    ck = torch.load(first, weights_only=True)
    for k, v in ck["state_dict"].items():
        assert torch.equal(net.state_dict()[k], v), k
    r = train(cfg, progress=False, log=lambda s: None)
    assert r["epochs_run"] == 1
    with pytest.raises(Exception, match="not a sci checkpoint"):
        train(_cfg(tmp_path / "c", "sci", data, init=str(first)), progress=False, log=lambda s: None)
    with pytest.raises(Exception, match="not found"):
        train(_cfg(tmp_path / "d", "sci", data, init=str(tmp_path / "nope.pt")), progress=False, log=lambda s: None)


def test_sci_with_the_shipped_options_is_seeded_and_resumes_to_the_same_weights(tmp_path):
    # the shipped SCI was trained in resumed chunks with these options: chunks == one run
    data = _write_images(tmp_path / "data", 6)
    opts = dict(exposure_patch=0, guide_blur=2.0, exposure_level=0.5, lr=1e-3,
                weights={"exp": 10.0, "col": 10.0})
    train(_cfg(tmp_path / "full", "sci", data, epochs=2, **opts), progress=False, log=lambda s: None)
    train(_cfg(tmp_path / "part", "sci", data, epochs=1, **opts), progress=False, log=lambda s: None)
    train(_cfg(tmp_path / "part", "sci", data, epochs=2, resume=True, **opts), progress=False, log=lambda s: None)
    a = torch.load(tmp_path / "full" / "out" / "w.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "part" / "out" / "w.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cli_new_options_reach_the_run_and_the_manifest(tmp_path):
    data = _write_images(tmp_path / "data", 6)
    wdir = tmp_path / "weights"
    common = ["--method", "sci", "--data", str(data), "--size", "32", "--crop", "16-32", "--batch", "2",
              "--holdout", "0", "--no-progress", "--no-cache", "--exposure-patch", "0", "--guide-blur", "1.5",
              "--weight", "exp=10", "--exposure-level", "0.5"]
    env = {"LOWLIGHT_WEIGHTS": str(wdir)}
    r = _cli(*common, "--epochs", "1", "--run-dir", str(tmp_path / "run1"), env_extra=env)
    assert r.returncode == 0, r.stderr
    first = tmp_path / "first.pt"
    (wdir / "sci.pt").rename(first)
    r = _cli(*common, "--epochs", "1", "--run-dir", str(tmp_path / "run2"), "--init", str(first),
             "--manifest", env_extra=env)
    assert r.returncode == 0, r.stderr
    entry = json.loads((wdir / "MANIFEST.json").read_text())["files"][0]
    assert entry["exposure_patch"] == 0 and entry["guide_blur"] == 1.5
    assert entry["init"]["file"] == "first.pt" and len(entry["init"]["sha256"]) == 64
    cfg = json.loads((tmp_path / "run2" / "config.json").read_text())
    assert cfg["exposure_patch"] == 0 and cfg["guide_blur"] == 1.5 and cfg["init"] == str(first)
    bad = _cli(*common[:-4], "--epochs", "1", "--exposure-patch", "-3", env_extra=env)
    assert bad.returncode == 2 and "exposure patch" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
