"""Two small real genomes shipped as package data (see README.md beside this file for their provenance).

``lambda``: enterobacteria phage lambda, NC_001416.1, 48,502 bp. ``t7``: enterobacteria phage T7, NC_001604.1,
39,937 bp. Use them with ``data: {train: {name: fasta, builtin: [lambda, t7]}}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

__all__ = ["GENOMES", "Genome", "genome_path"]


@dataclass(frozen=True)
class Genome:
    """One shipped genome."""

    name: str
    file: str
    accession: str
    organism: str
    length: int
    sha256: str  # of the sequence: upper-case, no header, no line breaks


GENOMES: dict[str, Genome] = {
    g.name: g
    for g in (
        Genome(
            "lambda",
            "lambda.fasta.gz",
            "NC_001416.1",
            "Enterobacteria phage lambda",
            48_502,
            "36432a40f602258d19ae7c8152ddbc30390b559f2859c01d7047c77b048c71b3",
        ),
        Genome(
            "t7",
            "t7.fasta.gz",
            "NC_001604.1",
            "Enterobacteria phage T7",
            39_937,
            "00ce104454ea06f9b47d6fba8e62499bfbff7e84bc17141665b96a80588a81fd",
        ),
    )
}


def genome_path(name: str) -> str:
    """File system path of a shipped genome (``lambda`` or ``t7``), inside the installed package."""
    try:
        genome = GENOMES[name]
    except KeyError:
        raise KeyError(f"no shipped genome {name!r}; shipped: {', '.join(GENOMES)}") from None
    return str(resources.files(__name__).joinpath(genome.file))
