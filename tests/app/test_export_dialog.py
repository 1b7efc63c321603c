"""The export dialog sets an export up and hands it over (it never runs one itself):
encoders by what they are, probed so that only those that open here can be chosen; the
request carries the in/out range; an existing target is replaced only when confirmed;
the demo command's display detection."""

from __future__ import annotations

from app import cli_demo
from app.export_dialog import CHECKING, ExportDialog, ExportRequest
from app.settings import Settings
from engine import registry
from engine.video.codecs import CODECS, EncoderInfo, encoder_label, probe_encoders


def _dialog(qtbot, tmp_path, submitted: list, **kw) -> ExportDialog:
    name = registry.names()[-1]
    d = ExportDialog("clip.mp4", name, registry.get(name).default_params(), Settings(),
                     submit=submitted.append, **kw)
    qtbot.addWidget(d)
    d.target_edit.setText(str(tmp_path / "out.mp4"))
    d.show()
    return d


def _texts(d: ExportDialog) -> dict[str, str]:
    return {str(d.codec_combo.itemData(i)): d.codec_combo.itemText(i) for i in range(d.codec_combo.count())}


def test_encoders_are_named_by_what_they_are_and_probed(qtbot, tmp_path):
    d = _dialog(qtbot, tmp_path, [])
    qtbot.waitUntil(lambda: bool(d.encoders), timeout=10000)
    texts = _texts(d)
    assert list(texts) == list(CODECS)
    for key, text in texts.items():
        assert text.startswith(encoder_label(key)) and "NVENC" not in text and "QSV" not in text
        assert CHECKING not in text
    for e in probe_encoders():
        assert d.available(e.key) == e.available
        if not e.available:
            assert texts[e.key] == f"{e.label} — unavailable on this machine"
            assert not d.select_codec(e.key) and d.codec_key != e.key
    assert d.available("h264") and d.codec_key == "h264"


def test_unavailable_hardware_cannot_be_chosen_and_available_can(qtbot, tmp_path):
    d = _dialog(qtbot, tmp_path, [])
    qtbot.waitUntil(lambda: bool(d.encoders), timeout=10000)

    def info(key: str, ok: bool) -> EncoderInfo:
        return EncoderInfo(key, CODECS[key][0], encoder_label(key), "_" in key, ok,
                           "" if ok else "unavailable on this machine (no device or driver)", CODECS[key][1])

    d.set_encoders([info(k, k in ("h264", "h265", "ffv1", "h264_nvenc")) for k in CODECS])
    assert d.select_codec("h264_nvenc") and d.codec_key == "h264_nvenc"
    assert _texts(d)["h264_nvenc"] == "H.264 (NVIDIA GPU)"
    assert not d.select_codec("hevc_nvenc")
    assert _texts(d)["hevc_nvenc"] == "H.265 (NVIDIA GPU) — unavailable on this machine"
    row = d.codec_combo.findData("hevc_nvenc")
    assert d.codec_combo.model().item(row).toolTip().endswith("(no device or driver)")
    # the chosen GPU encoder turns out unavailable: the software one of the same format takes over
    d.set_encoders([info(k, k in ("h264", "h265", "ffv1")) for k in CODECS])
    assert d.codec_key == "h264"


def test_export_hands_a_request_with_the_range_and_closes(qtbot, tmp_path):
    submitted: list[ExportRequest] = []
    d = _dialog(qtbot, tmp_path, submitted, in_point=1.0, out_point=2.0)
    assert d.range_inout.isChecked() and d.selected_range() == (1.0, 2.0)
    d.quality_spin.setValue(17)
    assert d.start()
    (req,) = submitted
    assert req.source == "clip.mp4" and req.target == str(tmp_path / "out.mp4")
    assert (req.options.start, req.options.end, req.options.crf, req.options.codec) == (1.0, 2.0, 17, "h264")
    assert not req.options.overwrite
    assert not d.isVisible() and d.result() == ExportDialog.DialogCode.Accepted
    assert list(p.name for p in tmp_path.iterdir() if p.suffix != ".ini") == []  # nothing written


def test_existing_target_is_replaced_only_when_confirmed(qtbot, tmp_path, monkeypatch):
    (tmp_path / "out.mp4").write_bytes(b"keep")
    submitted: list[ExportRequest] = []
    d = _dialog(qtbot, tmp_path, submitted)
    monkeypatch.setattr(d, "confirm_replace", lambda target: False)
    assert not d.start() and submitted == [] and d.isVisible()
    assert "exists" in d.status.text()
    monkeypatch.setattr(d, "confirm_replace", lambda target: True)
    assert d.start() and submitted[0].options.overwrite


def test_has_display():
    assert cli_demo.has_display({"DISPLAY": ":0"})
    assert cli_demo.has_display({"WAYLAND_DISPLAY": "wayland-0"})
    assert cli_demo.has_display({"QT_QPA_PLATFORM": "offscreen"})
    assert not cli_demo.has_display({})


def test_speed_or_size_profile_sets_the_quality_and_reaches_the_request(qtbot, tmp_path):
    from engine.video.export import DEFAULT_ENCODE, ENCODE_PROFILES

    submitted: list[ExportRequest] = []
    d = _dialog(qtbot, tmp_path, submitted)
    labels = [d.encode_combo.itemText(i) for i in range(d.encode_combo.count())]
    assert labels == [p.label for p in ENCODE_PROFILES.values()]
    assert d.encode_profile == DEFAULT_ENCODE
    assert d.quality_spin.value() == ENCODE_PROFILES[DEFAULT_ENCODE].crf["h264"]
    d.encode_combo.setCurrentIndex(d.encode_combo.findData("small"))
    small = ENCODE_PROFILES["small"]
    assert d.quality_spin.value() == small.crf["h264"]
    d.codec_combo.setCurrentIndex(d.codec_combo.findData("h265"))  # the profile's H.265 quality
    assert d.quality_spin.value() == small.crf["h265"]
    d.codec_combo.setCurrentIndex(d.codec_combo.findData("h264"))
    assert d.start()
    (req,) = submitted
    o = req.options
    assert (o.encode, o.preset, o.crf) == ("small", small.preset, small.crf["h264"])
