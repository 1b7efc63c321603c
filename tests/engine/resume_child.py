"""Child process for the kill-and-resume test: a segmented export whose processor hangs
(forever) after ``HANG_AFTER`` frames, so the parent can SIGKILL it mid-export.

    python tests/engine/resume_child.py IN OUT SEGMENT_SECONDS HANG_AFTER
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine import registry  # noqa: E402
from engine.stages.processor import FrameProcessor  # noqa: E402
from engine.video.export import ExportOptions, export_video  # noqa: E402


class HangingProcessor(FrameProcessor):
    """A FrameProcessor (same settings in the journal) that stops dead after n calls."""

    def __init__(self, enhancer, hang_after: int) -> None:
        super().__init__(enhancer)
        self.calls = 0
        self.hang_after = hang_after

    def process(self, frame):
        self.calls += 1
        if self.calls > self.hang_after:
            while True:
                time.sleep(1)
        return super().process(frame)


if __name__ == "__main__":
    src, out, seg, hang = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    proc = HangingProcessor(registry.create("gamma"), hang)
    export_video(src, out, processor=proc, options=ExportOptions(preset="veryfast"),
                 segment_seconds=seg)
