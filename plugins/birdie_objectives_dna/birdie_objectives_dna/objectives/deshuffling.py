"""``deshuffling``: a window whose k-mer blocks are partly permuted → the window as it was."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from birdie_core.interfaces import Example, ObjectiveContext
from birdie_core.tools.noise import segment_gather_index
from birdie_objectives_dna.alphabet import Alphabet
from birdie_objectives_dna.objectives._base import DnaObjective, DnaObjectiveConfig, clean_stretch, room

__all__ = ["KmerDeshuffling", "block_order"]


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


class KmerDeshuffling(DnaObjective):
    """Input: an N-free window cut into blocks of ``block`` bases (k-mers), a ``fraction`` of the blocks
    permuted among themselves. Target: the window as it was.

    Only whole blocks are consumed (the window is rounded down to a multiple of ``block``; the rest of the
    document goes to the next example) and at least two, so the input is always a permutation of the
    target's blocks, and never the identity permutation. Costs ``2n`` positions.
    """

    copies_input = True  # the input holds the target's blocks, in another order

    class Config(DnaObjectiveConfig):
        block: int = Field(8, ge=1, le=4096, description="Bases per shuffled block (the k of the k-mers).")
        fraction: float = Field(
            1.0, gt=0.0, le=1.0, description="Share of the blocks that are permuted (paper: 0.5 or 1.0)."
        )

        @model_validator(mode="after")
        def _length_holds_two_blocks(self) -> KmerDeshuffling.Config:
            if self.length is not None and self.length[1] < 2 * self.block:
                raise ValueError(
                    f"length max {self.length[1]} cannot hold two blocks of {self.block} bases: nothing to "
                    f"shuffle"
                )
            return self

    @property
    def min_tokens(self) -> int:
        return 2 * self.config.block  # type: ignore[attr-defined]

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        block = self.config.block  # type: ignore[attr-defined]
        minimum = 2 * block
        available = min(tokens.shape[0], room(self, budget) // 2)
        if available < minimum:
            return None, tokens
        n = max(minimum, self.draw_length(available, ctx))
        alphabet = Alphabet.of(ctx.tokenizer)
        stretch = clean_stretch(tokens, n, minimum, alphabet)
        if stretch is None:
            return None, tokens
        start, end = stretch
        num_blocks = (end - start) // block
        end = start + num_blocks * block
        window = self.augment(tokens[start:end], alphabet, ctx)
        order = block_order(num_blocks, self.config.fraction, ctx.rng)  # type: ignore[attr-defined]
        shuffled = window[segment_gather_index(order * block, np.full(num_blocks, block))]
        return self.make_example(shuffled, window, ctx, consumed=end), tokens[end:]
