"""The method catalogue: descriptors and the CLI's parser load without PyTorch or ONNX
Runtime; each method's implementation loads when it is created."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "onnxruntime")


def _loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return which heavy modules it left loaded and
    the ``engine.models`` modules it imported."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import json, os, sys
        print(json.dumps({{
            "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
            "models": sorted(m for m in sys.modules if m.startswith("engine.models")),
            "omp": os.environ.get("OMP_WAIT_POLICY"),
        }}))
    """)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_descriptors_load_without_torch() -> None:
    r = _loaded_after("""
        import engine.registry as registry
        ds = registry.descriptors()
        assert {"sci", "zerodce", "zerodce++", "gamma", "clahe", "lime"} <= {d.name for d in ds}
        assert all(d.params for d in ds)
    """)
    assert r["heavy"] == []
    impl = [m for m in r["models"] if m.count(".") == 2 and not m.startswith("engine.models.catalog")]
    assert set(impl) <= {"engine.models.common_params", "engine.models.exposure"}
    assert r["omp"] == "PASSIVE"  # set by the package before any network module can load torch


def test_cli_parser_and_help_load_without_torch() -> None:
    r = _loaded_after("""
        import contextlib, io
        from engine.cli import build_parser, main
        build_parser()
        for argv in (["--help"], ["enhance", "--help"], ["export-onnx", "--help"]):
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    main(argv)
                except SystemExit:
                    pass
    """)
    assert r["heavy"] == []


def test_creating_a_learned_method_loads_its_module() -> None:
    r = _loaded_after("""
        from engine.runtime.selection import network_spec
        assert network_spec("zerodce++").weights_file == "zerodcepp.pt"
    """)
    assert "torch" in r["heavy"] and "engine.models.zerodce" in r["models"]


def test_catalogue_factories_resolve() -> None:
    from engine import registry

    for d in registry.descriptors():
        assert isinstance(d.factory, str) and d.module, d.name  # lazy: named, not imported
        fn = d.resolve_factory()
        assert callable(fn) and fn.__module__ == d.module
    assert type(registry.create("lime")).__name__ == "LimeEnhancer"
    assert registry.implementation("sci").__name__ == "engine.models.sci"


def test_bad_factory_string_is_reported() -> None:
    from engine.enhancer import MethodDescriptor

    d = MethodDescriptor("x", "X", "classical", "p", "l", "s", (), "engine.models.classical")
    with pytest.raises(ValueError, match="module:function"):
        d.create()
