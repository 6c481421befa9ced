"""The batch producer: documents → tokens → objective drawn from the mixture → packer → :class:`PackedBatch`.

:class:`Pipeline` runs in the calling process; a worker process runs exactly the same object on its own
shard. Everything it does is decided by its configuration, its seed and its shard, never by the clock or a
process id, so the same config and seed give the same batches run after run.

The stream, step by step (:meth:`Pipeline.next_batch`):

1. A document is read from the source and tokenized **once**; its tokens are consumed by successive examples
   (each objective returns the unused tail) until none are left, then the next document is read.
2. For each example the packer's :meth:`~birdie_core.Packer.budget` is the room left; an arm is drawn from
   the mixture and its objective builds an example within that budget.
3. When the objective cannot use the text (it returns ``None``), up to ``max_redraws`` other arms are tried
   (each failed arm is excluded, the draw renormalised over the others; so objectives that can fill small
   gaps end up with a little more than their share: ``stats.positions`` reports the realised share). If none
   can, the pipeline asks whether the text would make an example in an empty row: if yes, the open batch is
   emitted early (its rows are too full for it) and the text is retried in the next batch; if no, the text
   is too short for every objective: it is dropped and counted (:class:`PipelineStats`), never an error.
4. The batch is emitted as soon as the packer reports :meth:`~birdie_core.Packer.ready`.

Documents come through a :class:`~birdie_core.pipeline.domains.MixReader`: one source, or several data
domains mixed by weight, each shuffled through its own buffer and, where a validation hold-out is configured,
with the held-out documents left out (training) or kept alone (validation); see
:mod:`birdie_core.pipeline.domains`. When a source runs dry its next pass (epoch) starts at once
(``source.documents(shard, epoch + 1)``). A source that yields no document at all, a pass in which no
document could make a single example, and ``max_consecutive_skips`` unusable documents in a row raise
:class:`PipelineError` instead of spinning (the last two a :class:`~birdie_core.NoUsableDocumentsError`, which
the curriculum's validation batches survive: an objective that no validation document suits has no
validation loss, and the run goes on).

Mixture updates (:meth:`Pipeline.set_mixture`) apply to every arm drawn after the call; examples already in
the open batch keep the arm they were drawn with.

Which documents went into a batch: :attr:`Pipeline.last_documents` lists ``(epoch, document index)`` of every
document whose first tokens the last emitted batch holds (each document appears once per epoch unless it was
skipped as too short), :attr:`Pipeline.last_document_domains` the domain of each (its position in
:attr:`Pipeline.domain_ids`: document indices are unique within a domain), and
:attr:`Pipeline.last_domain_consumed` the document tokens the batch took from each domain.
"""

from __future__ import annotations

import bisect
import copy
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from birdie_core.errors import NoUsableDocumentsError, PipelineError
from birdie_core.interfaces import (
    TOKEN_DTYPE,
    WHOLE_SPLIT,
    Arm,
    Example,
    Objective,
    ObjectiveContext,
    PackedBatch,
    Packer,
    Shard,
    Source,
    Tokenizer,
    normalise,
)
from birdie_core.pipeline.domains import DomainMix

if TYPE_CHECKING:
    from birdie_core.config.load import ConfigSource
    from birdie_core.pipeline.build import Split
    from birdie_core.registry import Registry

__all__ = ["Pipeline", "PipelineStats"]

_STATE_VERSION = 3  # 2: the current document by position, not by its tokens; 3: positions per domain
_NO_TOKENS = np.zeros(0, dtype=TOKEN_DTYPE)


@dataclass
class PipelineStats:
    """Counters of one pipeline since it was built (kept across :meth:`Pipeline.load_state_dict`)."""

    num_arms: int
    num_domains: int = 1
    documents_read: int = 0
    documents_skipped: int = 0  # too short for every objective: no example used any of their tokens
    skipped_indices: list[int] = field(default_factory=list)  # the first few, for a report
    tail_tokens_dropped: int = 0  # leftovers too short for every objective after some examples were made
    batches: int = 0
    epochs_completed: int = 0  # passes through the source that ended (with domains: summed over them)
    batch_positions: int = 0  # batch_size * sequence_length per emitted batch
    examples: np.ndarray = field(init=False)  # examples made per arm (the open batch included)
    positions: np.ndarray = field(init=False)  # non-pad positions per arm in emitted batches
    consumed: np.ndarray = field(init=False)  # document tokens consumed per arm (the open batch included)
    domain_documents: np.ndarray = field(init=False)  # documents read per domain
    domain_consumed: np.ndarray = field(
        init=False
    )  # document tokens consumed per domain (the open batch included)
    domain_held_out: np.ndarray = field(init=False)  # training documents passed over: held out for validation

    MAX_SKIPPED_INDICES = 10

    def __post_init__(self) -> None:
        self.examples = np.zeros(self.num_arms, dtype=np.int64)
        self.positions = np.zeros(self.num_arms, dtype=np.int64)
        self.consumed = np.zeros(self.num_arms, dtype=np.int64)
        self.domain_documents = np.zeros(self.num_domains, dtype=np.int64)
        self.domain_consumed = np.zeros(self.num_domains, dtype=np.int64)
        self.domain_held_out = np.zeros(self.num_domains, dtype=np.int64)

    @property
    def efficiency(self) -> float:
        """Share of emitted batch positions that hold a token."""
        return float(self.positions.sum() / self.batch_positions) if self.batch_positions else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (for logs, JSON and ``state_dict``)."""
        return {
            "num_arms": self.num_arms,
            "num_domains": self.num_domains,
            "documents_read": self.documents_read,
            "documents_skipped": self.documents_skipped,
            "skipped_indices": list(self.skipped_indices),
            "tail_tokens_dropped": self.tail_tokens_dropped,
            "batches": self.batches,
            "epochs_completed": self.epochs_completed,
            "batch_positions": self.batch_positions,
            "examples": self.examples.tolist(),
            "positions": self.positions.tolist(),
            "consumed": self.consumed.tolist(),
            "domain_documents": self.domain_documents.tolist(),
            "domain_consumed": self.domain_consumed.tolist(),
            "domain_held_out": self.domain_held_out.tolist(),
            "efficiency": self.efficiency,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PipelineStats:
        s = cls(int(d["num_arms"]), int(d.get("num_domains", 1)))
        for k in ("documents_read", "documents_skipped", "tail_tokens_dropped", "batches"):
            setattr(s, k, int(d[k]))
        s.epochs_completed, s.batch_positions = int(d["epochs_completed"]), int(d["batch_positions"])
        s.skipped_indices = [int(i) for i in d["skipped_indices"]]
        for k in ("examples", "positions", "consumed"):
            setattr(s, k, np.asarray(d[k], dtype=np.int64))
        for k in ("domain_documents", "domain_consumed", "domain_held_out"):
            if k in d:
                setattr(s, k, np.asarray(d[k], dtype=np.int64))
        return s


class Pipeline:
    """Produces packed batches from one source shard; see the module docstring for the rules.

    ``source``: a :class:`~birdie_core.interfaces.Source`, read as it is (no shuffling, every document), or a
    :class:`~birdie_core.pipeline.domains.DomainMix` (what :meth:`Components.pipeline
    <birdie_core.pipeline.build.Components.pipeline>` builds from a config: shuffled, mixed, hold-out applied).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        source: Source | DomainMix,
        objectives: Sequence[Objective],
        arms: Sequence[Arm],
        packer: Packer,
        mixture: np.ndarray | Sequence[float],
        seed: int,
        start_marker: str,
        shard: Shard = WHOLE_SPLIT,
        *,
        split: str = "train",
        max_redraws: int = 8,
        max_consecutive_skips: int = 100_000,
        mixture_unit: str = "tokens",
    ):
        if not objectives:
            raise PipelineError("a pipeline needs at least one objective")
        if not len(objectives) == len(arms) == packer.num_arms:
            raise PipelineError(
                f"{len(objectives)} objectives, {len(arms)} arms and a packer for {packer.num_arms} arms: "
                "they must match one to one"
            )
        if not 0 <= shard.index < shard.count:
            raise PipelineError(f"invalid shard {shard.index} of {shard.count}")
        try:
            start_id = tokenizer.special_id(start_marker)
        except KeyError as exc:
            raise PipelineError(
                f"the start-of-generation marker {start_marker!r} is not reserved by the tokenizer; build it "
                f"with the marker among its specials ({exc})"
            ) from None
        self.tokenizer = tokenizer
        #: what the pipeline reads: its sources with their shuffling, weights and hold-out
        self.mix = source if isinstance(source, DomainMix) else DomainMix.single(source, split)
        #: the source itself, or with several domains their mix (a Source too, whose ``stats`` adds theirs up)
        self.source: Source = self.mix.domains[0].source if len(self.mix.domains) == 1 else self.mix
        self.domain_ids: tuple[str, ...] = self.mix.ids
        self.reader = self.mix.reader(shard, unusable=self._unusable_pass)
        self.objectives = tuple(objectives)
        self.arms = tuple(arms)
        self.packer = packer
        self.seed = int(seed)
        self.shard = shard
        self.split = split
        self.start_marker = start_marker
        self.max_redraws = max_redraws
        self.max_consecutive_skips = max_consecutive_skips
        if mixture_unit not in ("tokens", "examples"):
            raise PipelineError(f"mixture_unit must be 'tokens' or 'examples', not {mixture_unit!r}")
        self.mixture_unit = mixture_unit
        # running sum / count of example lengths per arm (one pseudo-example of a common prior length, so every
        # arm starts alike): in token mode, draws are weighted by mixture / mean length (refreshed once per
        # batch), so that the share of *positions* each arm fills tracks the mixture instead of favouring
        # arms that make long examples
        prior = float(packer.sequence_length) / 4
        self._length_sum = np.full(len(arms), prior)
        self._length_count = np.ones(len(arms))
        # crc32, not hash(): the split must map to the same seed in every process
        self.rng = np.random.default_rng([self.seed, shard.index, shard.count, zlib.crc32(split.encode())])
        self.ctx = ObjectiveContext(tokenizer=tokenizer, rng=self.rng, start_id=start_id)
        num_domains = len(self.domain_ids)
        self.stats = PipelineStats(len(self.arms), num_domains)
        self.set_mixture(mixture)
        # position in the stream (the reader holds the place in the source)
        self._tokens: np.ndarray = _NO_TOKENS  # unused tokens of the current document
        self._doc_length = 0  # tokens of the current document
        self._doc_index = -1
        self._doc_domain = 0
        self._doc_epoch = 0  # the pass of its domain the current document came from
        self._doc_used = False
        self._consecutive_skips = 0
        # (epoch, index, domain) of documents first used in the open batch, and its tokens per domain
        self._batch_docs: list[tuple[int, int, int]] = []
        self._batch_domain_consumed = np.zeros(num_domains, dtype=np.int64)
        #: ``(epoch, document index)`` rows of the documents whose first tokens went into the last emitted batch
        self.last_documents = np.zeros((0, 2), dtype=np.int64)
        #: the domain (position in :attr:`domain_ids`) of each row of :attr:`last_documents`
        self.last_document_domains = np.zeros(0, dtype=np.int64)
        #: document tokens the last emitted batch took from each domain
        self.last_domain_consumed = np.zeros(num_domains, dtype=np.int64)

    # -- construction from a config ---------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        cfg: ConfigSource,
        registry: Registry | None = None,
        split: Split = "train",
        shard: Shard = WHOLE_SPLIT,
        *,
        mixture: np.ndarray | Sequence[float] | None = None,
    ) -> Pipeline:
        """The pipeline of ``cfg``'s ``split`` (a shortcut for :meth:`Components.resolve(...).pipeline
        <birdie_core.pipeline.build.Components.pipeline>`); ``mixture`` defaults to the agent's initial one."""
        from birdie_core.pipeline.build import Components

        return Components.resolve(cfg, registry).pipeline(split, shard, mixture)

    # -- the mixture ------------------------------------------------------------------------------------
    @property
    def mixture(self) -> np.ndarray:
        return self._mixture.copy()

    def set_mixture(self, p: np.ndarray | Sequence[float]) -> None:
        """Use mixture ``p`` (one weight per arm, normalised here) for every arm drawn from now on."""
        try:
            m = normalise(p)
        except ValueError as exc:
            raise PipelineError(f"invalid mixture: {exc}") from None
        if m.shape != (len(self.arms),):
            raise PipelineError(f"the mixture has {m.size} entries for {len(self.arms)} arms")
        self._mixture = m
        self._refresh_weights()

    def _refresh_weights(self) -> None:
        """Draw weights from the mixture and, in token mode, the running mean example length of each arm.

        Run when the mixture changes and once per emitted batch, not per example: the mean lengths move
        slowly, and a cdf over every arm for every example was a large share of the pipeline's own time.
        """
        if self.mixture_unit == "tokens":
            w = self._mixture * (self._length_count / self._length_sum)
            self._weights = w / w.sum() if w.sum() > 0 else self._mixture
        else:
            self._weights = self._mixture
        self._cdf = np.cumsum(self._weights).tolist()

    # -- producing batches ------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[PackedBatch]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> PackedBatch:
        """The next packed batch of the stream."""
        packer = self.packer
        full = packer.sequence_length
        while not packer.ready():
            if self._tokens.shape[0] == 0:
                self._read_document()
                continue
            budget = packer.budget()
            failed = self._add_example(budget)
            if failed is None:
                continue
            if budget < full and self._fits_empty_row(failed, full):
                break  # the open rows are too full for this text: emit, retry it in a fresh batch
            self._drop_tokens()
        return self._emit()

    def _draw(self, cdf: list[float]) -> int:
        total = cdf[-1]
        if total <= 0:
            return -1
        # bisect_right on a list is numpy's searchsorted(side="right") without the per-call overhead
        return min(bisect.bisect_right(cdf, self.rng.random() * total), len(cdf) - 1)

    def _add_example(self, budget: int) -> list[int] | None:
        """Add one example from the current tokens; None on success, else the arms that failed."""
        cdf, weights, failed = self._cdf, self._weights, []
        for _ in range(self.max_redraws + 1):
            arm = self._draw(cdf)
            if arm < 0:
                break
            example, rest = self.objectives[arm].build(self._tokens, budget, self.ctx)
            if example is not None:
                self._accept(arm, example, rest, budget)
                return None
            failed.append(arm)
            weights = weights.copy()
            weights[arm] = 0.0  # renormalise over the arms not tried yet
            cdf = np.cumsum(weights).tolist()
        return failed

    def _fits_empty_row(self, arms: list[int], full: int) -> bool:
        """Whether one of ``arms`` could use the current tokens with a whole row (a probe; draws RNG)."""
        return any(self.objectives[a].build(self._tokens, full, self.ctx)[0] is not None for a in arms)

    def _accept(self, arm: int, example: Example, rest: np.ndarray, budget: int) -> None:
        used = self._tokens.shape[0] - rest.shape[0]
        if example.length > budget or used <= 0:
            what = (
                f"an example of length {example.length}" if used > 0 else "an example from no document token"
            )
            raise PipelineError(
                f"objective {self.arms[arm].objective} (arm {self.arms[arm].key!r}) made {what} for a budget "
                f"of {budget} (document {self._doc_index}); this is a bug in the objective"
            )
        self.packer.add(example, arm)
        self._tokens = rest
        if not self._doc_used:
            self._batch_docs.append((self._doc_epoch, self._doc_index, self._doc_domain))
            self.reader.mark_used()
        self._doc_used = True
        self._consecutive_skips = 0
        self.stats.examples[arm] += 1
        self.stats.consumed[arm] += used
        self.stats.domain_consumed[self._doc_domain] += used
        self._batch_domain_consumed[self._doc_domain] += used
        if self.mixture_unit == "tokens":  # the draw weights follow at the next batch (_emit)
            self._length_sum[arm] += example.length
            self._length_count[arm] += 1

    def _drop_tokens(self) -> None:
        stats = self.stats
        if self._doc_used:
            stats.tail_tokens_dropped += int(self._tokens.shape[0])
        else:
            stats.documents_skipped += 1
            if len(stats.skipped_indices) < stats.MAX_SKIPPED_INDICES:
                stats.skipped_indices.append(self._doc_index)
            self._consecutive_skips += 1
            if self._consecutive_skips >= self.max_consecutive_skips:
                raise NoUsableDocumentsError(
                    f"{self._consecutive_skips} documents in a row were too short for every objective at "
                    f"sequence length {self.packer.sequence_length} (last: document {self._doc_index}); "
                    "check the source and the objectives' length settings"
                )
        self._tokens = _NO_TOKENS

    def _read_document(self) -> None:
        """Load the next document's tokens; the reader starts a source's next pass when it runs dry."""
        stats = self.stats
        while True:
            taken = self.reader.next()
            assert taken is not None  # a reader that rolls over always gives a document or raises
            d, doc = taken.domain, taken.document
            stats.epochs_completed += taken.passes_ended
            stats.domain_held_out[d] += taken.held_out
            stats.documents_read += 1
            stats.domain_documents[d] += 1
            self._doc_index, self._doc_domain, self._doc_used = int(doc.index), d, False
            self._doc_epoch = self.reader.pass_of(d)
            self._tokens = doc.token_ids(self.tokenizer)
            self._doc_length = int(self._tokens.shape[0])
            if self._tokens.shape[0]:
                return
            self._drop_tokens()  # an empty document: counted as skipped

    def _unusable_pass(self, where: str, documents: int, epoch: int) -> PipelineError:
        return NoUsableDocumentsError(
            f"none of the {documents} documents of the {where} in epoch {epoch} could make an example: all are "
            f"too short for every objective at sequence length {self.packer.sequence_length} (skipped e.g. "
            f"{self.stats.skipped_indices})"
        )

    def _emit(self) -> PackedBatch:
        batch = self.packer.pop()
        docs = np.array(self._batch_docs, dtype=np.int64).reshape(-1, 3)
        self.last_documents, self.last_document_domains = docs[:, :2].copy(), docs[:, 2].copy()
        self.last_domain_consumed = self._batch_domain_consumed
        self._batch_docs = []
        self._batch_domain_consumed = np.zeros_like(self.last_domain_consumed)
        self.stats.batches += 1
        self.stats.batch_positions += int(batch.input_ids.size)
        self.stats.positions += batch.arm_positions
        if self.mixture_unit == "tokens":
            self._refresh_weights()
        return batch

    # -- resume -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the exact stream: RNG, source position, the packer's open rows."""
        return {
            "version": _STATE_VERSION,
            "shard": (self.shard.index, self.shard.count),
            "rng": copy.deepcopy(self.rng.bit_generator.state),
            # per domain: its pass and the documents taken from it (resume skips exactly these)
            "reader": self.reader.state_dict(),
            # the current document by its place in the stream, never its tokens: a state stays a few KB
            # whatever the document's size; resuming reads and tokenizes that one document again
            "doc_length": self._doc_length,
            "tokens_left": int(self._tokens.shape[0]),
            "doc_index": self._doc_index,
            "doc_domain": self._doc_domain,
            "doc_epoch": self._doc_epoch,
            "doc_used": self._doc_used,
            "consecutive_skips": self._consecutive_skips,
            "batch_docs": list(self._batch_docs),
            "batch_domain_consumed": self._batch_domain_consumed.copy(),
            "mixture": self._mixture.copy(),
            "lengths": (self._length_sum.copy(), self._length_count.copy()),
            "packer": self.packer.state_dict(),
            "stats": self.stats.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise PipelineError(f"unknown pipeline state version {state.get('version')!r}")
        if tuple(state["shard"]) != (self.shard.index, self.shard.count):
            raise PipelineError(
                f"the state was saved by shard {tuple(state['shard'])}, this pipeline reads shard "
                f"{(self.shard.index, self.shard.count)}"
            )
        self.close()  # the sources are re-opened lazily, skipping the documents already read
        self.reader.load_state_dict(state["reader"])
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])
        self._doc_length = int(state["doc_length"])
        tokens_left = int(state["tokens_left"])
        self._doc_index = int(state["doc_index"])
        self._doc_domain = int(state["doc_domain"])
        self._doc_epoch = int(state["doc_epoch"])
        self._doc_used = bool(state["doc_used"])
        self._consecutive_skips = int(state["consecutive_skips"])
        self._batch_docs = [(int(e), int(i), int(d)) for e, i, d in state["batch_docs"]]
        self._batch_domain_consumed = np.array(state["batch_domain_consumed"], dtype=np.int64)
        length_sum, length_count = state["lengths"]
        self._length_sum = np.array(length_sum, dtype=np.float64)
        self._length_count = np.array(length_count, dtype=np.float64)
        self.set_mixture(state["mixture"])
        self.packer.load_state_dict(state["packer"])
        self.stats = PipelineStats.from_dict(state["stats"])
        self._tokens = _NO_TOKENS
        if tokens_left:
            self._reread_current_document(tokens_left)

    def _reread_current_document(self, tokens_left: int) -> None:
        """Position the reader after the current document and restore its unused tail of tokens.

        The reader re-reads the same shuffled (and hold-out filtered) stream, so this is the very document
        the state was saved in.
        """
        doc = self.reader.reread_current()
        tokens = doc.token_ids(self.tokenizer) if doc is not None else _NO_TOKENS
        if doc is None or int(doc.index) != self._doc_index or tokens.shape[0] != self._doc_length:
            found = "no document" if doc is None else f"document {doc.index} of {tokens.shape[0]} tokens"
            self.close()
            domain = f" of domain {self.domain_ids[self._doc_domain]!r}" if len(self.domain_ids) > 1 else ""
            raise PipelineError(
                f"cannot resume: the state was saved inside document {self._doc_index} ({self._doc_length} "
                f"tokens, epoch {self._doc_epoch}) of the {self.split!r} source{domain}, which now gives "
                f"{found} there; the source or the tokenizer changed since the state was saved"
            )
        self._tokens = tokens[self._doc_length - tokens_left :]

    def close(self) -> None:
        """Release the sources' iterators (a generator's ``finally`` blocks run now)."""
        self.reader.close()
