"""Shared by the DNA plugin's tests: paths, real and awkward sequences, a tokenizer factory, FASTA writing."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from birdie_objectives_dna.genomes import genome_path
from birdie_objectives_dna.tokenizer import NucleotideTokenizer

ROOT = Path(__file__).resolve().parents[3]  # the repository
PLUGIN = Path(__file__).resolve().parents[1]


def lambda_sequence() -> str:
    with gzip.open(genome_path("lambda"), "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">"))


LAMBDA = lambda_sequence()


def _sample_sequences() -> tuple[str, ...]:
    """Real DNA of varied length, plus the cases DNA objectives must survive: N runs, soft-masking,
    ambiguity codes, repeats, too-short documents."""
    rng = np.random.default_rng(0)
    real = [LAMBDA[i : i + n] for i, n in ((0, 300), (5000, 1500), (20000, 4000), (40000, 64), (30000, 17))]
    with_n = LAMBDA[1000:1400] + "N" * 30 + LAMBDA[1400:1700] + "N" + LAMBDA[1700:1800] + "NNNNN"
    n_start = "N" * 50 + LAMBDA[3000:3600]
    soft = LAMBDA[6000:6200] + LAMBDA[6200:6500].lower() + LAMBDA[6500:6700]
    iupac = LAMBDA[7000:7300] + "RYKMSWBDHV" + LAMBDA[7300:7500]
    scattered = "".join(c if rng.random() > 0.05 else "N" for c in LAMBDA[9000:10000])
    repeat = "ACGT" * 200
    homopolymer = "A" * 300
    return (
        "",
        "A",
        "ACGTN",
        "NNNNNNNNNNNNNNNNNNNN",
        *real,
        with_n,
        n_start,
        soft,
        iupac,
        scattered,
        repeat,
        homopolymer,
    )


SAMPLE_SEQUENCES: tuple[str, ...] = _sample_sequences()


def nucleotide(specials: Sequence[str] = ("<|start|>",), keep_soft_mask: bool = False) -> NucleotideTokenizer:
    return NucleotideTokenizer(
        NucleotideTokenizer.Config(name="nucleotide", keep_soft_mask=keep_soft_mask), list(specials)
    )


def write_fasta(path: Path, records: Sequence[tuple[str, str]], width: int = 60, eol: str = "\n") -> Path:
    """Write ``(header, sequence)`` records (gzip when the name ends in .gz)."""
    lines = []
    for header, seq in records:
        lines.append(">" + header)
        lines += [seq[i : i + width] for i in range(0, len(seq), width)] if width else [seq]
    data = (eol.join(lines) + eol).encode()
    path.write_bytes(gzip.compress(data, 1) if path.name.endswith(".gz") else data)
    return path

