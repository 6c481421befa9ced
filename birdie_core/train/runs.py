"""The run directory of `birdie train`: what it holds, when it may be (re)used, and its checkpoints.

::

    RUN_DIR/
      config.resolved.yaml    the fully resolved config (written by Birdie)
      plugins.json            the plugins the run used (written by Birdie)
      metrics.jsonl           one record per evaluation: losses, rewards, the new mixture (written by Birdie)
      train.jsonl             one record per training step: loss, learning rate, tokens, tokens/s
      checkpoints/step_0000100/   accelerate's save_state: model, optimizer, scheduler, RNG states, and
                                  custom_checkpoint_0.pkl (Birdie) / custom_checkpoint_1.pkl (the trainer)
      mixture.png  validation_loss.png  train_loss.png      (``birdie plot RUN_DIR`` redraws them)

A checkpoint is written under ``step_N.partial`` and renamed when every rank has finished, so a directory
named ``step_N`` was written completely (if a file in it is damaged later, loading it says so).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from birdie_core.config import RESOLVED_CONFIG_NAME, PipelineConfig, resolved_config
from birdie_core.curriculum.metrics import METRICS_NAME
from birdie_core.errors import CheckpointError, RunDirectoryError

__all__ = [
    "CHECKPOINTS",
    "TRAIN_LOG",
    "check_new_run_dir",
    "check_same_config",
    "checkpoint_path",
    "checkpoints",
    "delete_run_dir",
    "finish_checkpoint",
    "is_run_dir",
    "latest_checkpoint",
    "partial_path",
    "read_train_log",
    "truncate_logs",
]

TRAIN_LOG = "train.jsonl"
CHECKPOINTS = "checkpoints"
_PREFIX = "step_"
_PARTIAL = ".partial"
#: files whose presence marks a directory as a Birdie run (so --overwrite may delete it)
_RUN_MARKERS = (RESOLVED_CONFIG_NAME, METRICS_NAME, TRAIN_LOG, CHECKPOINTS)


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in _RUN_MARKERS)


def check_new_run_dir(path: Path, *, overwrite: bool) -> bool:
    """Whether a new run may use ``path``; True when an old run there must be deleted first (--overwrite).

    Nothing is changed here: every rank asks, then one deletes.
    """
    if not path.exists():
        return False
    if not path.is_dir():
        raise RunDirectoryError(f"the run directory {path} exists and is a file")
    if not any(path.iterdir()):
        return False
    if not overwrite:
        raise RunDirectoryError(
            f"the run directory {path} already exists: continue it with --resume {path}, start again with "
            "--overwrite (deletes it), or choose another with --output DIR"
        )
    if not is_run_dir(path):
        raise RunDirectoryError(
            f"{path} is not empty and does not look like a Birdie run directory (no {RESOLVED_CONFIG_NAME}, "
            f"{TRAIN_LOG} or {CHECKPOINTS}/): --overwrite will not delete it; choose another --output"
        )
    return True


def delete_run_dir(path: Path) -> None:
    shutil.rmtree(path)


def check_same_config(cfg: PipelineConfig, run_dir: Path) -> None:
    """A resumed run must use the config it started with (only ``train.output`` may differ)."""
    saved_path = run_dir / RESOLVED_CONFIG_NAME
    if not saved_path.is_file():
        raise RunDirectoryError(f"{run_dir} has no {RESOLVED_CONFIG_NAME}: it is not a Birdie run directory")
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8"))
    here = resolved_config(cfg)
    for d in (saved, here):
        if isinstance(d.get("train"), dict):
            d["train"] = {k: v for k, v in d["train"].items() if k != "output"}
    differences = _differences(saved, here)
    if differences:
        shown = "; ".join(differences[:8]) + (
            f"; … ({len(differences)} in all)" if len(differences) > 8 else ""
        )
        raise RunDirectoryError(
            f"the config differs from the one {run_dir} was started with ({saved_path}): {shown}. "
            "A resumed run must use the same config; start a new run to change it"
        )


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[str] = []
        for key in list(dict.fromkeys([*a, *b])):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(f"{sub}: {'added' if key not in a else 'removed'}")
            else:
                out += _differences(a[key], b[key], sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: was {a!r}, now {b!r}"]


# -- checkpoints ----------------------------------------------------------------------------------------


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINTS / f"{_PREFIX}{step:07d}"


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + _PARTIAL)


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """The complete checkpoints of ``run_dir``, oldest first, as ``(step, path)``."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        digits = p.name[len(_PREFIX) :]
        if p.is_dir() and p.name.startswith(_PREFIX) and digits.isdigit():
            found.append((int(digits), p))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint, or a :class:`CheckpointError` saying why there is none."""
    if not run_dir.is_dir():
        raise RunDirectoryError(f"cannot resume: the run directory {run_dir} does not exist")
    if not (run_dir / RESOLVED_CONFIG_NAME).is_file():
        raise RunDirectoryError(
            f"cannot resume: {run_dir} is not a Birdie run directory (no {RESOLVED_CONFIG_NAME})"
        )
    found = checkpoints(run_dir)
    if not found:
        raise CheckpointError(
            f"cannot resume: {run_dir / CHECKPOINTS} holds no complete checkpoint (the run stopped before "
            "its first one); start it again with --overwrite"
        )
    return found[-1][1]


def finish_checkpoint(partial: Path, final: Path, keep: int) -> None:
    """Rename a fully written checkpoint into place and delete all but the newest ``keep`` (main rank)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    for _, old in checkpoints(final.parent.parent)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


# -- logs -----------------------------------------------------------------------------------------------


def read_train_log(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``run_dir/train.jsonl`` (one per step), in order; empty when there is none."""
    path = Path(run_dir) / TRAIN_LOG
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_logs(run_dir: Path, step: int, evaluations: int) -> None:
    """Forget what an interrupted run logged after its checkpoint: steps >= ``step``, evaluations past the
    first ``evaluations``. The resumed run logs them again, exactly as they were."""
    _keep_lines(run_dir / TRAIN_LOG, lambda i, rec: rec.get("step", 0) < step)
    _keep_lines(run_dir / METRICS_NAME, lambda i, rec: i < evaluations)


def _keep_lines(path: Path, keep: Any) -> None:
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = []
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the interruption
            break
        if not keep(i, record):
            break
        kept.append(line)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)
