"""``associative_recall``: recall the value stored under a key, given a list of key-value pairs.

The core has no associative-recall training objective, so this format is the task's own::

    kqf=41 mlz=09 tto=13 bav=77     <- the pairs: distinct 3-letter keys, values of `digits` digits
    mlz=                            <- the query: one of the keys (the prompt ends here)
    09                              <- answer: its value

Scored by exact match of the answer's tokens. Chance: 1 / pairs for a model that copies a value of the list
at random (a uniform guess over all values would be far lower).
"""

from __future__ import annotations

import string
from typing import ClassVar

import numpy as np
from pydantic import Field

from birdie_core.evals.tasks import Instance, Task, TaskConfig
from birdie_core.interfaces import ConfigInt

__all__ = ["AssociativeRecall", "AssociativeRecallConfig"]

_LETTERS = string.ascii_lowercase
_KEY_LETTERS = 3
_KEYS = len(_LETTERS) ** _KEY_LETTERS


class AssociativeRecallConfig(TaskConfig):
    """Parameters of ``associative_recall``."""

    pairs: ConfigInt = Field(8, ge=1, le=4096, description="Key-value pairs in the list.")
    digits: ConfigInt = Field(2, ge=1, le=16, description="Digits of every value.")


class AssociativeRecall(Task[AssociativeRecallConfig]):
    """Key-value recall; exact match."""

    name: ClassVar[str] = "associative_recall"
    Config = AssociativeRecallConfig

    def make(self, rng: np.random.Generator, index: int) -> Instance:
        cfg = self.config
        codes = rng.choice(_KEYS, size=cfg.pairs, replace=False).tolist()
        keys = ["".join(_LETTERS[(c // 26**j) % 26] for j in range(_KEY_LETTERS)) for c in codes]
        values = [
            "".join(map(str, row)) for row in rng.integers(0, 10, size=(cfg.pairs, cfg.digits)).tolist()
        ]
        asked = int(rng.integers(cfg.pairs))
        pairs = " ".join(f"{k}={v}" for k, v in zip(keys, values))
        return Instance(self.name, index, (f"{pairs}\n{keys[asked]}=",), (values[asked],))

    def chance(self) -> float:
        return 1.0 / self.config.pairs
