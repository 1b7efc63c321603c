"""Per-frame stages: the two-half frame processor, map smoothing over time, temporal and spatial denoise."""
