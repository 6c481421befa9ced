"""PNG plots of a run directory (``birdie plot RUN_DIR``; `birdie train` draws them at the end).

- ``mixture.png``: the mixture the agent commanded, stacked, over training steps. Each mixture is drawn from
  the step at which it takes effect (the record's ``effective_batch``, which lags the evaluation by the
  pipeline's lookahead), and the agent's exploratory decisions are marked with black dashed lines. When the
  records carry the agent's reasons (the ``agent`` dict of ``metrics.jsonl``), each decision is also marked by
  kind along the top edge — exploration, a jump on strong evidence (``strong: true``), a smooth step (``strong:
  false``) — and, when they carry ``score_chosen`` and ``score_uniform``, a thin panel below shows the predicted
  gain of the chosen mixture over the uniform one per decision. Records without them (a static agent, older
  runs) draw the mixture and the exploration lines only;
- ``validation_loss.png``: the validation loss at each evaluation, per series and their mean;
- ``train_loss.png``: the training loss per step, its running mean and the learning rate (right axis).

Which series are drawn (both mixture and validation plots use the same ones, in the same colours):

1. at most :data:`MAX_SERIES` objective configurations: one series each;
2. more, and the run's resolved config names at most :data:`MAX_SERIES` objective classes: one series per
   class (summed shares, mean losses);
3. otherwise the ``MAX_SERIES - 1`` series (classes, or configurations without a resolved config) with the
   largest mean commanded share, and ``other`` (grey) for the rest.

Series get the 20 colours of matplotlib's ``tab20`` (dark shades first, so the first ten are as distinct as
``tab10``), then the colours repeat with another line style (dashed, dotted, dash-dotted; hatched areas).

matplotlib is imported on first use and draws with its Agg backend through ``Figure`` objects, so no window
opens and a caller's own pyplot backend is left alone. The ``*_figure`` functions build a figure without
writing it, so its artists can be inspected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from birdie_core.config import RESOLVED_CONFIG_NAME
from birdie_core.curriculum.metrics import METRICS_NAME, measured_mean, read_metrics
from birdie_core.errors import BirdieError, RunDirectoryError
from birdie_core.train.runs import TRAIN_LOG, read_train_log

__all__ = [
    "EXPLORATION_LABEL",
    "GAIN_LABEL",
    "MAX_SERIES",
    "OTHER",
    "SMOOTH_LABEL",
    "STRONG_LABEL",
    "decision_kind",
    "effective_step",
    "mixture_figure",
    "objective_classes",
    "plot_run",
    "predicted_gain",
    "series_of",
    "series_styles",
    "train_loss_figure",
    "validation_figure",
]

MAX_SERIES = 12  # more legend entries than this stop being readable next to a 10-inch plot
OTHER = "other"
EXPLORATION_LABEL = "exploration (agent tried a mixture)"
STRONG_LABEL = "jump (strong evidence)"
SMOOTH_LABEL = "smooth step (bounded change)"
GAIN_LABEL = "predicted gain over uniform"
# decision kind → (label, marker, face colour) of its tick above the mixture's top edge: black and white, so no
# tick is mistaken for a series' colour
_DECISION_MARKS = {
    "explore": (EXPLORATION_LABEL, "v", "black"),
    "strong": (STRONG_LABEL, "D", "black"),
    "smooth": (SMOOTH_LABEL, "o", "white"),
}
_LINE_STYLES = ("-", "--", ":", "-.")
_HATCHES = {"-": None, "--": "//", ":": "..", "-.": "xx"}  # areas cannot be dashed: the same cycle, hatched


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
    last_step = max([r["step"] + 1 for r in steps] + [0])
    written = []
    if metrics:
        written.append(_save(mixture_figure(metrics, classes, last_step), run_dir / "mixture.png"))
        written.append(_save(validation_figure(metrics, classes), run_dir / "validation_loss.png"))
    if steps:
        written.append(_save(train_loss_figure(steps), run_dir / "train_loss.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    # through a temporary name, so an interrupted redraw never leaves a truncated PNG behind
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, path)
    return path


def _classes(run_dir: Path) -> dict[str, str]:
    """Objective key → objective class (the bare objective name), from the run's resolved config."""
    from birdie_core.config.yaml_lines import load_yaml_with_lines

    path = run_dir / RESOLVED_CONFIG_NAME
    if not path.is_file():
        return {}
    try:
        # the bounded loader: a run directory may come from elsewhere, and a plot is no reason to expand
        # a billion-laughs file
        cfg, _ = load_yaml_with_lines(path)
    except BirdieError:
        return {}
    return objective_classes(cfg.get("objectives", []) if isinstance(cfg, dict) else [])


def objective_classes(objectives: Any) -> dict[str, str]:
    """Objective key → objective class (the bare objective name: ``text.infilling`` → ``infilling``), from the
    ``objectives`` list of a resolved config; entries without an id and a name are passed over."""
    if not isinstance(objectives, list):
        return {}
    return {
        str(o["id"]): str(o["name"]).rpartition(".")[2]
        for o in objectives
        if isinstance(o, dict) and "id" in o and "name" in o
    }


def effective_step(record: Mapping[str, Any]) -> int:
    """The training step from which the mixture of an evaluation record is drawn.

    `birdie train` consumes one batch per step, so the batches between the evaluation and the effective batch
    (``effective_batch - batches_consumed``, the pipeline's lookahead) are as many steps; counting from the
    evaluation step keeps this right for resumed runs. Older records without those fields: the evaluation step.
    """
    step = int(record["step"])
    if "effective_batch" in record and "batches_consumed" in record:
        return step + int(record["effective_batch"]) - int(record["batches_consumed"])
    return int(record.get("effective_batch", step))


def series_of(
    metrics: Sequence[Mapping[str, Any]], classes: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Objective key → the series it is drawn in (the rule is in the module's docstring)."""
    keys = list(metrics[0]["mixture"]) if metrics else []
    if len(keys) <= MAX_SERIES:
        return {k: k for k in keys}
    classes = classes or {}
    grouped = {k: classes.get(k, k) for k in keys}
    if len(set(grouped.values())) <= MAX_SERIES:
        return grouped
    mean_share: dict[str, float] = {}
    for r in metrics:
        for k, v in r["mixture"].items():
            mean_share[grouped.get(k, k)] = mean_share.get(grouped.get(k, k), 0.0) + float(v)
    kept = set(sorted(mean_share, key=lambda g: -mean_share[g])[: MAX_SERIES - 1])
    return {k: g if g in kept else OTHER for k, g in grouped.items()}


def _aggregate(values: Mapping[str, float], series: Mapping[str, str], how: str) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for key, v in values.items():
        out.setdefault(series.get(key, OTHER), []).append(float(v))
    return {k: float(np.sum(v) if how == "sum" else np.mean(v)) for k, v in out.items()}


def _ordered(series: Mapping[str, str]) -> list[str]:
    names = list(dict.fromkeys(series.values()))
    return [n for n in names if n != OTHER] + ([OTHER] if OTHER in names else [])


def series_styles(n: int) -> list[tuple[tuple[float, ...], str]]:
    """``n`` (colour, line style) pairs: 20 distinct colours, then the colours again with another style."""
    from matplotlib import colormaps

    tab20 = list(colormaps["tab20"].colors)  # type: ignore[attr-defined]
    palette = tab20[0::2] + tab20[1::2]
    return [
        (tuple(palette[i % len(palette)]), _LINE_STYLES[(i // len(palette)) % len(_LINE_STYLES)])
        for i in range(n)
    ]


def _styled(names: list[str]) -> list[tuple[str, Any, str]]:
    # "other" is the rest lumped together: neutral grey, so it reads as background, not as an objective
    styles = series_styles(len(names))
    return [(n, (0.75, 0.75, 0.75) if n == OTHER else c, s) for n, (c, s) in zip(names, styles, strict=True)]


def _figure(title: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def _legend(ax: Any) -> None:
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small")


def decision_kind(record: Mapping[str, Any]) -> str | None:
    """``explore``, ``strong`` (a jump on strong evidence) or ``smooth`` (a bounded step) for a decision whose
    record says so; None for records without the agent's reasons (warm-up, a static agent, older runs)."""
    if record.get("explored"):
        return "explore"
    info = record.get("agent")
    if not isinstance(info, Mapping) or "strong" not in info:
        return None
    return "strong" if info["strong"] else "smooth"


def predicted_gain(record: Mapping[str, Any]) -> float | None:
    """``score_chosen − score_uniform`` of a decision's ``agent`` dict (predicted gain over the uniform
    mixture, in the agent's class-normalised reward units); None when the record lacks either."""
    info = record.get("agent")
    if not isinstance(info, Mapping):
        return None
    chosen, uniform = info.get("score_chosen"), info.get("score_uniform")
    if not isinstance(chosen, int | float) or not isinstance(uniform, int | float):
        return None
    gain = float(chosen) - float(uniform)
    return gain if np.isfinite(gain) else None


def mixture_figure(
    metrics: Sequence[Mapping[str, Any]], classes: Mapping[str, str] | None = None, last_step: int = 0
) -> Any:
    """The stacked commanded mixture, each one from the step it takes effect until the next one does; each
    decision marked by kind when the records say why, and the predicted gain over uniform below when they
    carry the scores."""
    from matplotlib.figure import Figure

    series = series_of(metrics, classes)
    names = _ordered(series)
    rows = [_aggregate(r["mixture"], series, "sum") for r in metrics]
    starts = [effective_step(r) for r in metrics]
    end = max(last_step, starts[-1])
    x = np.array(starts + [end], dtype=float)
    gains = [
        (s, g)
        for s, g in ((s, predicted_gain(r)) for s, r in zip(starts, metrics, strict=True))
        if g is not None
    ]
    fig = Figure(figsize=(10, 6.5 if gains else 5.5), layout="constrained")
    if gains:
        ax, gain_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    else:
        ax, gain_ax = fig.add_subplot(), None
    kinds = [decision_kind(r) for r in metrics]
    ticks = any(k in ("strong", "smooth") for k in kinds)
    # room above the axes for the decision ticks
    ax.set_title("Objective mixture commanded by the agent", pad=14 if ticks else 6)
    ax.grid(alpha=0.3)
    bottom = np.zeros(len(x))
    for name, colour, style in _styled(names):
        share = np.array([row.get(name, 0.0) for row in rows] + [rows[-1].get(name, 0.0)])
        ax.fill_between(
            x,
            bottom,
            bottom + share,
            step="post",
            color=colour,
            alpha=0.9,
            lw=0,
            hatch=_HATCHES[style],
            label=name,
        )
        bottom = bottom + share
    explored = [s for s, k in zip(starts, kinds, strict=True) if k == "explore"]
    if explored:
        ax.vlines(explored, 0, 1, colors="black", linestyles="--", lw=1.5, zorder=3, label=EXPLORATION_LABEL)
    if ticks:
        # ticks just above the top edge (x in data, y in axes units), one legend entry per kind; exploration
        # gets a tick as well (unlabelled: its dashed line is already in the legend) so every decision has one
        for kind, (label, marker, colour) in _DECISION_MARKS.items():
            xs = [s for s, k in zip(starts, kinds, strict=True) if k == kind]
            if xs:
                ax.plot(
                    xs,
                    [1.02] * len(xs),
                    ls="",
                    marker=marker,
                    ms=6,
                    markerfacecolor=colour,
                    markeredgecolor="black",
                    transform=ax.get_xaxis_transform(),
                    clip_on=False,
                    zorder=4,
                    label=label if kind != "explore" else "_" + label,
                )
    ax.set_ylabel("share of the batches drawn per objective")
    ax.set_xlim(0, max(end, 1))
    ax.set_ylim(0, 1)
    _legend(ax)
    xlabel = "training step (each mixture from the step it takes effect)"
    if gain_ax is None:
        ax.set_xlabel(xlabel)
        return fig
    gx, gy = zip(*gains, strict=True)
    gain_ax.axhline(0.0, color="grey", lw=0.8)
    gain_ax.vlines(gx, 0, gy, colors="tab:purple", lw=1.2)
    gain_ax.plot(gx, gy, ls="", marker="o", ms=3, color="tab:purple", label=GAIN_LABEL)
    gain_ax.set_ylabel("gain", fontsize="small")
    gain_ax.set_xlabel(xlabel)
    gain_ax.grid(alpha=0.3)
    gain_ax.legend(
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize="small",
        title="score_chosen − score_uniform",
        title_fontsize="x-small",
    )
    return fig


def validation_figure(metrics: Sequence[Mapping[str, Any]], classes: Mapping[str, str] | None = None) -> Any:
    """Validation loss per series (mean over a series' configurations) and over all configurations."""
    series = series_of(metrics, classes)
    names = _ordered(series)
    rows = [_aggregate(r["losses"], series, "mean") for r in metrics]
    steps = [r["step"] for r in metrics]
    fig, ax = _figure("Validation loss per objective")
    for name, colour, style in _styled(names):
        ax.plot(
            steps,
            [row.get(name, np.nan) for row in rows],
            color=colour,
            ls=style,
            marker="o",
            ms=3,
            label=name,
        )
    mean = [measured_mean(r["losses"]) for r in metrics]
    ax.plot(steps, mean, color="black", ls="--", lw=2, label="mean of all")
    ax.set_xlabel("training step (evaluation)")
    ax.set_ylabel("validation loss (nats per target token)")
    _legend(ax)
    return fig


def train_loss_figure(steps: Sequence[Mapping[str, Any]]) -> Any:
    """Loss per step, its running mean and the learning rate on a right-hand axis, in one legend."""
    x = np.array([r["step"] + 1 for r in steps])
    loss = np.array([r["loss"] for r in steps], dtype=float)
    fig, ax = _figure("Training loss")
    ax.plot(x, loss, color="tab:blue", alpha=0.35, lw=0.8, label="loss per step")
    window = max(1, min(50, len(loss) // 10))
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    ax.plot(x[window - 1 :], smooth, color="tab:blue", lw=2, label=f"mean of {window} steps")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    lr_ax = ax.twinx()
    lr_ax.plot(
        x, [r["lr"] for r in steps], color="tab:orange", lw=1.2, ls="--", label="learning rate (right axis)"
    )
    lr_ax.set_ylabel("learning rate")
    # a twin axis keeps its own handles: one legend for both, or the learning rate goes unnamed
    handles = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
    # below the plot: to the right it would cover the learning rate's tick labels
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    return fig
