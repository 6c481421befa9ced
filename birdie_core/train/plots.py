"""PNG plots of a run directory (``birdie plot RUN_DIR``; `birdie train` draws them at the end).

- ``mixture.png``: the mixture the agent commanded, stacked, over training steps (by objective class when there
  are more than a dozen configurations);
- ``validation_loss.png``: the validation loss of every objective configuration at each evaluation;
- ``train_loss.png``: the training loss per step (and its running mean) with the learning rate.

matplotlib is imported on first use and draws with its Agg backend through ``Figure`` objects, so no window
opens and a caller's own pyplot backend is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from birdie_core.config import RESOLVED_CONFIG_NAME
from birdie_core.curriculum.metrics import METRICS_NAME, read_metrics
from birdie_core.errors import RunDirectoryError
from birdie_core.train.runs import TRAIN_LOG, read_train_log

__all__ = ["plot_run"]

_MAX_LEGEND = 12  # more lines than this are grouped by objective class


def plot_run(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw the PNG plots of ``run_dir`` (overwriting earlier ones) and return their paths."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirectoryError(f"the run directory {run_dir} does not exist")
    if not (run_dir / METRICS_NAME).is_file() and not (run_dir / TRAIN_LOG).is_file():
        raise RunDirectoryError(f"{run_dir} has neither {METRICS_NAME} nor {TRAIN_LOG}: nothing to plot")
    metrics = read_metrics(run_dir) if (run_dir / METRICS_NAME).is_file() else []
    steps = read_train_log(run_dir)
    classes = _classes(run_dir)
    last_step = max([r["step"] + 1 for r in steps] + [r["step"] for r in metrics] + [0])
    written = []
    if metrics:
        written.append(_mixture(run_dir / "mixture.png", metrics, classes, last_step))
        written.append(_validation(run_dir / "validation_loss.png", metrics, classes))
    if steps:
        written.append(_train_loss(run_dir / "train_loss.png", steps))
    return written


def _classes(run_dir: Path) -> dict[str, str]:
    """Objective key → objective class (the bare objective name), from the run's resolved config."""
    path = run_dir / RESOLVED_CONFIG_NAME
    if not path.is_file():
        return {}
    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {o["id"]: o["name"].rpartition(".")[2] for o in cfg.get("objectives", []) if "id" in o}


def _figure(title: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def _group(values: dict[str, float], classes: dict[str, str], how: str) -> dict[str, float]:
    """Per configuration when there are few, else per class (summed shares, mean losses)."""
    if len(values) <= _MAX_LEGEND or not classes:
        return values
    out: dict[str, list[float]] = {}
    for key, v in values.items():
        out.setdefault(classes.get(key, key), []).append(v)
    return {k: float(np.sum(v) if how == "sum" else np.mean(v)) for k, v in out.items()}


def _mixture(path: Path, metrics: list[dict[str, Any]], classes: dict[str, str], last_step: int) -> Path:
    rows = [_group(r["mixture"], classes, "sum") for r in metrics]
    keys = list(rows[0])
    x = [r["step"] for r in metrics] + [max(last_step, metrics[-1]["step"])]
    ys = np.array([[row[k] for row in rows] + [rows[-1][k]] for k in keys])
    fig, ax = _figure("Objective mixture commanded by the agent")
    ax.stackplot(x, ys, labels=keys, step="post", alpha=0.85)
    for r in metrics:
        if r.get("explored"):
            ax.axvline(r["step"], color="k", alpha=0.25, lw=0.8, ls=":")
    ax.set_xlabel("training step")
    ax.set_ylabel("share of the batches (from each evaluation on)")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    fig.savefig(path, dpi=110)
    return path


def _validation(path: Path, metrics: list[dict[str, Any]], classes: dict[str, str]) -> Path:
    rows = [_group(r["losses"], classes, "mean") for r in metrics]
    steps = [r["step"] for r in metrics]
    fig, ax = _figure("Validation loss per objective")
    for key in rows[0]:
        ax.plot(steps, [row[key] for row in rows], marker="o", ms=3, label=key)
    ax.plot(steps, [float(np.mean(list(r["losses"].values()))) for r in metrics], "k--", lw=2, label="mean")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (nats per target token)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")
    fig.savefig(path, dpi=110)
    return path


def _train_loss(path: Path, steps: list[dict[str, Any]]) -> Path:
    x = np.array([r["step"] + 1 for r in steps])
    loss = np.array([r["loss"] for r in steps])
    fig, ax = _figure("Training loss")
    ax.plot(x, loss, alpha=0.3, lw=0.8, label="per step")
    window = max(1, min(50, len(loss) // 10))
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    ax.plot(x[window - 1 :], smooth, lw=2, label=f"mean of {window} steps")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    lr_ax = ax.twinx()
    lr_ax.plot(x, [r["lr"] for r in steps], color="gray", lw=1, ls="--")
    lr_ax.set_ylabel("learning rate (dashed)")
    ax.legend(loc="upper right")
    fig.savefig(path, dpi=110)
    return path
