"""``infilling``: T5 span corruption on nucleotides, spans measured in bases and never on an N."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from birdie_core.interfaces import Example, ObjectiveContext
from birdie_core.tools.noise import random_spans, replace_spans_with_sentinels, sentinel_corruption
from birdie_core.tools.objectives import check_mean_span_fits, sentinel_corruption_cost
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import (
    DnaObjective,
    DnaObjectiveConfig,
    check_length_allows,
    fit_length,
    noise_mask_avoiding,
    room,
)

__all__ = ["NucleotideInfilling"]

MIN_TOKENS = 8


class NucleotideInfilling(DnaObjective):
    """Input: the window with each noise span replaced by its own sentinel (``<mask_0>``, ``<mask_1>``, …).
    Target: each sentinel followed by the bases it replaced.

    The noise is T5's (:mod:`birdie_core.tools.noise`) with spans in nucleotides — at one token per base, spans of
    8–64 nt are what 3-token spans are for text, so the default mean span is 16. ``n`` bases are consumed
    (drawn from ``length``, then shrunk to fit the budget: the example costs ``n + 2 * spans`` positions).

    N's stay in the input but never in a target: a noise span that covers an N shrinks to its longest part
    without one (vanishing when it has none), so a window mostly of N can have less noise than asked, and one
    whose every span falls on N makes no example. Fewer than 8 usable bases make no example.
    """

    MIN_TOKENS = MIN_TOKENS

    class Config(DnaObjectiveConfig):
        corruption_rate: float = Field(
            0.15, gt=0.0, lt=1.0, description="Share of the consumed bases that are noise (T5: 0.15)."
        )
        mean_span: float = Field(16.0, ge=1.0, description="Mean length of a noise span in nucleotides.")

        _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "infilling"))

        _span_fits = field_validator("mean_span")(check_mean_span_fits("bases"))

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
        alphabet = Alphabet.of(ctx.tokenizer)
        window = self.augment(tokens[:n], alphabet, ctx)
        spans = random_spans(n, rate, mean, ctx.rng, max_spans=sentinels.shape[0])
        forbidden = alphabet.n_mask(window)
        if forbidden.any():
            mask = noise_mask_avoiding(spans, forbidden)
            if not mask.any():
                return None, tokens
            inputs, targets = replace_spans_with_sentinels(window, mask, sentinels)
        else:
            inputs, targets = sentinel_corruption(window, spans, sentinels)
        return self.make_example(inputs, targets, ctx, consumed=n), tokens[n:]
