"""Image quality figures: full-reference (PSNR, SSIM) and no-reference (brightness,
colourfulness, noise).

Every function takes ``numpy`` images of shape (H, W, 3) RGB or (H, W) grey, either
uint8 (0..255) or float (0..1). Float inputs are put on the 8-bit scale (multiplied by
255) so that all figures read the same whatever the input dtype; values are not clipped.

References:
- SSIM: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment:
  from error visibility to structural similarity", IEEE TIP 13(4), 2004. Gaussian window
  11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255.
- Colourfulness: D. Hasler, S. Süsstrunk, "Measuring colourfulness in natural images",
  SPIE Human Vision and Electronic Imaging, 2003.
- Noise: J. Immerkær, "Fast noise variance estimation", CVIU 64(2), 1996.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "psnr",
    "ssim",
    "luma",
    "mean_brightness",
    "colourfulness",
    "noise_sigma",
    "dark_chroma",
    "no_reference",
]

# ITU-R BT.601 luma weights (the grey conversion used by the SSIM reference code).
_LUMA = np.array([0.299, 0.587, 0.114], np.float64)


def _to_255(image: np.ndarray) -> np.ndarray:
    """float64 copy of ``image`` on the 0..255 scale (uint8 as is, float ×255)."""
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a.astype(np.float64)
    if a.dtype == np.uint16:
        return a.astype(np.float64) * (255.0 / 65535.0)
    if np.issubdtype(a.dtype, np.floating):
        return a.astype(np.float64) * 255.0
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        return a.astype(np.float64)
    raise ValueError(f"unsupported image dtype {a.dtype}")


def _check(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"empty image of shape {a.shape}")
    return a


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B.

    Args:
        image: (H, W, 3) RGB or (H, W) grey; uint8 or float 0..1.

    Returns:
        float64 (H, W) on the 0..255 scale (a grey input is returned as is, scaled).
    """
    a = _check(image)
    f = _to_255(a)
    if f.ndim == 2:
        return f
    return f @ _LUMA


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, peak = 255 (uint8) or 1.0 (float, via ×255).

    Args:
        a, b: images of the same shape, (H, W) or (H, W, 3); uint8 or float 0..1.
            Mixed dtypes are allowed (each is put on the 0..255 scale).

    Returns:
        PSNR in dB over all pixels and channels; ``math.inf`` for identical images.
    """
    x, y = _check(a), _check(b)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    mse = float(np.mean((_to_255(x) - _to_255(y)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 ** 2 / mse)


def _ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two float64 (H, W) planes on the 0..255 scale."""
    c1 = (0.01 * 255.0) ** 2
    c2 = (0.03 * 255.0) ** 2

    def blur(p: np.ndarray) -> np.ndarray:
        # Reflecting border so that any size works; the border band is cropped below
        # when the image is large enough (Wang et al. average the 'valid' region).
        return cv2.GaussianBlur(p, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2.0 * mx * my + c1) * (2.0 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    smap = num / den
    h, w = smap.shape
    if h > 10 and w > 10:
        smap = smap[5:h - 5, 5:w - 5]
    return float(smap.mean())


def ssim(a: np.ndarray, b: np.ndarray, *, channel: str = "luma") -> float:
    """Structural similarity (Wang et al. 2004), mean over the image.

    Gaussian window 11×11, σ = 1.5, K1 = 0.01, K2 = 0.03, dynamic range L = 255 (float
    inputs are scaled ×255 first). The SSIM map is averaged over the region where the
    window fits inside the image (a 5-pixel border is dropped) when both sides exceed
    10 pixels; smaller images use a reflected border and the whole map.

    Args:
        a, b: images of the same shape, (H, W) or (H, W, 3); uint8 or float 0..1.
        channel: ``"luma"`` (default) computes SSIM on BT.601 luma; ``"mean"`` computes it
            per RGB channel and returns the mean of the three.

    Returns:
        SSIM in [-1, 1]; exactly 1.0 for identical images.
    """
    x, y = _check(a), _check(b)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    if channel == "luma":
        return _ssim_plane(luma(x), luma(y))
    if channel == "mean":
        fx, fy = _to_255(x), _to_255(y)
        if fx.ndim == 2:
            return _ssim_plane(fx, fy)
        return float(np.mean([_ssim_plane(fx[:, :, c].copy(), fy[:, :, c].copy()) for c in range(3)]))
    raise ValueError(f"channel must be 'luma' or 'mean', got {channel!r}")


def mean_brightness(image: np.ndarray) -> float:
    """Mean BT.601 luma of ``image`` as a fraction 0..1 (0 = black, 1 = white)."""
    return float(luma(image).mean() / 255.0)


def colourfulness(image: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness M on the 0..255 scale.

    With rg = R − G and yb = (R + G) / 2 − B:
    M = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²).
    0 for any grey image; about 15 "slightly", 33 "moderately", 59 "quite", 82 "highly"
    colourful per the paper's scale. A (H, W) grey input returns 0.0.

    Args:
        image: (H, W, 3) RGB or (H, W) grey; uint8 or float 0..1.
    """
    a = _check(image)
    if a.ndim == 2:
        return 0.0
    f = _to_255(a)
    r, g, b = f[:, :, 0], f[:, :, 1], f[:, :, 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    std = math.sqrt(float(rg.var()) + float(yb.var()))
    mean = math.sqrt(float(rg.mean()) ** 2 + float(yb.mean()) ** 2)
    return std + 0.3 * mean


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)


def noise_sigma(image: np.ndarray) -> float:
    """Immerkær (1996) fast estimate of the standard deviation of additive white
    Gaussian noise, in 8-bit levels (0..255 scale), measured on BT.601 luma.

    σ = sqrt(π/2) / (6 (W − 2)(H − 2)) · Σ |I ∗ M| over the interior, where M is the
    3×3 difference of two Laplacians, which cancels image structure up to second order.
    Texture and edges still leak in, so on real photographs the figure is an upper bound
    of the noise (compare methods on the same inputs, not across images). Squaring gives
    the variance.

    Args:
        image: (H, W, 3) RGB or (H, W) grey; uint8 or float 0..1.

    Returns:
        σ ≥ 0 in 8-bit levels. ``math.nan`` when either side is under 3 pixels: the mask
        has no interior pixel to respond on, so the noise is unmeasured (0.0 would claim a
        noise-free picture and pull averages down).
    """
    y = luma(image)
    h, w = y.shape
    if h < 3 or w < 3:
        return math.nan
    conv = cv2.filter2D(y, cv2.CV_64F, _IMMERKAER, borderType=cv2.BORDER_REFLECT)
    total = float(np.abs(conv[1:-1, 1:-1]).sum())
    return math.sqrt(math.pi / 2.0) * total / (6.0 * (w - 2) * (h - 2))


def dark_chroma(image: np.ndarray) -> float:
    """Colour cast of the shadows: the mean CIE Lab chroma sqrt(a*² + b*²) (D65, sRGB
    primaries, the 8-bit values read as sRGB) over the darkest half of the pixels by
    BT.601 luma (ties at the median all counted).

    A neutral shadow reads 0; noise or a tint lifted with the picture raises it. A
    lifted night scene whose shadows look grey stays below about 10; the violet
    cast of a codec bias lifted twelve-fold reads 50 and more. A (H, W) grey input
    returns 0.0.

    Args:
        image: (H, W, 3) RGB or (H, W) grey; uint8 or float 0..1.
    """
    a = _check(image)
    if a.ndim == 2:
        return 0.0
    f = (_to_255(a) / 255.0).astype(np.float32)
    lab = cv2.cvtColor(np.clip(f, 0.0, 1.0), cv2.COLOR_RGB2Lab)
    chroma = np.hypot(lab[:, :, 1], lab[:, :, 2])
    y = luma(a)
    dark = y <= np.median(y)
    return float(chroma[dark].mean())


def no_reference(image: np.ndarray) -> dict[str, float]:
    """The no-reference figures of one image.

    Returns:
        ``{"brightness": 0..1, "colourfulness": ≥ 0 (0..255 scale),
        "noise": σ in 8-bit levels (nan below 3×3),
        "dark_chroma": mean Lab chroma of the darkest half (:func:`dark_chroma`)}``.
    """
    return {
        "brightness": mean_brightness(image),
        "colourfulness": colourfulness(image),
        "noise": noise_sigma(image),
        "dark_chroma": dark_chroma(image),
    }
