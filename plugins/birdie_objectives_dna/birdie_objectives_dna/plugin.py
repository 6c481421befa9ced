"""Hook implementations of the `dna` plugin (entry point `dna` in the group `birdie`).

Registered names are qualified by the namespace: `dna.<name>`. The objectives share their bare names with the
text plugin where the concept is the same (`infilling`, `autoencoding`, `selective_copying`, `deshuffling`);
with both plugins installed, write `dna.infilling`. Next-nucleotide prediction and prefix-LM are the core's
`next_token_prediction` and `prefix_lm`.
"""

from __future__ import annotations

from birdie_core import Register, hookimpl


@hookimpl
def birdie_register_tokenizers(register: Register) -> None:
    from birdie_objectives_dna.tokenizer import NucleotideTokenizer

    register("nucleotide", NucleotideTokenizer)


@hookimpl
def birdie_register_sources(register: Register) -> None:
    from birdie_objectives_dna.source import FastaSource

    register("fasta", FastaSource)


@hookimpl
def birdie_register_objectives(register: Register) -> None:
    from birdie_objectives_dna.objectives import OBJECTIVES

    for name, cls in OBJECTIVES.items():
        register(name, cls)
