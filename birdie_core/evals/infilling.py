"""``multiple_choice_infilling``: pick the event that fills the blank of a short story (4 candidates).

A story is one template family's events in their fixed order, each a sentence about one person, slots filled
from word lists; one event is blanked (``___``). The candidates are the blanked event and three other events of
the same story, which do not fit there: each already happens at its own place in the order. Example::

    prompt   Rosa woke up at six. Then Rosa ___. Then Rosa took a hot shower. Then Rosa got dressed in a red
             shirt. Then Rosa made tea and toast. Finally, Rosa left for the office.
    answer   switched off the alarm
    others   took a hot shower / made tea and toast / left for the office

Scored without generation: each candidate is the target after the prompt, its mean per-token loss (its
cross-entropy averaged over its own tokens, so long candidates are not penalised) is computed, the lowest
wins; accuracy over instances, chance 25%.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field

from birdie_core.evals.phonebook import FIRST_NAMES
from birdie_core.evals.tasks import Instance, Task, TaskConfig
from birdie_core.interfaces import ConfigInt

__all__ = ["FAMILIES", "MultipleChoiceInfilling", "MultipleChoiceInfillingConfig"]

#: slot name -> the words it takes
SLOTS: dict[str, tuple[str, ...]] = {
    "hour": ("five", "six", "seven", "eight", "nine"),
    "color": ("red", "blue", "green", "grey", "white", "yellow"),
    "drink": ("tea", "coffee", "cocoa", "juice"),
    "food": ("toast", "porridge", "eggs", "pancakes"),
    "place": ("office", "school", "library", "bakery", "station"),
    "veg": ("carrots", "onions", "leeks", "peppers", "potatoes"),
    "spice": ("pepper", "cumin", "paprika", "thyme"),
    "dish": ("soup", "stew", "curry", "omelette"),
    "city": ("Lisbon", "Oslo", "Prague", "Vienna", "Dublin", "Krakow"),
    "vehicle": ("train", "bus", "ferry", "plane"),
    "plant": ("bean", "pea", "tomato", "pumpkin", "radish"),
    "weeks": ("two", "three", "four", "six"),
    "soap": ("powder", "liquid soap", "a soap tablet"),
}

#: template families: each one's events in the only order that makes sense
FAMILIES: dict[str, tuple[str, ...]] = {
    "morning": (
        "woke up at {hour}",
        "switched off the alarm",
        "took a hot shower",
        "got dressed in a {color} shirt",
        "made {drink} and {food}",
        "left for the {place}",
    ),
    "cooking": (
        "bought {veg} for a {dish}",
        "washed the {veg}",
        "chopped the {veg} into small pieces",
        "fried them in a hot pan",
        "seasoned the {dish} with {spice}",
        "served the {dish} on a plate",
    ),
    "travel": (
        "packed a bag for {city}",
        "took a taxi to the {vehicle} station",
        "bought a ticket at the counter",
        "boarded the {vehicle} to {city}",
        "slept during the trip",
        "arrived in {city} at {hour}",
    ),
    "garden": (
        "bought {plant} seeds at the market",
        "dug a row of holes in the garden",
        "planted the {plant} seeds",
        "watered the soil every day",
        "waited {weeks} weeks",
        "picked the ripe {plant}s",
    ),
    "laundry": (
        "gathered the dirty clothes",
        "sorted the {color} shirts from the rest",
        "loaded the washing machine",
        "added {soap} and started it",
        "hung the wet clothes on the line",
        "folded the dry clothes",
    ),
}

BLANK = "___"


class MultipleChoiceInfillingConfig(TaskConfig):
    """Parameters of ``multiple_choice_infilling``."""

    candidates: ConfigInt = Field(4, ge=2, le=6, description="Candidates per blank (one right).")


class MultipleChoiceInfilling(Task[MultipleChoiceInfillingConfig]):
    """Choose the missing event of a story; the lowest mean per-token loss wins."""

    name: ClassVar[str] = "multiple_choice_infilling"
    Config = MultipleChoiceInfillingConfig
    kind = "choice"
    metric: ClassVar[str] = "accuracy"

    def make(self, rng: np.random.Generator, index: int) -> Instance:
        families = sorted(FAMILIES)
        events = FAMILIES[families[int(rng.integers(len(families)))]]
        fill = {slot: words[int(rng.integers(len(words)))] for slot, words in SLOTS.items()}
        person = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
        filled = [e.format(**fill) for e in events]
        blank = int(rng.integers(len(filled)))
        others = [i for i in range(len(filled)) if i != blank]
        wrong = rng.choice(others, size=self.config.candidates - 1, replace=False).tolist()
        order = [blank, *wrong]
        rng.shuffle(order)
        sentences = []
        for i, event in enumerate(filled):
            lead = person if i == 0 else (f"Finally, {person}" if i == len(filled) - 1 else f"Then {person}")
            sentences.append(f"{lead} {BLANK if i == blank else event}.")
        candidates = tuple((filled[i],) for i in order)
        return Instance(
            self.name, index, (" ".join(sentences) + "\n",), (filled[blank],), candidates, order.index(blank)
        )

    def chance(self) -> float:
        return 1.0 / self.config.candidates
