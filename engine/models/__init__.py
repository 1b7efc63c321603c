"""Enhancement methods: learned (SCI, Zero-DCE, Zero-DCE++) and classical references.

Each method is two modules:

- ``engine/models/catalog/<module>.py``: its :class:`~engine.enhancer.MethodDescriptor`
  (name, title, family, paper, licence, summary, parameters, weights file, backends).
  Imports nothing heavier than :mod:`engine.models.common_params`: never PyTorch,
  ONNX Runtime or the network module. :mod:`engine.registry` loads the whole catalogue
  for ``lowlight --help``, method lists and the studio's controls.
- ``engine/models/<module>.py``: the implementation (networks, enhancer), imported
  only when the method is created.

How to add a method ``foo``:

1. ``engine/models/foo.py``: the enhancer (an :class:`engine.enhancer.Enhancer`; for a
   learned one a :class:`~engine.models.learned_base.LearnedEnhancer` subclass whose
   ``network`` is ``register_network(NetworkSpec("foo", "foo.pt", build, halo=...))``)
   and a factory ``create_foo(backend="auto", device="auto", weights=None)`` returning
   it, built with the descriptor imported from ``engine.models.catalog.foo``.
2. ``engine/models/catalog/foo.py``: ``FOO = MethodDescriptor(name="foo", ...,
   params=(...), factory="engine.models.foo:create_foo", weights="foo.pt",
   backends=("onnx", "torch"))`` with parameters from
   :mod:`engine.models.common_params`, then ``METHODS = (FOO,)`` and optionally
   ``ORDER`` (default 50; SCI 10, Zero-DCE 20, classical 90). The catalogue finds the
   module by itself: nothing else to edit. The CLI options, ``lowlight methods`` and the
   studio's controls follow from the descriptor; the test in
   ``tests/engine/test_catalog.py`` checks that the catalogue stays free of PyTorch.
"""

import os

# Before PyTorch loads OpenMP: idle OpenMP workers sleep instead of spinning. On shared
# cores spinning workers starved each other (SCI's stage: 25-125 ms instead of 1 ms,
# measured with six processes on two cores). A user's own setting wins. This package
# is imported before any network module (they live in it) and by every registry lookup.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
