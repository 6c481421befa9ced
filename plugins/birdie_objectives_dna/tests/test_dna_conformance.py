"""Birdie's objective contract (birdie_core.testing) for every DNA objective, and for the core's
next-token prediction and prefix-LM used with the nucleotide tokenizer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from birdie_objectives_dna.objectives import (
    KmerDeshuffling,
    MotifSelectiveCopying,
    NucleotideAutoencoding,
    NucleotideInfilling,
    ReverseComplement,
)

from birdie_core.builtins.objectives import NextTokenPrediction, PrefixLM
from birdie_core.interfaces import TOKEN_DTYPE, Tokenizer
from birdie_core.testing import ObjectiveConformance

from .support import SAMPLE_SEQUENCES, nucleotide


class _Dna(ObjectiveConformance):
    documents = SAMPLE_SEQUENCES
    keep_soft_mask = False

    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        return nucleotide(specials, keep_soft_mask=self.keep_soft_mask)

    def leak_check_tokens(self, tokenizer: Tokenizer) -> np.ndarray | None:
        # random upper-case bases: no N run or soft-masked base for an objective to set aside; with four
        # letters the suite checks runs long enough that a match by chance is negligible
        bases = np.random.default_rng(0).choice(list("ACGT"), 512)
        return np.asarray(tokenizer.encode("".join(bases)), dtype=TOKEN_DTYPE)


class TestNextNucleotide(_Dna):
    objective = NextTokenPrediction(
        NextTokenPrediction.Config(name="next_token_prediction", paradigm="[NTP]")
    )


class TestPrefixLM(_Dna):
    objective = PrefixLM(PrefixLM.Config(name="prefix_lm", prefix_fraction=None))


class TestInfilling(_Dna):
    objective = NucleotideInfilling(NucleotideInfilling.Config(name="infilling", paradigm="[R]"))


class TestInfillingHeavyShortSpansRc(_Dna):
    objective = NucleotideInfilling(
        NucleotideInfilling.Config(
            name="infilling", corruption_rate=0.5, mean_span=8, length=(64, 512), rc_augment=0.5
        )
    )


class TestInfillingSoftMask(_Dna):
    keep_soft_mask = True
    objective = NucleotideInfilling(
        NucleotideInfilling.Config(name="infilling", mean_span=64, rc_augment=1.0)
    )


class TestAutoencoding(_Dna):
    objective = NucleotideAutoencoding(NucleotideAutoencoding.Config(name="autoencoding", paradigm="[AE]"))


class TestAutoencodingShuffledRc(_Dna):
    objective = NucleotideAutoencoding(
        NucleotideAutoencoding.Config(
            name="autoencoding", corruption_rate=0.85, mean_span=8, shuffle_spans=True, rc_augment=0.5
        )
    )


class TestReverseComplement(_Dna):
    objective = ReverseComplement(ReverseComplement.Config(name="reverse_complement", paradigm="[RC]"))


class TestReverseComplementSoftMaskRc(_Dna):
    keep_soft_mask = True
    objective = ReverseComplement(
        ReverseComplement.Config(name="reverse_complement", length=(16, 128), rc_augment=0.5)
    )


class TestSelectiveCopying(_Dna):
    objective = MotifSelectiveCopying(MotifSelectiveCopying.Config(name="selective_copying", paradigm="[SC]"))


class TestSelectiveCopyingManyMotifsRc(_Dna):
    objective = MotifSelectiveCopying(
        MotifSelectiveCopying.Config(
            name="selective_copying", spans=(2, 4), span_length=(8, 64), length=(200, 900), rc_augment=0.5
        )
    )


class TestDeshuffling(_Dna):
    objective = KmerDeshuffling(KmerDeshuffling.Config(name="deshuffling", paradigm="[D]"))


class TestDeshufflingHalfOfLongBlocksRc(_Dna):
    objective = KmerDeshuffling(
        KmerDeshuffling.Config(name="deshuffling", block=32, fraction=0.5, length=(64, 1024), rc_augment=0.5)
    )


# The DNA objectives also run on any character-level tokenizer: with the byte tokenizer the suite's
# leak-check document holds distinct ids, so even a single copied base would show.
class _DnaBytes(ObjectiveConformance):
    documents = SAMPLE_SEQUENCES


class TestInfillingBytesLeakCheck(_DnaBytes):
    objective = NucleotideInfilling(NucleotideInfilling.Config(name="infilling", corruption_rate=0.5))


class TestReverseComplementBytesLeakCheck(_DnaBytes):
    objective = ReverseComplement(ReverseComplement.Config(name="reverse_complement", rc_augment=0.5))
