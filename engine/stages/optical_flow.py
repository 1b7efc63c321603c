"""DIS optical flow (OpenCV) with the sizes it can take checked first.

OpenCV's DIS builds an image pyramid from its finest scale (``getFinestScale``, 2 for the
ultrafast preset, 1 for medium) up, and on a picture whose short side is below
``patch size · 2^finest scale`` pixels (32 for ultrafast, 16 for medium) it crashes the
process (a segmentation fault, measured with OpenCV 4.12: ultrafast on 16–31 × 80+ pixel
pictures, medium on 8–15 × 40–300) instead of raising. A wide, short video (a 2400×200
strip has a 240×20 shift luma) must not take the program down, so :func:`dis_flow`
returns None for such sizes, as for a size DIS refuses. ``calc`` also lowers the finest
scale on a small picture (48×64: from 2 to 0) and keeps it lowered, which would change
every later flow of the same object; :func:`dis_flow` sets it back.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["dis_fits", "dis_flow"]


def dis_fits(dis: cv2.DISOpticalFlow, height: int, width: int) -> bool:
    """Whether ``dis`` can take a ``height`` × ``width`` picture: its short side at least
    the patch size times 2 to the finest scale."""
    return min(height, width) >= dis.getPatchSize() << max(0, dis.getFinestScale())


def dis_flow(dis: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """The flow from uint8 (h, w) ``a`` to equally shaped ``b`` (float32 (h, w, 2): for p
    in ``a``, p + flow(p) is where it is in ``b``), or None when the size does not fit
    (:func:`dis_fits`) or this OpenCV's DIS refuses it."""
    if a.shape != b.shape or not dis_fits(dis, *a.shape[:2]):
        return None
    finest = dis.getFinestScale()
    try:
        return dis.calc(a, b, None)
    except cv2.error:
        return None
    finally:  # calc lowers it for a small picture, and it would stay lowered for the next
        dis.setFinestScale(finest)
