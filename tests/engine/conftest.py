"""Fixtures shared by the engine tests."""

from __future__ import annotations

import shutil

import pytest

from learned_helpers import make_weights


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A weights folder with every learned method's test checkpoint and its ONNX graph
    (made once per module; test_onnx.py has its own)."""
    return make_weights(tmp_path_factory.mktemp("exported"), onnx=True)


@pytest.fixture
def weights(exported, tmp_path, monkeypatch):
    """A fresh copy of the exported weights per test (tests alter files), set as
    ``LOWLIGHT_WEIGHTS``."""
    folder = tmp_path / "weights"
    shutil.copytree(exported, folder)
    monkeypatch.setenv("LOWLIGHT_WEIGHTS", str(folder))
    return folder
