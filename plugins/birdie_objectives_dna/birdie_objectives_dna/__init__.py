"""DNA for Birdie: nucleotide tokenizer, FASTA source, DNA objectives and two small real genomes.

Installed beside ``birdie-core`` it registers (namespace ``dna``): the tokenizer ``nucleotide``, the source
``fasta`` and the objectives ``infilling``, ``autoencoding``, ``reverse_complement``, ``selective_copying`` and
``deshuffling``. Everything here needs only ``birdie-core``.
"""

from __future__ import annotations

from birdie_objectives_dna.alphabet import Alphabet, reverse_complement_text
from birdie_objectives_dna.fasta import FastaError, scan_fasta
from birdie_objectives_dna.genomes import GENOMES, genome_path
from birdie_objectives_dna.objectives import (
    DnaObjective,
    DnaObjectiveConfig,
    KmerDeshuffling,
    MotifSelectiveCopying,
    NucleotideAutoencoding,
    NucleotideInfilling,
    ReverseComplement,
)
from birdie_objectives_dna.source import FastaSource
from birdie_objectives_dna.tokenizer import NucleotideTokenizer

__version__ = "0.1.0"

__all__ = [
    "GENOMES",
    "Alphabet",
    "DnaObjective",
    "DnaObjectiveConfig",
    "FastaError",
    "FastaSource",
    "KmerDeshuffling",
    "MotifSelectiveCopying",
    "NucleotideAutoencoding",
    "NucleotideInfilling",
    "NucleotideTokenizer",
    "ReverseComplement",
    "__version__",
    "genome_path",
    "reverse_complement_text",
    "scan_fasta",
]
