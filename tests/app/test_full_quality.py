"""Full-quality stills (the method's reference path on the shown frame, saved in the
background), the about box's current method, and the paired methods in the method list."""

from __future__ import annotations

import numpy as np
import pytest

from app.full_quality import render_full_quality
from engine import registry
from engine.files.images import read_image

from conftest import show_studio, usable_methods


@pytest.fixture
def window(qtbot, fake_opener):
    w = show_studio(qtbot, fake_opener)
    yield w
    w.full_quality.wait(30)
    w.close()


def test_full_quality_still_is_the_reference_path(qtbot, window, tmp_path) -> None:
    if not usable_methods():
        pytest.skip("no method can be created here")
    window.open_spec("fake")
    qtbot.waitUntil(lambda: window.last_bundle is not None and bool(window.last_bundle.method), timeout=10000)
    window.player.pause()
    b = window.last_bundle
    path = tmp_path / "still.png"
    with qtbot.waitSignal(window.full_quality.finished, timeout=30000) as sig:
        assert window.save_full_quality(str(path))
    assert sig.args == [str(path), ""]
    saved = read_image(path)
    assert np.array_equal(saved, render_full_quality(b.method, b.original, b.params))
    assert "Full-quality still saved" in window.statusBar().currentMessage()


def test_full_quality_error_is_reported(qtbot, window, tmp_path) -> None:
    if not usable_methods():
        pytest.skip("no method can be created here")
    window.open_spec("fake")
    qtbot.waitUntil(lambda: window.last_bundle is not None and bool(window.last_bundle.method), timeout=10000)
    target = tmp_path / "missing-folder" / "still.png"
    with qtbot.waitSignal(window.full_quality.finished, timeout=30000) as sig:
        assert window.save_full_quality(str(target))
    assert sig.args[1]  # the folder does not exist: one line says why
    assert any("Could not save the full-quality still" in m for m in window.errors)


def test_nothing_to_render_without_a_frame(window) -> None:
    assert not window.save_full_quality("/tmp/never.png")
    assert any("No enhanced frame" in m for m in window.errors)


def test_about_names_the_current_method_first(window) -> None:
    d = registry.get(window.controls.method)
    text = window.about_html()
    head = text.split("<p>Methods:</p>")[0]
    assert d.title in head and "Licence:" in head and "Current method" in head


def test_paired_methods_are_offered(window) -> None:
    combo = window.controls.method_combo
    names = [combo.itemData(i) for i in range(combo.count())]
    assert {"nafnet", "mirnetv2", "jin2023"} <= set(names)
