"""The core objectives: ``next_token_prediction`` and ``prefix_lm``.

Both work on slices of the tokenized document (no per-token Python loop) and return the unused tail, so a
long document feeds many successive examples and is tokenized only once.

Budget accounting follows :class:`~birdie_core.interfaces.Example`: an example occupies
``len(prefix) + len(target) - 1`` positions, because the last target token is only ever a label.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field

from birdie_core.interfaces import ConfigFloat, Example, Objective, ObjectiveConfig, ObjectiveContext

__all__ = ["NextTokenPrediction", "NextTokenPredictionConfig", "PrefixLM", "PrefixLMConfig"]


def _max_consumable(objective: Objective[Any], tokens: np.ndarray, budget: int) -> int:
    """Most document tokens one example may take: prefix markers + n - 1 positions must fit ``budget``."""
    return min(int(tokens.shape[0]), budget - objective.overhead + 1)


class NextTokenPredictionConfig(ObjectiveConfig):
    """Parameters of ``next_token_prediction``: only those every objective has."""


class NextTokenPrediction(Objective[NextTokenPredictionConfig]):
    """True next-token prediction: no document token in the input, loss on every token of the text.

    The prefix is only ``[paradigm] [start]``; the target is the next ``n`` document tokens. (The original
    project's "next token prediction" put the text in the input too, which made it a copying task.)
    """

    Config = NextTokenPredictionConfig
    #: an example needs at least this many target tokens: one label alone teaches next to nothing
    MIN_TARGET = 2
    #: fewer document tokens than ``MIN_TARGET`` make no example
    min_document_tokens = MIN_TARGET

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        available = _max_consumable(self, tokens, budget)
        if available < self.MIN_TARGET:
            return None, tokens
        n = max(self.MIN_TARGET, self.draw_length(available, ctx))
        example = self.make_example(tokens[:0], tokens[:n], ctx, consumed=n)
        return example, tokens[n:]


class PrefixLMConfig(ObjectiveConfig):
    """Parameters of ``prefix_lm``: where the prefix ends."""

    prefix_fraction: Annotated[ConfigFloat, Field(gt=0.0, lt=1.0)] | None = Field(
        0.75,
        description="Share of the consumed tokens that goes to the prefix; null = uniform random split.",
    )


class PrefixLM(Objective[PrefixLMConfig]):
    """Prefix language modelling (UL2's S-denoiser): the head of a span is the input, the rest the target.

    ``n`` tokens are consumed; the first ``round(n * prefix_fraction)`` (clamped to ``[1, n - 1]``) form the
    prefix body and the others the target, so both sides are never empty. ``prefix_fraction: null`` draws
    the split point uniformly from ``1 .. n - 1``.
    """

    Config = PrefixLMConfig
    #: one token for each side
    min_document_tokens = 2

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        available = _max_consumable(self, tokens, budget)
        if available < 2:  # one token cannot be split into a non-empty prefix and target
            return None, tokens
        n = max(2, self.draw_length(available, ctx))
        fraction = self.config.prefix_fraction
        if fraction is None:
            k = int(ctx.rng.integers(1, n))
        else:
            k = min(max(round(n * fraction), 1), n - 1)
        example = self.make_example(tokens[:k], tokens[k:n], ctx, consumed=n)
        return example, tokens[n:]
