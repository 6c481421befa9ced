"""``copying``: read a slice of the text, then write it again."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import field_validator

from birdie_core import Example, Objective, ObjectiveConfig, ObjectiveContext
from birdie_core.tools import check_length_allows, copy_length

__all__ = ["Copying", "CopyingConfig"]

MIN_TOKENS = 4


class CopyingConfig(ObjectiveConfig):
    """Parameters of ``copying``: only those every objective has."""

    _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "copying"))


class Copying(Objective[CopyingConfig]):
    """Input: ``n`` document tokens. Target: the same ``n`` tokens.

    Every token is paid for twice (input and target), so at most ``(budget - markers + 1) // 2`` tokens are
    consumed. Fewer than 4 usable tokens make no example.
    """

    Config = CopyingConfig
    target_shares = "copy"
    MIN_TOKENS: ClassVar[int] = MIN_TOKENS
    min_document_tokens = MIN_TOKENS

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        n = copy_length(self, tokens, budget, ctx, MIN_TOKENS)
        if n < MIN_TOKENS:
            return None, tokens
        span = tokens[:n]
        return self.make_example(span, span, ctx, consumed=n), tokens[n:]
