"""What every evaluation task shares: the instance it makes, its config, and the table of tasks by name.

A task turns ``(seed, stream, index)`` into one :class:`Instance` with no other input, so the same three
numbers give the same instance in every process and run; the ``stream`` keeps evaluation and training apart
(``"eval"`` for :func:`~birdie_core.evals.generate`, the split name for the ``task`` source), so instances
scored never were trained on under the same seed.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from birdie_core.errors import BirdieError
from birdie_core.interfaces import TOKEN_DTYPE, Tokenizer

__all__ = [
    "EvalError",
    "Instance",
    "Marker",
    "Part",
    "Task",
    "TaskConfig",
    "encode_parts",
    "instance_rng",
    "render_parts",
]


class EvalError(BirdieError):
    """An evaluation cannot run as asked (unknown task, a tokenizer without a marker, rows too short)."""


@dataclass(frozen=True, slots=True)
class Marker:
    """A reserved marker in a prompt or answer (``[COPY]``): one id from ``tokenizer.special_id(name)``,
    never text the tokenizer would split."""

    name: str


#: a piece of a prompt or answer: text (encoded with ``tokenizer.encode``) or a reserved marker
Part = str | Marker


def render_parts(parts: Sequence[Part]) -> str:
    """The text of ``parts``, markers shown by name (as ``tokenizer.decode`` shows reserved ids)."""
    return "".join(p.name if isinstance(p, Marker) else p for p in parts)


def encode_parts(parts: Sequence[Part], tokenizer: Tokenizer) -> np.ndarray:
    """The ids of ``parts``: each text encoded on its own, each marker its reserved id.

    Raises :class:`EvalError` naming the marker when the tokenizer was built without it.
    """
    pieces: list[np.ndarray] = []
    for p in parts:
        if isinstance(p, Marker):
            try:
                pieces.append(np.array([tokenizer.special_id(p.name)], dtype=TOKEN_DTYPE))
            except KeyError:
                raise EvalError(
                    f"the tokenizer has no reserved id for the marker {p.name!r}; build it with that marker "
                    "among its specials (a pipeline reserves it when an objective emitting it is configured)"
                ) from None
        elif p:
            pieces.append(np.asarray(tokenizer.encode(p), dtype=TOKEN_DTYPE))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=TOKEN_DTYPE)


@dataclass(frozen=True, slots=True)
class Instance:
    """One task instance: a prompt, the answer to generate after it, and for multiple choice the candidates.

    ``prompt`` and ``answer`` are sequences of :data:`Part` (text and markers); :attr:`prompt_text` and
    :attr:`answer_text` render them. For a multiple-choice task ``answer`` is the correct candidate and
    ``candidates`` holds every candidate (the correct one at ``correct``).
    """

    task: str
    index: int
    prompt: tuple[Part, ...]
    answer: tuple[Part, ...]
    candidates: tuple[tuple[Part, ...], ...] = ()
    correct: int = -1

    @property
    def prompt_text(self) -> str:
        return render_parts(self.prompt)

    @property
    def answer_text(self) -> str:
        return render_parts(self.answer)

    @property
    def candidate_texts(self) -> tuple[str, ...]:
        return tuple(render_parts(c) for c in self.candidates)


class TaskConfig(BaseModel):
    """Base of every task's parameters: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


TaskConfigT = TypeVar("TaskConfigT", bound=TaskConfig)


def instance_rng(seed: int, stream: str, index: int) -> np.random.Generator:
    """The generator of instance ``index`` of ``stream`` under ``seed`` (crc32: stable across processes)."""
    return np.random.default_rng([int(seed), zlib.crc32(stream.encode()), int(index)])


class Task(ABC, Generic[TaskConfigT]):
    """A generator of instances plus how they are scored.

    ``kind`` says how :func:`~birdie_core.evals.evaluate` runs the model: ``"generate"`` decodes the answer
    greedily and scores it with :meth:`score`; ``"choice"`` scores each candidate by its mean per-token loss
    and counts the instance right when the correct one has the lowest.
    """

    name: ClassVar[str]
    Config: ClassVar[type[TaskConfig]]
    kind: ClassVar[Literal["generate", "choice"]] = "generate"
    metric: ClassVar[str] = "exact_match"

    def __init__(self, config: TaskConfigT):
        self.config: TaskConfigT = config

    @abstractmethod
    def make(self, rng: np.random.Generator, index: int) -> Instance:
        """Instance ``index``, every random choice drawn from ``rng``."""

    def instance(self, seed: int, stream: str, index: int) -> Instance:
        return self.make(instance_rng(seed, stream, index), index)

    def chance(self) -> float:
        """The metric's expected value for a model that guesses uniformly."""
        return 0.0

    def markers(self) -> tuple[str, ...]:
        """Names of the reserved markers its instances use (the tokenizer must have them)."""
        return ()

    def score(
        self, instance: Instance, predicted_ids: np.ndarray, answer_ids: np.ndarray, text: str
    ) -> float:
        """The metric of one generated answer: exact match of the ids by default."""
        return float(np.array_equal(np.asarray(predicted_ids), np.asarray(answer_ids)))
