"""Selective copying over any kind of token, written once: copy the spans of a context that lie between
given delimiters.

Layout (``[X]`` are reserved marker ids, the rest document tokens)::

    input   [COPY] [START] <start delimiter> [END] <end delimiter>   (once per span)
            [CONTEXT] <context>                                       (before or after the queries)
    target  <span 1> [DONE] <span 2> [DONE] …                         (one block per query, same order)

:class:`SelectiveCopyingObjective` sizes the example and lays it out; a subclass decides where a span may go
and which delimiters identify it (:meth:`~SelectiveCopyingObjective.place`), since what makes a delimiter
unique depends on the tokens (words repeat, four nucleotides repeat far more). The context is fixed
**before** any span is chosen, with room reserved for every query and answer at their longest, so it is
never cut after a span was picked (the original project's bug, which left a third of its queries
unanswerable).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar, TypeVar

import numpy as np
from pydantic import Field

from birdie_core.interfaces import (
    TOKEN_DTYPE,
    ConfigFloat,
    ConfigInt,
    Example,
    Objective,
    ObjectiveConfig,
    ObjectiveContext,
)
from birdie_core.tools.objectives import IntRange, MarkerName, room

__all__ = ["Placement", "SelectiveCopyingObjective", "SelectiveCopyingObjectiveConfig"]

#: where a span is and what identifies it: ``(start, end, start delimiter length, end delimiter length)``,
#: the delimiters being ``context[start - d1 : start]`` and ``context[end : end + d2]``
Placement = tuple[int, int, int, int]


class SelectiveCopyingObjectiveConfig(ObjectiveConfig):
    """Parameters every selective-copying objective accepts (the defaults are the paper's, for text)."""

    #: the fields naming the five markers, in the order :meth:`SelectiveCopyingObjective.build` uses them
    MARKER_FIELDS: ClassVar[tuple[str, ...]] = (
        "copy_marker",
        "start_marker",
        "end_marker",
        "context_marker",
        "done_marker",
    )

    spans: IntRange = Field((1, 4), description="[min, max] spans to copy per example (paper: 1..4).")
    span_length: IntRange = Field((4, 32), description="[min, max] tokens per span (paper: 4..32).")
    delimiter_length: IntRange = Field(
        (1, 8),
        description="[min, max] tokens of each delimiter (paper: 1..8); grown up to max to be unique.",
    )
    instruction_at_end: ConfigFloat = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Probability that the queries follow the context instead of preceding it.",
    )
    max_attempts: ConfigInt = Field(8, ge=1, description="Positions tried per span before it is dropped.")
    copy_marker: MarkerName = Field("[COPY]", description="Marker opening each query.")
    start_marker: MarkerName = Field("[START]", description="Marker before the start delimiter.")
    end_marker: MarkerName = Field("[END]", description="Marker before the end delimiter.")
    context_marker: MarkerName = Field("[CONTEXT]", description="Marker before the context.")
    done_marker: MarkerName = Field("[DONE]", description="Marker closing each answer in the target.")


SelectiveCopyingConfigT = TypeVar("SelectiveCopyingConfigT", bound=SelectiveCopyingObjectiveConfig)


class SelectiveCopyingObjective(Objective[SelectiveCopyingConfigT]):
    """Input: one query per span plus the context; target: the spans, in the order of the queries.

    ``build`` draws ``spans`` span lengths from ``span_length`` (:meth:`draw_span_lengths`); when the budget or
    the document is too small for them, they are first shortened to ``span_length[0]``, then fewer are asked
    for, never fewer than ``spans[0]``. It then draws the context's length from ``length`` and takes the
    context (:meth:`stretch`, :meth:`prepare`), places each span (:meth:`place`; spans that find no place are
    dropped, and with fewer than ``spans[0]`` left there is no example) and puts the queries before the
    context, or after it with probability ``instruction_at_end``.
    """

    target_shares = "copy"  # the answer is in the context by design

    @property
    def min_document_tokens(self) -> int:
        """``spans[0]`` spans of ``span_length[0]`` tokens, each between delimiters of ``delimiter_length[0]``."""
        cfg = self.config
        return cfg.spans[0] * (cfg.span_length[0] + 2 * cfg.delimiter_length[0])

    def special_tokens(self) -> tuple[str, ...]:
        cfg = self.config
        return (*super().special_tokens(), *(getattr(cfg, f) for f in cfg.MARKER_FIELDS))

    @abstractmethod
    def place(
        self, context: np.ndarray, length: int, chosen: Sequence[Placement], rng: np.random.Generator
    ) -> Placement | None:
        """Where a span of ``length`` tokens goes in ``context`` and delimiters of ``delimiter_length`` that
        identify it, not overlapping the spans ``chosen`` so far; None after ``max_attempts`` tries."""

    def draw_span_lengths(self, rng: np.random.Generator) -> list[int]:
        """How many spans (from ``spans``) and their lengths (from ``span_length``), uniformly."""
        (smin, smax), (lmin, lmax) = self.config.spans, self.config.span_length
        # uniform integers from rng.random(): one call for all the draws of a step (rng.integers costs more
        # per call than the rest of a span's placement)
        count = smin + int(rng.random() * (smax - smin + 1))
        return [lmin + int(u * (lmax - lmin + 1)) for u in rng.random(count).tolist()]

    def stretch(self, tokens: np.ndarray, c: int, ctx: ObjectiveContext) -> tuple[int, int] | None:
        """``(start, end)`` of the context in ``tokens``, given that ``c`` tokens fit: the first ``c`` here.

        Override to use a shorter stretch further on (the tokens before it are consumed without being used),
        long enough for the spans, or return None for no example.
        """
        return 0, c

    def prepare(self, context: np.ndarray, ctx: ObjectiveContext) -> np.ndarray:
        """The context the spans are copied from, made from the consumed tokens: those tokens here."""
        return context

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        cfg = self.config
        rng = ctx.rng
        smin, lmin = cfg.spans[0], cfg.span_length[0]
        dmin, dmax = cfg.delimiter_length
        limit = room(self, budget) - 1  # [CONTEXT]
        available = tokens.shape[0]
        # every span's query and answer, reserved at their longest: [COPY] [START] [END] [DONE] + delimiters
        fixed = 4 + 2 * dmax

        def context_room(lengths: list[int]) -> int:
            return min(available, limit - sum(lengths) - fixed * len(lengths))

        def fits(lengths: list[int]) -> bool:
            return context_room(lengths) >= sum(lengths) + 2 * dmin

        lengths = self.draw_span_lengths(rng)
        if not fits(lengths):
            lengths = [lmin] * len(lengths)
            while len(lengths) > smin and not fits(lengths):
                lengths.pop()
            if not fits(lengths):
                return None, tokens
        c_max = context_room(lengths)
        c = min(max(self.draw_length(c_max, ctx), sum(lengths) + 2 * dmin), c_max)
        where = self.stretch(tokens, c, ctx)
        if where is None:
            return None, tokens
        start, end = where
        context = self.prepare(tokens[start:end], ctx)

        chosen: list[Placement] = []
        for length in lengths:  # at most spans[1] iterations
            found = self.place(context, length, chosen, rng)
            if found is not None:
                chosen.append(found)
        if len(chosen) < smin:
            return None, tokens

        ids = [ctx.tokenizer.special_id(getattr(cfg, f)) for f in cfg.MARKER_FIELDS]
        at_end = bool(rng.random() < cfg.instruction_at_end)
        body, target = _layout(context, chosen, ids, at_end)
        return self.make_example(body, target, ctx, consumed=end), tokens[end:]


def _layout(
    context: np.ndarray, chosen: Sequence[Placement], marker_ids: Sequence[int], at_end: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The body (queries and context, in the order ``at_end`` says) and the target of an example."""
    copy_id, start_id, end_id, context_id, done_id = marker_ids
    c = context.shape[0]
    # written into preallocated arrays: no list of small arrays to concatenate
    query = sum(3 + d1 + d2 for _, _, d1, d2 in chosen)  # [COPY] [START] d1 [END] d2
    body = np.empty(query + 1 + c, dtype=TOKEN_DTYPE)
    target = np.empty(sum(b - a + 1 for a, b, _, _ in chosen), dtype=TOKEN_DTYPE)
    at, i = (0, 1 + c) if at_end else (query, 0)  # where [CONTEXT] goes, where the queries start
    body[at] = context_id
    body[at + 1 : at + 1 + c] = context
    t = 0
    for a, b, d1, d2 in chosen:
        body[i], body[i + 1] = copy_id, start_id
        body[i + 2 : i + 2 + d1] = context[a - d1 : a]
        i += 2 + d1
        body[i] = end_id
        body[i + 1 : i + 1 + d2] = context[b : b + d2]
        i += 1 + d2
        target[t : t + b - a] = context[a:b]
        t += b - a
        target[t] = done_id
        t += 1
    return body, target
