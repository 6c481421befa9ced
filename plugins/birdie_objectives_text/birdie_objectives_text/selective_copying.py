"""``selective_copying``: copy the span(s) of a context that lie between given delimiters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import ValidationInfo, field_validator

from birdie_core.tools import Placement, SelectiveCopyingObjective, SelectiveCopyingObjectiveConfig

__all__ = ["SelectiveCopying", "SelectiveCopyingConfig", "find_answer"]

_MARKER_FIELDS = SelectiveCopyingObjectiveConfig.MARKER_FIELDS


class SelectiveCopyingConfig(SelectiveCopyingObjectiveConfig):
    """Parameters of the text ``selective_copying``: the core's, with the paper's defaults for text."""

    @field_validator("span_length")
    @classmethod
    def _span_within_length(cls, value: tuple[int, int], info: ValidationInfo) -> tuple[int, int]:
        length = info.data.get("length")
        if length is not None and value[0] + 2 > length[1]:
            raise ValueError(
                f"span_length min {value[0]} plus a delimiter on each side does not fit in a context of at "
                f"most {length[1]} tokens (length)"
            )
        return value

    @field_validator(*_MARKER_FIELDS)
    @classmethod
    def _distinct_markers(cls, value: str, info: ValidationInfo) -> str:
        others = {info.data.get(f) for f in ("paradigm", *_MARKER_FIELDS) if f != info.field_name}
        if value in others:
            raise ValueError(f"marker {value!r} is already used by another marker of this objective")
        return value


class SelectiveCopying(SelectiveCopyingObjective[SelectiveCopyingConfig]):
    """Input: one query per span plus the context; target: the spans, in the order of the queries.

    Layout (``[X]`` are reserved marker ids, the rest document tokens)::

        input   [COPY] [START] <start delimiter> [END] <end delimiter>   (once per span)
                [CONTEXT] <context>                                       (before or after the queries)
        target  <span 1> [DONE] <span 2> [DONE] …                         (one block per query, same order)

    Example: context ``A B C D E F``, span ``D E``, start delimiter ``B C``, end delimiter ``F`` → input
    ``[COPY] [START] B C [END] F [CONTEXT] A B C D E F``, target ``D E [DONE]``. The queries come in a
    random order (not the order of the spans in the context); with probability ``instruction_at_end`` they
    follow the context instead of preceding it.

    **Every query is answerable, with exactly one answer.** A reader finds the span as: start right after
    the only occurrence of the start delimiter in the context, stop right before the first occurrence of the
    end delimiter that begins at or after that point. The objective makes this true by construction:

    1. the context (``length`` tokens, drawn and capped at the document and the budget) is fixed **before**
       any span is chosen, with room reserved for the longest queries and answers, so it is never cut after
       a span was picked (the original project's bug, which left a third of its queries unanswerable);
    2. a span of ``span_length`` tokens is placed at random with at least ``delimiter_length[0]`` context
       tokens before and after it, not overlapping a span already chosen;
    3. the start delimiter (the tokens just before the span, drawn from ``delimiter_length``) is grown to
       the left, up to ``delimiter_length[1]`` tokens, until it occurs exactly once in the context;
    4. the end delimiter (the tokens just after the span) is grown to the right, up to the same maximum,
       until it occurs nowhere in the context between the span's start and its end;
    5. when either cannot be made to identify the span, another position is tried (``max_attempts`` per
       span); spans that find no position are dropped, and with fewer than ``spans[0]`` spans left there is
       no example (a repetitive text such as whitespace has no unique delimiters).

    ``spans``, ``span_length`` and ``delimiter_length`` are hard limits; when the budget or the document
    is too small for the drawn spans, they are first shortened to ``span_length[0]``, then fewer are asked
    for, never fewer than ``spans[0]``.
    """

    Config = SelectiveCopyingConfig

    def place(
        self, context: np.ndarray, length: int, chosen: Sequence[Placement], rng: np.random.Generator
    ) -> Placement | None:
        """A position and delimiters that identify a span of ``length`` tokens; None after max_attempts.

        Delimiters are found with ``bytes.find`` over the context's bytes, at whole-token offsets.
        """
        raw, width, c = context.tobytes(), context.itemsize, context.shape[0]
        dmin, dmax = self.config.delimiter_length
        last_start = c - length - dmin
        if last_start < dmin:
            return None
        span = last_start - dmin + 1
        sizes = dmax - dmin + 1
        for _ in range(self.config.max_attempts):
            u_a, u_1, u_2 = rng.random(3).tolist()
            a = dmin + int(u_a * span)
            b = a + length
            if any(a < e and s < b for s, e, _, _ in chosen):
                continue
            d1 = _unique_start_delimiter(raw, width, a, min(dmin + int(u_1 * sizes), a), min(dmax, a))
            if d1 is None:
                continue
            d2 = _identifying_end_delimiter(
                raw, width, a, b, min(dmin + int(u_2 * sizes), c - b), min(dmax, c - b)
            )
            if d2 is None:
                continue
            return a, b, d1, d2
        return None


def _aligned_find(raw: bytes, pattern: bytes, width: int, start: int, end: int, skip: int = -1) -> int:
    """Byte offset of the first occurrence of ``pattern`` in ``raw[start:end]`` that begins at a whole token
    (a multiple of ``width``) other than ``skip``; -1 when there is none."""
    p = raw.find(pattern, start, end)
    while p != -1 and (p % width or p == skip):
        p = raw.find(pattern, p + 1, end)
    return p


def _unique_start_delimiter(raw: bytes, width: int, a: int, d: int, d_max: int) -> int | None:
    """The shortest length in ``[d, d_max]`` of the delimiter ``context[a - length : a]`` that occurs once in
    the context; None when even ``d_max`` tokens occur elsewhere too.

    A longer delimiter never occurs more often than its tail, so the first unique length is the answer.
    ``bytes.find`` over the context's bytes (matches accepted only at whole-token offsets) does each check.
    """
    end = a * width
    for j in range(d, d_max + 1):
        at = end - j * width
        if _aligned_find(raw, raw[at:end], width, 0, len(raw), skip=at) == -1:
            return j
    return None


def _identifying_end_delimiter(raw: bytes, width: int, a: int, b: int, d: int, d_max: int) -> int | None:
    """The shortest length in ``[d, d_max]`` of ``context[b : b + length]`` such that it starts nowhere in
    ``[a, b)``; None when even ``d_max`` tokens do."""
    for j in range(d, d_max + 1):
        pattern = raw[b * width : (b + j) * width]
        # an occurrence starting at a token in [a, b) ends at most (b - 1 + j) tokens in
        if _aligned_find(raw, pattern, width, a * width, (b - 1 + j) * width) == -1:
            return j
    return None


def find_answer(
    context: np.ndarray, start_delimiter: np.ndarray, end_delimiter: np.ndarray
) -> np.ndarray | None:
    """What a reader answers to a query: the tokens after the only occurrence of ``start_delimiter`` up to the
    first occurrence of ``end_delimiter`` at or after that point; None when the query has no single answer.

    A plain reference implementation, independent of the generator: the tests check every query with it.
    """
    context = np.asarray(context)
    d1, d2 = start_delimiter.shape[0], end_delimiter.shape[0]
    if d1 == 0 or d2 == 0 or context.shape[0] < d1:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(context, d1)
    hits = np.flatnonzero((windows == start_delimiter).all(axis=1))
    if hits.shape[0] != 1:
        return None
    a = int(hits[0]) + d1
    rest = context[a:]
    if rest.shape[0] < d2:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(rest, d2)
    ends = np.flatnonzero((windows == end_delimiter).all(axis=1))
    if ends.shape[0] == 0:
        return None
    return rest[: int(ends[0])]
