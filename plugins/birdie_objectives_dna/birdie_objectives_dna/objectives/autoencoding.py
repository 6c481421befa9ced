"""``autoencoding``: BART text infilling on nucleotides — spans replaced by one mask marker → the window."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from birdie_core import ConfigFloat, ObjectiveContext
from birdie_core.tools import AutoencodingObjective, MaskedSpansConfig, check_mean_span_fits
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import (
    DnaObjective,
    DnaObjectiveConfig,
    check_length_allows,
    clean_stretch,
)

__all__ = ["NucleotideAutoencoding", "NucleotideAutoencodingConfig"]

MIN_TOKENS = AutoencodingObjective.MIN_TOKENS


class NucleotideAutoencodingConfig(MaskedSpansConfig, DnaObjectiveConfig):
    """Parameters of the DNA ``autoencoding``: the core's masked spans, measured in nucleotides."""

    corruption_rate: ConfigFloat = Field(
        0.15,
        gt=0.0,
        lt=1.0,
        description="Share of the consumed bases that are masked (paper: 0.15, 0.85).",
    )
    mean_span: ConfigFloat = Field(16.0, ge=1.0, description="Mean length of a masked span in nucleotides.")

    _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "autoencoding"))

    _span_fits = field_validator("mean_span")(check_mean_span_fits("bases"))


class NucleotideAutoencoding(
    DnaObjective[NucleotideAutoencodingConfig], AutoencodingObjective[NucleotideAutoencodingConfig]
):
    """Input: an N-free window with each noise span replaced by one ``mask_marker`` (the same id for every
    span, so the model must also infer each gap's length). Target: the whole window.

    Noise as in ``infilling`` (T5 spans, in nucleotides; default mean 16). An example of ``n`` bases costs
    ``2n - noise + spans`` positions. ``shuffle_spans: true`` also puts the units "kept run + the mask after
    it" in a random order (the paper's autoencoding + deshuffling). The target is the window itself, so the
    window has no N (see :func:`~birdie_objectives_dna.objectives._base.clean_stretch`). Fewer than 8 usable
    bases make no example.
    """

    Config = NucleotideAutoencodingConfig

    def stretch(self, tokens: np.ndarray, n: int, ctx: ObjectiveContext) -> tuple[int, int] | None:
        return clean_stretch(tokens, n, self.MIN_TOKENS, Alphabet.of(ctx.tokenizer))
