"""Evaluation tasks around `birdie train`: ``train.evals`` scored at every evaluation of a run, and a run's
trained weights loaded back, to start another run (``train.init_from``) or to be scored (`birdie eval`).

A run directory is untrusted input: its newest checkpoint is checked against its manifest before anything is
read from it, and only the model's weights are read, with safetensors (nothing is unpickled).

``RUN_DIR/tasks.jsonl`` holds one line per task per evaluation, written by the main process after Birdie's
``metrics.jsonl`` record of the same evaluation::

    {"step": 30, "key": "phonebook[entries=8]", "task": "phonebook", "metric": "digit_accuracy",
     "value": 0.42, "chance": 0.1, "n": 64, "seed": 0}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from birdie_core.config import RESOLVED_CONFIG_NAME
from birdie_core.errors import CheckpointError, ConfigError, ConfigIssue, RunDirectoryError
from birdie_core.evals import EvalResult, TaskEval, make_task
from birdie_core.evals.tasks import EvalError
from birdie_core.interfaces import Tokenizer
from birdie_core.train import runs

if TYPE_CHECKING:
    import torch

    from birdie_core.pipeline.build import Components
    from birdie_core.registry import Registry
    from birdie_core.tools.tokenizers import ReservedIds
    from birdie_core.train.models import ReferenceModel

__all__ = [
    "MODEL_WEIGHTS",
    "VOCAB_ROWS",
    "InitialWeights",
    "TaskEvaluator",
    "describe_tasks",
    "init_weights_from",
    "initial_weights",
    "load_model_weights",
    "load_trained_model",
    "marker_problems",
    "read_task_log",
    "task_eval_issues",
]

#: the model's weights in a checkpoint: accelerate's save_state names the first prepared model's file so
MODEL_WEIGHTS = "model.safetensors"

_SHORT_METRIC = {"digit_accuracy": "digit acc", "exact_match": "exact", "accuracy": "acc"}


# -- train.evals during a run ---------------------------------------------------------------------------


def marker_problems(
    task: str,
    options: Mapping[str, Any],
    tokenizer: Tokenizer,
    *,
    start_marker: str,
    paradigm: str | None = None,
) -> list[str]:
    """What the tokenizer lacks to score ``task``: one message per missing marker, saying what reserves it."""

    def missing(name: str) -> bool:
        try:
            tokenizer.special_id(name)
        except (KeyError, AttributeError):
            return True
        return False

    problems = []
    if missing(start_marker):
        problems.append(
            f"the tokenizer has no reserved id for the start-of-generation marker {start_marker!r} "
            "(start_generating_paradigm); use the tokenizer the pipeline builds, which reserves it"
        )
    if paradigm is not None and missing(paradigm):
        problems.append(
            f"the tokenizer has no reserved id for the paradigm {paradigm!r}: only an objective with that "
            "paradigm reserves it (give one of the objectives `paradigm: " + paradigm + "`, or drop the "
            "entry's paradigm)"
        )
    lacking = [m for m in make_task(task, dict(options)).markers() if missing(m)]
    if lacking:
        problems.append(
            f"the tokenizer has no reserved ids for the markers of {task!r} ({', '.join(lacking)}): add the "
            "task_answer objective (it reserves them) or an objective that emits them (selective_copying)"
        )
    return problems


def task_eval_issues(
    entries: Sequence[TaskEval], tokenizer: Tokenizer, start_marker: str
) -> list[ConfigIssue]:
    """Config issues of ``train.evals`` that need the tokenizer (a missing marker), found before a run starts."""
    issues = []
    for i, entry in enumerate(entries):
        for problem in marker_problems(
            entry.task, entry.options, tokenizer, start_marker=start_marker, paradigm=entry.paradigm
        ):
            issues.append(ConfigIssue(f"train.evals[{i}]", problem))
    return issues


class TaskEvaluator:
    """Scores every entry of ``train.evals`` on the model at an evaluation and logs the results.

    Every process scores the same instances on the same weights without a collective inside, so no process
    can wait on another; the main process writes ``tasks.jsonl`` (``log`` None elsewhere).
    """

    def __init__(
        self,
        entries: Sequence[TaskEval],
        tokenizer: Tokenizer,
        *,
        start_marker: str,
        sequence_length: int,
        log: Path | None,
    ):
        self.entries = tuple(entries)
        self.tokenizer = tokenizer
        self.start_marker = start_marker
        self.sequence_length = sequence_length
        self.log = log

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __call__(self, model: torch.nn.Module, accelerator: Any, step: int) -> dict[str, EvalResult]:
        """The results by key; ``model`` is the prepared (maybe compiled) model, left in training mode."""
        import contextlib

        module = _unwrapped(model, accelerator)
        results: dict[str, EvalResult] = {}
        model.eval()
        try:
            autocast = (
                accelerator.autocast() if hasattr(accelerator, "autocast") else contextlib.nullcontext()
            )
            with autocast:  # the precision the validation losses are measured in
                for entry in self.entries:
                    results[entry.key] = entry.run(
                        module.logits,
                        self.tokenizer,
                        start_marker=self.start_marker,
                        sequence_length=self.sequence_length,
                        device=accelerator.device,
                    )
        except EvalError as exc:
            raise EvalError(f"train.evals at step {step}: {exc}") from exc
        finally:
            model.train()
        if self.log is not None:
            with self.log.open("a", encoding="utf-8") as f:
                for key, result in results.items():
                    f.write(json.dumps(_log_record(step, key, result)) + "\n")
        return results


def _log_record(step: int, key: str, result: EvalResult) -> dict[str, Any]:
    return {
        "step": step,
        "key": key,
        "task": result.task,
        "metric": result.metric,
        "value": result.value,
        "chance": result.chance,
        "n": result.n,
        "seed": result.seed,
    }


def _unwrapped(model: Any, accelerator: Any) -> Any:
    """The model's own module: under torch.compile the original one, without accelerate's wrappers (DDP's
    forward would wait for the other processes; ``logits`` is not the forward)."""
    model = getattr(model, "_orig_mod", model)
    return accelerator.unwrap_model(model)


def describe_tasks(results: Mapping[str, EvalResult]) -> str:
    """The line printed under an evaluation: ``tasks: phonebook[entries=8] 0.420 digit acc (chance 0.100)``."""
    shown = "; ".join(
        f"{key} {r.value:.3f} {_SHORT_METRIC.get(r.metric, r.metric)} (chance {r.chance:.3f})"
        for key, r in results.items()
    )
    return f"      tasks: {shown}"


def read_task_log(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``RUN_DIR/tasks.jsonl`` in order; empty when the run scored no tasks."""
    path = Path(run_dir) / runs.TASKS_LOG
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# -- a run's trained weights ----------------------------------------------------------------------------


def _newest_checkpoint(run_dir: Path, what: str) -> Path:
    """The newest complete checkpoint of ``run_dir``, checked against its manifest."""
    if not run_dir.is_dir():
        raise RunDirectoryError(f"{what}: {run_dir} is not a directory")
    try:
        runs.read_run_marker(run_dir)
    except RunDirectoryError as exc:
        raise RunDirectoryError(f"{what}: {exc}") from None
    found = runs.checkpoints(run_dir)
    if not found:
        raise CheckpointError(
            f"{what}: {run_dir / runs.CHECKPOINTS} holds no complete checkpoint (the run stopped before its first)"
        )
    checkpoint = found[-1][1]
    try:
        runs.verify_checkpoint(checkpoint)
    except CheckpointError as exc:
        message = str(exc).replace(f"cannot resume from {checkpoint}", f"{what}: {checkpoint}", 1)
        raise CheckpointError(message) from None
    return checkpoint


def load_model_weights(run_dir: str | os.PathLike[str], what: str | None = None) -> dict[str, torch.Tensor]:
    """The model weights of the newest checkpoint of ``run_dir`` (on the CPU), after its manifest is checked.

    ``what`` starts every error message (default: ``cannot load the weights of RUN_DIR``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    what = what or f"cannot load the weights of {run_dir}"
    checkpoint = _newest_checkpoint(run_dir, what)
    path = checkpoint / MODEL_WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{what}: {checkpoint} has no {MODEL_WEIGHTS}")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{what}: {path} cannot be read as safetensors ({exc})") from None


#: the parameters with one row per token id (the token embedding and the output head)
VOCAB_ROWS = ("embed.weight", "head.weight")


def _vocab_rows(
    weights: Mapping[str, torch.Tensor],
    own: Mapping[str, torch.Tensor],
    old_vocab: int | None,
    vocab: int | None,
) -> set[str]:
    """The parameters with one row per token id: those of :data:`VOCAB_ROWS`, and any other whose first
    dimension is the vocabulary size on both sides (when the sizes differ) with the rest of its shape equal."""
    rows = {k for k in VOCAB_ROWS if k in weights and k in own}
    if old_vocab is not None and vocab is not None and old_vocab != vocab:
        rows |= {
            k
            for k, v in own.items()
            if k in weights
            and weights[k].dim() >= 1
            and v.dim() >= 1
            and weights[k].shape[0] == old_vocab
            and v.shape[0] == vocab
            and tuple(weights[k].shape[1:]) == tuple(v.shape[1:])
        }
    return rows


def _check_shapes(
    weights: Mapping[str, torch.Tensor],
    model: torch.nn.Module,
    what: str,
    source_model: Any = None,
    *,
    vocab_mapped: bool = False,
) -> None:
    """A :class:`ConfigError` naming what differs when ``weights`` do not fit ``model`` exactly. With
    ``vocab_mapped`` (the two tokenizers share their base vocabulary), the rows of the vocabulary-sized
    parameters may differ in number: they are mapped by token (:class:`InitialWeights`)."""
    own = model.state_dict()
    problems: list[str] = []
    embed = weights.get("embed.weight")
    vocab = getattr(model, "vocab_size", None)
    old_vocab = int(embed.shape[0]) if embed is not None else None
    vocab_differs = old_vocab is not None and vocab is not None and old_vocab != vocab
    if vocab_differs and not vocab_mapped:
        problems.append(
            f"its model has vocab {old_vocab}, this config's tokenizer gives {vocab} (use the same "
            "tokenizer: the same kind and settings; only its reserved ids, such as the objectives' markers "
            "and the number of sentinels, may differ)"
        )

    def listed(names: list[str]) -> str:
        return ", ".join(names[:4]) + (f", … ({len(names)} in all)" if len(names) > 4 else "")

    missing = sorted(set(own) - set(weights))
    extra = sorted(set(weights) - set(own))
    if missing:
        problems.append(f"it lacks weights this model has: {listed(missing)}")
    if extra:
        problems.append(f"it has weights this model lacks: {listed(extra)}")
    vocab_sized = _vocab_rows(weights, own, old_vocab, vocab) if vocab_differs else set()
    shapes = [
        f"{k} {tuple(weights[k].shape)} there, {tuple(v.shape)} here"
        for k, v in own.items()
        if k in weights and tuple(weights[k].shape) != tuple(v.shape) and k not in vocab_sized
    ]
    if shapes:
        problems.append(f"shapes differ: {listed(shapes)}")
    if problems:
        if source_model is not None:
            problems.append(f"its train.model is {source_model}")
        raise ConfigError([ConfigIssue("train.init_from", f"{what}: {'; '.join(problems)}")])


#: text whose ids two tokenizers must agree on to share a base vocabulary
_PROBE = "init_from: The quick brown fox jumps over 13 lazy dogs; é, ü, 中文, 🙂 <mask_0> [S]\n\t end."


def _reserved_ids(tokenizer: Any) -> ReservedIds | None:
    """The reserved-id layout of a tokenizer with the core's id layout (None for one without)."""
    from birdie_core.tools.tokenizers import ReservedIds

    reserved = getattr(tokenizer, "reserved", None)
    return reserved if isinstance(reserved, ReservedIds) else None


def _reserved_names(tokenizer: Any) -> dict[str, int] | None:
    """Name → id of every reserved id (pad, sentinels, markers) of a tokenizer with the core's id layout;
    None for a tokenizer without one."""
    reserved = _reserved_ids(tokenizer)
    if reserved is None:
        return None
    ids = [
        reserved.pad_id,
        *reserved.sentinel_ids().tolist(),
        *(reserved.special_id(m) for m in reserved.markers),
    ]
    return {reserved.name_of(int(i)): int(i) for i in ids}


def _same_base_vocabulary(old: Any, new: Any) -> bool:
    """Whether two tokenizers differ at most in their reserved ids: the same kind and settings (sentinel
    count and markers aside), the same base vocabulary size, and the same ids for ordinary text."""
    if type(old) is not type(new) or _reserved_names(old) is None or _reserved_names(new) is None:
        return False
    settings = ("name", "num_sentinels")
    old_cfg, new_cfg = getattr(old, "config", None), getattr(new, "config", None)
    if old_cfg is None or new_cfg is None or type(old_cfg) is not type(new_cfg):
        return False
    if old_cfg.model_dump(exclude=set(settings)) != new_cfg.model_dump(exclude=set(settings)):
        return False
    old_reserved, new_reserved = _reserved_ids(old), _reserved_ids(new)
    if old_reserved is None or new_reserved is None or old_reserved.base_size != new_reserved.base_size:
        return False
    try:
        return bool(old.encode(_PROBE).tolist() == new.encode(_PROBE).tolist())
    except Exception:  # noqa: BLE001 - a tokenizer that cannot encode the probe is not known to match
        return False


@dataclass(frozen=True)
class InitialWeights:
    """The weights ``train.init_from`` starts a run with: the other run's checkpoint, and, when the two
    tokenizers share their base vocabulary but not their reserved ids, which rows of the vocabulary-sized
    parameters come from where (``rows``: parameter names; ``new_ids`` ← ``old_ids``; every other row keeps
    the fresh model's initialisation). ``note`` says what was mapped (None when nothing was)."""

    weights: dict[str, torch.Tensor]
    rows: frozenset[str] = frozenset()
    new_ids: tuple[int, ...] = ()
    old_ids: tuple[int, ...] = ()
    note: str | None = None

    def load_into(self, model: torch.nn.Module) -> None:
        """Load the weights into ``model`` (strictly: every parameter), mapping the vocabulary rows."""
        import torch

        if not self.rows:
            model.load_state_dict(self.weights, strict=True)
            return
        own = model.state_dict()
        state = dict(self.weights)
        new = torch.tensor(self.new_ids, dtype=torch.long)
        old = torch.tensor(self.old_ids, dtype=torch.long)
        for name in self.rows:
            fresh = own[name].detach().to("cpu", copy=True)
            source = self.weights[name].to(fresh.dtype)
            fresh[new] = source[old]
            state[name] = fresh
        model.load_state_dict(state, strict=True)


def _map_vocabulary(
    run_dir: Path,
    weights: dict[str, torch.Tensor],
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    registry: Registry | None,
) -> InitialWeights | None:
    """The rows of the vocabulary-sized parameters mapped by token, when the run's tokenizer (rebuilt from its
    resolved config) shares its base vocabulary with ``tokenizer`` and their reserved ids differ; None when
    they do not share one (or the run's tokenizer cannot be rebuilt here)."""
    from birdie_core.pipeline.build import Components

    config_file = run_dir / RESOLVED_CONFIG_NAME
    if config_file.is_symlink() or not config_file.is_file():
        return None
    try:
        old_tokenizer = Components.resolve(config_file, registry).tokenizer()
    except Exception:  # noqa: BLE001 - unreadable config, plugin not installed here, missing vocab file
        return None
    if not _same_base_vocabulary(old_tokenizer, tokenizer):
        return None
    old_names, new_names = _reserved_names(old_tokenizer), _reserved_names(tokenizer)
    assert old_names is not None and new_names is not None
    old_vocab, vocab = int(old_tokenizer.vocab_size), int(tokenizer.vocab_size)
    embed = weights.get("embed.weight")
    if embed is None or int(embed.shape[0]) != old_vocab or getattr(model, "vocab_size", vocab) != vocab:
        return None  # the checkpoint does not fit its own tokenizer: left to the shape check
    old_reserved = _reserved_ids(old_tokenizer)
    assert old_reserved is not None
    base = old_reserved.base_size
    reserved_here = set(new_names.values())
    new_ids = [i for i in range(base) if i not in reserved_here]
    old_ids = list(new_ids)  # ordinary ids copy straight
    moved: list[str] = []
    fresh: list[str] = []
    for name, i in new_names.items():
        j = old_names.get(name)
        if j is None and i < base:
            j = i  # a token of the base vocabulary used as a reserved id here: an ordinary id there
        if j is None:
            fresh.append(name)
            continue
        new_ids.append(i)
        old_ids.append(j)
        if i != j:
            moved.append(name)
    dropped = [name for name in old_names if name not in new_names]
    if not moved and not fresh and old_vocab == vocab:
        return InitialWeights(weights)  # the same layout: loaded as is
    parts = []
    if fresh:
        shown = ", ".join(fresh[:4]) + (", …" if len(fresh) > 4 else "")
        many = "s" if len(fresh) != 1 else ""
        parts.append(
            f"{len(fresh)} reserved id{many} new in this run ({shown}) start{'' if many else 's'} untrained"
        )
    parts.append(f"{len(moved)} moved")
    if dropped:
        parts.append(f"{len(dropped)} of that run's not used here")
    rows = frozenset(_vocab_rows(weights, model.state_dict(), old_vocab, vocab))
    return InitialWeights(
        weights,
        rows=rows,
        new_ids=tuple(new_ids),
        old_ids=tuple(old_ids),
        note=f"init_from {run_dir}: " + "; ".join(parts),
    )


def _source_model_config(run_dir: Path) -> Any:
    """The ``train.model`` of a run's resolved config, for an error message (None when unreadable)."""
    from birdie_core.config.yaml_lines import load_yaml_with_lines

    try:  # the bounded reader of every config file: a run directory is untrusted input
        data, _ = load_yaml_with_lines(run_dir / RESOLVED_CONFIG_NAME)
        return (data.get("train") or {}).get("model")
    except (ConfigError, AttributeError):
        return None


def initial_weights(
    run_dir: str | os.PathLike[str],
    model: torch.nn.Module,
    tokenizer: Tokenizer | None = None,
    registry: Registry | None = None,
) -> InitialWeights:
    """The newest checkpoint's weights of the run ``run_dir``, checked to fit ``model`` (``model`` may live on
    the meta device: only its shapes are read). A :class:`ConfigError` at ``train.init_from`` naming both
    sides when the model or vocabulary differ.

    With ``tokenizer`` (this run's), a run whose tokenizer (rebuilt from its resolved config with
    ``registry``) shares the base vocabulary but not the reserved ids is mapped by token: ordinary ids copy
    straight, each reserved name both have (pad, ``<mask_i>``, markers) copies from its old id to its new
    one, and reserved ids new in this run keep the fresh model's initialisation. Every other parameter must
    match exactly."""
    run_dir = Path(run_dir)
    what = f"init_from {run_dir}"
    weights = load_model_weights(run_dir, what)
    mapped = _map_vocabulary(run_dir, weights, model, tokenizer, registry) if tokenizer is not None else None
    _check_shapes(
        weights,
        model,
        what,
        _source_model_config(run_dir),
        vocab_mapped=mapped is not None and bool(mapped.rows),
    )
    return mapped if mapped is not None else InitialWeights(weights)


def init_weights_from(
    model: torch.nn.Module,
    run_dir: str | os.PathLike[str],
    tokenizer: Tokenizer | None = None,
    registry: Registry | None = None,
) -> str | None:
    """Load the newest checkpoint's weights of the run ``run_dir`` into ``model`` (what ``train.init_from``
    does before ``accelerator.prepare``); with ``tokenizer``, rows of reserved ids are mapped by name (see
    :func:`initial_weights`). Returns the line saying what was mapped, or None."""
    initial = initial_weights(run_dir, model, tokenizer, registry)
    initial.load_into(model)
    return initial.note


def load_trained_model(
    run_dir: str | os.PathLike[str], registry: Registry | None = None
) -> tuple[ReferenceModel, Components]:
    """The model of the run ``run_dir`` with its newest checkpoint's weights (on the CPU, in eval mode), and
    the components of the run's resolved config (``components.tokenizer()`` is the model's tokenizer)."""
    from birdie_core.pipeline.build import Components
    from birdie_core.train.config import TrainConfig
    from birdie_core.train.loop import build_model

    run_dir = Path(run_dir)
    what = f"cannot load the model of {run_dir}"
    if not run_dir.is_dir():
        raise RunDirectoryError(f"{what}: it is not a directory")
    try:
        runs.read_run_marker(run_dir)
    except RunDirectoryError as exc:
        raise RunDirectoryError(f"{what}: {exc}") from None
    config_file = run_dir / RESOLVED_CONFIG_NAME
    if config_file.is_symlink() or not config_file.is_file():
        raise RunDirectoryError(f"{what}: it has no {RESOLVED_CONFIG_NAME}")
    weights = load_model_weights(run_dir, what)
    try:
        components = Components.resolve(config_file, registry)
    except ConfigError as exc:  # e.g. a plugin the run used is not installed here
        raise ConfigError([replace(i, message=f"{what}: {i.message}") for i in exc.issues]) from exc
    cfg = components.config
    tcfg = cfg.train if cfg.train is not None else TrainConfig()
    model = build_model(cfg, tcfg, components.tokenizer().vocab_size)
    try:
        _check_shapes(weights, model, what)
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    model.load_state_dict(weights, strict=True)
    return model.eval(), components
