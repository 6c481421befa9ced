"""Evaluation tasks from the Birdie paper's evaluation set, generated offline and deterministically.

Each task is usable three ways: scored by :func:`evaluate` on any model callable, generated as data by
:func:`generate`, and trained on through the ``task`` source and ``task_answer`` objective
(:mod:`birdie_core.evals.training`). See ``docs/evals.md``.

>>> from birdie_core.evals import evaluate
>>> result = evaluate(model.logits, tokenizer, "phonebook", n=64, seed=0, entries=16)  # doctest: +SKIP
>>> result.value, result.chance  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from birdie_core.evals.copying import SelectiveCopyingProbe, SelectiveCopyingProbeConfig
from birdie_core.evals.infilling import MultipleChoiceInfilling, MultipleChoiceInfillingConfig
from birdie_core.evals.phonebook import Phonebook, PhonebookConfig, digit_accuracy
from birdie_core.evals.recall import AssociativeRecall, AssociativeRecallConfig
from birdie_core.evals.run import EvalResult, InstanceResult, ModelFn, score_instances
from birdie_core.evals.spec import TaskEval
from birdie_core.evals.tasks import EvalError, Instance, Marker, Task, TaskConfig, encode_parts, render_parts

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_START_MARKER",
    "EVAL_STREAM",
    "TASKS",
    "AssociativeRecall",
    "AssociativeRecallConfig",
    "EvalError",
    "EvalResult",
    "Instance",
    "InstanceResult",
    "Marker",
    "ModelFn",
    "MultipleChoiceInfilling",
    "MultipleChoiceInfillingConfig",
    "Phonebook",
    "PhonebookConfig",
    "SelectiveCopyingProbe",
    "SelectiveCopyingProbeConfig",
    "Task",
    "TaskConfig",
    "TaskEval",
    "digit_accuracy",
    "encode_parts",
    "evaluate",
    "exact_match",
    "generate",
    "make_task",
    "render_parts",
]

#: every task by name
TASKS: Mapping[str, type[Task[Any]]] = MappingProxyType(
    {cls.name: cls for cls in (Phonebook, AssociativeRecall, SelectiveCopyingProbe, MultipleChoiceInfilling)}
)
#: the stream :func:`generate` and :func:`evaluate` draw from; the ``task`` source draws from its split's name
EVAL_STREAM = "eval"
#: the start-of-generation marker a pipeline config uses unless it names another
DEFAULT_START_MARKER = "<|gen|>"


def exact_match(predicted: str, answer: str) -> float:
    """1.0 when the texts are equal, else 0.0."""
    return float(predicted == answer)


def make_task(
    task: str | Task[Any], config: TaskConfig | Mapping[str, Any] | None = None, **options: Any
) -> Task[Any]:
    """The task named ``task`` with its parameters (a config, a mapping, or keyword arguments).

    Raises :class:`EvalError` for an unknown name (with a suggestion) or invalid parameters.
    """
    if isinstance(task, Task):
        if config is not None or options:
            raise EvalError("give parameters with a task name, not with a task object")
        return task
    cls = TASKS.get(task)
    if cls is None:
        close = difflib.get_close_matches(task, list(TASKS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise EvalError(f"unknown evaluation task {task!r} (tasks: {', '.join(TASKS)}){hint}")
    if isinstance(config, TaskConfig):
        if options:
            raise EvalError("give a task's parameters as a config or as keywords, not both")
        if not isinstance(config, cls.Config):
            raise EvalError(f"{type(config).__name__} is not the config of {task!r} ({cls.Config.__name__})")
        return cls(config)
    values = {**(config or {}), **options}
    try:
        return cls(cls.Config(**values))
    except ValidationError as exc:
        issues = "; ".join(f"{'.'.join(map(str, e['loc'])) or task}: {e['msg']}" for e in exc.errors())
        raise EvalError(f"invalid parameters for {task!r}: {issues}") from None


def generate(
    task: str | Task[Any],
    n: int,
    seed: int = 0,
    *,
    start: int = 0,
    stream: str = EVAL_STREAM,
    config: TaskConfig | Mapping[str, Any] | None = None,
    **options: Any,
) -> list[Instance]:
    """Instances ``start .. start + n - 1`` of ``task`` under ``seed``: the same every time, different for
    another seed or stream; instance ``i`` does not depend on ``n`` or ``start``."""
    if n < 0:
        raise EvalError(f"n must be >= 0, got {n}")
    t = make_task(task, config, **options)
    return [t.instance(seed, stream, i) for i in range(start, start + n)]


def _model_device(model_fn: ModelFn) -> torch.device:
    import torch

    owner = getattr(model_fn, "__self__", model_fn)
    parameters = getattr(owner, "parameters", None)
    if callable(parameters):
        for p in parameters():
            return torch.device(p.device)
    return torch.device("cpu")


def evaluate(
    model_fn: ModelFn,
    tokenizer: Any,
    task: str | Task[Any] = "phonebook",
    *,
    n: int = 64,
    seed: int = 0,
    batch_size: int = 16,
    sequence_length: int | None = None,
    start_marker: str = DEFAULT_START_MARKER,
    paradigm: str | None = None,
    device: torch.device | str | None = None,
    details: bool = False,
    config: TaskConfig | Mapping[str, Any] | None = None,
    **options: Any,
) -> EvalResult:
    """Score ``model_fn`` on ``n`` instances of ``task`` generated from ``seed``.

    ``model_fn(input_ids, attention_mask, segment_ids, position_ids)`` returns logits (B, L, V), as
    ``PrefixLMTransformer.logits`` does. ``tokenizer`` must be the one the model was trained with: it must
    hold ``start_marker`` (the pipeline config's ``start_generating_paradigm``), ``paradigm`` when given
    (put before the prompt, as an objective with that paradigm does) and the task's markers.
    ``sequence_length``: the longest row the model takes (an instance that needs more is an error).
    ``device``: where the inputs go (default: the device of the model's parameters, when ``model_fn`` is a
    module or its bound method, else the CPU). The task's parameters come as ``config`` or keywords
    (``entries=32``). Runs under ``torch.inference_mode``; the caller sets ``model.eval()``.
    """
    t = make_task(task, config, **options)

    def special(name: str, what: str) -> int:
        try:
            return int(tokenizer.special_id(name))
        except (KeyError, AttributeError):
            raise EvalError(
                f"the tokenizer has no reserved id for the {what} {name!r}; use the tokenizer the model was "
                "trained with (built with that marker among its specials)"
            ) from None

    start_id = special(start_marker, "start-of-generation marker")
    paradigm_id = special(paradigm, "paradigm marker") if paradigm is not None else None
    for m in t.markers():
        special(m, f"{t.name} marker")
    instances = generate(t, n, seed)
    results = score_instances(
        model_fn,
        tokenizer,
        t,
        instances,
        start_id=start_id,
        paradigm_id=paradigm_id,
        batch_size=batch_size,
        sequence_length=sequence_length,
        device=device if device is not None else _model_device(model_fn),
    )
    value = sum(r.score for r in results) / len(results) if results else 0.0
    return EvalResult(
        task=t.name,
        metric=t.metric,
        value=float(value),
        chance=t.chance(),
        n=len(results),
        seed=seed,
        config=t.config.model_dump(mode="json"),
        details=tuple(results) if details else None,
    )
