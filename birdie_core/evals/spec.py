"""``TaskEval``: one evaluation written as data, for configs (periodic evaluation) and the command line.

``{task: phonebook, n: 64, seed: 0, entries: 32}``: keys other than the fields below are the task's own
parameters, validated against the task's config when the entry is validated, so a misspelt one is a config
error before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from birdie_core.interfaces import ConfigInt, Tokenizer

if TYPE_CHECKING:
    import torch

    from birdie_core.evals.run import EvalResult, ModelFn

__all__ = ["TaskEval", "check_task_options", "gather_task_options"]


def gather_task_options(data: Any, own: set[str]) -> Any:
    """``data`` with every key not in ``own`` moved into its ``options`` mapping (a before-validator)."""
    if isinstance(data, Mapping):
        extra = {k: v for k, v in data.items() if k not in own}
        if extra:
            data = {k: v for k, v in data.items() if k in own}
            data["options"] = {**dict(data.get("options") or {}), **extra}
    return data


def check_task_options(task: str, options: Mapping[str, Any]) -> None:
    """Raise ValueError (a validation error where called in a validator) for an unknown task or parameter."""
    from birdie_core.evals import TASKS

    cls = TASKS.get(task)
    if cls is None:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    try:
        cls.Config(**options)
    except ValidationError as exc:
        issues = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid parameters for task {task!r}: {issues}") from None


class TaskEval(BaseModel):
    """One evaluation: a task, how many instances from which seed, and the task's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str = Field(description="The task: phonebook, associative_recall, selective_copying, ...")
    n: ConfigInt = Field(64, ge=1, le=1_000_000, description="Instances scored.")
    seed: ConfigInt = Field(0, ge=0, description="Seed of the instances.")
    batch_size: ConfigInt = Field(16, ge=1, le=65_536, description="Rows per model call.")
    paradigm: str | None = Field(
        None, description="Paradigm marker put before every prompt (none by default)."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="The task's parameters.")

    @model_validator(mode="before")
    @classmethod
    def _gather(cls, data: Any) -> Any:
        return gather_task_options(data, set(cls.model_fields))

    @model_validator(mode="after")
    def _valid_task(self) -> TaskEval:
        check_task_options(self.task, self.options)
        return self

    @property
    def key(self) -> str:
        """A name for metrics logs: ``phonebook`` or ``phonebook[entries=32,queries=4]``."""
        if not self.options:
            return self.task
        return f"{self.task}[{','.join(f'{k}={v}' for k, v in sorted(self.options.items()))}]"

    def run(
        self,
        model_fn: ModelFn,
        tokenizer: Tokenizer,
        *,
        start_marker: str | None = None,
        sequence_length: int | None = None,
        device: torch.device | str | None = None,
        details: bool = False,
    ) -> EvalResult:
        """:func:`~birdie_core.evals.evaluate` with this entry's settings (``start_marker``: the pipeline's)."""
        from birdie_core.evals import DEFAULT_START_MARKER, evaluate

        return evaluate(
            model_fn,
            tokenizer,
            self.task,
            n=self.n,
            seed=self.seed,
            batch_size=self.batch_size,
            sequence_length=sequence_length,
            start_marker=start_marker or DEFAULT_START_MARKER,
            paradigm=self.paradigm,
            device=device,
            details=details,
            config=self.options,
        )
