"""The DNA objectives (SPEC §1, DNA part). Next-nucleotide prediction and prefix-LM are the core's own
``next_token_prediction`` and ``prefix_lm`` used with the ``nucleotide`` tokenizer; they are not copied here."""

from __future__ import annotations

from birdie_objectives_dna.objectives._base import DnaObjective, DnaObjectiveConfig
from birdie_objectives_dna.objectives.autoencoding import NucleotideAutoencoding
from birdie_objectives_dna.objectives.deshuffling import KmerDeshuffling
from birdie_objectives_dna.objectives.infilling import NucleotideInfilling
from birdie_objectives_dna.objectives.reverse_complement import ReverseComplement
from birdie_objectives_dna.objectives.selective_copying import MotifSelectiveCopying

__all__ = [
    "OBJECTIVES",
    "DnaObjective",
    "DnaObjectiveConfig",
    "KmerDeshuffling",
    "MotifSelectiveCopying",
    "NucleotideAutoencoding",
    "NucleotideInfilling",
    "ReverseComplement",
]

#: registered name → class (bare names shared with the text plugin where the concept is the same)
OBJECTIVES = {
    "infilling": NucleotideInfilling,
    "autoencoding": NucleotideAutoencoding,
    "reverse_complement": ReverseComplement,
    "selective_copying": MotifSelectiveCopying,
    "deshuffling": KmerDeshuffling,
}
