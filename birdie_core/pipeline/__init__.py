"""From documents to packed batches: the one construction path (:mod:`.build`), the per-shard stream
(:mod:`.stream`), the worker processes that run it (:mod:`.workers`) and the preview (:mod:`.preview`)."""

from birdie_core.pipeline.build import Components, Split
from birdie_core.pipeline.preview import Preview, PreviewItem, preview, sample_examples
from birdie_core.pipeline.stream import Pipeline, PipelineStats

__all__ = [
    "Components",
    "Pipeline",
    "PipelineStats",
    "Preview",
    "PreviewItem",
    "Split",
    "preview",
    "sample_examples",
]
