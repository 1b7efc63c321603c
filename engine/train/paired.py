"""Supervised training from paired low/normal-light images: NAFNet, MIRNetv2 and jin2023.

- ``nafnet`` / ``mirnetv2``: Charbonnier loss sqrt((y − t)² + ε²), ε = 1e-3, on the
  network's output against the normal-light target.
- ``jin2023``: the cascade of :class:`~engine.models.jin2023.Jin2023TrainingNet` with
  ``w_fid · Σ_k MSE(u_k, in_k)`` (each stage's illumination against its input, i.e. the
  original input plus the previous stage's auxiliary correction, as SCI) ``+ w_smooth ·
  Σ_k smoothness(u_k)`` (SCI's structure-weighted smoothness) ``+ w_perc · P(out_1, target)``.
  The paper's P is a VGG16 perceptual loss on ImageNet features, which are not available
  offline; here P = mean |out − target| + (1 − SSIM(out, target)) + mean |∇out − ∇target|,
  SSIM per RGB channel with an 11×11 Gaussian window (σ 1.5), ∇ the horizontal and vertical
  forward differences: an intensity, structure and edge term against the target that needs no
  pretrained weights. (Measured on the validation split: SSIM + gradients without the
  intensity part peaked at 16.49 dB / 0.613 at epoch 4, the same as with it, 16.44 / 0.614;
  the intensity part is kept as the stand-in for the colour and brightness that VGG's
  shallow features carry.)
  Weights 0.8 / 0.65 / 0.5 as the paper.

A fixed validation split (:func:`~engine.train.paired_data.block_split`, ≈10 % in four
contiguous blocks of pair numbers with a guard band) is never trained on; PSNR/SSIM
(:mod:`engine.lab.metrics`, SSIM on luma, outputs quantised to 8 bits) are measured on it
after every epoch at full resolution and on a reduced copy (long side ``val_reduced`` px, as
the real-time path runs the network). The best epoch by full-resolution PSNR is exported.

Learning rate: cosine decay from ``lr`` to ``lr/100`` over all planned steps (a function of
the global step, so a resumed run follows the same schedule). Run state (model, optimiser,
RNGs, history, the best weights) is saved after every epoch to ``<run_dir>/last.pt``.

``init`` starts from a shipped checkpoint's weights (a fine-tuning run with its own schedule);
``ema`` > 0 keeps an exponential moving average of the weights (``ema_w ← d·ema_w + (1 − d)·w``
after every step), and validation, the best epoch and the export then use the averaged weights.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.enhancer import downscale
from engine.lab import metrics
from engine.runtime.weights import update_manifest_entry
from engine.train import losses as L
from engine.train.loop import (TrainError, load_init_weights, load_run_state, run_folder, save_atomic,
                               save_run_state, with_overrides)
from engine.train.paired_data import PairCropSampler, PairSet, block_split, list_pairs, load_pairs

__all__ = [
    "PAIRED_METHODS", "PAIRED_FILE_NAMES", "PairedConfig", "default_weights", "charbonnier",
    "ssim_loss_map", "perceptual_substitute", "build_training_net", "inference_module",
    "compute_losses", "validate", "train_paired", "export_paired", "record_paired",
]

PAIRED_METHODS = ("nafnet", "mirnetv2", "jin2023")
PAIRED_FILE_NAMES = {m: f"{m}.pt" for m in PAIRED_METHODS}
CHECKPOINT_FORMAT = 1
VAL_FRACTION, VAL_BLOCKS, VAL_GUARD = 0.1, 4, 2
DEFAULT_LR = {"nafnet": 1e-3, "mirnetv2": 1e-3, "jin2023": 1e-3}


def default_weights(method: str) -> dict[str, float]:
    """Loss weights: jin2023 fid 0.8, smooth 0.65, perc 0.5 (the paper's); the others
    have one term, ``charb`` 1."""
    if method == "jin2023":
        return {"fid": 0.8, "smooth": 0.65, "perc": 0.5}
    if method in PAIRED_METHODS:
        return {"charb": 1.0}
    raise TrainError(f"unknown paired method {method!r}; choose one of {', '.join(PAIRED_METHODS)}")


def model_module(method: str):
    """The :mod:`engine.models` module defining ``method``'s network."""
    return importlib.import_module(f"engine.models.{method}")


@dataclass
class PairedConfig:
    """Everything a paired run depends on (stored in the run folder and the manifest).

    ``crop`` is the training crop side in px, ``scale_min`` the smallest random down-scale
    of a crop's window (1 = full resolution only), ``val_reduced`` the long side in px of the
    reduced validation copy (0 = no reduced validation)."""

    method: str
    low: str
    high: str
    epochs: int
    out: str
    seed: int = 0
    batch: int = 8
    crop: int = 128
    scale_min: float = 1.0
    crops_per_image: int = 1
    lr: float | None = None
    threads: int = 1
    run_dir: str | None = None
    resume: bool = False
    stages: int = 3
    grad_clip: float = 1.0
    weights: dict[str, float] = field(default_factory=dict)
    arch: dict[str, Any] = field(default_factory=dict)
    val_reduced: int = 320
    val_every: int = 1
    init: str | None = None
    ema: float = 0.0

    def resolved_weights(self) -> dict[str, float]:
        return with_overrides(default_weights(self.method), self.weights, self.method)

    def resolved_lr(self) -> float:
        return float(self.lr) if self.lr is not None else DEFAULT_LR[self.method]

    def resolved_arch(self) -> dict[str, Any]:
        arch = {**model_module(self.method).ARCH, **self.arch}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in arch.items()}

    def validate(self) -> None:
        if self.method not in PAIRED_METHODS:
            raise TrainError(f"unknown paired method {self.method!r}; choose one of {', '.join(PAIRED_METHODS)}")
        if self.epochs < 1:
            raise TrainError(f"epochs must be >= 1, got {self.epochs}")
        if self.resolved_lr() <= 0:
            raise TrainError(f"learning rate must be > 0, got {self.lr}")
        if self.val_every < 1:
            raise TrainError(f"validation interval must be >= 1 epoch, got {self.val_every}")
        if not 0.0 <= self.ema < 1.0:
            raise TrainError(f"EMA decay must be in [0, 1), got {self.ema}")
        self.resolved_weights()


# ----------------------------------------------------------------------------- losses


def charbonnier(y: torch.Tensor, t: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of sqrt((y − t)² + ε²) over all elements: a smooth L1."""
    return torch.sqrt((y - t) ** 2 + eps * eps).mean()


def _gauss_window(dtype: torch.dtype, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    t = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(t * t) / (2 * sigma * sigma))
    return g / g.sum()


def ssim_loss_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel, per-channel SSIM map of (N, C, H, W) tensors in [0, 1] (Gaussian 11×11,
    σ 1.5, K1 0.01, K2 0.03, L 1; reflected borders): (N, C, H, W)."""
    c = a.shape[1]
    g = _gauss_window(a.dtype).to(a.device)
    kx = g.view(1, 1, 1, -1).expand(c, 1, 1, g.numel())
    ky = g.view(1, 1, -1, 1).expand(c, 1, g.numel(), 1)
    r = g.numel() // 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
        x = F.pad(x, (r, r, r, r), mode=mode)
        return F.conv2d(F.conv2d(x, kx, groups=c), ky, groups=c)

    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ma, mb = blur(a), blur(b)
    saa = blur(a * a) - ma * ma
    sbb = blur(b * b) - mb * mb
    sab = blur(a * b) - ma * mb
    return ((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma * ma + mb * mb + c1) * (saa + sbb + c2))


def perceptual_substitute(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The offline stand-in for the VGG16 perceptual loss: mean |y − t| + (1 − mean SSIM) +
    mean absolute difference of the horizontal and vertical forward differences. Scalar, 0
    when y = t."""
    s = (y - t).abs().mean() + 1.0 - ssim_loss_map(y, t).mean()
    gx = (y[..., :, 1:] - y[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])
    gy = (y[..., 1:, :] - y[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])
    return s + 0.5 * (gx.abs().mean() + gy.abs().mean())


# ----------------------------------------------------------------------------- networks


def build_training_net(cfg: PairedConfig) -> nn.Module:
    mod = model_module(cfg.method)
    arch = cfg.resolved_arch()
    if cfg.method == "jin2023":
        return mod.build_training(cfg.stages, **arch)
    return mod.build(**arch)


def inference_module(method: str, net: nn.Module) -> nn.Module:
    """The shipped part of a training network (jin2023: the one-stage ``.net``)."""
    return net.net if method == "jin2023" else net


def compute_losses(
    method: str, net: nn.Module, low: torch.Tensor, high: torch.Tensor, w: dict[str, float]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted total loss of one batch (low, high: (N, 3, H, W) in [0, 1]) and its terms."""
    if method == "jin2023":
        inputs, illus, outs = net(low)
        fid = sum(L.sci_fidelity_loss(u, i) for u, i in zip(illus, inputs))
        smooth = sum(L.sci_smoothness_loss(i, u) for u, i in zip(illus, inputs))
        total = w["fid"] * fid + w["smooth"] * smooth
        terms = {"fid": fid.item(), "smooth": smooth.item()}
        if w["perc"] > 0:
            p = perceptual_substitute(outs[0], high)
            total = total + w["perc"] * p
            terms["perc"] = p.item()
        else:
            with torch.no_grad():
                terms["perc"] = float(perceptual_substitute(outs[0], high))
        return total, terms
    loss = charbonnier(net(low), high)
    return w["charb"] * loss, {"charb": loss.item()}


# ----------------------------------------------------------------------------- validation


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return (t[0].permute(1, 2, 0).clamp(0, 1).mul(255.0).round().to(torch.uint8).numpy())


def validate(net: nn.Module, data: PairSet, reduced: int = 0) -> dict[str, float]:
    """Mean PSNR (dB) / SSIM (luma) of the network's 8-bit outputs against the targets at
    full resolution (``psnr``, ``ssim``) and, when ``reduced`` > 0, with both images area-
    resized to that long side first (``psnr_reduced``, ``ssim_reduced``)."""
    was = net.training
    net.eval()
    sums: dict[str, float] = {}
    sizes = [("", 0)] + ([("_reduced", reduced)] if reduced > 0 else [])
    with torch.inference_mode():
        for lo, hi in zip(data.low, data.high):
            for suffix, side in sizes:
                a, b = (downscale(lo, side), downscale(hi, side)) if side else (lo, hi)
                y = _to_uint8(net(_to_tensor(a)))
                sums["psnr" + suffix] = sums.get("psnr" + suffix, 0.0) + metrics.psnr(y, b)
                sums["ssim" + suffix] = sums.get("ssim" + suffix, 0.0) + metrics.ssim(y, b)
    net.train(was)
    return {k: round(v / max(1, len(data.low)), 4) for k, v in sums.items()}


def input_baseline(data: PairSet, reduced: int = 0) -> dict[str, float]:
    """The same figures as :func:`validate` for the unprocessed low-light input."""
    return validate(nn.Identity(), data, reduced)


# ----------------------------------------------------------------------------- the loop


def _lr_at(cfg: PairedConfig, step: int, total: int) -> float:
    lr = cfg.resolved_lr()
    lo = lr / 100.0
    return lo + 0.5 * (lr - lo) * (1.0 + math.cos(math.pi * min(step, total) / max(1, total)))


def _ema_update(avg: nn.Module, cur: nn.Module, decay: float) -> None:
    """avg ← decay·avg + (1 − decay)·cur for floating-point entries; others copied."""
    with torch.no_grad():
        for a, c in zip(avg.state_dict().values(), cur.state_dict().values()):
            if a.is_floating_point():
                a.lerp_(c, 1.0 - decay)
            else:
                a.copy_(c)


def _clone_state(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _fmt_s(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def split_pairs(cfg: PairedConfig):
    """(all pairs, train indices, validation indices, guard indices) of ``cfg``'s folders."""
    pairs = list_pairs(cfg.low, cfg.high)
    tr, va, gu = block_split([p.name for p in pairs], VAL_FRACTION, VAL_BLOCKS, VAL_GUARD)
    return pairs, tr, va, gu


def train_paired(cfg: PairedConfig, progress: bool = True,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train, save the run state after every epoch, export the best epoch's inference
    network to ``cfg.out``; return a summary (history, best epoch, split, wall time)."""
    cfg.validate()
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    torch.set_num_threads(max(1, cfg.threads))
    torch.use_deterministic_algorithms(True)
    t0 = time.perf_counter()

    pairs, tr, va, gu = split_pairs(cfg)
    train_data = load_pairs([pairs[i] for i in tr])
    val_data = load_pairs([pairs[i] for i in va])
    sampler = PairCropSampler(train_data, cfg.batch, cfg.crop, cfg.scale_min, cfg.crops_per_image)

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = build_training_net(cfg)
    if cfg.init and not cfg.resume:
        load_init_weights(cfg.init, cfg.method, inference_module(cfg.method, net))
    betas = (0.9, 0.9) if cfg.method == "nafnet" else (0.9, 0.999)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.resolved_lr(), betas=betas)
    w = cfg.resolved_weights()
    run_dir = run_folder(cfg.run_dir, cfg.out)
    state_file = run_dir / "last.pt"
    start_epoch, history = 0, []
    best: dict[str, Any] = {"psnr": -math.inf, "epoch": 0, "state": None}
    baseline = ema_resumed = None
    if cfg.resume:
        st = load_run_state(state_file, cfg.method, net, opt, rng)
        start_epoch = int(st["epoch"])
        history = json.loads(st["history"])
        best = {"psnr": float(st["best_psnr"]), "epoch": int(st["best_epoch"]), "state": st["best_state"]}
        baseline = json.loads(st["baseline"])
        ema_resumed = st.get("ema_state")
        log(f"resuming {cfg.method} from {state_file} after epoch {start_epoch}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2), encoding="utf-8")
    if baseline is None:
        baseline = input_baseline(val_data, cfg.val_reduced)
        log(f"validation: {len(va)} pairs, input baseline " + json.dumps(baseline))

    nb = sampler.batches_per_epoch()
    total_steps = cfg.epochs * nb
    inf = inference_module(cfg.method, net)
    # The averaged copy is what validation sees and what is exported when EMA is on.
    ema_net = copy.deepcopy(inf).eval() if cfg.ema > 0 else None
    if ema_net is not None and ema_resumed is not None:
        ema_net.load_state_dict(ema_resumed)
    judged = ema_net if ema_net is not None else inf
    net.train()
    epoch_times: list[float] = []
    for epoch in range(start_epoch, cfg.epochs):
        te = time.perf_counter()
        sums: dict[str, float] = {}
        count = 0
        it = sampler.epoch(rng)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(it, total=nb, desc=f"{cfg.method} {epoch + 1}/{cfg.epochs}", unit="batch",
                       leave=True, file=sys.stderr)
            it = bar
        for lo, hi in it:
            for g in opt.param_groups:
                g["lr"] = _lr_at(cfg, epoch * nb + count, total_steps)
            total, terms = compute_losses(cfg.method, net, lo, hi, w)
            if not torch.isfinite(total):
                raise TrainError(f"loss became {float(total)} at epoch {epoch + 1}; lower --lr")
            opt.zero_grad(set_to_none=True)
            total.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            if ema_net is not None:
                _ema_update(ema_net, inf, cfg.ema)
            count += 1
            for k, v in [("total", total.item()), *terms.items()]:
                sums[k] = sums.get(k, 0.0) + v
            if bar is not None:
                bar.set_postfix({k: f"{v / count:.4f}" for k, v in sums.items()}, refresh=False)
        if bar is not None:
            bar.close()
        rec: dict[str, Any] = {"epoch": epoch + 1, **{k: round(v / max(count, 1), 6) for k, v in sums.items()}}
        if (epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs:
            rec.update(validate(judged, val_data, cfg.val_reduced))
            if rec["psnr"] > best["psnr"]:
                best = {"psnr": rec["psnr"], "epoch": epoch + 1, "state": _clone_state(judged)}
        rec["lr"] = round(_lr_at(cfg, (epoch + 1) * nb, total_steps), 8)
        rec["epoch_s"] = round(time.perf_counter() - te, 1)
        history.append(rec)
        epoch_times.append(rec["epoch_s"])
        save_run_state(state_file, cfg.method, epoch + 1, net, opt, rng, history=json.dumps(history),
                       best_psnr=best["psnr"], best_epoch=best["epoch"], best_state=best["state"],
                       baseline=json.dumps(baseline),
                       **({"ema_state": _clone_state(ema_net)} if ema_net is not None else {}))
        with (run_dir / "log.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        eta = (sum(epoch_times) / len(epoch_times)) * (cfg.epochs - epoch - 1)
        log(f"{cfg.method} epoch {epoch + 1}/{cfg.epochs} ({rec['epoch_s']:.0f} s, ETA {_fmt_s(eta)}): "
            + ", ".join(f"{k} {v}" for k, v in rec.items() if k not in ("epoch", "epoch_s")))

    if best["state"] is None:  # no validation ran in this call: keep the current weights
        best = {"psnr": history[-1].get("psnr", float("nan")) if history else float("nan"),
                "epoch": cfg.epochs, "state": _clone_state(judged)}
    best_rec = next((h for h in history if h["epoch"] == best["epoch"]), {})
    export_paired(cfg, best["state"], cfg.out, extra={"epoch": best["epoch"]})
    return {
        "epochs_run": cfg.epochs - start_epoch,
        "wall_s": round(time.perf_counter() - t0, 1),
        "best_epoch": best["epoch"],
        "best": {k: best_rec[k] for k in ("psnr", "ssim", "psnr_reduced", "ssim_reduced") if k in best_rec},
        "baseline": baseline,
        "history": history,
        "train_pairs": len(tr),
        "validation": [pairs[i].name for i in va],
        "guard": [pairs[i].name for i in gu],
    }


def export_paired(cfg: PairedConfig, state_dict: dict[str, torch.Tensor], path: str | Path,
                  extra: dict[str, Any] | None = None) -> Path:
    """Write the shipped checkpoint ``{"format", "method", "state_dict", "arch", ...}`` of the
    inference network (plain types and tensors: loads with ``weights_only=True``; the network
    is ``engine.models.<method>.build(**ckpt["arch"])``)."""
    ckpt: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "method": cfg.method,
        "state_dict": {k: v.detach().clone().contiguous() for k, v in state_dict.items()},
        "arch": cfg.resolved_arch(),
        "train_crop": int(cfg.crop),
        "train_scale_min": float(cfg.scale_min),
        **(extra or {}),
    }
    p = Path(path)
    save_atomic(ckpt, p)
    return p


def record_paired(cfg: PairedConfig, result: dict[str, Any], command: str,
                  total_wall_s: float | None = None) -> dict[str, Any]:
    """Insert/replace the MANIFEST.json entry of ``cfg.out`` (in its folder)."""
    out = Path(cfg.out)
    hist = result["history"]
    entry: dict[str, Any] = {
        "file": out.name,
        "method": cfg.method,
        "kind": "checkpoint",
        "command": command,
        "data": {
            "folders": [Path(cfg.low).parent.name + "/" + Path(cfg.low).name,
                        Path(cfg.high).parent.name + "/" + Path(cfg.high).name],
            "train_pairs": result["train_pairs"],
            "validation_pairs": result["validation"],
            "guard_pairs_unused": result["guard"],
            "split": (f"fixed: {VAL_FRACTION:.0%} of the pairs in {VAL_BLOCKS} contiguous blocks of pair "
                      f"numbers, {VAL_GUARD} pairs either side of each block used for neither"),
            "preprocessing": (f"random {cfg.crop} px square crops"
                              + (f" of windows down-scaled by a random factor in [{cfg.scale_min}, 1] "
                                 "(area)" if cfg.scale_min < 1 else "")
                              + f", {cfg.crops_per_image} per pair per epoch, random horizontal and vertical flips"),
            "licence": "LOL (Wei et al., BMVC 2018) is distributed by its authors for research use",
        },
        "arch": cfg.resolved_arch(),
        "parameters": sum(int(v.numel()) for v in torch.load(out, map_location="cpu", weights_only=True)["state_dict"].values()),
        "epochs": cfg.epochs,
        "best_epoch": result["best_epoch"],
        "seed": cfg.seed,
        "batch": cfg.batch,
        "lr": cfg.resolved_lr(),
        "lr_schedule": "cosine to lr/100 over all steps",
        **({"init": Path(cfg.init).name} if cfg.init else {}),
        **({"ema_decay": cfg.ema} if cfg.ema > 0 else {}),
        "loss_weights": cfg.resolved_weights(),
        **({"perceptual_substitute": "mean |out - target| + (1 - SSIM per RGB channel) + mean |grad out - grad target| "
                                     "(the paper's VGG16 term needs ImageNet weights, not available offline)"}
           if cfg.method == "jin2023" else {}),
        "wall_s": total_wall_s if total_wall_s is not None else result["wall_s"],
        "machine": f"{platform.machine()} CPU, {cfg.threads} thread(s), shared 2-core machine, torch {torch.__version__}",
        "metrics": {
            "validation": result["best"],
            "validation_input": result["baseline"],
            "reduced_long_side": cfg.val_reduced,
            "ssim": "engine.lab.metrics.ssim on luma; outputs quantised to 8 bits",
        },
        "validation_curve": [{k: h[k] for k in ("epoch", "psnr", "ssim") if k in h} for h in hist if "psnr" in h],
    }
    update_manifest_entry(entry, out.parent)
    return entry
