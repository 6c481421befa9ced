"""Every text objective, in several configurations, passes the core's objective conformance suite.

Also run with a (tiny, offline) tiktoken tokenizer, whose re-encoding of shuffled text changes the number of
tokens, and with its reserved ids for sentinels and markers.
"""

from __future__ import annotations

from collections.abc import Sequence

from birdie_objectives_text import Autoencoding, Copying, Deshuffling, SelectiveCopying, SpanCorruption

from birdie_core.interfaces import Tokenizer
from birdie_core.testing import ObjectiveConformance

from .support import make_tokenizer


class _Tiktoken(ObjectiveConformance):
    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        return make_tokenizer("tiktoken", specials)


# -- infilling -----------------------------------------------------------------------------------------


class TestInfilling(ObjectiveConformance):
    objective = SpanCorruption(SpanCorruption.Config(name="infilling"))


class TestInfillingXDenoiser(ObjectiveConformance):
    objective = SpanCorruption(
        SpanCorruption.Config(
            name="infilling", corruption_rate=0.5, mean_span=64, paradigm="[X]", paradigm_at_end=0.5
        )
    )


class TestInfillingShortSpansWithLength(ObjectiveConformance):
    objective = SpanCorruption(
        SpanCorruption.Config(
            name="infilling", corruption_rate=0.05, mean_span=1, length=(8, 120), paradigm="[R]"
        )
    )


class TestInfillingTiktoken(_Tiktoken):
    # 64 sentinels only: long documents hit the cap on the number of spans
    objective = SpanCorruption(SpanCorruption.Config(name="infilling", corruption_rate=0.5, mean_span=1))


# -- copying -------------------------------------------------------------------------------------------


class TestCopying(ObjectiveConformance):
    objective = Copying(Copying.Config(name="copying"))


class TestCopyingWithLength(ObjectiveConformance):
    objective = Copying(
        Copying.Config(name="copying", length=(64, 256), paradigm="<|COPY|>", paradigm_at_end=0.5)
    )


# -- deshuffling ---------------------------------------------------------------------------------------


class TestDeshufflingCharacters(ObjectiveConformance):
    objective = Deshuffling(Deshuffling.Config(name="deshuffling"))


class TestDeshufflingAllCharacters(ObjectiveConformance):
    objective = Deshuffling(
        Deshuffling.Config(name="deshuffling", fraction=1.0, length=(128, 256), paradigm="[D]")
    )


class TestDeshufflingTokens(ObjectiveConformance):
    objective = Deshuffling(Deshuffling.Config(name="deshuffling", unit="tokens", fraction=0.5))


class TestDeshufflingCharactersTiktoken(_Tiktoken):
    objective = Deshuffling(Deshuffling.Config(name="deshuffling", fraction=1.0))


# -- autoencoding --------------------------------------------------------------------------------------


class TestAutoencoding(ObjectiveConformance):
    objective = Autoencoding(Autoencoding.Config(name="autoencoding"))


class TestAutoencodingHeavyShuffled(ObjectiveConformance):
    objective = Autoencoding(
        Autoencoding.Config(
            name="autoencoding", corruption_rate=0.85, mean_span=3, shuffle_spans=True, paradigm="[A]"
        )
    )


class TestAutoencodingLongSpansTiktoken(_Tiktoken):
    objective = Autoencoding(
        Autoencoding.Config(
            name="autoencoding", corruption_rate=0.15, mean_span=32, length=(192, 384), shuffle_spans=True
        )
    )


# -- selective copying ---------------------------------------------------------------------------------


class TestSelectiveCopying(ObjectiveConformance):
    objective = SelectiveCopying(SelectiveCopying.Config(name="selective_copying"))


class TestSelectiveCopyingManySpans(ObjectiveConformance):
    objective = SelectiveCopying(
        SelectiveCopying.Config(
            name="selective_copying",
            spans=(3, 4),
            length=(128, 256),
            paradigm="<|SC|>",
            instruction_at_end=1.0,
        )
    )


class TestSelectiveCopyingTiktoken(_Tiktoken):
    objective = SelectiveCopying(SelectiveCopying.Config(name="selective_copying", span_length=(4, 8)))
