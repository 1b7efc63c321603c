"""The zero-reference training loop: seeded, resumable, with a progress bar; exports the
inference network as a shipped checkpoint.

Methods:
- ``sci``: :class:`~engine.models.sci.SCITrainingNet` (3 stages sharing the illumination
  stage, plus the self-calibrated module); per stage ``w_fid·MSE(u, stage input) +
  w_smooth·smoothness(u)``. Exported: the shared :class:`IlluminationStage`.
- ``zerodce``: :class:`~engine.models.zerodce.DCENet`, eight curve maps, eight iterations.
- ``zerodce++``: :class:`~engine.models.zerodce.DCENetPP`, one map applied eight times.
  Both: ``w_spa·L_spa + w_exp·L_exp(E) + w_col·L_col + w_tv·L_tvA``.

Run state (model, optimiser, epoch, torch and numpy RNG states) is saved after every epoch
to ``<run_dir>/last.pt``; ``resume=True`` continues from there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from engine.files.atomic import replacing
from engine.models.sci import IlluminationStage, SCITrainingNet
from engine.models.zerodce import DCENet, DCENetPP, apply_curve
from engine.train import losses as L
from engine.train.data import CropSampler, ImageSet, list_images, load_image_set, select_dark, split_holdout

__all__ = [
    "METHODS",
    "FILE_NAMES",
    "TrainConfig",
    "TrainError",
    "with_overrides",
    "run_folder",
    "save_atomic",
    "save_run_state",
    "load_run_state",
    "default_weights",
    "build_training_net",
    "inference_net",
    "load_init_weights",
    "compute_losses",
    "train",
    "export_checkpoint",
]

METHODS = ("sci", "zerodce", "zerodce++")
FILE_NAMES = {"sci": "sci.pt", "zerodce": "zerodce.pt", "zerodce++": "zerodcepp.pt"}
CHECKPOINT_FORMAT = 1
ITERATIONS = 8


class TrainError(RuntimeError):
    """Bad training configuration or an unusable run folder."""


def with_overrides(defaults: dict[str, float], overrides: dict[str, float], method: str) -> dict[str, float]:
    """A method's loss weights: ``defaults`` with the user's ``overrides`` (from
    ``--weight NAME=VALUE``); an unknown name is a :class:`TrainError` listing the known ones."""
    w = dict(defaults)
    for k, v in overrides.items():
        if k not in w:
            raise TrainError(f"unknown loss weight {k!r} for {method}; known: {', '.join(w)}")
        w[k] = float(v)
    return w


def default_weights(method: str) -> dict[str, float]:
    """Loss weights. Zero-DCE: spa 1, exp 10, col 5, tv 200 (Zero-DCE++: tv 1600).
    SCI: fid 1.5, smooth 1 (exp 0 and col 0: the optional exposure and colour-constancy
    terms on the output are off by default)."""
    if method == "sci":
        return {"fid": 1.5, "smooth": 1.0, "exp": 0.0, "col": 0.0}
    if method == "zerodce":
        return {"spa": 1.0, "exp": 10.0, "col": 5.0, "tv": 200.0}
    if method == "zerodce++":
        return {"spa": 1.0, "exp": 10.0, "col": 5.0, "tv": 1600.0}
    raise TrainError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


@dataclass
class TrainConfig:
    """Everything a training run depends on (stored in the run folder and the manifest).

    Sizes are pixels; ``size`` is the side of the square, downscaled training images from
    which ``crop_min``..``crop_max`` crops are taken; ``exposure_level`` is Zero-DCE's E."""

    method: str
    data: str
    epochs: int
    out: str
    seed: int = 0
    batch: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-4
    size: int = 256
    crop_min: int = 128
    crop_max: int = 192
    exposure_level: float = 0.6
    exposure_patch: int = 16  # side of the exposure loss's regions in px; 0 = the whole crop
    guide_blur: float = 0.0  # SCI: Gaussian sigma (px) of the smoothness weights' guide; 0 = off
    max_images: int | None = None
    max_mean: float | None = None  # train only on images darker than this mean grey (0..1)
    holdout: float = 0.05
    threads: int = 2
    run_dir: str | None = None
    resume: bool = False
    stages: int = 3
    grad_clip: float | None = None  # None: 0.1 for Zero-DCE(++) (paper code), 5 for SCI
    weights: dict[str, float] = field(default_factory=dict)
    use_cache: bool = True
    init: str | None = None  # start from this shipped checkpoint's weights (fine-tuning)

    def resolved_weights(self) -> dict[str, float]:
        return with_overrides(default_weights(self.method), self.weights, self.method)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise TrainError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.epochs < 1:
            raise TrainError(f"epochs must be >= 1, got {self.epochs}")
        if not 0.0 < self.exposure_level < 1.0:
            raise TrainError(f"exposure level must be in (0, 1), got {self.exposure_level}")
        if self.exposure_patch < 0 or (self.exposure_patch and self.exposure_patch > self.crop_min):
            raise TrainError(f"exposure patch must be 0 (whole crop) or 1..{self.crop_min} px, "
                             f"got {self.exposure_patch}")
        if not 0.0 <= self.guide_blur <= 20.0:
            raise TrainError(f"guide blur must be in [0, 20] px, got {self.guide_blur}")
        if self.lr <= 0:
            raise TrainError(f"learning rate must be > 0, got {self.lr}")
        if self.max_images is not None and self.max_images < 1:
            raise TrainError(f"max images must be >= 1, got {self.max_images}")
        if self.max_mean is not None and not 0.0 < self.max_mean <= 1.0:
            raise TrainError(f"max mean brightness must be in (0, 1], got {self.max_mean}")
        self.resolved_weights()


def build_training_net(cfg: TrainConfig) -> nn.Module:
    if cfg.method == "sci":
        return SCITrainingNet(stages=cfg.stages)
    if cfg.method == "zerodce":
        return DCENet()
    return DCENetPP()


def inference_net(method: str, net: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    """The network shipped for inference and its constructor kwargs."""
    if method == "sci":
        stage: IlluminationStage = net.stage  # type: ignore[assignment]
        return stage, {"channels": stage.in_conv[0].out_channels, "blocks": stage.blocks}
    if method == "zerodce":
        return net, {"width": net.conv1.out_channels, "maps": net.maps}
    return net, {"width": net.conv1.point.out_channels}


def compute_losses(
    cfg: TrainConfig, net: nn.Module, x: torch.Tensor, w: dict[str, float]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total weighted loss of one batch ``x`` (N, 3, H, W) in [0, 1] and its unweighted terms."""
    if cfg.method == "sci":
        inputs, illus, outs = net(x)
        fid = sum(L.sci_fidelity_loss(u, i) for u, i in zip(illus, inputs))
        smooth = sum(L.sci_smoothness_loss(i, u, guide_blur=cfg.guide_blur) for u, i in zip(illus, inputs))
        total = w["fid"] * fid + w["smooth"] * smooth
        terms = {"fid": fid.item(), "smooth": smooth.item()}
        if w["exp"] > 0:
            e = L.exposure_loss(outs[0], cfg.exposure_level, cfg.exposure_patch)
            total = total + w["exp"] * e
            terms["exp"] = e.item()
        else:
            terms["mean_out"] = outs[0].mean().item()
        if w["col"] > 0:
            # SCI's illumination is per channel; with the exposure term alone the
            # channels drift apart (a green/cyan cast), so pull the channel means together.
            c = L.color_constancy_loss(outs[0])
            total = total + w["col"] * c
            terms["col"] = c.item()
        return total, terms
    a = net(x)
    enhanced = apply_curve(x, a, ITERATIONS)
    spa = L.spatial_consistency_loss(enhanced, x)
    exp = L.exposure_loss(enhanced, cfg.exposure_level, cfg.exposure_patch)
    col = L.color_constancy_loss(enhanced)
    tv = L.illumination_smoothness_loss(a)
    total = w["spa"] * spa + w["exp"] * exp + w["col"] * col + w["tv"] * tv
    return total, {"spa": spa.item(), "exp": exp.item(), "col": col.item(), "tv": tv.item()}


def run_folder(run_dir: str | None, out: str | os.PathLike[str]) -> Path:
    """The run folder: ``run_dir``, else ``runs/<stem of the output checkpoint>``."""
    return Path(run_dir) if run_dir else Path("runs") / Path(out).stem


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary beside ``path``, renamed over it once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:
        torch.save(obj, tmp)


def save_run_state(path: Path, method: str, epoch: int, net: nn.Module, opt: torch.optim.Optimizer,
                   rng: np.random.Generator, **extra: Any) -> None:
    """Write the run state after ``epoch`` epochs (model, optimiser, both RNGs and the
    caller's ``extra`` entries, plain data) atomically to ``path``."""
    save_atomic({"method": method, "epoch": epoch, "model": net.state_dict(),
                 "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                 "numpy_rng": _rng_state(rng), **extra}, path)


def load_run_state(path: Path, method: str, net: nn.Module, opt: torch.optim.Optimizer,
                   rng: np.random.Generator) -> dict[str, Any]:
    """Restore model, optimiser and both RNGs from the run state at ``path``; returns the
    whole state (``epoch`` and the caller's extra entries).

    Raises:
        TrainError: no state there, or the state of another method's run.
    """
    if not path.exists():
        raise TrainError(f"cannot resume: no run state at {path}")
    st = torch.load(path, map_location="cpu", weights_only=True)
    if st.get("method") != method:
        raise TrainError(f"cannot resume: {path} is a {st.get('method')} run, not {method}")
    net.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    torch.set_rng_state(st["torch_rng"])
    numpy_rng = st["numpy_rng"]  # paired runs wrote it as JSON text at first
    rng.bit_generator.state = json.loads(numpy_rng) if isinstance(numpy_rng, str) else numpy_rng
    return st


def export_checkpoint(
    cfg: TrainConfig, net: nn.Module, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write the shipped checkpoint: ``{"format", "method", "state_dict", "arch",
    "train_size", "exposure_level", "iterations"}`` (tensors and plain types only, so it
    loads with ``torch.load(weights_only=True)``)."""
    inf, arch = inference_net(cfg.method, net)
    ckpt: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "method": cfg.method,
        "state_dict": {k: v.detach().clone().contiguous() for k, v in inf.state_dict().items()},
        "arch": arch,
        "train_size": int(cfg.size),
        "exposure_level": float(cfg.exposure_level),
    }
    if cfg.method != "sci":
        ckpt["iterations"] = ITERATIONS
    if extra:
        ckpt.update(extra)
    p = Path(path)
    save_atomic(ckpt, p)
    return p


def load_init_weights(path: str | os.PathLike[str], method: str, inf: nn.Module) -> None:
    """Load the ``state_dict`` of the shipped ``method`` checkpoint at ``path`` into the
    inference network ``inf`` (fine-tuning from shipped weights).

    Raises:
        TrainError: no such file, not a checkpoint of ``method``, or weights of another shape.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"initial checkpoint not found: {path}")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a torch file, or not weights-only loadable
        raise TrainError(f"cannot load initial checkpoint {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(ck, dict) or ck.get("method") != method or "state_dict" not in ck:
        got = ck.get("method") if isinstance(ck, dict) else type(ck).__name__
        raise TrainError(f"initial checkpoint {path} is not a {method} checkpoint (got {got})")
    try:
        inf.load_state_dict(ck["state_dict"])
    except RuntimeError as exc:
        raise TrainError(f"initial checkpoint {path} does not fit the {method} network: "
                         f"{str(exc).splitlines()[0]}") from None


def _load_init(cfg: TrainConfig, net: nn.Module) -> None:
    """Load the inference weights of the shipped checkpoint ``cfg.init`` into ``net`` (for SCI
    the shared stage; the training-only calibration module starts fresh)."""
    load_init_weights(cfg.init or "", cfg.method, inference_net(cfg.method, net)[0])


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return json.loads(json.dumps(rng.bit_generator.state))


def train(
    cfg: TrainConfig,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train, checkpoint every epoch, export ``cfg.out``; return a summary dict with the
    last epoch's mean losses (``final_losses``), ``epochs_run``, ``wall_s`` (this call) and
    the data description."""
    cfg.validate()
    log = log or (lambda s: print(s, file=sys.stderr))
    torch.set_num_threads(max(1, cfg.threads))
    torch.use_deterministic_algorithms(True)

    files = list_images(cfg.data)
    train_files, held = split_holdout(files, cfg.holdout)
    t0 = time.perf_counter()
    # The whole training split is cached once; --max-images takes evenly spaced images from
    # it (covering all scenes of a consecutively numbered set), so subset runs share the cache.
    data: ImageSet = load_image_set(train_files, cfg.size, use_cache=cfg.use_cache, progress=progress)
    images = data.images
    candidates = len(train_files)
    if cfg.max_mean is not None:
        # Under-exposed images only: a net trained on mixed exposures learns to leave
        # mid-bright input alone, and (SCI) its BatchNorm statistics come from bright images.
        sel = select_dark(images, cfg.max_mean)
        train_files, images = [train_files[i] for i in sel], np.ascontiguousarray(images[sel])
    if cfg.max_images is not None and cfg.max_images < len(train_files):
        idx = np.unique(np.round(np.linspace(0, len(train_files) - 1, cfg.max_images)).astype(int))
        train_files, images = [train_files[i] for i in idx], np.ascontiguousarray(images[idx])
    sampler = CropSampler(images, cfg.batch, cfg.crop_min, cfg.crop_max)

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = build_training_net(cfg)
    if cfg.init and not cfg.resume:
        _load_init(cfg, net)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    w = cfg.resolved_weights()
    run_dir = run_folder(cfg.run_dir, cfg.out)
    state_file = run_dir / "last.pt"
    start_epoch = 0
    history: list[dict[str, Any]] = []
    if cfg.resume:
        st = load_run_state(state_file, cfg.method, net, opt, rng)
        start_epoch = int(st["epoch"])
        history = list(st.get("history", []))
        log(f"resuming {cfg.method} from {state_file} after epoch {start_epoch}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2), encoding="utf-8")

    clip = cfg.grad_clip if cfg.grad_clip is not None else (5.0 if cfg.method == "sci" else 0.1)
    net.train()
    nb = sampler.batches_per_epoch()
    for epoch in range(start_epoch, cfg.epochs):
        sums: dict[str, float] = {}
        count = 0
        it = sampler.epoch(rng)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(it, total=nb, desc=f"{cfg.method} {epoch + 1}/{cfg.epochs}", unit="batch", leave=True, file=sys.stderr)
            it = bar
        for x in it:
            total, terms = compute_losses(cfg, net, x, w)
            if not torch.isfinite(total):
                raise TrainError(f"loss became {float(total)} at epoch {epoch + 1}; lower --lr")
            opt.zero_grad(set_to_none=True)
            total.backward()
            if clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            count += 1
            for k, v in [("total", total.item()), *terms.items()]:
                sums[k] = sums.get(k, 0.0) + v
            if bar is not None:
                bar.set_postfix({k: f"{v / count:.4f}" for k, v in sums.items()}, refresh=False)
        if bar is not None:
            bar.close()
        means = {k: v / max(count, 1) for k, v in sums.items()}
        history.append({"epoch": epoch + 1, **means})
        save_run_state(state_file, cfg.method, epoch + 1, net, opt, rng, history=history)
        with (run_dir / "log.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(history[-1]) + "\n")
        if not progress:
            log(f"{cfg.method} epoch {epoch + 1}/{cfg.epochs}: " + ", ".join(f"{k} {v:.5f}" for k, v in means.items()))

    net.eval()
    export_checkpoint(cfg, net, cfg.out)
    wall = time.perf_counter() - t0
    return {
        "final_losses": {k: round(v, 6) for k, v in (history[-1].items() if history else []) if k != "epoch"},
        "epochs_run": cfg.epochs - start_epoch,
        "wall_s": round(wall, 1),
        "train_images": len(train_files),
        "candidate_images": candidates,
        "held_out_images": len(held),
        "held_out_files": [f.name for f in held],
        "history": history,
    }
