"""``tokenized``: documents as token ids, memory-mapped from a directory ``birdie tokenize`` wrote."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import Field

from birdie_core.builtins.sources.common import new_stats
from birdie_core.errors import ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, Document, Shard, SourceConfig, Tokenizer
from birdie_core.pretokenized.format import (
    OpenShard,
    PretokenizedData,
    tokenizer_fingerprint,
    unknown_special_ids,
)
from birdie_core.tools.shuffle import epoch_permutation, epoch_rng

#: at most this many shuffling blocks per epoch: the block permutation stays a few MB whatever the data size
MAX_BLOCKS = 1 << 20
#: with shuffling, a block holds at most 1/16 of one reader's documents: the readers' shares stay close
BLOCKS_PER_READER = 16
_WITHIN_BLOCK_SALT = 0xB10C


class TokenizedSourceConfig(SourceConfig):
    """Parameters of the ``tokenized`` source: the directory, and whether to check every file's SHA-256."""

    path: str = Field(
        description="A directory written by `birdie tokenize` (relative to the working directory)."
    )
    verify: bool = Field(
        False,
        description="Compare the SHA-256 of every file with the header's when opened (reads all the data once; "
        "sizes and offsets are always checked).",
    )


class TokenizedSource:
    """Documents of a pre-tokenized directory: ``Document.tokens`` is a view into the memory-mapped file (no
    copy, no tokenizer), ``text`` is empty, ``index`` the document's number in the directory (0, 1, … in the
    order they were written).

    Exactly once per epoch across ``Shard(index, count)``, by blocks of consecutive documents (a block never
    spans two shard files, so reading one stays sequential in the file):

    * ``shuffle_buffer`` 0 or 1: blocks of one document, in order; reader ``r`` takes documents ``r, r + count,
      …`` (``shard.owns(index)`` holds);
    * otherwise blocks of up to ``shuffle_buffer`` documents, smaller when there are few documents per reader
      (each reader gets about sixteen blocks or more) and larger when there would be more than ~1M blocks. Each
      epoch the blocks of the whole directory are permuted (``epoch_permutation`` from ``shuffle_seed``,
      null: 0) and dealt round-robin to the readers; inside a block the documents are permuted too. So the
      readers' shares differ by at most about one block, and a document can land anywhere in the epoch, not
      only near where it was written.

    The order is a function of (seed, epoch, shard) only, as resuming needs. The pipeline calls
    :meth:`check_tokenizer` when it is built: the configured tokenizer must be the one that wrote the ids.
    The directory's ``split`` is whatever it was written from; the config's ``split`` is not used.
    """

    Config = TokenizedSourceConfig

    def __init__(self, config: TokenizedSourceConfig):
        self.config = config
        self.data = PretokenizedData(config.path, verify=config.verify)
        self.stats = new_stats()
        shards = self.data.shards
        self._starts = self.data.starts
        self._docs_per_shard = np.diff(self._starts)
        self._blocks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        # token-file paths with the separator, so that a document's origin costs one f-string
        self._origins = [f"{s.path}#" for s in shards]

    def __len__(self) -> int:
        return self.data.num_documents

    # -- the tokenizer --------------------------------------------------------------------------------------
    def check_tokenizer(self, tokenizer: Tokenizer) -> None:
        """Refuse a tokenizer other than the one that wrote the ids: a :class:`ConfigError` at ``tokenizer``
        naming both and what to do."""
        written = self.data.header.tokenizer
        directory = self.config.path
        fingerprint = tokenizer_fingerprint(tokenizer)
        if fingerprint != written.fingerprint:
            raise ConfigError(
                ConfigIssue(
                    "tokenizer",
                    f"the pre-tokenized data in {directory} was written by {written.description} "
                    f"(tokenizer {_describe_config(written.config)}, vocabulary fingerprint "
                    f"{written.fingerprint[:12]}), but the configured tokenizer is {tokenizer!r} (fingerprint "
                    f"{fingerprint[:12]}): its ids would be read as another vocabulary's. Configure the tokenizer "
                    f"the data was written with, or re-run `birdie tokenize CONFIG --output {directory} "
                    "--overwrite` with this config",
                )
            )
        clash = unknown_special_ids(self.data.header, tokenizer)
        if clash:
            names = ", ".join(f"{i} ({tokenizer.decode([i])})" for i in clash[:5])
            raise ConfigError(
                ConfigIssue(
                    "tokenizer",
                    f"the configured tokenizer reserves ids of its own vocabulary that were ordinary tokens when "
                    f"{directory} was written: {names}; the data may hold them as text. Re-run `birdie "
                    f"tokenize CONFIG --output {directory} --overwrite` with this config",
                )
            )

    # -- reading --------------------------------------------------------------------------------------------
    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        n = self.data.num_documents
        if n == 0:
            return
        seed = self.config.shuffle_seed if self.config.shuffle_seed is not None else 0
        size = self.block_size(shard.count)
        if size == 0:
            yield from self._strided(shard)
            return
        files, firsts = self._blocks_of(size)
        order = epoch_permutation(files.shape[0], seed, epoch)[shard.index :: shard.count]
        rng = epoch_rng(seed, epoch, _WITHIN_BLOCK_SALT, shard.index, shard.count)
        sizes = self._docs_per_shard
        for b in order.tolist():
            f, lo = int(files[b]), int(firsts[b])
            hi = min(lo + size, int(sizes[f]))
            yield from self._block(f, lo, hi, rng.permutation(hi - lo).tolist())

    def block_size(self, readers: int) -> int:
        """Documents per shuffling block for ``readers`` readers; 0: no shuffling (documents in order)."""
        if self.config.shuffle_buffer <= 1:
            return 0
        n = self.data.num_documents
        size = min(self.config.shuffle_buffer, max(1, n // (BLOCKS_PER_READER * readers)))
        return max(size, -(-n // MAX_BLOCKS))

    def _blocks_of(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(shard file, first document in it) of every block of ``size`` documents, in written order."""
        cached = self._blocks.get(size)
        if cached is None:
            counts = -(-self._docs_per_shard // size)  # blocks per shard file
            files = np.repeat(np.arange(counts.shape[0], dtype=np.int32), counts)
            within = np.arange(files.shape[0], dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            cached = self._blocks[size] = (files, within * size)
        return cached

    def _block(self, f: int, lo: int, hi: int, order: list[int]) -> Iterator[Document]:
        part = self.data.shards[f]
        offsets = part.offsets[lo : hi + 1].tolist()
        self._check_ids(part, offsets[0], offsets[-1], lo, hi)
        ids, start, origin, stats = part.ids, part.start, self._origins[f], self.stats
        for j in order:
            i = lo + j
            stats["documents"] += 1
            yield Document(start + i, "", f"{origin}{i}", ids[offsets[j] : offsets[j + 1]])

    def _strided(self, shard: Shard) -> Iterator[Document]:
        step, stats = shard.count, self.stats
        for f, part in enumerate(self.data.shards):
            start, count = part.start, int(self._docs_per_shard[f])
            first = (shard.index - start) % step  # the first local document this reader owns
            if first >= count:
                continue
            offsets = part.offsets.tolist()
            ids, origin = part.ids, self._origins[f]
            for i in range(first, count, step):
                o, e = offsets[i], offsets[i + 1]
                self._check_ids(part, o, e, i, i + 1)
                stats["documents"] += 1
                yield Document(start + i, "", f"{origin}{i}", ids[o:e])

    def _check_ids(self, part: OpenShard, o: int, e: int, lo: int, hi: int) -> None:
        # one reduction per block: a damaged or foreign file must not hand a model ids past its embedding
        if e > o and int(part.raw[o:e].max()) >= self.data.bound:
            what = f"document {lo}" if hi == lo + 1 else f"documents {lo}..{hi - 1}"
            raise PipelineError(
                f"{part.path}: {what} hold ids beyond the {self.data.bound} of the tokenizer's base vocabulary; "
                "the file is corrupt or was not written with this header: re-run `birdie tokenize`"
            )

    def __repr__(self) -> str:
        h = self.data.header
        return f"TokenizedSource({self.config.path!r}, {h.documents} documents, {h.tokens} tokens)"


def _describe_config(config: dict[str, object]) -> str:
    shown = {k: v for k, v in config.items() if v is not None}
    return "{" + ", ".join(f"{k}: {v}" for k, v in shown.items()) + "}"
