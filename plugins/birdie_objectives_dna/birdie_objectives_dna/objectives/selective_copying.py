"""``selective_copying``: copy the motif(s) of a DNA context that lie between given flanking k-mers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field, model_validator

from birdie_core import ConfigInt, ObjectiveContext
from birdie_core.tools import (
    IntRange,
    MarkerName,
    Placement,
    SelectiveCopyingObjective,
    SelectiveCopyingObjectiveConfig,
)
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import DnaObjective, DnaObjectiveConfig, clean_stretch

__all__ = [
    "MotifSelectiveCopying",
    "MotifSelectiveCopyingConfig",
    "find_motif",
    "unique_left_kmer",
    "unique_right_kmer",
]


class MotifSelectiveCopyingConfig(SelectiveCopyingObjectiveConfig, DnaObjectiveConfig):
    """Parameters of the DNA ``selective_copying``: motifs and flanking k-mers, in bases."""

    spans: IntRange = Field((1, 4), description="[min, max] motifs to copy per example (paper: 1..4).")
    span_length: IntRange = Field((8, 32), description="[min, max] bases per motif.")
    delimiter_length: IntRange = Field(
        (6, 16), description="[min, max] bases of each flanking k-mer; grown up to max to be unique."
    )
    max_attempts: ConfigInt = Field(8, ge=1, description="Positions tried per motif before it is dropped.")
    start_marker: MarkerName = Field("[START]", description="Marker before the start k-mer.")
    end_marker: MarkerName = Field("[END]", description="Marker before the end k-mer.")

    @model_validator(mode="after")
    def _consistent(self) -> MotifSelectiveCopyingConfig:
        names = [getattr(self, f) for f in self.MARKER_FIELDS] + ([self.paradigm] if self.paradigm else [])
        dupes = sorted({m for m in names if names.count(m) > 1})
        if dupes:
            raise ValueError(f"markers must differ from each other and from the paradigm: {dupes}")
        need = self.span_length[0] + 2 * self.delimiter_length[0]
        if self.length is not None and self.length[1] < need:
            raise ValueError(
                f"a context of at most {self.length[1]} bases (length) cannot hold a motif of "
                f"{self.span_length[0]} bases with a {self.delimiter_length[0]}-mer on each side"
            )
        return self


class MotifSelectiveCopying(
    DnaObjective[MotifSelectiveCopyingConfig], SelectiveCopyingObjective[MotifSelectiveCopyingConfig]
):
    """Input: one query per motif plus the context; target: the motifs, in the order of the queries.

    Layout (``[X]`` are reserved marker ids, the rest bases), the same as the text plugin's::

        input   [COPY] [START] <k-mer before the motif> [END] <k-mer after the motif>   (once per motif)
                [CONTEXT] <context>                                (before or after the queries)
        target  <motif 1> [DONE] <motif 2> [DONE] …

    **Every query has exactly one answer.** Both flanking k-mers are unique in the context: the start
    delimiter (the bases just before the motif) is grown leftwards and the end delimiter (the bases just
    after it) rightwards, from a length drawn from ``delimiter_length`` up to its maximum, until each occurs
    exactly once in the context. So the motif is what lies between the only occurrence of the start k-mer
    and the only occurrence of the end k-mer. (With four letters a k-mer must be about ``log4(context)``
    bases long to be unique: the default delimiters are 6–16 nt.) A motif position whose flanks cannot be
    made unique (a repeat) is abandoned for another (``max_attempts`` per motif); with fewer than
    ``spans[0]`` motifs placed there is no example.

    The context is an N-free stretch, fixed **before** any motif is chosen, with room reserved for the
    longest queries and answers, so it is never cut after a motif was picked. Motifs do not overlap.
    """

    Config = MotifSelectiveCopyingConfig

    @property
    def min_tokens(self) -> int:
        return self.config.span_length[0] + 2 * self.config.delimiter_length[0]

    @property
    def min_document_tokens(self) -> int:
        return self.config.spans[0] * self.min_tokens

    def draw_span_lengths(self, rng: np.random.Generator) -> list[int]:
        (smin, smax), (lmin, lmax) = self.config.spans, self.config.span_length
        return rng.integers(lmin, lmax + 1, size=int(rng.integers(smin, smax + 1))).tolist()

    def stretch(self, tokens: np.ndarray, c: int, ctx: ObjectiveContext) -> tuple[int, int] | None:
        return clean_stretch(tokens, c, self.min_tokens, Alphabet.of(ctx.tokenizer))

    def place(
        self, context: np.ndarray, length: int, chosen: Sequence[Placement], rng: np.random.Generator
    ) -> Placement | None:
        """A position and flanking k-mers that identify a motif of ``length`` bases; None after
        ``max_attempts`` tries."""
        dmin, dmax = self.config.delimiter_length
        c = context.shape[0]
        last_start = c - length - dmin
        if last_start < dmin:
            return None
        for _ in range(self.config.max_attempts):
            a = int(rng.integers(dmin, last_start + 1))
            b = a + length
            if any(a < e and s < b for s, e, _, _ in chosen):
                continue
            d1 = unique_left_kmer(context, a, min(int(rng.integers(dmin, dmax + 1)), a), min(dmax, a))
            if d1 is None:
                continue
            d2 = unique_right_kmer(
                context, b, min(int(rng.integers(dmin, dmax + 1)), c - b), min(dmax, c - b)
            )
            if d2 is None:
                continue
            return a, b, d1, d2
        return None


def unique_left_kmer(context: np.ndarray, a: int, k: int, k_max: int) -> int | None:
    """Length (``k <= length <= k_max``) of ``context[a - length : a]`` occurring exactly once in the context.

    Keeps the end of every occurrence, narrowed base by base as the k-mer grows leftwards (the candidates
    fall by about four per base, so this is cheaper than comparing every window at once). It stops at the
    first unique length: a longer k-mer ending at ``a`` is unique whenever a shorter one is.
    """
    ends = np.flatnonzero(context == context[a - 1]) + 1
    j = 1
    while j < k_max and ends.shape[0] > 1:  # unique at j: unique at every longer length too
        j += 1
        ends = ends[ends >= j]
        ends = ends[context[ends - j] == context[a - j]]
    return max(j, k) if ends.shape[0] == 1 else None


def unique_right_kmer(context: np.ndarray, b: int, k: int, k_max: int) -> int | None:
    """Length (``k <= length <= k_max``) of ``context[b : b + length]`` occurring exactly once in the context."""
    c = context.shape[0]
    starts = np.flatnonzero(context == context[b])
    j = 1
    while j < k_max and starts.shape[0] > 1:
        starts = starts[starts + j < c]
        starts = starts[context[starts + j] == context[b + j]]
        j += 1
    return max(j, k) if starts.shape[0] == 1 else None


def find_motif(context: np.ndarray, start_kmer: np.ndarray, end_kmer: np.ndarray) -> np.ndarray | None:
    """What a reader answers to a query: the bases between the only occurrence of ``start_kmer`` and the
    only occurrence of ``end_kmer`` after it; None when either is not unique or they are out of order.

    A plain reference implementation, independent of the generator: the tests check every query with it.
    """

    def only(kmer: np.ndarray) -> int | None:
        k = kmer.shape[0]
        if k == 0 or context.shape[0] < k:
            return None
        hits = np.flatnonzero((np.lib.stride_tricks.sliding_window_view(context, k) == kmer).all(axis=1))
        return int(hits[0]) if hits.shape[0] == 1 else None

    s, e = only(np.asarray(start_kmer)), only(np.asarray(end_kmer))
    if s is None or e is None or e < s + start_kmer.shape[0]:
        return None
    return context[s + start_kmer.shape[0] : e]
