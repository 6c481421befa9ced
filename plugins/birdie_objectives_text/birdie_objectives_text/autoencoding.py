"""``autoencoding``: BART text infilling — spans replaced by one mask marker each → the whole original."""

from __future__ import annotations

from pydantic import Field, field_validator

from birdie_core import ConfigFloat
from birdie_core.tools import (
    AutoencodingObjective,
    MaskedSpansConfig,
    check_length_allows,
    check_mean_span_fits,
)

__all__ = ["Autoencoding", "AutoencodingConfig"]

MIN_TOKENS = AutoencodingObjective.MIN_TOKENS


class AutoencodingConfig(MaskedSpansConfig):
    """Parameters of ``autoencoding``: the core's masked spans, in tokens."""

    corruption_rate: ConfigFloat = Field(
        0.15,
        gt=0.0,
        lt=1.0,
        description="Share of the consumed tokens that are masked (paper: 0.15, 0.85).",
    )
    mean_span: ConfigFloat = Field(
        3.0, ge=1.0, description="Mean length of a masked span in tokens (paper: 3, 8, 32)."
    )

    _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "autoencoding"))

    _span_fits = field_validator("mean_span")(check_mean_span_fits("tokens"))


class Autoencoding(AutoencodingObjective[AutoencodingConfig]):
    """Input: the text with each noise span replaced by one ``mask_marker`` (the same id for every span, so
    the model must also infer how long each gap was). Target: the whole original slice.

    The noise is T5's (:mod:`birdie_core.tools.noise`): ``round(n * corruption_rate)`` noise tokens in
    ``max(1, round(noise / mean_span))`` spans; with a high rate and short spans (0.85 with a mean of 3)
    the spans are capped at the number of kept tokens, one kept token between two masks. An example of
    ``n`` document tokens costs ``2n - noise + spans`` positions (plus the markers).

    ``shuffle_spans: true`` is the paper's "autoencoding + deshuffling": the input is cut into units, each
    a kept run followed by the mask that replaced the next noise span, and the units are put in a random
    order; the target stays the original text. Fewer than 8 usable tokens make no example.
    """

    Config = AutoencodingConfig
