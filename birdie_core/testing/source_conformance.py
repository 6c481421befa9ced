"""The source contract, for any source, first-party or third-party.

Subclass it in a pytest module::

    from birdie_core.testing import SourceConformance

    class TestMySource(SourceConformance):
        source_cls = MySource
        source_config = MySource.Config(name="mine", path="tests/data/small.jsonl")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from birdie_core.testing._requires import require_test_tools

require_test_tools()

import numpy as np

from birdie_core.interfaces import Document, Shard, Source, SourceConfig

__all__ = ["SourceConformance"]


class SourceConformance:
    """The source contract (:class:`birdie_core.Source`). Set ``source_cls`` (built as the registry builds it,
    ``source_cls(config)``) and ``source_config``, or override :meth:`make_source`. The split should be small:
    every check reads it whole, once per shard count in ``shard_counts`` and epoch in ``epochs``.

    Checked: every shard count partitions the split (each document read by exactly one shard, the same
    documents whatever the count); the order is fixed by ``(shard, epoch)``; ``Document.index`` is unique in a
    pass and names the same document in every pass and every sharding; every document has an ``origin``.
    """

    source_cls: ClassVar[type[Any] | None] = None
    source_config: ClassVar[SourceConfig | None] = None
    shard_counts: ClassVar[Sequence[int]] = (1, 2, 3, 7)
    epochs: ClassVar[Sequence[int]] = (0, 1)

    def make_source(self) -> Source:
        if self.source_cls is None:
            raise NotImplementedError("set `source_cls = MySource` (and `source_config`) on the subclass")
        cfg = self.source_config or self.source_cls.Config(name=self.source_cls.__name__)
        source: Source = self.source_cls(cfg)
        return source

    def _read(self, shard: Shard, epoch: int, source: Source | None = None) -> list[Document]:
        docs = list((source or self.make_source()).documents(shard, epoch))
        for doc in docs:
            assert isinstance(doc, Document), f"a source yields Documents, got {type(doc).__name__}"
            assert isinstance(doc.index, (int, np.integer)) and doc.index >= 0, f"bad index {doc.index!r}"
            assert isinstance(doc.text, str), f"document {doc.index}: text must be a str"
            assert isinstance(doc.origin, str) and doc.origin, f"document {doc.index} has no origin"
        return docs

    @staticmethod
    def _content(doc: Document) -> tuple[str, tuple[int, ...] | None]:
        return doc.text, None if doc.tokens is None else tuple(np.asarray(doc.tokens).tolist())

    def _whole(self, epoch: int) -> dict[int, tuple[str, tuple[int, ...] | None]]:
        docs = self._read(Shard(0, 1), epoch)
        indices = [int(d.index) for d in docs]
        assert len(set(indices)) == len(indices), "Document.index must be unique within a pass"
        return {int(d.index): self._content(d) for d in docs}

    def test_the_split_has_documents(self) -> None:
        assert self._whole(self.epochs[0]), "the source gave no document: give the suite a non-empty split"

    def test_shards_partition_the_split(self) -> None:
        for epoch in self.epochs:
            whole = self._whole(epoch)
            for count in self.shard_counts:
                seen: dict[int, int] = {}
                for index in range(count):
                    for doc in self._read(Shard(index, count), epoch):
                        i = int(doc.index)
                        assert i not in seen, (
                            f"document {i} read by shards {seen[i]} and {index} of {count} (epoch {epoch})"
                        )
                        seen[i] = index
                        assert self._content(doc) == whole.get(i), (
                            f"document {i} differs between {count} shards and one (epoch {epoch})"
                        )
                missing = sorted(set(whole) - set(seen))
                assert not missing, f"{count} shards missed documents {missing[:10]} (epoch {epoch})"

    def test_order_is_fixed_by_shard_and_epoch(self) -> None:
        for epoch in self.epochs:
            for count in self.shard_counts[:2]:
                for index in range(count):
                    shard = Shard(index, count)
                    one = [(int(d.index), d.origin, self._content(d)) for d in self._read(shard, epoch)]
                    two = [(int(d.index), d.origin, self._content(d)) for d in self._read(shard, epoch)]
                    assert one == two, f"shard {index}/{count} read twice in epoch {epoch} gave another order"

    def test_indices_name_the_same_documents_in_every_epoch(self) -> None:
        first = self._whole(self.epochs[0])
        for epoch in self.epochs[1:]:
            assert self._whole(epoch) == first, f"epoch {epoch} maps indices to other documents"

    def test_reading_again_from_one_object(self) -> None:
        source = self.make_source()
        shard = Shard(0, 1)
        partial = iter(source.documents(shard, self.epochs[0]))
        next(partial, None)
        close = getattr(partial, "close", None)
        if close is not None:
            close()  # a reader stopped early (the pipeline resumes by re-opening a pass)
        again = [int(d.index) for d in self._read(shard, self.epochs[0], source)]
        assert again == [int(d.index) for d in self._read(shard, self.epochs[0])]
