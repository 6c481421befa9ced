"""Experiment trackers for `birdie train` (``train.trackers``): accelerate's ``log_with``, set up for a run.

Their files go to ``RUN_DIR/trackers`` (TensorBoard's event files under ``trackers/<tracker_project>/``, W&B's
offline runs under ``trackers/wandb/`` unless ``WANDB_DIR`` says otherwise, MLflow's ``mlruns`` there unless
``MLFLOW_TRACKING_URI`` does). The main process logs; what it logs, under which names, is in docs/training.md
("Experiment trackers"):

- every step, at the step's index (the ``step`` of ``train.jsonl``): ``train/loss``, ``train/lr``,
  ``train/tokens_per_s``, ``train/tokens_seen``;
- every evaluation, at its step (the ``step`` of ``metrics.jsonl``): ``eval/loss/<objective>`` and
  ``eval/loss_mean``, ``mixture/<objective>`` (the new mixture), ``reward/<objective>`` (when the reward function
  gave rewards), ``realised/<objective>`` (the share of examples each objective got since the last evaluation),
  ``task/<key>`` (the value of each evaluation task of ``train.evals``, under its key).

A tracker whose package is missing fails the run before anything is written (and ``birdie config check``
reports it), instead of accelerate's silent skip.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from birdie_core.config.yaml_lines import ConfigPath
from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.curriculum.metrics import measured_mean
from birdie_core.train.config import TrainConfig
from birdie_core.train.runs import TRACKERS as TRACKERS_DIR

__all__ = [
    "TRACKERS_DIR",
    "TRACKERS_INSTALL",
    "accelerator_settings",
    "evaluation_values",
    "flatten",
    "missing_trackers",
    "session",
    "step_values",
    "tracker_problems",
]

TRACKERS_INSTALL = "pip install 'birdie-core[trackers]'"
#: how to install the trackers the `trackers` extra does not carry
_INSTALL = {"comet_ml": "pip install comet_ml", "mlflow": "pip install mlflow", "aim": "pip install aim"}


def missing_trackers(names: Sequence[str]) -> list[str]:
    """The trackers of ``names`` whose package is not installed (as accelerate decides it)."""
    from accelerate.tracking import get_available_trackers

    available = {str(t) for t in get_available_trackers()}
    return [name for name in names if name not in available]


def tracker_problems(tcfg: TrainConfig | None) -> list[tuple[ConfigPath, str]]:
    """``(path, message)`` for every configured tracker that cannot start because its package is missing."""
    if tcfg is None or not tcfg.trackers:
        return []
    problems: list[tuple[ConfigPath, str]] = []
    for name in missing_trackers(tcfg.trackers):
        install = _INSTALL.get(
            name, TRACKERS_INSTALL if name in ("tensorboard", "wandb") else f"pip install {name}"
        )
        problems.append(
            (
                ("train", "trackers", tcfg.trackers.index(name)),
                f"the {name} tracker needs the {name} package, which is not installed: {install}",
            )
        )
    return problems


def accelerator_settings(tcfg: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """The ``Accelerator`` arguments for ``tcfg.trackers`` (none without trackers); a :class:`ConfigError`
    naming the extra to install when a tracker's package is missing: accelerate would skip it silently."""
    if not tcfg.trackers:
        return {}
    problems = tracker_problems(tcfg)
    if problems:
        from birdie_core.config.issues import format_path

        raise ConfigError([ConfigIssue(format_path(path), message) for path, message in problems])
    return {"log_with": list(tcfg.trackers), "project_dir": str(run_dir / TRACKERS_DIR)}


@contextmanager
def session(accelerator: Any, tcfg: TrainConfig, config: Mapping[str, Any], run_dir: Path) -> Iterator[None]:
    """Start the trackers (main process) with the flattened resolved ``config``; on an error, finish them so
    that a tracker's run is closed (and W&B's service stops) before the exception goes on. The normal end
    calls ``accelerator.end_training()``, after the last collective: it also ends the process group."""
    if not tcfg.trackers:
        yield
        return
    logging_dir = run_dir / TRACKERS_DIR
    init_kwargs: dict[str, dict[str, Any]] = {}
    if "wandb" in tcfg.trackers and not os.environ.get("WANDB_DIR"):
        init_kwargs["wandb"] = {"dir": str(logging_dir)}
    if "mlflow" in tcfg.trackers and not os.environ.get("MLFLOW_TRACKING_URI"):
        init_kwargs["mlflow"] = {"logging_dir": str(logging_dir / "mlruns")}
    if accelerator.is_main_process:
        logging_dir.mkdir(parents=True, exist_ok=True)
    accelerator.init_trackers(tcfg.tracker_project, config=flatten(config), init_kwargs=init_kwargs)
    try:
        yield
    except BaseException:
        for tracker in accelerator.trackers:
            tracker.finish()
        accelerator.trackers = []
        raise


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """``{"train.optimizer.lr": 0.0003, ...}``: the scalar types every tracker takes as hyperparameters. Lists
    become their JSON text (``objectives`` with a key per configuration would be hundreds of keys), None "null"."""
    out: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = json.dumps(value, default=str)
    return out


def step_values(record: Mapping[str, Any], tokens_seen: int, tokens_per_s: float) -> dict[str, float]:
    """What a step logs (``record`` is its ``train.jsonl`` record)."""
    return {
        "train/loss": float(record["loss"]),
        "train/lr": float(record["lr"]),
        "train/tokens_per_s": float(tokens_per_s),
        "train/tokens_seen": float(tokens_seen),
    }


def evaluation_values(
    record: Mapping[str, Any], tasks: Mapping[str, float] | None = None
) -> dict[str, float]:
    """What an evaluation logs (``record`` is Birdie's history record, the line of ``metrics.jsonl``;
    ``tasks`` the values of ``train.evals`` by key)."""
    losses = record["losses"]
    # an objective without validation examples has no loss (NaN): it is left out rather than logged as NaN
    values = {f"eval/loss/{k}": float(v) for k, v in losses.items() if v is not None and math.isfinite(v)}
    values["eval/loss_mean"] = measured_mean(losses)
    values.update({f"mixture/{k}": float(v) for k, v in record["mixture"].items()})
    if record.get("rewards"):
        values.update({f"reward/{k}": float(v) for k, v in record["rewards"].items()})
    realised = record.get("realised")
    if realised:  # None at the first evaluation: no batch consumed yet
        values.update({f"realised/{k}": float(v) for k, v in realised["example_share"].items()})
    values.update({f"task/{k}": float(v) for k, v in (tasks or {}).items()})
    return values
