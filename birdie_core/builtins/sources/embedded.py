"""``embedded``: the corpus that ships with Python (``pydoc_data.topics``), split into train and validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from birdie_core.builtins.sources.common import (
    new_stats,
)
from birdie_core.errors import ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, ConfigInt, Document, Shard, SourceConfig

# ---------------------------------------------------------------------------------------------------------
# embedded: the English text that ships with CPython
# ---------------------------------------------------------------------------------------------------------


class EmbeddedSourceConfig(SourceConfig):
    """Parameters of the ``embedded`` source: which split of CPython's help texts, how many times."""

    split: Literal["train", "validation"] = Field(
        "train", description="'train' (9 topics in 10) or 'validation' (every 10th topic)."
    )
    repeat: ConfigInt = Field(1, ge=1, le=100_000, description="How many times to repeat the split.")


class EmbeddedSource:
    """The English corpus that ships with CPython: the ``pydoc_data.topics`` help texts (~465k characters).

    Documents are the topics sorted by key; every 10th one (positions 0, 10, 20, …) forms the ``validation``
    split and the rest ``train``. Indices are numbered 0..n-1 within each split. ``repeat`` concatenates the
    split with itself, the indices continuing (``repeat * n`` documents), for benchmarks wanting more data.
    """

    SPLITS = ("train", "validation")
    VALIDATION_EVERY = 10

    Config = EmbeddedSourceConfig

    def __init__(self, config: EmbeddedSourceConfig | None = None):
        self.config = config or EmbeddedSourceConfig(name="embedded")
        split = self.config.split
        if split not in self.SPLITS:  # the Config already refuses it; this guards hand-built configs
            raise ConfigError(
                ConfigIssue(
                    path="split",
                    message=f"unknown split {split!r} for the embedded corpus; use one of "
                    f"{', '.join(map(repr, self.SPLITS))}",
                )
            )
        try:
            from pydoc_data.topics import topics
        except ImportError as e:  # some trimmed Python builds drop pydoc_data
            raise PipelineError(
                f"the embedded corpus needs the standard library's pydoc_data, which this Python lacks "
                f"({e}); use the 'files' source instead"
            ) from e
        keys = sorted(topics)
        every = self.VALIDATION_EVERY
        chosen = keys[::every] if split == "validation" else [k for i, k in enumerate(keys) if i % every]
        self._docs: list[tuple[str, str]] = [(k, topics[k]) for k in chosen]
        self.repeat = self.config.repeat
        self.stats = new_stats()

    def __len__(self) -> int:
        return len(self._docs) * self.repeat

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        n = len(self._docs)
        # walk only this shard's indices: no need to look at the others
        for index in range(shard.index, n * self.repeat, shard.count):
            key, text = self._docs[index % n]
            self.stats["documents"] += 1
            yield Document(index, text, f"pydoc_data.topics[{key!r}]")

    def __repr__(self) -> str:
        return f"EmbeddedSource(split={self.config.split!r}, documents={len(self)})"
