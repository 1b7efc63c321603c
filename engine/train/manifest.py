"""Recording a trained checkpoint in MANIFEST.json: the exact command, the data, the run's
figures and the training-time quality check (:mod:`engine.train.evaluate`)."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch

from engine.train.loop import TrainConfig
from engine.runtime.weights import sha256_file, update_manifest_entry

__all__ = ["quality", "record"]


def quality(cfg: TrainConfig, eval_real: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Synthetic-pair PSNR/SSIM on the held-out well-exposed images of ``cfg.data`` (when any)
    and mean brightness on ``eval_real`` (when given), for the checkpoint at ``cfg.out``."""
    from engine.train import evaluate as ev

    ckpt = torch.load(cfg.out, map_location="cpu", weights_only=True)
    net = ev.build_inference_net(ckpt)
    rs = ev.DEFAULT_RUN_SIZE[cfg.method]
    q: dict[str, Any] = {"run_size": rs}
    if cfg.holdout > 0:
        files = ev.pair_files(cfg.data, cfg.holdout)
        if files:
            syn = ev.evaluate_pairs(cfg.method, net, files, rs, seed=seed)
            syn["reference_images"] = len(files)
            syn["recipe"] = ("held-out training-folder images with mean grey 0.35-0.65; sRGB->linear, "
                             "x factor U(0.05,0.3), Poisson-Gaussian noise (shot a U(1e-3,4e-3), read "
                             "sigma U(0.002,0.01)), ->sRGB uint8; 2 pairs per image, seed 0; "
                             "gamma045 = global gamma lifting mean grey to 0.45")
            q["synthetic_pairs"] = syn
    if eval_real:
        real = ev.evaluate_real(cfg.method, net, Path(eval_real), rs)
        real["folder"] = Path(eval_real).name
        q["real_dark_brightness"] = real
    return q


def record(cfg: TrainConfig, result: dict[str, Any], command: str, eval_real: str | None = None) -> dict[str, Any]:
    """Insert/replace the manifest entry of ``cfg.out`` in its folder's MANIFEST.json."""
    out = Path(cfg.out)
    entry: dict[str, Any] = {
        "file": out.name,
        "method": cfg.method,
        "kind": "checkpoint",
        "command": command,
        "data": {
            "folder": Path(cfg.data).name,
            "train_images": result["train_images"],
            "held_out_images": result["held_out_images"],
            "held_out_range": (f"{result['held_out_files'][0]} .. {result['held_out_files'][-1]}"
                               if result["held_out_files"] else None),
            **({"selection": f"images with mean brightness < {cfg.max_mean} "
                                 f"({result.get('candidate_images')} candidates)"} if cfg.max_mean is not None else {}),
            "preprocessing": (f"decoded, short side resized to {cfg.size} px (area) and centre-cropped to "
                              f"{cfg.size}x{cfg.size}; random {cfg.crop_min}-{cfg.crop_max} px square crops "
                              "(multiples of 16), random horizontal and vertical flips"),
        },
        **({"init": {"file": Path(cfg.init).name, "sha256": sha256_file(cfg.init)}} if cfg.init else {}),
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "batch": cfg.batch,
        "lr": cfg.lr,
        "exposure_level": cfg.exposure_level,
        "exposure_patch": cfg.exposure_patch,
        **({"guide_blur": cfg.guide_blur} if cfg.method == "sci" else {}),
        "loss_weights": cfg.resolved_weights(),
        "train_size": cfg.size,
        "wall_s": result["wall_s"],
        "machine": f"{platform.machine()} CPU, {cfg.threads} threads, torch {torch.__version__}",
        "final_losses": result["final_losses"],
        "metrics": quality(cfg, eval_real),
    }
    update_manifest_entry(entry, out.parent)
    return entry
