"""Runtime choice (backend/device, auto rules, stale graphs) and the sessions themselves,
device-parametrised: CUDA cases run only where a GPU exists; the CPU is forced through
the same staging code (fp16, reused buffers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import registry
from engine.models.sci import SCIResidualNet
from engine.runtime import onnx_runtime
from engine.runtime.onnx_runtime import OnnxRuntime, cpu_threads, gpu_providers
from engine.runtime.selection import network_spec, resolve
from engine.runtime.torch_runtime import TorchRuntime
from engine.runtime.weights import WeightsError

from learned_helpers import METHODS, make_net, write_checkpoint

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
ORT_GPU = pytest.mark.skipif(not gpu_providers(), reason="ONNX Runtime has no GPU provider")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def test_auto_prefers_current_onnx_graph(weights) -> None:
    for m in METHODS:
        kind, dev, path = resolve(network_spec(m), "auto", "cpu")
        assert (kind, dev, path.suffix) == ("onnx", "cpu", ".onnx")
        assert registry.create(m, device="cpu").runtime_label() == "onnx/CPUExecutionProvider"
        assert registry.create(m, backend="torch", device="cpu").runtime_label() == "torch/cpu"


def test_auto_without_graph_uses_torch(weights) -> None:
    (weights / "sci.onnx").unlink()
    assert resolve(network_spec("sci"), "auto", "cpu")[0] == "torch"
    with pytest.raises(WeightsError, match=r"sci\.onnx.*lowlight export-onnx --method sci"):
        resolve(network_spec("sci"), "onnx", "cpu")


def test_stale_graph_is_not_used(weights) -> None:
    """A checkpoint retrained after the export: auto falls back to torch, onnx refuses."""
    write_checkpoint(weights, "zerodce++", seed=5)
    assert resolve(network_spec("zerodce++"), "auto", "cpu")[0] == "torch"
    with pytest.raises(WeightsError, match="re-run `lowlight export-onnx --method zerodce\\+\\+`"):
        resolve(network_spec("zerodce++"), "onnx", "cpu")


def test_bad_choices(weights) -> None:
    with pytest.raises(ValueError):
        resolve(network_spec("sci"), "tensorflow", "cpu")
    with pytest.raises(ValueError):
        resolve(network_spec("sci"), "auto", "tpu")


def test_user_checkpoint_and_graph_paths(weights, tmp_path_factory) -> None:
    own = tmp_path_factory.mktemp("own")
    ckpt = write_checkpoint(own, "sci", seed=3)  # outside the weights folder: not sha-checked
    enh = registry.create("sci", backend="torch", device="cpu", weights=str(ckpt))
    assert enh.runtime_label() == "torch/cpu"
    enh = registry.create("sci", device="cpu", weights=str(weights / "sci.onnx"))
    assert enh.runtime_label() == "onnx/CPUExecutionProvider"
    with pytest.raises(WeightsError, match="holds weights for 'zerodce'"):
        registry.create("sci", backend="torch", weights=str(weights / "zerodce.pt"))


def test_cuda_without_gpu_is_a_clear_error(weights) -> None:
    if torch.cuda.is_available() or gpu_providers():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA"):
        registry.create("sci", backend="torch", device="cuda")
    with pytest.raises(RuntimeError, match="no GPU provider"):
        OnnxRuntime(weights / "sci.onnx", "cuda")
    # auto device never picks a GPU that is not there
    assert resolve(network_spec("sci"), "auto", "auto")[1] == "cpu"


@pytest.mark.parametrize("device", DEVICES)
def test_torch_runtime(device) -> None:
    net = SCIResidualNet(make_net("sci"))
    x = np.random.default_rng(0).random((1, 3, 17, 29), dtype=np.float32)
    with torch.inference_mode():
        want = net(torch.from_numpy(x)).numpy()
    rt = TorchRuntime(net, device)
    assert rt.label == ("torch/cpu" if device == "cpu" else "torch/cuda fp16")
    got = rt.run(x)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5 if device == "cpu" else 5e-3)


@pytest.mark.parametrize("device", DEVICES)
def test_fp16_staging_path_reuses_buffers(device) -> None:
    """The CUDA code path (fp16, staged input/output reused per shape) forced on any device."""
    net = make_net("zerodce++")
    with torch.inference_mode():
        x = np.random.default_rng(1).random((1, 3, 12, 20), dtype=np.float32)
        want = net(torch.from_numpy(x)).numpy()
    rt = TorchRuntime(net, device, fp16=True)
    assert rt.fp16 and rt.label.endswith("fp16")
    a = rt.run(x)
    staged = rt._staged[(1, 3, 12, 20)]
    b = rt.run(x)
    assert rt._staged[(1, 3, 12, 20)][0] is staged[0] and rt._staged[(1, 3, 12, 20)][1] is staged[1]
    assert a is not b  # results are copies: the staging buffer is overwritten next call
    np.testing.assert_allclose(a, want, atol=2e-2)
    rt.run(x[:, :, :5, :7])  # a new size replaces the staging buffers
    assert list(rt._staged) == [(1, 3, 5, 7)]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=ORT_GPU)])
def test_onnx_runtime(weights, device) -> None:
    rt = OnnxRuntime(weights / "zerodce.onnx", device)
    assert rt.label.startswith("onnx/")
    if device == "cpu":
        assert rt.label == "onnx/CPUExecutionProvider"
    out = rt.run(np.random.default_rng(2).random((1, 3, 9, 14), dtype=np.float32))
    assert out.shape == (1, 24, 9, 14)


@pytest.mark.parametrize("device", DEVICES)
def test_enhancer_on_device(weights, device) -> None:
    enh = registry.create("sci", backend="torch", device=device)
    assert enh.device == device
    f = np.random.default_rng(3).integers(0, 60, (21, 34, 3), dtype=np.uint8)
    assert enh.enhance(f).shape == f.shape


def test_cpu_threads(monkeypatch) -> None:
    monkeypatch.setenv("LOWLIGHT_THREADS", "3")
    assert cpu_threads() == 3
    monkeypatch.delenv("LOWLIGHT_THREADS")
    assert cpu_threads() >= 1


def test_gpu_provider_order(monkeypatch) -> None:
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"])
    assert onnx_runtime.gpu_providers() == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]


def test_inference_leaves_floating_point_state_alone(weights) -> None:
    """Flushing denormals is process-wide CPU state: after inference, subnormal floats
    must still exist for everyone else (hypothesis checks this too)."""
    import sys

    tiny = sys.float_info.min / 2
    f = np.random.default_rng(4).integers(0, 60, (21, 34, 3), dtype=np.uint8)
    for backend in ("torch", "onnx"):
        for m in METHODS:
            enh = registry.create(m, backend=backend, device="cpu")
            enh.enhance(f)
            enh.reference(f)
            assert tiny > 0.0 and np.float32(1e-45) > 0, (backend, m)


def test_gpu_provider_fallback_order(weights, monkeypatch) -> None:
    """TensorRT that fails to start falls back to CUDA; the label says what runs."""
    import onnxruntime as ort

    tried = []

    class FakeSession:
        def __init__(self, path, sess_options=None, providers=()):
            tried.append(providers[0])
            if providers[0] == "TensorrtExecutionProvider":
                raise RuntimeError("libnvinfer.so not found")
            self._providers = list(providers)

        def get_providers(self):
            return self._providers

        def get_inputs(self):
            class I:
                name = "image"
            return [I()]

    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", FakeSession)
    rt = OnnxRuntime(weights / "sci.onnx", "cuda")
    assert tried == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert rt.label == "onnx/CUDAExecutionProvider" and rt.device == "cuda"


def test_narrow_networks_skip_the_blocked_layout(weights) -> None:
    """SCI's three-channel stage (and jin2023's) run without ONNX Runtime's channel-blocked
    layout, the wide networks with it; the two optimisation levels agree to float rounding."""
    import onnxruntime as ort

    levels = {m: registry.create(m, backend="onnx", device="cpu").runtime.session.get_session_options()
              .graph_optimization_level for m in METHODS}
    assert levels["sci"] == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    assert levels["zerodce++"] == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert network_spec("sci").onnx_layout is False and network_spec("zerodce").onnx_layout is True
    x = np.random.default_rng(4).random((1, 3, 36, 64), dtype=np.float32) * 0.3
    for name in ("sci.onnx", "zerodce.onnx"):
        a = OnnxRuntime(weights / name, "cpu", layout=True).run(x)
        b = OnnxRuntime(weights / name, "cpu", layout=False).run(x)
        np.testing.assert_allclose(a, b, atol=1e-5)
