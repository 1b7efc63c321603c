"""SCI: self-calibrated illumination learning (Ma, Ma, Liu, Fan, Luo; CVPR 2022).

Networks (PyTorch). The inference model is one weight-shared illumination stage:
``illumination = clamp(x + stage(x), 1e-4, 1)`` and ``output = clamp(x / illumination, 0, 1)``.
The self-calibrated module and the multi-stage cascade exist only in training
(:class:`SCITrainingNet`).

All tensors are float32 NCHW with values in [0, 1] unless stated otherwise.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.enhancer import ApplyJob, ParamMap
from engine.models import exposure as ex
from engine.models.catalog.sci import SCI
from engine.models.learned_base import LearnedEnhancer, arch_kwargs, fast_downscale, to_unit, to_uint8
from engine.models.lut2d import Lut2D, PairLut
from engine.params import EnhanceParams
from engine.runtime.selection import NetworkSpec, register_network

__all__ = ["IlluminationStage", "CalibrationModule", "SCITrainingNet", "SCIResidualNet",
           "build_inference_net", "SCIEnhancer", "SCI", "create_sci"]


class IlluminationStage(nn.Module):
    """The weight-shared illumination estimator used at inference.

    Args:
        channels: feature channels (the paper's default is 3).
        blocks: residual conv blocks; the block's weights are shared across repeats.

    Input: (N, 3, H, W) in [0, 1]. Output: illumination (N, 3, H, W) in [1e-4, 1].
    """

    def __init__(self, channels: int = 3, blocks: int = 1) -> None:
        super().__init__()
        self.blocks = blocks
        self.in_conv = nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.out_conv = nn.Sequential(nn.Conv2d(channels, 3, 3, 1, 1), nn.Sigmoid())

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """The smooth residual r = sigmoid(...) in (0, 1), (N, 3, H, W); the
        illumination is clamp(x + r, 1e-4, 1)."""
        fea = self.in_conv(x)
        for _ in range(self.blocks):
            fea = fea + self.block(fea)
        return self.out_conv(fea)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.residual(x) + x, 1e-4, 1.0)


class CalibrationModule(nn.Module):
    """Self-calibrated module (training only): maps a stage's output back to a
    corrected input for the next stage, ``delta = r - g(r)``.

    Input: (N, 3, H, W) in [0, 1]. Output: (N, 3, H, W), unbounded residual.
    """

    def __init__(self, channels: int = 16, blocks: int = 3) -> None:
        super().__init__()
        self.blocks = blocks
        self.in_conv = nn.Sequential(
            nn.Conv2d(3, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU()
        )
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1), nn.BatchNorm2d(channels), nn.ReLU(),
        )
        self.out_conv = nn.Sequential(nn.Conv2d(channels, 3, 3, 1, 1), nn.Sigmoid())

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        fea = self.in_conv(r)
        for _ in range(self.blocks):
            fea = fea + self.block(fea)
        return r - self.out_conv(fea)


class SCITrainingNet(nn.Module):
    """Training-time cascade: ``stages`` applications of the shared illumination stage,
    each fed by the input corrected with the calibration module.

    ``forward(x)`` returns three lists of length ``stages``: the stage inputs, the
    illuminations and the enhanced outputs r = clamp(x / illumination, 0, 1).
    Only ``self.stage`` is kept for inference.
    """

    def __init__(self, stages: int = 3) -> None:
        super().__init__()
        self.stages = stages
        self.stage = IlluminationStage()
        self.calibrate = CalibrationModule()

    def forward(self, x: torch.Tensor):
        inputs, illus, outs = [], [], []
        stage_in = x
        for _ in range(self.stages):
            inputs.append(stage_in)
            illu = self.stage(stage_in)
            r = torch.clamp(x / illu, 0.0, 1.0)
            stage_in = x + self.calibrate(r)
            illus.append(illu)
            outs.append(r)
        return inputs, illus, outs


# --------------------------------------------------------------------------- inference


class SCIResidualNet(nn.Module):
    """The exported inference network: x (N, 3, H, W) in [0, 1] → residual r in (0, 1).

    The enhancer forms illumination = clamp(x + r, 1e-4, 1) itself, so the fast path
    can add the full-resolution x to a residual estimated at low resolution.
    """

    def __init__(self, stage: IlluminationStage) -> None:
        super().__init__()
        self.stage = stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage.residual(x)


def build_inference_net(ckpt: dict) -> SCIResidualNet:
    """Checkpoint dict → :class:`SCIResidualNet`. Accepts the state dict of an
    :class:`IlluminationStage` or of a whole :class:`SCITrainingNet` (keys ``stage.*``)."""
    sd = ckpt["state_dict"]
    if any(k.startswith("stage.") for k in sd):
        sd = {k[len("stage."):]: v for k, v in sd.items() if k.startswith("stage.")}
    stage = IlluminationStage(**arch_kwargs(IlluminationStage, ckpt.get("arch")))
    stage.load_state_dict(sd)
    return SCIResidualNet(stage)


# 3 convolutions of 3 channels: ONNX Runtime's blocked layout costs more than it saves
NETWORK = register_network(NetworkSpec("sci", "sci.pt", build_inference_net, halo=4, onnx_layout=False))

_EPS = 1e-4


class SCIEnhancer(LearnedEnhancer):
    """SCI with the estimate/apply split.

    With K = ``iterations`` stages, stage k sees y_(k-1) (y_0 = x) and gives
    i_k = clamp(y_(k-1) + r_k, 1e-4, 1), y_k = y_(k-1) / i_k. The output is
    x · G**s with the total gain G = y_K / x ≥ 1 and s = ``strength`` (for K = 1:
    x / i**s), so s = 0 is the original and raising s never darkens.

    Map (kind ``"sci_residual"``): float32 (h, w, 3K), the residuals r_k in (0, 1)
    estimated on the downscaled frame. Apply upsamples r_k and adds the
    full-resolution y: exact wherever r is smooth. Each stage is a 2-D table over
    (r, y) (K = 1: uint8 table for x / i**s); for K > 1 the stages pass float32
    levels and a second table over (x, y_K) raises the gain to s.

    Exposure (``exposure`` > 0, see :mod:`engine.models.exposure`): the gain exponent
    becomes s·c with the per-frame control c in [0, ``max_control``] solved for the
    target mean, and the highlight knee is applied to the unclipped x·G**(s·c). The
    tables are keyed on the quantised s·c and a few are cached.
    """

    network = NETWORK
    estimate_size = 256
    #: largest exposure control c (exponent multiplier of the illumination gain)
    max_control = 4.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stage_lut = Lut2D(1024, 0.0, 1.0, cache=ex.TABLE_CACHE + 1)  # + the float stage table
        self._gain_lut = PairLut(cache=ex.TABLE_CACHE)
        self.last_control: float | None = None  # diagnostics: c of the last exposure apply

    def _stages(self, params: EnhanceParams) -> int:
        return int(self.descriptor.clamp(params).iterations)

    def _residuals(self, img: np.ndarray, stages: int,
                   log: bool = True) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Run the stages on float32 (h, w, 3) ``img``; return ([r_k], sum of log i_k).
        ``log`` False: the residuals alone (the estimate's map) and None, without the log
        sum and the last stage's illumination (about 0.2 ms at 256 px)."""
        rs, y = [], img
        log_i = np.zeros_like(img) if log else None
        for k in range(stages):
            r = self.infer(y)
            rs.append(r)
            if log_i is not None or k + 1 < stages:
                i = np.clip(y + r, _EPS, 1.0)
                if log_i is not None:
                    log_i += np.log(i)
                y = y / i
        return rs, log_i

    def estimate(self, frame: np.ndarray, params: EnhanceParams) -> ParamMap:
        return self.estimate_next(frame, params, None)

    def estimate_next(self, frame: np.ndarray, params: EnhanceParams, previous: ParamMap | None) -> ParamMap:
        small = fast_downscale(self.check(frame), self.estimate_size)
        rs, _ = self._residuals(to_unit(small), self._stages(params), log=False)
        data = np.ascontiguousarray(np.concatenate(rs, axis=2), dtype=np.float32)
        extra: dict = {"stages": len(rs)}
        e = float(self.descriptor.clamp(params).exposure)
        if e > 0.0:
            cells = ex.frame_cells(small)
            d, c, roots = ex.frame_control(small, data, e, self._luma_model, self.max_control, cells,
                                           ex.previous_roots(previous, len(rs)))
            extra[ex.ROOTS] = (len(rs),) + roots
            extra[ex.LOG_LEVEL] = level = ex.output_level(cells[0], d)
            extra[ex.CELLS] = cells
            extra[ex.SOLVED] = (level, None, c)
        return ParamMap(data, "sci_residual", frame.shape[:2], small, extra)

    def _log_gain(self, img: np.ndarray, r: np.ndarray, exposure: float,
                  cells: tuple[float, np.ndarray] | None = None) -> float:
        """The wanted log gain for uint8 frame ``img`` and its residual map ``r`` (same
        (h, w)), within the highlight limit (``cells``: :func:`~engine.models.exposure.frame_cells`
        of ``img`` when known)."""
        return ex.frame_log_gain(img, r, exposure, self._luma_model, self.max_control, cells)

    def exposure_control(self, pmap: ParamMap, exposure: float, strength: float = 1.0) -> float:
        """The gain exponent multiplier for ``pmap`` at ``strength`` s: s·c with the control c
        (solved on ``pmap.small`` for the smoothed ``extra["log_level"]``, recomputed from
        the small frame when absent; the estimate's own solution while the level is
        unsmoothed, else solved from it, :func:`~engine.models.exposure.solved_control`;
        kept in ``last_control``), above s = 1 no further than
        :func:`engine.models.exposure.strong_control` allows."""
        c = ex.solved_control(pmap)
        if c is None or strength > 1.0:
            x, r, goal = ex.control_problem(pmap, exposure, "SCI")
            if c is None:
                c = self._cells_control(x, r, goal, ex.solved_control(pmap, exact=False))
        self.last_control = c
        if strength > 1.0:
            return ex.strong_control(self._luma_model(x, r), x, c, strength, 2.0 * self.max_control)
        return strength * c

    @staticmethod
    def _luma_model(x: np.ndarray, r: np.ndarray):
        """c → output luma (n,) of area-averaged cells x (n, 3) in [0, 1] with residuals
        r (n, 3K): knee(x, x·G^c), the fast path's arithmetic (log G >= 0)."""
        log_g, y = np.zeros_like(x), x
        for k in range(r.shape[1] // 3):
            i = np.clip(y + r[:, 3 * k:3 * k + 3], _EPS, 1.0)
            log_g -= np.log(i)
            y = y / i
        return lambda c: ex.luma_of(ex.knee(x, x * np.exp(c * log_g)))

    def _cells_control(self, x: np.ndarray, r: np.ndarray, goal: float, guess: float | None = None) -> float:
        """The control c with mean output luma = ``goal`` for area-averaged cells x (n, 3)
        in [0, 1] and residuals r (n, 3K) (the same arithmetic on the fast and the
        reference path); ``guess``: a control near it (see ``solve_control``)."""
        out = self._luma_model(x, r)
        return ex.solve_control(lambda c: ex.scene_stat(out(c)), goal, self.max_control, guess=guess)

    def apply(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> np.ndarray:
        return self.apply_job(frame, pmap, params).result()

    def apply_job(self, frame: np.ndarray, pmap: ParamMap, params: EnhanceParams) -> ApplyJob:
        """One stage (the default): the table gather by bands; more stages whole."""
        self.check(frame)
        p = self.descriptor.clamp(params)
        s = float(p.strength)
        stages = pmap.data.shape[2] // 3
        if s == 0.0:
            return ApplyJob.done(frame.copy())
        if p.exposure > 0.0:
            return self._apply_exposure(frame, pmap, s, float(p.exposure))
        if stages == 1:
            self._stage_lut.build(("stage", s), lambda r, x: x / np.clip(x + r, _EPS, 1.0) ** s)
            return self._stage_lut.job(frame, pmap.data)
        # K stages: y stays in float32 levels between stages (8-bit intermediates lost
        # too much in dark pixels once the gain is raised to s).
        self._stage_lut.build(("stage", 1.0), lambda r, x: x / np.clip(x + r, _EPS, 1.0))
        y: np.ndarray = frame
        for k in range(stages):
            y = self._stage_lut.apply(y, pmap.data[:, :, 3 * k:3 * k + 3], float_out=True)
        if s == 1.0:
            return ApplyJob.done(np.rint(np.clip(y, 0.0, 255.0, out=y), out=y).astype(np.uint8))
        self._gain_lut.build(("gain", s), lambda b, a: a * np.maximum(b / np.maximum(a, 1e-12), 1.0) ** s)
        return ApplyJob.done(self._gain_lut.apply(frame, y))

    def _apply_exposure(self, frame: np.ndarray, pmap: ParamMap, s: float, exposure: float) -> ApplyJob:
        # tables are cached on a 1/256 log grid of s·c; the two either side are blended
        s_lo, s_hi, f = ex.strength_steps(self.exposure_control(pmap, exposure, s))
        if s_lo == 0.0:
            return ApplyJob.done(frame.copy())
        stages = pmap.data.shape[2] // 3
        k = ex.KNEE
        if stages == 1:
            # float32 is enough for a uint8 table and builds 2.5x faster than float64
            def stage(se: float):
                def fn(r: np.ndarray, x: np.ndarray) -> np.ndarray:
                    r, x = r.astype(np.float32), x.astype(np.float32)
                    return ex.knee(x, x / np.clip(x + r, np.float32(_EPS), np.float32(1.0)) ** np.float32(se), k)
                return fn
            self._stage_lut.build_blend(("stage", s_lo, k), stage(s_lo), ("stage", s_hi, k), stage(s_hi), f)
            return self._stage_lut.job(frame, pmap.data)
        self._stage_lut.build(("stage", 1.0), lambda r, x: x / np.clip(x + r, _EPS, 1.0))
        y: np.ndarray = frame
        for j in range(stages):
            y = self._stage_lut.apply(y, pmap.data[:, :, 3 * j:3 * j + 3], float_out=True)

        def gain(se: float):
            return lambda b, a: ex.knee(a, a * np.maximum(b / np.maximum(a, 1e-12), 1.0) ** se, k)
        self._gain_lut.build_blend(("gain", s_lo, k), gain(s_lo), ("gain", s_hi, k), gain(s_hi), f)
        return ApplyJob.done(self._gain_lut.apply(frame, y))

    def reference(self, frame: np.ndarray, params: EnhanceParams | None = None) -> np.ndarray:
        p = self.descriptor.clamp(params or self.descriptor.default_params())
        x = to_unit(self.check(frame))
        rs, log_i = self._residuals(x, int(p.iterations))
        assert log_i is not None
        s = float(p.strength)
        if p.exposure <= 0.0:
            return to_uint8(x * np.exp(-s * log_i))
        cells = ex.frame_cells(frame)
        r = np.concatenate(rs, axis=2)
        goal = ex.goal_mean(cells[0], self._log_gain(frame, r, float(p.exposure), cells))
        xs, rs = ex.area_samples(x).astype(np.float64), ex.area_samples(r).astype(np.float64)
        c = self._cells_control(xs, rs, goal)
        se = ex.strong_control(self._luma_model(xs, rs), xs, c, s, 2.0 * self.max_control) if s > 1.0 else s * c
        return to_uint8(ex.knee(x, x * np.exp(-se * log_i)))


def create_sci(backend: str = "auto", device: str = "auto", weights: str | None = None) -> SCIEnhancer:
    """The registry's factory of ``sci`` (named in :mod:`engine.models.catalog.sci`)."""
    return SCIEnhancer(SCI, backend=backend, device=device, weights=weights)
