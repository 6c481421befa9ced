"""The documents a pipeline reads: one source, or several (data domains) mixed by weight.

Each :class:`Domain` is one source with how to read it: its weight in the mix, its shuffle buffer and seed,
and which of its documents to keep (all, all but the validation hold-out, or only the hold-out; see
:mod:`~birdie_core.pipeline.holdout`). A :class:`DomainMix` is a list of them; a single source is a mix of one
domain. A :class:`MixReader` reads a mix for one shard, document after document, and knows its place.

**Passes.** A domain's documents are read in passes: pass ``e`` is ``source.documents(shard, e)``, fed through
a shuffle buffer of ``shuffle_buffer`` documents drawn by ``epoch_rng(shuffle_seed, e, shard.index,
shard.count, crc32(domain id))``. Every document of the shard is read exactly once per pass. A domain whose
pass ends starts its next pass at once, on its own: the other domains go on where they are.

**Mixing.** Before each document a domain is drawn with probability proportional to its weight, from a
generator seeded by ``(seed, shard, split)``. Weights are shares of *documents*, not of tokens. The mixed
stream never ends; it has no epochs of its own, only each domain's passes.

**Resuming.** The place of a reader is, per domain, the pass and the number of documents taken from its
shuffled stream, plus the draw generator's state. :meth:`MixReader.load_state_dict` re-opens each domain's pass
and skips the documents already taken, which gives exactly the same documents after the same draws: the
shuffled stream is a pure function of the source, the seed, the shard and the pass.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from birdie_core.errors import PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, Document, Shard, Source
from birdie_core.pipeline.holdout import HoldOut
from birdie_core.tools.shuffle import epoch_rng, shuffle_buffer

__all__ = ["Domain", "DomainMix", "MixReader", "Taken"]

#: Builds the error for a pass in which no document made an example: ``(where, documents, pass)``.
UnusablePass = Callable[[str, int, int], Exception]


@dataclass(frozen=True)
class Domain:
    """One source of a mix and how to read it (see the module docstring)."""

    id: str
    source: Source
    weight: float = 1.0
    shuffle_buffer: int = 0
    shuffle_seed: int = 0
    #: the hold-out rule; None: every document is kept
    holdout: HoldOut | None = None
    #: keep only the held-out documents (the validation side) instead of all but them (the training side)
    held_out_only: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise PipelineError(
                f"domain {self.id!r}: the weight must be a finite number > 0, got {self.weight}"
            )
        if self.held_out_only and self.holdout is None:
            raise PipelineError(f"domain {self.id!r}: held_out_only needs a hold-out rule")


@dataclass(slots=True)
class Taken:
    """One document a reader gave, with what happened on the way to it."""

    domain: int  # position of its domain in the mix
    document: Document
    held_out: int  # training documents passed over because they are held out for validation
    passes_ended: int  # passes that ended (and restarted) on the way


class DomainMix:
    """Domains mixed by weight, as one :class:`~birdie_core.interfaces.Source` (see the module docstring).

    As a Source, ``documents(shard, epoch)`` reads a fresh mix of that shard whose every domain starts at pass
    ``epoch``, until the first domain ends its pass (for one domain: exactly that pass). A pipeline reads
    through a :meth:`reader`, which never ends and can resume.
    """

    def __init__(self, domains: Sequence[Domain], seed: int = 0, split: str = "train"):
        if not domains:
            raise PipelineError(f"a mix of {split!r} documents needs at least one domain")
        ids = [d.id for d in domains]
        if len(set(ids)) != len(ids):
            raise PipelineError(f"the domain ids of {split!r} must be unique, got {ids}")
        self.domains = tuple(domains)
        self.seed = int(seed)
        self.split = split

    @classmethod
    def single(cls, source: Source, split: str = "train") -> DomainMix:
        """``source`` read as it is: one domain named after the split, no shuffling, every document."""
        return cls([Domain(split, source)], split=split)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.domains)

    @property
    def stats(self) -> dict[str, Any]:
        """The sources' own counters (``source.stats``), added up over the domains."""
        if len(self.domains) == 1:
            own = getattr(self.domains[0].source, "stats", None)
            return own if isinstance(own, dict) else {}
        total: dict[str, Any] = {}
        for d in self.domains:
            own = getattr(d.source, "stats", None)
            for key, n in own.items() if isinstance(own, dict) else ():
                total[key] = total.get(key, 0) + int(n)
        return total

    def reader(self, shard: Shard = WHOLE_SPLIT, *, unusable: UnusablePass | None = None) -> MixReader:
        return MixReader(self, shard, unusable=unusable)

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        reader = MixReader(self, shard, start_pass=epoch)
        try:
            while True:
                taken = reader.next(roll_over=False)
                if taken is None:
                    return
                yield taken.document
        finally:
            reader.close()

    def __repr__(self) -> str:
        inner = ", ".join(f"{d.id}={type(d.source).__name__}×{d.weight:g}" for d in self.domains)
        return f"DomainMix({self.split!r}: {inner})"


class _DomainReader:
    """One domain's place: its pass, the documents taken from the pass's shuffled stream, and what they gave."""

    def __init__(self, domain: Domain, shard: Shard, where: str, start_pass: int):
        self.domain = domain
        self.shard = shard
        self.where = where
        self.salt = zlib.crc32(domain.id.encode())
        self.epoch = start_pass
        self.taken = 0  # positions of this pass's shuffled stream consumed (held-out ones included)
        self.kept = 0  # documents given out in this pass
        self.used = 0  # of those, documents at least one example came from
        # the source's own iterator and the shuffled one over it, kept to close them
        self._docs: Iterator[Document] | None = None
        self._shuffled: Iterator[Document] | None = None
        self._iter: Iterator[Document] | None = None

    def _open(self, skip: int) -> Iterator[Document]:
        self.close()
        d, shard = self.domain, self.shard
        docs = iter(d.source.documents(shard, self.epoch))
        rng = epoch_rng(d.shuffle_seed, self.epoch, shard.index, shard.count, self.salt)
        shuffled = shuffle_buffer(docs, d.shuffle_buffer, rng)
        self._docs, self._shuffled = docs, shuffled
        self._iter = itertools.islice(shuffled, skip, None) if skip else shuffled
        return self._iter

    def take(self) -> tuple[Document | None, int]:
        """The next kept document of this pass (None at its end) and the held-out documents passed over."""
        it = self._iter if self._iter is not None else self._open(self.taken)
        d, held_out = self.domain, 0
        while True:
            doc = next(it, None)
            if doc is None:
                return None, held_out
            self.taken += 1
            if d.holdout is not None and d.holdout.held_out(d.id, doc.index) != d.held_out_only:
                held_out += 0 if d.held_out_only else 1
                continue
            self.kept += 1
            return doc, held_out

    def reread_last(self) -> Document | None:
        """The document taken last, read again; the stream is left just after it."""
        it = self._open(self.taken - 1) if self.taken else None
        return next(it, None) if it is not None else None

    def end_pass(self, unusable: UnusablePass | None) -> None:
        """Check the pass that just ended and start the next one."""
        if self.kept == 0:
            raise PipelineError(self._nothing_kept())
        if self.used == 0:
            if unusable is not None:
                raise unusable(self.where, self.kept, self.epoch)
            raise PipelineError(
                f"none of the {self.kept} documents of the {self.where} in epoch {self.epoch} made an example"
            )
        self.close()
        self.epoch += 1
        self.taken = self.kept = self.used = 0

    def _nothing_kept(self) -> str:
        d, e = self.domain, self.epoch
        if d.holdout is not None and self.taken:
            rule = (
                f"data.validation_holdout: {d.holdout.share:g} of the training documents, chosen by a hash of each "
                "document's index"
            )
            if d.held_out_only:
                return (
                    f"none of the {self.taken} documents the {self.where} gave in epoch {e} is held out for "
                    f"validation ({rule}); raise data.validation_holdout or configure a data.validation source"
                )
            return (
                f"all {self.taken} documents the {self.where} gave in epoch {e} are held out for validation "
                f"({rule}): none is left to train on; lower data.validation_holdout"
            )
        return (
            f"the {self.where} yielded no documents in epoch {e}; check its path/split, and that there are at "
            "least as many documents as shards"
        )

    def close(self) -> None:
        # the shuffle generator first, then the source's own (its `finally` blocks run now, not at collection)
        for it in (self._shuffled, self._docs):
            close = getattr(it, "close", None)
            if close is not None:
                close()
        self._iter = self._shuffled = self._docs = None


class MixReader:
    """Reads a :class:`DomainMix` for one shard, resumably (see the module docstring).

    The caller reports with :meth:`mark_used` that the document last taken made an example: a pass in which
    no document did raises the error ``unusable`` builds (a stream of only unusable documents would otherwise
    spin for ever).
    """

    def __init__(
        self,
        mix: DomainMix,
        shard: Shard = WHOLE_SPLIT,
        *,
        unusable: UnusablePass | None = None,
        start_pass: int = 0,
    ):
        self.mix = mix
        self.shard = shard
        self.unusable = unusable
        several = len(mix.domains) > 1
        self._domains = [_DomainReader(d, shard, self._where(d, several), start_pass) for d in mix.domains]
        self._cdf = np.cumsum([d.weight for d in mix.domains]).tolist()
        # crc32, not hash(): the split must give the same seed in every process
        self.rng = np.random.default_rng(
            [mix.seed & 0xFFFFFFFF, shard.index, shard.count, zlib.crc32(mix.split.encode()), 0xD0A1]
        )
        self.current = 0  # the domain of the document taken last

    def _where(self, d: Domain, several: bool) -> str:
        name = f"{self.mix.split!r} source {type(d.source).__name__}"
        if several:
            name += f" of domain {d.id!r}"
        return f"{name} (shard {self.shard.index}/{self.shard.count})"

    @property
    def ids(self) -> tuple[str, ...]:
        return self.mix.ids

    def _draw(self) -> int:
        cdf = self._cdf
        if len(cdf) == 1:
            return 0  # one domain: no draw, so a single source reads exactly as it always did
        return min(bisect.bisect_right(cdf, self.rng.random() * cdf[-1]), len(cdf) - 1)

    def next(self, *, roll_over: bool = True) -> Taken | None:
        """The next document; a domain whose pass ends starts the next one (or, without ``roll_over``, None)."""
        d = self._draw()
        dom = self._domains[d]
        held_out = ended = 0
        while True:
            doc, passed = dom.take()
            held_out += passed
            if doc is not None:
                self.current = d
                return Taken(d, doc, held_out, ended)
            if not roll_over:
                return None
            dom.end_pass(self.unusable)
            ended += 1

    def mark_used(self) -> None:
        """The document taken last made an example."""
        self._domains[self.current].used += 1

    def reread_current(self) -> Document | None:
        """The document taken last, read again after :meth:`load_state_dict` (None if the source lacks it)."""
        return self._domains[self.current].reread_last()

    def pass_of(self, domain: int) -> int:
        """The pass (epoch) domain ``domain`` is in: 0 in the first."""
        return self._domains[domain].epoch

    def state_dict(self) -> dict[str, Any]:
        return {
            "ids": list(self.mix.ids),
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            "current": self.current,
            "domains": [(r.epoch, r.taken, r.kept, r.used) for r in self._domains],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["ids"]) != list(self.mix.ids):
            raise PipelineError(
                f"cannot resume: the state was saved reading the domains {list(state['ids'])}, this pipeline "
                f"reads {list(self.mix.ids)}"
            )
        self.close()
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])
        self.current = int(state["current"])
        for r, (epoch, taken, kept, used) in zip(self._domains, state["domains"]):
            r.epoch, r.taken, r.kept, r.used = int(epoch), int(taken), int(kept), int(used)

    def close(self) -> None:
        """Release every open source iterator (they re-open lazily where they were)."""
        for r in self._domains:
            r.close()
