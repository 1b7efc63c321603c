"""The typed settings store: every descriptor-backed attribute round-trips through the INI
file, a file in the established format reads back unchanged, and writing the same values
produces that same file."""

from __future__ import annotations

from PySide6.QtCore import QByteArray

from app.settings import Settings, _Setting

# A settings file as the studio writes it (keys, value spellings and QByteArray encoding).
KNOWN_INI = r"""[enhance]
link_ab=true
method=zero_dce
method_b=retinex

[files]
last_folder=/home/u/clips

[queue]
output_folder=/home/u/out

[view]
loop=false
mode=wipe
pane_layout=rows
scope_kind=waveform

[window]
geometry=@ByteArray(\x1\xd9\xd0\xcb\0\x3)
state=@ByteArray(\0\0\0\xff)
"""

KNOWN_VALUES = {
    "last_folder": "/home/u/clips", "queue_output_folder": "/home/u/out",
    "method": "zero_dce", "method_b": "retinex", "link_ab": True, "pane_layout": "rows",
    "scope_kind": "waveform", "view": "wipe", "loop": False,
    "geometry": QByteArray(b"\x01\xd9\xd0\xcb\x00\x03"), "window_state": QByteArray(b"\x00\x00\x00\xff"),
}

DEFAULTS = {
    "last_folder": "", "queue_output_folder": "", "method": "", "method_b": "", "link_ab": False,
    "pane_layout": "auto", "scope_kind": "histogram", "view": "split", "loop": True,
    "geometry": None, "window_state": None,
}


def _described() -> dict[str, _Setting]:
    return {n: d for n, d in vars(Settings).items() if isinstance(d, _Setting)}


def test_every_described_attribute_is_covered() -> None:
    assert set(_described()) == set(KNOWN_VALUES) == set(DEFAULTS)
    assert all(d.__doc__ for d in _described().values())


def test_defaults_on_an_empty_file(tmp_path) -> None:
    s = Settings(str(tmp_path / "empty.ini"))
    assert {n: getattr(s, n) for n in DEFAULTS} == DEFAULTS


def test_every_attribute_round_trips(tmp_path) -> None:
    path = str(tmp_path / "s.ini")
    samples = {str: ["", "some/value", "ünïcode"], bool: [True, False],
               QByteArray: [QByteArray(b"\x00\x01geometry\xff")]}
    for name, desc in _described().items():
        for value in samples[desc.kind]:
            w = Settings(path)
            setattr(w, name, value)
            w.sync()
            assert getattr(Settings(path), name) == value, (name, value)
    s = Settings(path)
    s.geometry = QByteArray()
    assert s.geometry is None  # an empty saved geometry means "none"


def test_a_known_file_reads_unchanged_and_is_written_the_same(tmp_path) -> None:
    old = tmp_path / "old.ini"
    old.write_text(KNOWN_INI)
    s = Settings(str(old))
    assert {n: getattr(s, n) for n in KNOWN_VALUES} == KNOWN_VALUES
    new = tmp_path / "new.ini"
    w = Settings(str(new))
    for name, value in KNOWN_VALUES.items():
        setattr(w, name, value)
    w.sync()
    assert new.read_text() == KNOWN_INI
