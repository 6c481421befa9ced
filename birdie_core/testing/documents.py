"""Documents to test with, offline: the embedded corpus, a varied sample of it, and a source over any list."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from birdie_core.interfaces import Document, Shard, SourceConfig


def _embedded_corpus() -> tuple[str, ...]:
    from pydoc_data.topics import topics

    return tuple(topics[k] for k in sorted(topics))


#: The core's ``embedded`` corpus (the standard library's pydoc topics: about 80 real English documents of
#: 200 to 62k characters) in the order the ``embedded`` source reads it. Ships with Python: no download.
CORPUS: tuple[str, ...] = _embedded_corpus()

#: Edge cases (empty, one character, non-ASCII, two words) and a dozen corpus documents under 6,000
#: characters: the default ``documents`` of the objective conformance suite.
SAMPLE_DOCUMENTS: tuple[str, ...] = ("", "a", "hé ✓", "two words", *[d for d in CORPUS if len(d) < 6000][:12])


class InMemorySource:
    """A source over a list of strings: document ``i`` is ``texts[i]``. For tests and notebooks."""

    class Config(SourceConfig):
        texts: tuple[str, ...] = ()

    def __init__(self, config: Any = None, texts: Sequence[str] | None = None):
        self.config = config
        self.texts = tuple(texts if texts is not None else getattr(config, "texts", ()))

    def documents(self, shard: Shard, epoch: int) -> Iterator[Document]:
        for i in range(shard.index, len(self.texts), shard.count):
            yield Document(i, self.texts[i], f"memory[{i}]")
