"""Abstract video interfaces shared by sources, sinks, the pipeline, the CLI and the studio.

Every frame crossing these interfaces is an :class:`engine.frame.Frame` whose image
honours the frame contract (uint8 (H, W, 3) RGB).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator

from engine.frame import Frame

__all__ = ["Source", "Sink", "VideoError", "SourceInfo"]


class VideoError(RuntimeError):
    """A clear, user-facing video problem (unreadable file, no video stream, unsupported
    codec, camera missing or gone, disk full...). The message names the file or device."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source is.

    Attributes:
        source_id: path, ``camera:N`` or ``demo``.
        width, height: frame size in pixels after rotation metadata is honoured.
        fps: nominal frames per second (average rate for variable-frame-rate files).
        frame_count: number of frames if known, else None (live sources).
        duration: seconds if known, else None.
        is_live: True for cameras (latest frame wins, no seeking).
        seekable: True when ``seek`` works.
        has_audio: True when the source has an audio stream.
        codec: the video codec name, e.g. ``"h264"``.
        rotation: rotation metadata in degrees (0, 90, 180, 270).
    """

    source_id: str
    width: int
    height: int
    fps: float
    frame_count: int | None = None
    duration: float | None = None
    is_live: bool = False
    seekable: bool = False
    has_audio: bool = False
    codec: str = ""
    rotation: int = 0


class Source(ABC):
    """A stream of frames. Use as an iterator or call ``read`` until it returns None.
    Thread use: one reader thread at a time; ``close`` may be called from any thread."""

    @property
    @abstractmethod
    def info(self) -> SourceInfo: ...

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None at the end. Raises :class:`VideoError` on failure."""

    def seek(self, seconds: float) -> None:
        """Position so the next ``read`` returns the frame shown at ``seconds``."""
        raise VideoError(f"{self.info.source_id} cannot seek")

    @abstractmethod
    def close(self) -> None: ...

    def __iter__(self) -> Iterator[Frame]:
        while True:
            f = self.read()
            if f is None:
                return
            yield f

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sink(ABC):
    """Where enhanced frames go (a file, an image sequence, a display callback)."""

    @abstractmethod
    def write(self, frame: Frame) -> None:
        """Consume one frame (frames arrive in order in export mode)."""

    @abstractmethod
    def close(self) -> None:
        """Finish the output (for files: flush, then move into place)."""

    def abort(self) -> None:
        """Stop without finishing: files leave nothing behind. Defaults to ``close``."""
        self.close()
