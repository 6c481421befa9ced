"""``copying``: read a slice of the text, then write it again."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import field_validator

from birdie_core.interfaces import Example, Objective, ObjectiveConfig, ObjectiveContext
from birdie_objectives_text._common import check_length_allows, room

__all__ = ["Copying"]

MIN_TOKENS = 4


class Copying(Objective):
    """Input: ``n`` document tokens. Target: the same ``n`` tokens.

    Every token is paid for twice (input and target), so at most ``(budget - markers + 1) // 2`` tokens are
    consumed. Fewer than 4 usable tokens make no example.
    """

    copies_input = True
    MIN_TOKENS: ClassVar[int] = MIN_TOKENS

    class Config(ObjectiveConfig):
        _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "copying"))

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        available = min(tokens.shape[0], room(self, budget) // 2)
        if available < MIN_TOKENS:
            return None, tokens
        n = max(MIN_TOKENS, self.draw_length(available, ctx))
        span = tokens[:n]
        return self.make_example(span, span, ctx, consumed=n), tokens[n:]
