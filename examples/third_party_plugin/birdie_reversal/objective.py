"""A small objective: read a span of text, then write its tokens in reverse order.

It shows the whole contract an objective meets: a frozen pydantic config (unknown keys are errors), declared
before the objective and named by its ``Config`` attribute; ``Objective[ReverseConfig]`` so that
``self.config`` type-checks as that config; a ``build`` that works inside the token budget it is given and
hands back the unused rest of the document.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from birdie_core import ConfigInt, Example, Objective, ObjectiveConfig, ObjectiveContext


class ReverseConfig(ObjectiveConfig):
    """Parameters of ``reverse``."""

    min_tokens: ConfigInt = Field(2, ge=2, description="Shortest span worth reversing.")


class Reverse(Objective[ReverseConfig]):
    """Input: a span of the document. Target: the same tokens, last first."""

    Config = ReverseConfig
    target_shares = "permutation"  # the target is the input's tokens in reverse order

    @property
    def min_document_tokens(self) -> int:
        return self.config.min_tokens

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        # the span appears twice (input and target), minus the one position the last target token saves
        room = (budget - self.overhead + 1) // 2
        n = self.draw_length(min(room, len(tokens)), ctx)
        if n < self.config.min_tokens:
            return None, tokens
        span = tokens[:n]
        return self.make_example(span, span[::-1].copy(), ctx, consumed=n), tokens[n:]
