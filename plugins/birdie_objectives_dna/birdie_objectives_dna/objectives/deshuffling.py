"""``deshuffling``: a window whose k-mer blocks are partly permuted → the window as it was."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from birdie_core import ConfigFloat, ConfigInt, Example, ObjectiveContext
from birdie_core.tools import copy_length, segment_gather_index
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import DnaObjective, DnaObjectiveConfig, clean_stretch

__all__ = ["KmerDeshuffling", "KmerDeshufflingConfig", "block_order"]


def block_order(num_blocks: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``range(num_blocks)`` that moves ``max(2, round(num_blocks * fraction))`` randomly
    chosen blocks among their own places, never leaving all of them where they were."""
    order = np.arange(num_blocks)
    if num_blocks < 2:
        return order
    k = min(max(round(num_blocks * fraction), 2), num_blocks)
    chosen = rng.choice(num_blocks, k, replace=False) if k < num_blocks else order.copy()
    perm = rng.permutation(k)
    if np.array_equal(perm, np.arange(k)):  # the identity would be no task at all: rotate instead
        perm = np.roll(perm, 1)
    order[chosen] = chosen[perm]
    return order


class KmerDeshufflingConfig(DnaObjectiveConfig):
    """Parameters of the DNA ``deshuffling``: the block size and the share of blocks permuted."""

    block: ConfigInt = Field(8, ge=1, le=4096, description="Bases per shuffled block (the k of the k-mers).")
    fraction: ConfigFloat = Field(
        1.0, gt=0.0, le=1.0, description="Share of the blocks that are permuted (paper: 0.5 or 1.0)."
    )

    @model_validator(mode="after")
    def _length_holds_two_blocks(self) -> KmerDeshufflingConfig:
        if self.length is not None and self.length[1] < 2 * self.block:
            raise ValueError(
                f"length max {self.length[1]} cannot hold two blocks of {self.block} bases: nothing to "
                f"shuffle"
            )
        return self


class KmerDeshuffling(DnaObjective[KmerDeshufflingConfig]):
    """Input: an N-free window cut into blocks of ``block`` bases (k-mers), a ``fraction`` of the blocks
    permuted among themselves. Target: the window as it was.

    Only whole blocks are consumed (the window is rounded down to a multiple of ``block``; the rest of the
    document goes to the next example) and at least two, so the input is always a permutation of the
    target's blocks, and never the identity permutation. Costs ``2n`` positions.
    """

    Config = KmerDeshufflingConfig
    target_shares = "permutation"  # the input holds the target's blocks, in another order

    @property
    def min_tokens(self) -> int:
        return 2 * self.config.block

    @property
    def min_document_tokens(self) -> int:
        return self.min_tokens

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        block = self.config.block
        minimum = 2 * block
        n = copy_length(self, tokens, budget, ctx, minimum)
        if n < minimum:
            return None, tokens
        alphabet = Alphabet.of(ctx.tokenizer)
        stretch = clean_stretch(tokens, n, minimum, alphabet)
        if stretch is None:
            return None, tokens
        start, end = stretch
        num_blocks = (end - start) // block
        end = start + num_blocks * block
        window = self.augment(tokens[start:end], alphabet, ctx)
        order = block_order(num_blocks, self.config.fraction, ctx.rng)
        shuffled = window[segment_gather_index(order * block, np.full(num_blocks, block))]
        return self.make_example(shuffled, window, ctx, consumed=end), tokens[end:]
