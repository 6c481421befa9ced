"""``infilling``: T5 span corruption with unique sentinel ids (UL2's R- and X-denoisers)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from birdie_core.interfaces import Example, Objective, ObjectiveConfig, ObjectiveContext
from birdie_core.tools.noise import random_spans, sentinel_corruption
from birdie_core.tools.objectives import check_mean_span_fits, sentinel_corruption_cost
from birdie_objectives_text._common import check_length_allows, fit_length, room

__all__ = ["SpanCorruption"]

MIN_TOKENS = 8


class SpanCorruption(Objective):
    """Input: the text with each noise span replaced by its own sentinel (``<mask_0>``, ``<mask_1>``, …).
    Target: each sentinel followed by the span it replaced.

    ``n`` document tokens are consumed (drawn from ``length``, then shrunk to fit the budget); the noise
    follows T5 (:mod:`birdie_core.tools.noise`): ``round(n * corruption_rate)`` noise tokens in
    ``max(1, round(noise / mean_span))`` spans, the text starting with a kept run and ending with a noise
    span. The example costs ``n + 2 * spans`` positions (plus the markers): each span adds its sentinel to
    both sides. Sentinels are reserved tokenizer ids; when a document would need more spans than the
    tokenizer has sentinels, the number of spans is capped at the number of sentinels and the same noise is
    spread over fewer, longer spans. Fewer than 8 usable tokens make no example.
    """

    MIN_TOKENS: ClassVar[int] = MIN_TOKENS

    class Config(ObjectiveConfig):
        corruption_rate: float = Field(
            0.15, gt=0.0, lt=1.0, description="Share of the consumed tokens that are noise (T5: 0.15)."
        )
        mean_span: float = Field(3.0, ge=1.0, description="Mean length of a noise span in tokens (T5: 3).")

        _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "infilling"))

        _span_fits = field_validator("mean_span")(check_mean_span_fits("tokens"))

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        cfg = self.config
        rate, mean = cfg.corruption_rate, cfg.mean_span  # type: ignore[attr-defined]
        limit = room(self, budget)
        if min(tokens.shape[0], limit) < MIN_TOKENS:
            return None, tokens
        sentinels = ctx.tokenizer.sentinel_ids()
        if sentinels.shape[0] == 0:
            raise ValueError("infilling needs sentinel ids, but the tokenizer reserved none")

        cost = sentinel_corruption_cost(rate, mean, sentinels.shape[0])

        n = fit_length(max(MIN_TOKENS, self.draw_length(tokens.shape[0], ctx)), cost, limit)
        if n < MIN_TOKENS:
            return None, tokens
        spans = random_spans(n, rate, mean, ctx.rng, max_spans=sentinels.shape[0])
        inputs, targets = sentinel_corruption(tokens[:n], spans, sentinels)
        return self.make_example(inputs, targets, ctx, consumed=n), tokens[n:]
