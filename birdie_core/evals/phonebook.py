"""``phonebook``: multi-phone-number retrieval, in the layout of the Birdie paper's evaluation.

Layout (one entry per line; the prompt ends after the second query line, the answer follows it)::

    Ada Quill, Bo Rand          <- the k names to look up, comma-separated
    Cy Marsh: 40417             <- the book: N entries "name: number", in random order
    Ada Quill: 93120
    ...
    Bo Rand: 55802
    Ada Quill, Bo Rand          <- the same k names again
    93120,55802                 <- answer: their numbers, in the order asked, comma-separated

Names are a first and a last name from fixed lists (every name of a book different), numbers have exactly
``digits`` digits (leading zeros allowed), both drawn from the instance's seed. Scored by digit accuracy
(:func:`digit_accuracy`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from birdie_core.evals.tasks import Instance, Task, TaskConfig
from birdie_core.interfaces import ConfigInt

__all__ = ["FIRST_NAMES", "LAST_NAMES", "Phonebook", "PhonebookConfig", "digit_accuracy"]

FIRST_NAMES = [
    "Ada",
    "Alma",
    "Amos",
    "Anna",
    "Arlo",
    "Bea",
    "Ben",
    "Bo",
    "Cara",
    "Cy",
    "Dale",
    "Dina",
    "Eli",
    "Emma",
    "Ezra",
    "Faye",
    "Finn",
    "Gail",
    "Gus",
    "Hana",
    "Hugo",
    "Ida",
    "Ivan",
    "Jade",
    "Joel",
    "June",
    "Kai",
    "Kira",
    "Lars",
    "Lena",
    "Lou",
    "Mae",
    "Max",
    "Mira",
    "Ned",
    "Nia",
    "Noel",
    "Olga",
    "Omar",
    "Opal",
    "Pia",
    "Quin",
    "Rae",
    "Remy",
    "Rosa",
    "Saul",
    "Sela",
    "Tess",
    "Theo",
    "Uma",
    "Vera",
    "Wade",
    "Wren",
    "Yara",
    "Yves",
    "Zane",
    "Zoe",
]
LAST_NAMES = [
    "Abbot",
    "Acre",
    "Baird",
    "Birch",
    "Blake",
    "Brook",
    "Carey",
    "Cole",
    "Crane",
    "Dale",
    "Drake",
    "Dunn",
    "Eaton",
    "Ellis",
    "Ford",
    "Frost",
    "Gale",
    "Grant",
    "Hale",
    "Hart",
    "Hayes",
    "Holt",
    "Ives",
    "Jolly",
    "Kane",
    "Keller",
    "Lane",
    "Lund",
    "Marsh",
    "Moss",
    "Nash",
    "North",
    "Oakes",
    "Page",
    "Park",
    "Pike",
    "Quill",
    "Rand",
    "Reed",
    "Rowe",
    "Sage",
    "Shaw",
    "Stone",
    "Swift",
    "Thorn",
    "Tull",
    "Vance",
    "Wade",
    "Ward",
    "West",
    "Wolfe",
    "Wynn",
    "Yates",
    "Young",
]
#: how many different names the lists make: the largest book
MAX_ENTRIES = len(FIRST_NAMES) * len(LAST_NAMES)


class PhonebookConfig(TaskConfig):
    """Parameters of ``phonebook``: book size, queries, number length (small defaults; the paper used books
    of 200–800 entries and 1–32 queries)."""

    entries: ConfigInt = Field(16, ge=1, le=MAX_ENTRIES, description="Entries N in the book.")
    queries: ConfigInt = Field(2, ge=1, description="Names k to look up (distinct entries).")
    digits: ConfigInt = Field(5, ge=1, le=32, description="Digits of every number.")

    @model_validator(mode="after")
    def _queries_fit(self) -> PhonebookConfig:
        if self.queries > self.entries:
            raise ValueError(f"queries ({self.queries}) cannot exceed entries ({self.entries})")
        return self


class Phonebook(Task[PhonebookConfig]):
    """Look up k numbers in a phone book of N entries; scored by digit accuracy (chance 10%)."""

    name: ClassVar[str] = "phonebook"
    Config = PhonebookConfig
    metric: ClassVar[str] = "digit_accuracy"

    def make(self, rng: np.random.Generator, index: int) -> Instance:
        cfg = self.config
        picks = rng.choice(MAX_ENTRIES, size=cfg.entries, replace=False)
        names = [
            f"{FIRST_NAMES[int(p) // len(LAST_NAMES)]} {LAST_NAMES[int(p) % len(LAST_NAMES)]}" for p in picks
        ]
        digits = rng.integers(0, 10, size=(cfg.entries, cfg.digits))
        numbers = ["".join(map(str, row)) for row in digits.tolist()]
        asked = rng.choice(cfg.entries, size=cfg.queries, replace=False).tolist()
        query = ", ".join(names[i] for i in asked)
        book = [f"{name}: {number}" for name, number in zip(names, numbers)]
        prompt = "\n".join([query, *book, query]) + "\n"
        answer = ",".join(numbers[i] for i in asked)
        return Instance(self.name, index, (prompt,), (answer,))

    def chance(self) -> float:
        return 0.1

    def score(
        self, instance: Instance, predicted_ids: np.ndarray, answer_ids: np.ndarray, text: str
    ) -> float:
        return digit_accuracy(text, instance.answer_text)


def digit_accuracy(predicted: str, answer: str) -> float:
    """Share of the answer's digits that ``predicted`` has at the same character position.

    A missing character shifts or drops every later one (they count wrong where they no longer match), and
    every character ``predicted`` has beyond the answer's length counts as one more wrong digit:
    ``right / (digits in answer + extra characters)``. 1.0 only for the exact answer (at its digits).
    """
    positions = [i for i, ch in enumerate(answer) if ch.isdigit()]
    if not positions:
        return float(predicted == answer)
    right = sum(1 for i in positions if i < len(predicted) and predicted[i] == answer[i])
    extra = max(0, len(predicted) - len(answer))
    return right / (len(positions) + extra)
