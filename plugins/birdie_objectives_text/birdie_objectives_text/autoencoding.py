"""``autoencoding``: BART text infilling — spans replaced by one mask marker each → the whole original."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from birdie_core.interfaces import Example, Objective, ObjectiveConfig, ObjectiveContext
from birdie_core.tools.noise import marker_corruption, random_spans
from birdie_core.tools.objectives import check_mean_span_fits, marker_corruption_cost
from birdie_objectives_text._common import MarkerName, check_length_allows, fit_length, room

__all__ = ["Autoencoding"]

MIN_TOKENS = 8


class Autoencoding(Objective):
    """Input: the text with each noise span replaced by one ``mask_marker`` (the same id for every span, so
    the model must also infer how long each gap was). Target: the whole original slice.

    The noise is T5's (:mod:`birdie_core.tools.noise`): ``round(n * corruption_rate)`` noise tokens in
    ``max(1, round(noise / mean_span))`` spans; with a high rate and short spans (0.85 with a mean of 3)
    the spans are capped at the number of kept tokens, one kept token between two masks. An example of
    ``n`` document tokens costs ``2n - noise + spans`` positions (plus the markers).

    ``shuffle_spans: true`` is the paper's "autoencoding + deshuffling": the input is cut into units, each
    a kept run followed by the mask that replaced the next noise span, and the units are put in a random
    order; the target stays the original text. Fewer than 8 usable tokens make no example.
    """

    copies_input = True  # the kept text is in the input and in the target by design
    MIN_TOKENS: ClassVar[int] = MIN_TOKENS

    class Config(ObjectiveConfig):
        corruption_rate: float = Field(
            0.15,
            gt=0.0,
            lt=1.0,
            description="Share of the consumed tokens that are masked (paper: 0.15, 0.85).",
        )
        mean_span: float = Field(
            3.0, ge=1.0, description="Mean length of a masked span in tokens (paper: 3, 8, 32)."
        )
        shuffle_spans: bool = Field(
            False, description="Also shuffle the order of the unmasked spans (autoencoding + deshuffling)."
        )
        mask_marker: MarkerName = Field(
            "[MASK]", description="Name of the reserved marker that replaces a span."
        )

        _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "autoencoding"))

        _span_fits = field_validator("mean_span")(check_mean_span_fits("tokens"))

        @field_validator("mask_marker")
        @classmethod
        def _not_the_paradigm(cls, value: str, info: ValidationInfo) -> str:
            if value == info.data.get("paradigm"):
                raise ValueError(f"the mask marker {value!r} must differ from the paradigm marker")
            return value

    def special_tokens(self) -> tuple[str, ...]:
        return (*super().special_tokens(), self.config.mask_marker)  # type: ignore[attr-defined]

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        cfg = self.config
        rate, mean = cfg.corruption_rate, cfg.mean_span  # type: ignore[attr-defined]
        limit = room(self, budget)
        if min(tokens.shape[0], limit) < MIN_TOKENS:
            return None, tokens

        cost = marker_corruption_cost(rate, mean)

        n = fit_length(max(MIN_TOKENS, self.draw_length(tokens.shape[0], ctx)), cost, limit)
        if n < MIN_TOKENS:
            return None, tokens
        span = tokens[:n]
        spans = random_spans(n, rate, mean, ctx.rng)
        marker = ctx.tokenizer.special_id(cfg.mask_marker)  # type: ignore[attr-defined]
        shuffle = cfg.shuffle_spans and spans.num_spans > 1  # type: ignore[attr-defined]
        order = ctx.rng.permutation(spans.num_spans) if shuffle else None
        inputs = marker_corruption(span, spans, marker, order)
        return self.make_example(inputs, span, ctx, consumed=n), tokens[n:]
