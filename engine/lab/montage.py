"""Before/after montages: a few evaluation pictures side by side, input | output | target,
as one PNG per method (and one with every method) to look at, not to measure.

A montage is a grid: a header row of column titles, then one row per picture with the
picture's name on the left and, under every tile, its figures (PSNR / SSIM against the
target when there is one, brightness and noise always). Tiles are the pictures scaled to
one height with their aspect kept (shrunk with area averaging, enlarged with nearest
neighbour so that the pixels of tiny pictures stay visible), centred in equal cells and
separated by thin gaps. Text is drawn with OpenCV's Hershey font (ASCII only; longer
labels are shortened with "..").

Used by ``lowlight eval --montage DIR`` (:mod:`engine.cli.eval`): a
:class:`MontageCollector` keeps the tiles of the chosen pictures while the methods run
and writes ``DIR/<method>.png`` and ``DIR/all.png`` afterwards (each file atomically).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from engine.lab.evaluation import EvalImage, MethodResult
from engine.frame import check_rgb8
from engine.jobs.stills import write_image

__all__ = [
    "TILE_HEIGHT",
    "MAX_ROWS",
    "GAP",
    "Cell",
    "pick_rows",
    "scale_to_height",
    "grid",
    "MontageCollector",
]

#: Default tile height in pixels.
TILE_HEIGHT = 240
#: Default number of picture rows.
MAX_ROWS = 6
#: Gap between cells, in pixels.
GAP = 4
#: A tile is at most this many times as wide as it is high (wider pictures are shrunk to fit).
MAX_ASPECT = 3.0

_BACKGROUND = (40, 40, 40)
_EMPTY = (70, 70, 70)
_TEXT = (235, 235, 235)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Cell:
    """One grid cell: a picture (uint8 (h, w, 3) RGB, any size; None for an empty grey
    box) and the caption lines drawn under it."""

    image: np.ndarray | None
    caption: list[str] = field(default_factory=list)


def pick_rows(count: int, rows: int) -> list[int]:
    """Indices of ``min(count, rows)`` pictures spread evenly over ``0..count-1``, first
    and last included, in order. ``rows`` < 1 or ``count`` < 1 gives an empty list."""
    if count < 1 or rows < 1:
        return []
    if rows >= count:
        return list(range(count))
    if rows == 1:
        return [0]
    return sorted({round(i * (count - 1) / (rows - 1)) for i in range(rows)})


def scale_to_height(image: np.ndarray, height: int, *, max_aspect: float = MAX_ASPECT) -> np.ndarray:
    """Scale ``image`` to ``height`` pixels high, aspect kept (width rounded, at least 1);
    a picture wider than ``max_aspect`` × ``height`` is scaled to that width instead.

    Args:
        image: uint8 (H, W, 3) RGB.
        height: target height in pixels, >= 1.

    Returns:
        uint8 (h, w, 3) RGB, C-contiguous, with h == ``height`` unless the width cap applied.
    """
    check_rgb8(np.ascontiguousarray(image))
    h, w = image.shape[:2]
    scale = min(height / h, max_aspect * height / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) == (h, w):
        return np.ascontiguousarray(image)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    return np.ascontiguousarray(cv2.resize(np.ascontiguousarray(image), (nw, nh), interpolation=interp))


def _font_scale(tile_height: int) -> float:
    return max(0.35, min(1.0, tile_height / 480.0))


def _line_height(scale: float) -> int:
    (_, th), base = cv2.getTextSize("Ag", _FONT, scale, 1)
    return th + base + max(4, round(8 * scale))


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, _FONT, scale, 1)[0][0] if text else 0


def _shorten(text: str, width: int, scale: float, *, keep_end: bool = False) -> str:
    """``text`` cut (with "..") so that it is at most ``width`` pixels wide."""
    text = text.encode("ascii", "replace").decode("ascii")
    if _text_width(text, scale) <= width:
        return text
    for n in range(len(text) - 1, 0, -1):
        cut = ".." + text[-n:] if keep_end else text[:n] + ".."
        if _text_width(cut, scale) <= width:
            return cut
    return ""


def _put(canvas: np.ndarray, text: str, x: int, y_top: int, line_h: int, scale: float) -> None:
    """Draw one line of text whose box starts at ``y_top`` (baseline placed inside it)."""
    if not text:
        return
    (_, th), base = cv2.getTextSize(text, _FONT, scale, 1)
    y = y_top + (line_h + th - base) // 2
    cv2.putText(canvas, text, (int(x), int(y)), _FONT, scale, _TEXT, 1, cv2.LINE_AA)


def grid(header: Sequence[str], rows: Sequence[tuple[str, Sequence[Cell]]], *,
         tile_height: int = TILE_HEIGHT, corner: str = "") -> np.ndarray:
    """Lay cells out in a labelled grid.

    Every cell is as wide as the widest tile (pictures scaled to ``tile_height``, see
    :func:`scale_to_height`) and has as many caption lines as the longest caption; the
    left column holds each row's label (split into lines at "/"), the top row the column
    titles (``header``) and ``corner`` (e.g. the method's name). Cells are separated, and
    the grid framed, by :data:`GAP` pixels.

    Args:
        header: one title per column.
        rows: ``(label, cells)`` per row, ``len(cells) == len(header)``.
        tile_height: tile height in pixels, >= 1.
        corner: text over the label column.

    Returns:
        uint8 (H, W, 3) RGB picture.
    """
    if tile_height < 1:
        raise ValueError(f"tile height must be at least 1, got {tile_height}")
    for label, cells in rows:
        if len(cells) != len(header):
            raise ValueError(f"row {label!r} has {len(cells)} cells for {len(header)} columns")
    scale = _font_scale(tile_height)
    line_h = _line_height(scale)
    pad = max(2, round(6 * scale))
    tiles = [[scale_to_height(c.image, tile_height) if c.image is not None else None for c in cells]
             for _, cells in rows]
    cell_w = max([t.shape[1] for r in tiles for t in r if t is not None] or [tile_height])
    n_cap = max([len(c.caption) for _, cells in rows for c in cells] or [0])
    label_lines = [label.split("/") for label, _ in rows]
    label_w = max([_text_width(s, scale) for lines in label_lines for s in lines]
                  + [_text_width(corner, scale), 1])
    label_w = min(label_w + 2 * pad, max(2 * tile_height, 60))
    row_h = tile_height + n_cap * line_h
    x0 = GAP + label_w + GAP
    y0 = GAP + line_h + GAP
    width = x0 + len(header) * (cell_w + GAP)
    height = y0 + len(rows) * (row_h + GAP)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = _BACKGROUND

    _put(canvas, _shorten(corner, label_w - 2 * pad, scale), GAP + pad, GAP, line_h, scale)
    for c, title in enumerate(header):
        t = _shorten(title, cell_w - 2 * pad, scale)
        _put(canvas, t, x0 + c * (cell_w + GAP) + (cell_w - _text_width(t, scale)) // 2, GAP, line_h, scale)
    for r, ((_, cells), row_tiles, lines) in enumerate(zip(rows, tiles, label_lines)):
        y = y0 + r * (row_h + GAP)
        lines = lines[-max(1, tile_height // line_h):]  # the end of a long path says most
        ly = y + (tile_height - len(lines) * line_h) // 2
        for i, s in enumerate(lines):
            _put(canvas, _shorten(s, label_w - 2 * pad, scale, keep_end=True), GAP + pad,
                 ly + i * line_h, line_h, scale)
        for c, (cell, tile) in enumerate(zip(cells, row_tiles)):
            x = x0 + c * (cell_w + GAP)
            if tile is None:
                canvas[y:y + tile_height, x:x + cell_w] = _EMPTY
            else:
                th, tw = tile.shape[:2]
                ty, tx = y + (tile_height - th) // 2, x + (cell_w - tw) // 2
                canvas[ty:ty + th, tx:tx + tw] = tile
            for i, s in enumerate(cell.caption):
                _put(canvas, _shorten(s, cell_w - 2 * pad, scale), x + pad,
                     y + tile_height + i * line_h, line_h, scale)
    return canvas


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _caption(figures: dict | None, paired: bool, *, is_target: bool = False) -> list[str]:
    """Caption lines of one tile from its per-picture figures (None: method failed)."""
    if figures is None:
        return []
    nr = f"bright {_fmt(figures.get('brightness'), '.3f')}  noise {_fmt(figures.get('noise'), '.1f')}"
    if not paired:
        return [nr]
    if is_target:
        return ["", nr]
    return [f"PSNR {_fmt(figures.get('psnr'), '.2f')}  SSIM {_fmt(figures.get('ssim'), '.3f')}", nr]


class MontageCollector:
    """Keeps tiles of a few evaluation pictures while the methods run, then writes the
    montages.

    Args:
        images: the evaluation pictures (targets all or none).
        rows: how many pictures to show, chosen evenly by :func:`pick_rows`.
        tile_height: tile height in pixels.
    """

    def __init__(self, images: Sequence[EvalImage], rows: int = MAX_ROWS,
                 tile_height: int = TILE_HEIGHT) -> None:
        if rows < 1:
            raise ValueError(f"rows must be at least 1, got {rows}")
        if tile_height < 1:
            raise ValueError(f"tile height must be at least 1, got {tile_height}")
        self.tile_height = tile_height
        self.names = [images[i].name for i in pick_rows(len(images), rows)]
        self.paired = bool(images) and images[0].high is not None
        self._chosen = set(self.names)
        self._tiles: dict[str, dict[str, np.ndarray]] = {}

    def saver(self, method: str) -> Callable[[EvalImage, np.ndarray], None]:
        """A ``save`` callback for :func:`engine.lab.evaluation.evaluate` keeping the tiles
        of ``method``'s outputs (``"input"``/``"target"`` for those rows)."""
        store = self._tiles.setdefault(method, {})

        def save(im: EvalImage, out: np.ndarray) -> None:
            if im.name in self._chosen:
                store[im.name] = scale_to_height(out, self.tile_height)

        return save

    def _cell(self, method: str, name: str, row: MethodResult | None, *, is_target: bool = False) -> Cell:
        tile = self._tiles.get(method, {}).get(name)
        if row is not None and row.error:
            return Cell(None, ["failed", row.error])
        figures = next((p for p in row.per_image if p["name"] == name), None) if row else None
        return Cell(tile, _caption(figures, self.paired, is_target=is_target))

    def montages(self, rows: Sequence[MethodResult], *, path: str = "fast"
                 ) -> dict[str, np.ndarray]:
        """The pictures to write: ``{"<method>": input | method | target, "all": input |
        every method | target}`` (``target`` only with targets).

        Args:
            rows: the results of :func:`engine.lab.evaluation.evaluate`, including the
                ``input`` row (and ``target`` row when paired), in table order.
            path: "fast" or "reference", shown in the top left corner.
        """
        by_method = {r.method: r for r in rows}
        methods = [r.method for r in rows if r.method not in ("input", "target")]
        inp, tgt = by_method.get("input"), by_method.get("target")

        def build(cols: list[str], corner: str) -> np.ndarray:
            header = [("target" if m == "target" else m) for m in cols]
            body = []
            for name in self.names:
                cells = [self._cell(m, name, by_method.get(m), is_target=(m == "target")) for m in cols]
                body.append((name, cells))
            return grid(header, body, tile_height=self.tile_height, corner=corner)

        tail = ["target"] if self.paired and tgt is not None else []
        head = ["input"] if inp is not None else []
        # The corner says which path made the outputs; it is the same in every montage of
        # a run, so all of them share one label column width.
        out = {m: build(head + [m] + tail, f"{path} path") for m in methods}
        out["all"] = build(head + methods + tail, f"{path} path")
        return out

    def write(self, folder: str | os.PathLike[str], rows: Sequence[MethodResult], *,
              path: str = "fast") -> list[Path]:
        """Write :meth:`montages` as ``folder/<method>.png`` and ``folder/all.png``, each
        atomically (a failure leaves no partial file). The folder must exist.

        Raises:
            StillError: a file that cannot be written (one line naming it).
        """
        written = []
        for name, picture in self.montages(rows, path=path).items():
            written.append(write_image(Path(folder) / f"{name.replace('/', '_')}.png", picture))
        return written
