"""``reverse_complement``: a stretch of DNA → its reverse complement (the other strand, 5' to 3')."""

from __future__ import annotations

import numpy as np
from pydantic import field_validator

from birdie_core import Example, ObjectiveContext
from birdie_core.tools import copy_length
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import (
    DnaObjective,
    DnaObjectiveConfig,
    check_length_allows,
    clean_stretch,
)

__all__ = ["ReverseComplement", "ReverseComplementConfig"]

MIN_TOKENS = DnaObjective.MIN_TOKENS


class ReverseComplementConfig(DnaObjectiveConfig):
    """Parameters of ``reverse_complement``: only those every DNA objective has."""

    _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "reverse_complement"))


class ReverseComplement(DnaObjective[ReverseComplementConfig]):
    """Input: an N-free window of ``n`` bases. Target: its reverse complement (``A↔T``, ``C↔G``, read
    backwards; soft-masked bases stay soft-masked with ``keep_soft_mask``).

    Costs ``2n`` positions, so at most ``(budget - markers + 1) // 2`` bases are consumed. Fewer than 8
    usable bases make no example. With ``rc_augment`` the input is itself reverse-complemented first, so the
    target is then the window as read.
    """

    Config = ReverseComplementConfig

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        n = copy_length(self, tokens, budget, ctx, self.MIN_TOKENS)
        if n < self.MIN_TOKENS:
            return None, tokens
        alphabet = Alphabet.of(ctx.tokenizer)
        stretch = clean_stretch(tokens, n, self.MIN_TOKENS, alphabet)
        if stretch is None:
            return None, tokens
        start, end = stretch
        window = self.augment(tokens[start:end], alphabet, ctx)
        return self.make_example(window, alphabet.reverse_complement(window), ctx, consumed=end), tokens[end:]
