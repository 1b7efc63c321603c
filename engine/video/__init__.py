"""Video IO and the threaded pipeline: sources (files, cameras, image sequences, the demo
clip), sinks (video files, image sequences, callbacks), export and statistics."""

from engine.video.base import Sink, Source, SourceInfo, VideoError
from engine.video.export import (ExportCancelled, ExportOptions, ExportProgress, ExportResult,
                                 ImageSequenceSink, VideoFileSink, export_video)
from engine.video.pipeline import Pipeline, PipelineStats
from engine.video.sources import (CameraSource, ImageSequenceSource, VideoFileSource,
                                  list_cameras, open_source)

__all__ = ["Source", "Sink", "SourceInfo", "VideoError", "open_source", "list_cameras",
           "VideoFileSource", "CameraSource", "ImageSequenceSource", "Pipeline", "PipelineStats",
           "export_video", "ExportOptions", "ExportProgress", "ExportResult", "ExportCancelled",
           "VideoFileSink", "ImageSequenceSink"]
