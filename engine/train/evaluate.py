"""Training-time quality check of trained networks (not the product's enhancers).

It runs a network the way the product will — on a downscaled copy of the image, with the
low-resolution map upsampled bilinearly and applied at full resolution — so training runs can
be judged before the runtime enhancers exist:

- SCI: ``res = stage(small) − small``; ``i = clamp(x + up(res), 1e-4, 1)``; ``out = clamp(x / i, 0, 1)``.
- Zero-DCE / Zero-DCE++: ``out = apply_curve(x, up(net(small)), 8)``.

Figures: mean output brightness on real dark images, and PSNR/SSIM on synthetic pairs
(well-exposed images darkened in linear light with Poisson-Gaussian noise), next to the
dark input itself and a global gamma that lifts the mean grey level to 0.45.
Images are uint8 (H, W, 3) RGB; computations are float in [0, 1].

Command line (prints JSON)::

    python -m engine.train.evaluate weights/zerodce.pt --pairs DIR --real DIR --png-dir /tmp/x
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.models.sci import IlluminationStage
from engine.models.zerodce import DCENet, DCENetPP, apply_curve
from engine.train.data import list_images, split_holdout

__all__ = [
    "DEFAULT_RUN_SIZE",
    "build_inference_net",
    "enhance",
    "gamma_to_mean",
    "darken",
    "psnr",
    "ssim",
    "evaluate_pairs",
    "evaluate_real",
    "pair_files",
]

DEFAULT_RUN_SIZE = {"sci": 256, "zerodce": 192, "zerodce++": 256}


def build_inference_net(ckpt: dict[str, Any]) -> torch.nn.Module:
    """The inference network of a shipped checkpoint dict, in eval mode."""
    method = ckpt["method"]
    cls = {"sci": IlluminationStage, "zerodce": DCENet, "zerodce++": DCENetPP}[method]
    net = cls(**ckpt.get("arch", {}))
    net.load_state_dict(ckpt["state_dict"])
    return net.eval()


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255.0


def _small(img: np.ndarray, run_size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(1.0, run_size / max(h, w))
    if s >= 1.0:
        return img
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


@torch.no_grad()
def enhance(method: str, net: torch.nn.Module, img: np.ndarray, run_size: int) -> np.ndarray:
    """Enhance uint8 (H, W, 3) RGB ``img``; the net sees it downscaled to long side ``run_size``.
    Returns float32 (H, W, 3) in [0, 1]."""
    x = _to_tensor(img)
    s = _to_tensor(_small(img, run_size))
    h, w = img.shape[:2]
    if method == "sci":
        res = net(s) - s
        up = F.interpolate(res, size=(h, w), mode="bilinear", align_corners=False)
        i = torch.clamp(x + up, 1e-4, 1.0)
        out = torch.clamp(x / i, 0.0, 1.0)
    else:
        a = net(s)
        up = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=False)
        out = torch.clamp(apply_curve(x, up, 8), 0.0, 1.0)
    return out[0].permute(1, 2, 0).numpy()


def _grey(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def gamma_to_mean(img: np.ndarray, target: float = 0.45) -> np.ndarray:
    """Baseline: a global gamma x**g with g chosen so the mean grey level becomes ``target``
    (computed on the mean, so the result's mean is close to, not exactly, ``target``)."""
    x = img.astype(np.float32) / 255.0
    m = float(np.clip(_grey(x).mean(), 1e-4, 0.999))
    g = math.log(target) / math.log(m)
    return np.power(x, g)


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def darken(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """A synthetic dark capture of a well-exposed uint8 image: sRGB → linear, × factor in
    [0.05, 0.3], Poisson-Gaussian noise (variance ``a·v + b²`` with a in [1e-3, 4e-3] and b in
    [0.002, 0.01], linear units), → sRGB, uint8. Returns the image and the drawn parameters."""
    lin = _srgb_to_linear(img.astype(np.float64) / 255.0)
    f = float(rng.uniform(0.05, 0.3))
    a = float(rng.uniform(1e-3, 4e-3))
    b = float(rng.uniform(0.002, 0.01))
    v = lin * f
    photons = rng.poisson(v / a) * a
    noisy = photons + rng.normal(0.0, b, v.shape)
    out = np.round(_linear_to_srgb(noisy) * 255.0).astype(np.uint8)
    return out, {"factor": f, "shot": a, "read": b}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of float images in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004: Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03) of float images
    in [0, 1], averaged over channels."""
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch].astype(np.float64), b[..., ch].astype(np.float64)
        blur = lambda t: cv2.GaussianBlur(t, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(float(m[5:-5, 5:-5].mean()))
    return float(np.mean(vals))


def pair_files(data: str | Path, holdout: float = 0.05, lo: float = 0.35, hi: float = 0.65) -> list[Path]:
    """Held-out files of a training folder (see :func:`engine.train.data.split_holdout`)
    whose mean grey level is in [lo, hi]: the well-exposed references of the synthetic pairs."""
    _, held = split_holdout(list_images(data), holdout)
    keep = []
    for f in held:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is not None and lo <= img.mean() / 255.0 <= hi:
            keep.append(f)
    return keep


def _read(f: Path) -> np.ndarray:
    img = cv2.imread(str(f), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot decode image: {f}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def evaluate_pairs(
    method: str, net: torch.nn.Module, files: list[Path], run_size: int, seed: int = 0,
    pairs_per_image: int = 2,
) -> dict[str, float]:
    """Mean PSNR/SSIM against the reference of: the net's output, the dark input, and the
    gamma-to-0.45 baseline, over ``pairs_per_image`` seeded synthetic darkenings per file."""
    rng = np.random.default_rng(seed)
    acc: dict[str, list[float]] = {}
    for f in files:
        ref8 = _read(f)
        ref = ref8.astype(np.float32) / 255.0
        for _ in range(pairs_per_image):
            dark, _p = darken(ref8, rng)
            cands = {
                "net": enhance(method, net, dark, run_size),
                "input": dark.astype(np.float32) / 255.0,
                "gamma045": gamma_to_mean(dark),
            }
            for k, out in cands.items():
                acc.setdefault(f"{k}_psnr", []).append(psnr(out, ref))
                acc.setdefault(f"{k}_ssim", []).append(ssim(out, ref))
            acc.setdefault("net_mean", []).append(float(_grey(cands["net"]).mean()))
            acc.setdefault("ref_mean", []).append(float(_grey(ref).mean()))
    res = {k: round(float(np.mean(v)), 4) for k, v in acc.items()}
    res["pairs"] = len(files) * pairs_per_image
    return res


def evaluate_real(
    method: str, net: torch.nn.Module, folder: Path, run_size: int, png_dir: Path | None = None
) -> dict[str, float]:
    """Mean grey level of inputs and outputs over the images under ``folder`` (recursive);
    optionally writes side-by-side input|output PNGs to ``png_dir``."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    ins, outs, clipped = [], [], []
    for f in files:
        img = _read(f)
        out = enhance(method, net, img, run_size)
        ins.append(float(_grey(img.astype(np.float32) / 255.0).mean()))
        outs.append(float(_grey(out).mean()))
        clipped.append(float((out >= 0.995).any(axis=2).mean()))
        if png_dir is not None:
            png_dir.mkdir(parents=True, exist_ok=True)
            side = np.concatenate([img, np.round(out * 255).astype(np.uint8)], axis=1)
            h, w = side.shape[:2]
            s = min(1.0, 1200 / w)
            side = cv2.resize(side, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(png_dir / f"{f.parent.name}_{f.stem}.png"), cv2.cvtColor(side, cv2.COLOR_RGB2BGR))
    return {
        "images": len(files),
        "input_mean": round(float(np.mean(ins)), 4),
        "output_mean": round(float(np.mean(outs)), 4),
        "output_mean_min": round(float(np.min(outs)), 4),
        "output_mean_max": round(float(np.max(outs)), 4),
        "clipped_fraction": round(float(np.mean(clipped)), 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.train.evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--pairs", help="training folder whose held-out well-exposed images make synthetic pairs")
    ap.add_argument("--holdout", type=float, default=0.05)
    ap.add_argument("--real", help="folder of real dark images (mean brightness)")
    ap.add_argument("--run-size", type=int, default=None)
    ap.add_argument("--png-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    net = build_inference_net(ckpt)
    method = ckpt["method"]
    rs = args.run_size or DEFAULT_RUN_SIZE[method]
    result: dict[str, Any] = {"method": method, "run_size": rs}
    if args.pairs:
        files = pair_files(args.pairs, args.holdout)
        result["synthetic"] = evaluate_pairs(method, net, files, rs, args.seed)
        result["synthetic"]["reference_images"] = len(files)
    if args.real:
        result["real"] = evaluate_real(method, net, Path(args.real), rs, Path(args.png_dir) if args.png_dir else None)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
