"""``infilling``: T5 span corruption with unique sentinel ids (UL2's R- and X-denoisers)."""

from __future__ import annotations

from pydantic import field_validator

from birdie_core.tools import InfillingObjective, SpanNoiseConfig, check_length_allows, check_mean_span_fits

__all__ = ["SpanCorruption", "SpanCorruptionConfig"]

MIN_TOKENS = InfillingObjective.MIN_TOKENS


class SpanCorruptionConfig(SpanNoiseConfig):
    """Parameters of ``infilling``: the core's span noise, in tokens."""

    _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "infilling"))

    _span_fits = field_validator("mean_span")(check_mean_span_fits("tokens"))


class SpanCorruption(InfillingObjective[SpanCorruptionConfig]):
    """Input: the text with each noise span replaced by its own sentinel (``<mask_0>``, ``<mask_1>``, …).
    Target: each sentinel followed by the span it replaced.

    ``n`` document tokens are consumed (drawn from ``length``, then shrunk to fit the budget); the noise
    follows T5 (:mod:`birdie_core.tools.noise`): ``round(n * corruption_rate)`` noise tokens in
    ``max(1, round(noise / mean_span))`` spans, the text starting with a kept run and ending with a noise
    span. The example costs ``n + 2 * spans`` positions (plus the markers): each span adds its sentinel to
    both sides. Sentinels are reserved tokenizer ids; when a document would need more spans than the
    tokenizer has sentinels, the number of spans is capped at the number of sentinels and the same noise is
    spread over fewer, longer spans. Fewer than 8 usable tokens make no example.
    """

    Config = SpanCorruptionConfig
