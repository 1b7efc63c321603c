"""Property tests: any frame size survives export (lossless FFV1 exactly; H.264 at the
exact size) and rotation is undone exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.frame import Frame
from engine.video.export import ExportOptions, VideoFileSink
from engine.video.sources import VideoFileSource, rotate_upright


@given(h=st.integers(1, 9), w=st.integers(1, 9), rot=st.sampled_from([0, 90, 180, 270, -90]))
def test_rotate_upright_inverts(h, w, rot):
    img = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)
    up = rotate_upright(img, rot)
    assert up.flags.c_contiguous
    assert np.array_equal(np.rot90(up, -(rot // 90)), img)


@settings(max_examples=12, deadline=None)
@given(h=st.integers(1, 19), w=st.integers(1, 19), codec=st.sampled_from(["ffv1", "h264"]),
       seed=st.integers(0, 2**16))
def test_any_size_round_trips(tmp_path_factory, h, w, codec, seed):
    d = tmp_path_factory.mktemp("sz")
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    out = d / ("o.mkv")
    sink = VideoFileSink(out, fps=25, options=ExportOptions(codec=codec, preset="ultrafast", crf=0))
    for i in range(2):
        sink.write(Frame(img, i, i / 25))
    sink.close()
    with VideoFileSource(out) as src:
        frames = list(src)
    assert len(frames) == 2
    assert frames[0].image.shape == (h, w, 3)
    if codec == "ffv1":
        assert np.array_equal(frames[0].image, img)
