"""What ``birdie preview`` shows: a few decoded examples of every objective and one real batch.

Previews draw from their own RNG and source iterator, so a pipeline's stream is not disturbed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from birdie_core.config.load import ConfigSource
from birdie_core.interfaces import Arm, Example, ObjectiveContext, PackedBatch, Tokenizer
from birdie_core.pipeline.build import Components, Split
from birdie_core.pipeline.stream import Pipeline, PipelineStats
from birdie_core.registry import Registry

__all__ = ["Preview", "PreviewItem", "preview", "sample_examples"]


@dataclass(frozen=True)
class PreviewItem:
    """One example shown by a preview, its prefix and target decoded separately."""

    arm: str
    objective: str
    document: int
    prefix: str
    target: str
    prefix_ids: np.ndarray
    target_ids: np.ndarray
    consumed: int
    length: int

    @classmethod
    def of(cls, arm: Arm, example: Example, document: int, tokenizer: Tokenizer) -> PreviewItem:
        return cls(
            arm=arm.key,
            objective=arm.objective,
            document=document,
            prefix=tokenizer.decode(example.prefix),
            target=tokenizer.decode(example.target),
            prefix_ids=example.prefix,
            target_ids=example.target,
            consumed=example.consumed,
            length=example.length,
        )


@dataclass(frozen=True)
class Preview:
    """What ``birdie preview`` shows: examples per arm, and one real batch with its packing efficiency."""

    items: list[PreviewItem]
    batch: PackedBatch
    efficiency: float
    stats: PipelineStats


def preview(
    cfg: ConfigSource,
    registry: Registry | None = None,
    per_objective: int = 2,
    *,
    split: Split = "train",
    max_documents: int = 200,
) -> Preview:
    """Examples of every objective in ``cfg`` (decoded) and the first batch of its training stream."""
    pipeline = Components.resolve(cfg, registry).pipeline(split)
    try:
        items = sample_examples(pipeline, per_objective, max_documents)
        batch = pipeline.next_batch()
    finally:
        pipeline.close()
    return Preview(items=items, batch=batch, efficiency=batch.efficiency, stats=pipeline.stats)


def sample_examples(pipeline: Pipeline, per_arm: int = 2, max_documents: int = 200) -> list[PreviewItem]:
    """A few examples per arm from the first documents, each from its own document, for a preview.

    Uses its own RNG and source iterator, so the stream is not disturbed.
    """
    rng = np.random.default_rng([pipeline.seed, pipeline.shard.index, pipeline.shard.count, 1 << 20])
    ctx = ObjectiveContext(tokenizer=pipeline.tokenizer, rng=rng, start_id=pipeline.ctx.start_id)
    budget = pipeline.packer.sequence_length
    items: list[PreviewItem] = []
    for arm, objective in zip(pipeline.arms, pipeline.objectives):
        found = 0
        docs = pipeline.source.documents(pipeline.shard, 0)
        for doc in itertools.islice(docs, max_documents):
            tokens = doc.token_ids(pipeline.tokenizer)
            example, _ = objective.build(tokens, budget, ctx)
            if example is None:
                continue
            items.append(PreviewItem.of(arm, example, doc.index, pipeline.tokenizer))
            found += 1
            if found >= per_arm:
                break
        getattr(docs, "close", lambda: None)()
    return items
