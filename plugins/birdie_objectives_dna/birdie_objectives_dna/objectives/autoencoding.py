"""``autoencoding``: BART text infilling on nucleotides — spans replaced by one mask marker → the window."""

from __future__ import annotations

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from birdie_core.interfaces import Example, ObjectiveContext
from birdie_core.tools.noise import marker_corruption, random_spans
from birdie_core.tools.objectives import check_mean_span_fits, marker_corruption_cost
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import (
    DnaObjective,
    DnaObjectiveConfig,
    MarkerName,
    check_length_allows,
    clean_stretch,
    fit_length,
    room,
)

__all__ = ["NucleotideAutoencoding"]

MIN_TOKENS = 8


class NucleotideAutoencoding(DnaObjective):
    """Input: an N-free window with each noise span replaced by one ``mask_marker`` (the same id for every
    span, so the model must also infer each gap's length). Target: the whole window.

    Noise as in ``infilling`` (T5 spans, in nucleotides; default mean 16). An example of ``n`` bases costs
    ``2n - noise + spans`` positions. ``shuffle_spans: true`` also puts the units "kept run + the mask after
    it" in a random order (the paper's autoencoding + deshuffling). The target is the window itself, so the
    window has no N (see :func:`~birdie_objectives_dna.objectives._base.clean_stretch`). Fewer than 8 usable
    bases make no example.
    """

    copies_input = True  # the kept bases are in the input and in the target by design
    MIN_TOKENS = MIN_TOKENS

    class Config(DnaObjectiveConfig):
        corruption_rate: float = Field(
            0.15,
            gt=0.0,
            lt=1.0,
            description="Share of the consumed bases that are masked (paper: 0.15, 0.85).",
        )
        mean_span: float = Field(16.0, ge=1.0, description="Mean length of a masked span in nucleotides.")
        shuffle_spans: bool = Field(
            False, description="Also shuffle the order of the unmasked spans (autoencoding + deshuffling)."
        )
        mask_marker: MarkerName = Field(
            "[MASK]", description="Name of the reserved marker that replaces a span."
        )

        _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "autoencoding"))

        _span_fits = field_validator("mean_span")(check_mean_span_fits("bases"))

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
        alphabet = Alphabet.of(ctx.tokenizer)
        stretch = clean_stretch(tokens, n, MIN_TOKENS, alphabet)
        if stretch is None:
            return None, tokens
        start, end = stretch
        end = start + fit_length(end - start, cost, limit)  # a shorter stretch never costs more; be sure
        if end - start < MIN_TOKENS:
            return None, tokens
        window = self.augment(tokens[start:end], alphabet, ctx)
        spans = random_spans(end - start, rate, mean, ctx.rng)
        marker = ctx.tokenizer.special_id(cfg.mask_marker)  # type: ignore[attr-defined]
        shuffle = cfg.shuffle_spans and spans.num_spans > 1  # type: ignore[attr-defined]
        order = ctx.rng.permutation(spans.num_spans) if shuffle else None
        inputs = marker_corruption(window, spans, marker, order)
        return self.make_example(inputs, window, ctx, consumed=end), tokens[end:]
