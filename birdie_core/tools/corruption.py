"""Span-corruption objectives over any kind of token, written once: T5 infilling and BART autoencoding.

The text and DNA plugins register them with their own defaults and checks; a plugin for another kind of
token does the same::

    class ResidueInfillingConfig(SpanNoiseConfig):
        mean_span: ConfigFloat = Field(5.0, ge=1.0, description="Mean length of a noise span in residues.")

    class ResidueInfilling(InfillingObjective[ResidueInfillingConfig]):
        Config = ResidueInfillingConfig

Both draw T5's noise (:mod:`birdie_core.tools.noise`) from ``corruption_rate`` and ``mean_span``, consume
``n`` document tokens (drawn from ``length``, at least :attr:`~SpanNoiseObjective.MIN_TOKENS`, then shrunk
until the example fits the budget) and make no example from fewer. Three methods adapt them to a kind of
token without rewriting ``build``: :meth:`~SpanNoiseObjective.prepare` transforms the consumed tokens (the
DNA plugin's reverse-complement augmentation), :meth:`InfillingObjective.protected` names positions noise must
not cover (runs of ``N``), and :meth:`AutoencodingObjective.stretch` picks where the example's tokens are
when the head of the document will not do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from birdie_core.interfaces import ConfigFloat, Example, Objective, ObjectiveConfig, ObjectiveContext
from birdie_core.tools.noise import (
    marker_corruption,
    noise_mask_avoiding,
    random_spans,
    replace_spans_with_sentinels,
    sentinel_corruption,
)
from birdie_core.tools.objectives import (
    MarkerName,
    fit_length,
    marker_corruption_cost,
    room,
    sentinel_corruption_cost,
)

__all__ = [
    "AutoencodingObjective",
    "InfillingObjective",
    "MaskedSpansConfig",
    "SpanNoiseConfig",
    "SpanNoiseObjective",
]


class SpanNoiseConfig(ObjectiveConfig):
    """Parameters of T5 span noise: the share of the consumed tokens that is noise, and the spans' mean length."""

    corruption_rate: ConfigFloat = Field(
        0.15, gt=0.0, lt=1.0, description="Share of the consumed tokens that are noise (T5: 0.15)."
    )
    mean_span: ConfigFloat = Field(3.0, ge=1.0, description="Mean length of a noise span in tokens (T5: 3).")


class MaskedSpansConfig(SpanNoiseConfig):
    """Span noise whose spans are each replaced by the same mask marker (BART text infilling)."""

    shuffle_spans: bool = Field(
        False, description="Also shuffle the order of the unmasked spans (autoencoding + deshuffling)."
    )
    mask_marker: MarkerName = Field("[MASK]", description="Name of the reserved marker that replaces a span.")

    @field_validator("mask_marker")
    @classmethod
    def _not_the_paradigm(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("paradigm"):
            raise ValueError(f"the mask marker {value!r} must differ from the paradigm marker")
        return value


SpanNoiseConfigT = TypeVar("SpanNoiseConfigT", bound=SpanNoiseConfig)
MaskedSpansConfigT = TypeVar("MaskedSpansConfigT", bound=MaskedSpansConfig)


class SpanNoiseObjective(Objective[SpanNoiseConfigT]):
    """What infilling and autoencoding share: how many tokens to corrupt, and the tokens they work on."""

    #: fewest document tokens one example corrupts
    MIN_TOKENS: ClassVar[int] = 8

    @property
    def min_document_tokens(self) -> int:
        return self.MIN_TOKENS

    def prepare(self, window: np.ndarray, ctx: ObjectiveContext) -> np.ndarray:
        """The tokens the noise is drawn over, made from the consumed ``window``: the window itself here.

        Override to transform it (with ``ctx.rng`` for anything random); the result must have its length.
        """
        return window

    def noise_length(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext, cost: Callable[[int], int]
    ) -> int:
        """Document tokens to corrupt: drawn from ``length`` (at least :attr:`MIN_TOKENS`), then shrunk until
        ``cost`` of them fits the budget; less than :attr:`MIN_TOKENS` when no example fits."""
        limit = room(self, budget)
        if min(tokens.shape[0], limit) < self.MIN_TOKENS:
            return 0
        return fit_length(max(self.MIN_TOKENS, self.draw_length(tokens.shape[0], ctx)), cost, limit)


class InfillingObjective(SpanNoiseObjective[SpanNoiseConfigT]):
    """T5 span corruption. Input: the tokens with each noise span replaced by its own sentinel (``<mask_0>``,
    ``<mask_1>``, …). Target: each sentinel followed by the span it replaced.

    An example of ``n`` tokens costs ``n + 2 * spans`` positions (plus the markers): each span adds its
    sentinel to both sides. When a document would need more spans than the tokenizer has sentinels, the
    number of spans is capped at the number of sentinels and the same noise is spread over fewer, longer
    spans. A noise span over a :meth:`protected` position shrinks to its longest part without one (vanishing
    when it has none); when every span vanishes there is no example.
    """

    target_shares = "span"  # the prefix holds the text around the target's spans, never the spans

    def protected(self, window: np.ndarray, ctx: ObjectiveContext) -> np.ndarray | None:
        """Boolean mask of the positions of ``window`` that must not be noise (never a target); None: none."""
        return None

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        sentinels = ctx.tokenizer.sentinel_ids()
        if sentinels.shape[0] == 0:
            raise ValueError("infilling needs sentinel ids, but the tokenizer reserved none")
        rate, mean = self.config.corruption_rate, self.config.mean_span
        n = self.noise_length(tokens, budget, ctx, sentinel_corruption_cost(rate, mean, sentinels.shape[0]))
        if n < self.MIN_TOKENS:
            return None, tokens
        window = self.prepare(tokens[:n], ctx)
        spans = random_spans(n, rate, mean, ctx.rng, max_spans=sentinels.shape[0])
        protected = self.protected(window, ctx)
        if protected is None or not protected.any():
            inputs, targets = sentinel_corruption(window, spans, sentinels)
        else:
            mask = noise_mask_avoiding(spans, protected)
            if not mask.any():
                return None, tokens
            inputs, targets = replace_spans_with_sentinels(window, mask, sentinels)
        return self.make_example(inputs, targets, ctx, consumed=n), tokens[n:]


class AutoencodingObjective(SpanNoiseObjective[MaskedSpansConfigT]):
    """BART text infilling. Input: the tokens with each noise span replaced by one ``mask_marker`` (the same id
    for every span, so the model must also infer how long each gap was). Target: all the tokens.

    An example of ``n`` tokens costs ``2n - noise + spans`` positions (plus the markers). With a high rate and
    short spans (0.85 with a mean of 3) the spans are capped at the number of kept tokens, one kept token
    between two masks. ``shuffle_spans: true`` is the paper's "autoencoding + deshuffling": the input is cut
    into units, each a kept run followed by the mask that replaced the next noise span, and the units are put
    in a random order; the target stays the tokens in order.
    """

    target_shares = "copy"  # the kept tokens are in the input and in the target by design

    def special_tokens(self) -> tuple[str, ...]:
        return (*super().special_tokens(), self.config.mask_marker)

    def stretch(self, tokens: np.ndarray, n: int, ctx: ObjectiveContext) -> tuple[int, int] | None:
        """``(start, end)`` of the tokens the example corrupts, given that ``n`` fit: the first ``n`` here.

        Override to use a shorter stretch further on, of at least :attr:`MIN_TOKENS` (the tokens before it
        are consumed without being used), or return None for no example.
        """
        return 0, n

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        cfg = self.config
        cost = marker_corruption_cost(cfg.corruption_rate, cfg.mean_span)
        n = self.noise_length(tokens, budget, ctx, cost)
        if n < self.MIN_TOKENS:
            return None, tokens
        where = self.stretch(tokens, n, ctx)
        if where is None:
            return None, tokens
        start, end = where
        if end - start != n:  # another stretch than the n tokens that fit: fit it again
            end = start + fit_length(end - start, cost, room(self, budget))
            if end - start < self.MIN_TOKENS:
                return None, tokens
        window = self.prepare(tokens[start:end], ctx)
        spans = random_spans(end - start, cfg.corruption_rate, cfg.mean_span, ctx.rng)
        marker = ctx.tokenizer.special_id(cfg.mask_marker)
        shuffle = cfg.shuffle_spans and spans.num_spans > 1
        order = ctx.rng.permutation(spans.num_spans) if shuffle else None
        inputs = marker_corruption(window, spans, marker, order)
        return self.make_example(inputs, window, ctx, consumed=end), tokens[end:]
