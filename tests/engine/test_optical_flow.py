"""DIS optical flow on short, wide pictures: OpenCV's DIS crashed the process (a
segmentation fault, not an exception) below patch size · 2^finest scale pixels on the
short side; the camera follower and the flicker metric must skip such pictures. Each case
runs in a child process, so a crash fails the test instead of ending the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.stages.optical_flow import dis_fits, dis_flow

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=120)


_CLIP = """
import numpy as np
rng = np.random.default_rng(0)
h, w = {h}, {w}
y, x = np.mgrid[0:h, 0:w + 6].astype(np.float32)
scene = 40 + 30 * np.sin(x / 5.0) * np.cos(y / 3.0)
clip = [np.clip(np.stack([scene[:, i:i + w]] * 3, axis=2) + rng.normal(0, 4, (h, w, 3)), 0, 255)
        .astype(np.uint8) for i in range(6)]
"""


@pytest.mark.parametrize("shape", [(24, 200), (16, 80), (31, 239), (40, 2400)])
def test_camera_follower_survives_short_wide_frames(shape) -> None:
    # (40, 2400): the 240-pixel shift luma of a 2400×40 strip is 240×4 (skipped as small)
    code = _CLIP.format(h=shape[0], w=shape[1]) + """
from engine.stages.temporal_denoise import TemporalDenoiser
td = TemporalDenoiser()
for f in clip:
    out = td.process(f, 1.0)
assert out.shape == clip[0].shape
print("shift", td.shift)
"""
    done = _child(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shift (0.0, 0.0)" in done.stdout  # too short to follow: not followed


@pytest.mark.parametrize("shape", [(12, 100), (8, 64), (15, 299)])
def test_flicker_flow_survives_short_wide_frames(shape) -> None:
    code = _CLIP.format(h=shape[0], w=shape[1]) + """
from engine.lab import flicker as fl
flows = fl.compute_flows(clip[:2], size=None)
assert flows == [None]
print(fl.warped_error(clip[:2], flows))
"""
    done = _child(code)
    assert done.returncode == 0, done.stderr[-2000:]


def test_dis_fits_is_the_pyramid_bound() -> None:
    ultrafast = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    medium = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    assert not dis_fits(ultrafast, 31, 240) and dis_fits(ultrafast, 32, 240)
    assert not dis_fits(medium, 240, 15) and dis_fits(medium, 16, 240)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    flow = dis_flow(ultrafast, a, np.roll(a, 2, axis=1))
    assert flow is not None and flow.shape == (48, 64, 2)
    assert ultrafast.getFinestScale() == 2  # calc lowered it for this small picture; set back
    assert dis_flow(ultrafast, a[:20], a[:20]) is None
    assert dis_flow(ultrafast, a, a[:40]) is None  # shapes differ
