"""``infilling``: T5 span corruption on nucleotides, spans measured in bases and never on an N."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from birdie_core import ConfigFloat, ObjectiveContext
from birdie_core.tools import InfillingObjective, SpanNoiseConfig, check_mean_span_fits
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import DnaObjective, DnaObjectiveConfig, check_length_allows

__all__ = ["NucleotideInfilling", "NucleotideInfillingConfig"]

MIN_TOKENS = InfillingObjective.MIN_TOKENS


class NucleotideInfillingConfig(SpanNoiseConfig, DnaObjectiveConfig):
    """Parameters of the DNA ``infilling``: the core's span noise, measured in nucleotides."""

    corruption_rate: ConfigFloat = Field(
        0.15, gt=0.0, lt=1.0, description="Share of the consumed bases that are noise (T5: 0.15)."
    )
    mean_span: ConfigFloat = Field(16.0, ge=1.0, description="Mean length of a noise span in nucleotides.")

    _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "infilling"))

    _span_fits = field_validator("mean_span")(check_mean_span_fits("bases"))


class NucleotideInfilling(
    DnaObjective[NucleotideInfillingConfig], InfillingObjective[NucleotideInfillingConfig]
):
    """Input: the window with each noise span replaced by its own sentinel (``<mask_0>``, ``<mask_1>``, …).
    Target: each sentinel followed by the bases it replaced.

    The noise is T5's (:mod:`birdie_core.tools.noise`) with spans in nucleotides — at one token per base, spans of
    8–64 nt are what 3-token spans are for text, so the default mean span is 16. ``n`` bases are consumed
    (drawn from ``length``, then shrunk to fit the budget: the example costs ``n + 2 * spans`` positions).

    N's stay in the input but never in a target: a noise span that covers an N shrinks to its longest part
    without one (vanishing when it has none), so a window mostly of N can have less noise than asked, and one
    whose every span falls on N makes no example. Fewer than 8 usable bases make no example.
    """

    Config = NucleotideInfillingConfig

    def protected(self, window: np.ndarray, ctx: ObjectiveContext) -> np.ndarray | None:
        return Alphabet.of(ctx.tokenizer).n_mask(window)
