"""``reverse_complement``: a stretch of DNA → its reverse complement (the other strand, 5' to 3')."""

from __future__ import annotations

import numpy as np
from pydantic import field_validator

from birdie_core.interfaces import Example, ObjectiveContext
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import (
    DnaObjective,
    DnaObjectiveConfig,
    check_length_allows,
    clean_stretch,
    room,
)

__all__ = ["ReverseComplement"]

MIN_TOKENS = 8


class ReverseComplement(DnaObjective):
    """Input: an N-free window of ``n`` bases. Target: its reverse complement (``A↔T``, ``C↔G``, read
    backwards; soft-masked bases stay soft-masked with ``keep_soft_mask``).

    Costs ``2n`` positions, so at most ``(budget - markers + 1) // 2`` bases are consumed. Fewer than 8
    usable bases make no example. With ``rc_augment`` the input is itself reverse-complemented first, so the
    target is then the window as read.
    """

    MIN_TOKENS = MIN_TOKENS

    class Config(DnaObjectiveConfig):
        _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "reverse_complement"))

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        available = min(tokens.shape[0], room(self, budget) // 2)
        if available < MIN_TOKENS:
            return None, tokens
        n = max(MIN_TOKENS, self.draw_length(available, ctx))
        alphabet = Alphabet.of(ctx.tokenizer)
        stretch = clean_stretch(tokens, n, MIN_TOKENS, alphabet)
        if stretch is None:
            return None, tokens
        start, end = stretch
        window = self.augment(tokens[start:end], alphabet, ctx)
        return self.make_example(window, alphabet.reverse_complement(window), ctx, consumed=end), tokens[end:]
