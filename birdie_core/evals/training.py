"""Training on an evaluation task: the ``task`` source and the ``task_answer`` objective.

The paper fine-tunes briefly on phone-book retrieval; here that is a pipeline like any other::

    data:
      train: {name: task, task: phonebook, count: 20000, entries: 16, queries: 2}
    objectives:
      - {name: task_answer}

The ``task`` source yields one :class:`TaskDocument` per instance (``count`` per epoch, instance ``i`` of the
stream named by the split, so training never sees the instances :func:`~birdie_core.evals.evaluate` scores
under the same seed). A document knows where its prompt ends: its token ids are
``prompt ids, <|answer|>, answer ids``, the prompt and the answer encoded separately exactly as the
evaluator encodes them, and ``<|answer|>`` a reserved id that no text can encode to, so the boundary can
never be confused with the text around it. (When the tokenizer has no ``<|answer|>``, as in a pipeline
without ``task_answer``, the document is just the prompt's ids followed by the answer's: next-token prediction
or prefix-LM over task text still works.)

``task_answer`` turns such a document into the example the evaluator scores: prefix
``[paradigm] prompt [start]`` (bidirectional), target the answer tokens (all of them labelled). A document
with no ``<|answer|>`` (from another source) makes no example and is skipped and counted by the pipeline; so
is an instance too long for a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, ValidationError, model_validator

from birdie_core.builtins.sources.common import new_stats
from birdie_core.evals.spec import check_task_options, gather_task_options
from birdie_core.evals.tasks import EvalError, Part, Task, encode_parts
from birdie_core.interfaces import (
    TOKEN_DTYPE,
    WHOLE_SPLIT,
    ConfigInt,
    Document,
    Example,
    Objective,
    ObjectiveConfig,
    ObjectiveContext,
    Shard,
    SourceConfig,
    Tokenizer,
)

__all__ = [
    "ANSWER_MARKER",
    "TaskAnswer",
    "TaskAnswerConfig",
    "TaskDocument",
    "TaskSource",
    "TaskSourceConfig",
]

#: the reserved marker between a task document's prompt and answer (replaced by the start marker)
ANSWER_MARKER = "<|answer|>"


@dataclass(slots=True)
class TaskDocument(Document):
    """A document made of a task instance: ``text`` is prompt + answer, and the two are kept apart."""

    prompt: tuple[Part, ...] = ()
    answer: tuple[Part, ...] = ()

    def token_ids(self, tokenizer: Tokenizer) -> np.ndarray:
        """``prompt ids, <|answer|>, answer ids`` (without the marker when the tokenizer lacks it)."""
        try:
            boundary = [tokenizer.special_id(ANSWER_MARKER)]
        except KeyError:
            boundary = []
        return np.concatenate(
            [
                encode_parts(self.prompt, tokenizer),
                np.asarray(boundary, dtype=TOKEN_DTYPE),
                encode_parts(self.answer, tokenizer),
            ]
        )


class TaskSourceConfig(SourceConfig):
    """Parameters of the ``task`` source; keys other than these are the task's own parameters."""

    task: str = Field(
        description="The evaluation task: phonebook, associative_recall, selective_copying, ..."
    )
    count: ConfigInt = Field(10_000, ge=1, le=1_000_000_000, description="Instances (documents) per epoch.")
    seed: ConfigInt = Field(0, ge=0, description="Seed of the instances (the split names their stream).")
    options: dict[str, Any] = Field(default_factory=dict, description="The task's parameters.")

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        # `{name: task, task: phonebook, entries: 32}`: the task's parameters sit beside the source's own
        return gather_task_options(data, set(cls.model_fields))

    @model_validator(mode="after")
    def _valid_task(self) -> TaskSourceConfig:
        check_task_options(self.task, self.options)
        return self


class TaskSource:
    """Instances of an evaluation task as documents (see the module docstring)."""

    Config = TaskSourceConfig

    def __init__(self, config: TaskSourceConfig):
        from birdie_core.evals import make_task

        self.config = config
        self.task: Task[Any] = make_task(config.task, config.options)
        self.stats = new_stats()

    def __len__(self) -> int:
        return self.config.count

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        cfg = self.config
        for index in range(shard.index, cfg.count, shard.count):
            inst = self.task.instance(cfg.seed, cfg.split, index)
            self.stats["documents"] += 1
            yield TaskDocument(
                index,
                inst.prompt_text + inst.answer_text,
                f"task {cfg.task} #{index}",
                prompt=inst.prompt,
                answer=inst.answer,
            )

    def __repr__(self) -> str:
        return (
            f"TaskSource(task={self.config.task!r}, split={self.config.split!r}, count={self.config.count})"
        )


class TaskAnswerConfig(ObjectiveConfig):
    """Parameters of ``task_answer``: only those every objective has (``length`` is not used)."""


class TaskAnswer(Objective[TaskAnswerConfig]):
    """Prefix = a task document's prompt, target = its answer (the boundary is the ``<|answer|>`` id)."""

    Config = TaskAnswerConfig
    target_shares = "copy"  # the answers are in the prompt by design (phone numbers, spans)
    min_document_tokens: ClassVar[int] = 2

    def special_tokens(self) -> tuple[str, ...]:
        from birdie_core.evals import TASKS

        markers = [m for cls in TASKS.values() for m in _task_markers(cls)]
        return tuple(dict.fromkeys([*super().special_tokens(), ANSWER_MARKER, *markers]))

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        try:
            marker = ctx.tokenizer.special_id(ANSWER_MARKER)
        except KeyError:
            return None, tokens
        found = np.flatnonzero(tokens == marker)
        if found.size == 0:
            return None, tokens
        i = int(found[0])
        prompt, answer = tokens[:i], tokens[i + 1 :]
        if answer.size == 0 or self.overhead + prompt.size + answer.size - 1 > budget:
            return None, tokens
        return self.make_example(prompt, answer, ctx, consumed=int(tokens.size)), tokens[tokens.size :]


def _task_markers(cls: type[Task[Any]]) -> tuple[str, ...]:
    try:
        return cls(cls.Config()).markers()
    except (ValidationError, EvalError):
        return ()
