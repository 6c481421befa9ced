"""``best_fit``: packs examples into ``batch_size`` open rows, each example into the fullest row it fits.

Algorithm. The packer keeps one open batch of ``batch_size`` rows and the fill level of each row.

- :meth:`BestFitPacker.budget` is the largest free space over the open rows, so an objective may build the
  longest example that still fits somewhere (next-token prediction then fills that space exactly).
- :meth:`BestFitPacker.add` puts the example into the row with the *smallest* free space that still holds
  it (best fit), which keeps roomy rows free for long examples. Writing is a handful of slice assignments
  per example; there is no per-token Python loop.
- The batch is ready once every row is "full": fewer than ``min_space`` free positions, or at least
  ``min_fill`` of the row used. With the defaults a 512-position row is ready at <= 2 free positions
  (>= 99.6 % used), a 2048-position row at <= 10.

Layout of one example (``p = len(prefix)``, ``t = len(target)``) starting at column ``s`` of a row::

    input_ids      prefix[0] … prefix[p-1]  target[0] … target[t-2]
    label_ids      -100 … -100  target[0]   target[1] … target[t-1]     (label of position i = token i+1)
    attention_mask 1 … 1                    0 … 0
    segment_ids    k … k (k = 1, 2, … per example in the row; 0 = padding)
    position_ids   0 … p + t - 2

Padding (right): input the tokenizer's pad id (``batch.pad_id``; 0 for ``bytes`` and ``tiktoken``), label
-100, attention 0, segment 0, position 0. Where padding is, is ``segment_ids == 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from birdie_core.interfaces import (
    IGNORE_INDEX,
    PAD_ID,
    TOKEN_DTYPE,
    ConfigFloat,
    ConfigInt,
    Example,
    PackedBatch,
    Packer,
    PackerConfig,
)

__all__ = ["BestFitPacker", "BestFitPackerConfig"]


class BestFitPackerConfig(PackerConfig):
    """Parameters of ``best_fit``: when a row counts as full."""

    min_fill: ConfigFloat = Field(
        0.995, gt=0.0, le=1.0, description="A row counts as full once at least this share of it is used."
    )
    min_space: ConfigInt = Field(
        3,
        ge=1,
        description="A row also counts as full when fewer positions than this are free (the shortest "
        "useful example: start marker + two target tokens).",
    )


class BestFitPacker(Packer[BestFitPackerConfig]):
    """Best-fit packing into a fixed (batch_size, sequence_length) batch; see the module docstring."""

    Config = BestFitPackerConfig

    # the open batch, set by _reset (declared here because add() and pop() come first in this class)
    _fill: list[int]
    _nseg: list[int]
    _budget: int
    _seg_arms: np.ndarray
    _arm_positions: np.ndarray
    _arm_consumed: np.ndarray
    _examples: int

    def __init__(
        self,
        config: BestFitPackerConfig,
        batch_size: int,
        sequence_length: int,
        num_arms: int,
        *,
        pad_id: int = PAD_ID,
    ):
        super().__init__(config, batch_size, sequence_length, num_arms, pad_id=pad_id)
        if batch_size < 1 or sequence_length < 1 or num_arms < 1:
            raise ValueError(
                f"best_fit needs batch_size, sequence_length and num_arms >= 1, got "
                f"{batch_size}, {sequence_length}, {num_arms}"
            )
        # a row with at most this many free positions is full
        self._full_free = max(config.min_space - 1, int((1.0 - config.min_fill) * sequence_length + 1e-9))
        self._positions = np.arange(sequence_length, dtype=TOKEN_DTYPE)
        self._totals = {"batches": 0, "examples": 0, "positions": 0, "filled": 0}
        self._reset()

    # -- the Packer contract --------------------------------------------------------------------------
    # Fill levels, segment counts and the budget are plain Python ints: budget() and ready() run for every
    # example, and a numpy reduction over eight rows costs more than the Python loop it would replace.
    def budget(self) -> int:
        return self._budget

    def ready(self) -> bool:
        return self._budget <= self._full_free

    def add(self, example: Example, arm: int) -> None:
        prefix, target = example.prefix, example.target
        p, t = prefix.shape[0], target.shape[0]
        n = p + t - 1
        if p < 1 or t < 1:
            raise ValueError(f"an example needs a non-empty prefix and target, got {p} and {t} tokens")
        if not 0 <= arm < self.num_arms:
            raise ValueError(f"arm {arm} out of range for {self.num_arms} arms")
        length = self.sequence_length
        fill = self._fill
        row, tightest = -1, length + 1
        for r, f in enumerate(fill):  # best fit: the row with the least free space that still holds n
            free = length - f
            if n <= free < tightest:
                row, tightest = r, free
        if row < 0:
            raise ValueError(f"example of length {n} does not fit: budget is {self._budget}")
        s = fill[row]
        e, b = s + n, s + p  # end of the example, first target position
        self._input[row, s:b] = prefix
        self._input[row, b:e] = target[:-1]
        self._label[row, b - 1 : e] = target  # labels before b - 1 stay IGNORE_INDEX from the reset
        self._attn[row, s:b] = 1
        seg = self._nseg[row] + 1
        self._seg[row, s:e] = seg
        self._pos[row, s:e] = self._positions[:n]
        if seg > self._seg_arms.shape[1]:  # grow the per-segment arm table geometrically
            grown = np.full((self.batch_size, 2 * self._seg_arms.shape[1]), -1, dtype=TOKEN_DTYPE)
            grown[:, : self._seg_arms.shape[1]] = self._seg_arms
            self._seg_arms = grown
        self._seg_arms[row, seg - 1] = arm
        self._nseg[row] = seg
        fill[row] = e
        if length - s == self._budget:  # the roomiest row got fuller: the budget may shrink
            self._budget = length - min(fill)
        self._arm_positions[arm] += n
        self._arm_consumed[arm] += example.consumed
        self._examples += 1

    def pop(self) -> PackedBatch:
        width = max(1, max(self._nseg))
        batch = PackedBatch(
            input_ids=self._input,
            label_ids=self._label,
            attention_mask=self._attn,
            segment_ids=self._seg,
            position_ids=self._pos,
            segment_arms=self._seg_arms[:, :width].copy(),
            arm_positions=self._arm_positions,
            arm_consumed=self._arm_consumed,
            pad_id=self.pad_id,
        )
        filled = sum(self._fill)
        self._totals["batches"] += 1
        self._totals["examples"] += self._examples
        self._totals["positions"] += self.batch_size * self.sequence_length
        self._totals["filled"] += filled
        self._reset()  # fresh arrays: the emitted batch owns the old ones, no copy needed
        return batch

    # -- reporting and resume -------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, float]:
        """Cumulative over every popped batch: batches, examples, positions, filled, efficiency."""
        out: dict[str, float] = dict(self._totals)
        out["efficiency"] = (
            self._totals["filled"] / self._totals["positions"] if self._totals["positions"] else 0.0
        )
        return out

    def state_dict(self) -> dict[str, Any]:
        """The open batch and the counters, as plain numpy arrays and ints (pickle-friendly).

        An empty open batch (the state between two batches, which is when workers snapshot it) is saved as
        ``None`` rather than as five arrays of padding.
        """
        state: dict[str, Any] = {"shape": (self.batch_size, self.sequence_length, self.num_arms)}
        state["open"] = (
            None if self._examples == 0 else {k: getattr(self, "_" + k).copy() for k in self._OPEN}
        )
        state["fill"] = list(self._fill)
        state["nseg"] = list(self._nseg)
        state["examples"] = self._examples
        state["totals"] = dict(self._totals)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        shape = tuple(state["shape"])
        if shape != (self.batch_size, self.sequence_length, self.num_arms):
            raise ValueError(
                f"packer state is for (batch_size, sequence_length, num_arms) = {shape}, this packer is "
                f"{(self.batch_size, self.sequence_length, self.num_arms)}"
            )
        self._reset()
        open_batch = state["open"] if "open" in state else {k: state[k] for k in self._OPEN}  # older format
        for k, v in (open_batch or {}).items():
            setattr(self, "_" + k, np.array(v, copy=True))
        self._fill = [int(f) for f in state["fill"]]
        self._nseg = [int(n) for n in state["nseg"]]
        self._budget = self.sequence_length - min(self._fill)
        self._examples = int(state["examples"])
        self._totals = {k: int(v) for k, v in state["totals"].items()}

    #: the arrays of the open batch (saved only when it holds an example)
    _OPEN = ("input", "label", "attn", "seg", "pos", "seg_arms", "arm_positions", "arm_consumed")

    def _reset(self) -> None:
        shape = (self.batch_size, self.sequence_length)
        self._input = np.full(shape, self.pad_id, dtype=TOKEN_DTYPE)
        self._label = np.full(shape, IGNORE_INDEX, dtype=TOKEN_DTYPE)
        self._attn = np.zeros(shape, dtype=TOKEN_DTYPE)
        self._seg = np.zeros(shape, dtype=TOKEN_DTYPE)
        self._pos = np.zeros(shape, dtype=TOKEN_DTYPE)
        self._fill = [0] * self.batch_size  # used positions of each row
        self._nseg = [0] * self.batch_size  # segments in each row
        self._budget = self.sequence_length
        self._seg_arms = np.full((self.batch_size, 8), -1, dtype=TOKEN_DTYPE)
        self._arm_positions = np.zeros(self.num_arms, dtype=np.int64)
        self._arm_consumed = np.zeros(self.num_arms, dtype=np.int64)
        self._examples = 0
