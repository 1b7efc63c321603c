"""Runtimes of the learned methods' networks: PyTorch (CPU; CUDA fp16) and ONNX Runtime
(TensorRT > CUDA > CPU providers), chosen by ``backend`` and ``device``
(see :mod:`engine.runtime.selection`)."""

from engine.runtime.selection import (
    NetworkSpec,
    Runtime,
    network_spec,
    network_specs,
    open_network,
    register_network,
    resolve,
)

__all__ = ["NetworkSpec", "Runtime", "network_spec", "network_specs", "open_network",
           "register_network", "resolve"]
