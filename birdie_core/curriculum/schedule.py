"""When the curriculum evaluates: ``curriculum.steps_between_evaluations``.

- An integer ``N``: at steps 0, N, 2N, ... Step 0 is included: its losses are the baseline the first
  rewards are measured against (rewards start at the second evaluation).
- A strictly increasing list: at exactly those steps, then on past its end with the gap between its last two
  entries (a one-element list evaluates once). The paper's schedule -- 10, 50, 250, 500, 1000, 1500, 2000,
  then every 1000 -- is :data:`PAPER_SCHEDULE`: ``[10, 50, 250, 500, 1000, 1500, 2000, 3000]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

__all__ = ["PAPER_SCHEDULE", "EvaluationSchedule"]

#: The Birdie paper's evaluation steps; past 3000 it goes on every 1000 steps.
PAPER_SCHEDULE: tuple[int, ...] = (10, 50, 250, 500, 1000, 1500, 2000, 3000)


class EvaluationSchedule:
    """Decides whether a training step is an evaluation step (see the module docstring)."""

    def __init__(self, spec: int | Sequence[int]):
        if isinstance(spec, bool):
            raise TypeError(f"an evaluation schedule is an integer >= 1 or a list of steps, got {spec!r}")
        if isinstance(spec, int):
            if spec < 1:
                raise ValueError(f"steps_between_evaluations must be >= 1, got {spec}")
            self.every: int | None = spec
            self.steps: tuple[int, ...] = ()
            self.then_every: int | None = None
            self._set: frozenset[int] = frozenset()
            return
        steps = tuple(int(s) for s in spec)
        if not steps or any(s < 0 for s in steps) or any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError(
                f"evaluation steps must be a non-empty, strictly increasing list >= 0, got {spec}"
            )
        self.every = None
        self.steps = steps
        self.then_every = steps[-1] - steps[-2] if len(steps) > 1 else None
        self._set = frozenset(steps)

    def __call__(self, step: int) -> bool:
        if step < 0:
            return False
        if self.every is not None:
            return step % self.every == 0
        if step <= self.steps[-1]:
            return step in self._set
        return self.then_every is not None and (step - self.steps[-1]) % self.then_every == 0

    def __repr__(self) -> str:
        if self.every is not None:
            return f"EvaluationSchedule(every={self.every})"
        return f"EvaluationSchedule(steps={list(self.steps)}, then_every={self.then_every})"
