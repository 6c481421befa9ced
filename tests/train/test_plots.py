"""The run plots, checked through the artists matplotlib builds rather than their pixels."""

from __future__ import annotations

import json

import pytest
from matplotlib.colors import to_rgba

from birdie_core.train import plots

PNG = b"\x89PNG\r\n\x1a\n"
LOOKAHEAD = 4


def _records(keys, evaluations=4, every=3, explored=(1,)):
    """Evaluation records as `birdie train` writes them: a multi-worker pipeline (lookahead 4)."""
    out = []
    for i in range(evaluations):
        step = i * every
        weights = [(j + 1 + i) % 7 + 1 for j in range(len(keys))]
        mixture = {k: w / sum(weights) for k, w in zip(keys, weights, strict=True)}
        out.append(
            {
                "evaluation": i,
                "step": step,
                "batches_consumed": step,
                "effective_batch": step + LOOKAHEAD,
                "mixture": mixture,
                "losses": {k: 3.0 - 0.1 * i + 0.01 * j for j, k in enumerate(keys)},
                "explored": i in explored,
            }
        )
    return out


def _train_log(n=12):
    return [
        {"step": s, "loss": 4.0 - 0.1 * s, "lr": 1e-3 * min(1, (s + 1) / 3), "tokens": 256} for s in range(n)
    ]


def _write_run(run_dir, metrics, steps, objectives=None):
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    (run_dir / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in steps))
    if objectives is not None:
        (run_dir / "config.resolved.yaml").write_text(json.dumps({"objectives": objectives}))
    return run_dir


def _labelled(ax):
    legend = ax.get_legend() or next(iter(ax.figure.legends), None)
    return (
        {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
        if legend
        else {}
    )


def test_the_mixture_starts_where_it_takes_effect_and_exploration_is_visible():
    metrics = _records(["ntp", "plm", "span"], explored=(1, 3))
    fig = plots.mixture_figure(metrics, last_step=16)
    ax = fig.axes[0]
    areas = [c for c in ax.collections if c.get_label() in {"ntp", "plm", "span"}]
    assert len(areas) == 3
    for area in areas:
        xs = area.get_paths()[0].vertices[:, 0]
        assert xs.min() == LOOKAHEAD  # the first effective step, not the evaluation at step 0
        assert xs.max() == 16
    # the step edges sit at the effective steps (evaluation step + lookahead)
    edges = set(areas[0].get_paths()[0].vertices[:, 0])
    assert {r["step"] + LOOKAHEAD for r in metrics} <= edges
    assert not {1.0, 2.0} & edges
    marks = [c for c in ax.collections if c.get_label() == plots.EXPLORATION_LABEL]
    assert len(marks) == 1 and (marks[0].get_alpha() is None or marks[0].get_alpha() >= 0.5)
    assert sorted(seg[0][0] for seg in marks[0].get_segments()) == [3 + LOOKAHEAD, 9 + LOOKAHEAD]
    assert set(_labelled(ax)) == {"ntp", "plm", "span", plots.EXPLORATION_LABEL}


def test_effective_step_counts_the_lookahead_from_the_evaluation_step():
    # a resumed run: its streams' batch count need not equal the step, the lookahead still does
    assert plots.effective_step({"step": 30, "batches_consumed": 10, "effective_batch": 14}) == 34
    assert plots.effective_step({"step": 30, "effective_batch": 31}) == 31
    assert plots.effective_step({"step": 30}) == 30


def test_every_line_of_every_plot_is_in_a_legend_including_the_learning_rate():
    metrics = _records(["ntp", "plm"])
    figures = [plots.validation_figure(metrics), plots.train_loss_figure(_train_log())]
    for fig in figures:
        labels = set(_labelled(fig.axes[0]))
        lines = [line for ax in fig.axes for line in ax.get_lines()]
        assert lines and all(line.get_label() in labels for line in lines)
    assert any("learning rate" in label for label in _labelled(figures[1].axes[0]))


def test_twenty_series_get_twenty_colours_then_new_line_styles():
    styles = plots.series_styles(45)
    assert len({c for c, _ in styles[:20]}) == 20
    assert {s for _, s in styles[:20]} == {"-"}
    assert len(set(styles)) == 45  # past 20 the colours repeat, but never with the same style
    keys = [f"obj{i}" for i in range(12)]
    fig = plots.validation_figure(_records(keys))
    colours = {to_rgba(line.get_color()) for line in fig.axes[0].get_lines() if line.get_label() in keys}
    assert len(colours) == 12


def test_many_configurations_are_grouped_by_class_then_top_k_and_other():
    keys = [f"cfg{i}" for i in range(83)]
    metrics = _records(keys)
    by_class = plots.series_of(metrics, {k: f"class{i % 5}" for i, k in enumerate(keys)})
    assert set(by_class.values()) == {f"class{i}" for i in range(5)}
    top = plots.series_of(metrics)  # no resolved config: configurations, the largest kept
    assert len(set(top.values())) == plots.MAX_SERIES and plots.OTHER in top.values()
    fig = plots.mixture_figure(metrics, last_step=12)
    labels = set(_labelled(fig.axes[0]))
    assert len(labels - {plots.EXPLORATION_LABEL}) == plots.MAX_SERIES and plots.OTHER in labels
    # the stacked shares still reach the top: nothing was dropped by grouping
    top_area = next(c for c in fig.axes[0].collections if c.get_label() == plots.OTHER)
    assert top_area.get_paths()[0].vertices[:, 1].max() == pytest.approx(1.0)


def test_plot_run_writes_valid_pngs_grouped_by_the_resolved_config(tmp_path):
    keys = [f"cfg{i}" for i in range(14)]
    objectives = [
        {"id": k, "name": f"plugin.module.{'prefix_lm' if i % 2 else 'span'}"} for i, k in enumerate(keys)
    ]
    run = _write_run(tmp_path / "run", _records(keys), _train_log(), objectives)
    written = plots.plot_run(run)
    assert {p.name for p in written} == {"mixture.png", "validation_loss.png", "train_loss.png"}
    assert all(p.read_bytes()[:8] == PNG for p in written)
    assert not list(run.glob("*.tmp"))
    assert set(plots.series_of(_records(keys), plots._classes(run)).values()) == {"prefix_lm", "span"}


def test_a_hostile_resolved_config_only_loses_the_grouping(tmp_path):
    run = _write_run(tmp_path / "run", _records(["a", "b"]), _train_log())
    laughs = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    (run / "config.resolved.yaml").write_text("\n".join(laughs) + "\n")
    assert plots._classes(run) == {}
    assert len(plots.plot_run(run)) == 3


def _with_reasons(records):
    """The birdie agent's decision records: exploiting ones carry `strong` and the predicted scores."""
    out = []
    for i, r in enumerate(records):
        r = dict(r)
        if not r["explored"]:
            r["agent"] = {
                "phase": "exploit",
                "strong": i == 2,
                "step_size": 1.0 if i == 2 else 0.4,
                "change": 0.2,
                "score_chosen": 0.3 + 0.1 * i,
                "score_uniform": 0.25,
                "predicted_class_rewards": {"ntp": 0.1, "plm": 0.2},
            }
        else:
            r["agent"] = {"phase": "explore", "explore_rate": 0.3}
        out.append(r)
    return out


def test_each_decision_is_marked_by_kind_with_its_predicted_gain_over_uniform():
    metrics = _with_reasons(_records(["ntp", "plm"], evaluations=5, explored=(1,)))
    assert [plots.decision_kind(r) for r in metrics] == ["smooth", "explore", "strong", "smooth", "smooth"]
    fig = plots.mixture_figure(metrics, last_step=16)
    ax, gain_ax = fig.axes[0], fig.axes[1]
    labels = _labelled(ax)
    assert {plots.EXPLORATION_LABEL, plots.STRONG_LABEL, plots.SMOOTH_LABEL} <= set(labels)
    marks = {line.get_label(): sorted(line.get_xdata()) for line in ax.get_lines()}
    assert marks[plots.STRONG_LABEL] == [6 + LOOKAHEAD]
    assert marks[plots.SMOOTH_LABEL] == [LOOKAHEAD, 9 + LOOKAHEAD, 12 + LOOKAHEAD]
    # exploration keeps its full-height dashed line
    lines = [c for c in ax.collections if c.get_label() == plots.EXPLORATION_LABEL]
    assert len(lines) == 1 and lines[0].get_segments()[0][1][1] == 1
    gain = next(line for line in gain_ax.get_lines() if line.get_label() == plots.GAIN_LABEL)
    assert list(gain.get_xdata()) == [LOOKAHEAD, 6 + LOOKAHEAD, 9 + LOOKAHEAD, 12 + LOOKAHEAD]
    assert list(gain.get_ydata()) == pytest.approx([0.05, 0.25, 0.35, 0.45])
    assert plots.GAIN_LABEL in _labelled(gain_ax)


def test_records_without_the_agents_reasons_draw_the_mixture_alone(tmp_path):
    # a static agent's or an older run's records: no `agent` dict, or one without `strong` and the scores
    bare = _records(["ntp", "plm"], explored=())
    static = [dict(r, agent={"phase": "static"}) for r in bare]
    for metrics in (bare, static):
        fig = plots.mixture_figure(metrics, last_step=12)
        assert len(fig.axes) == 1
        assert set(_labelled(fig.axes[0])) == {"ntp", "plm"}
        assert [plots.decision_kind(r) for r in metrics] == [None] * len(metrics)
    # partial scores (no score_uniform) give no gain panel, but the kinds are still marked
    partial = [dict(r, agent={"strong": False, "score_chosen": 0.2}) for r in bare]
    fig = plots.mixture_figure(partial, last_step=12)
    assert len(fig.axes) == 1 and plots.SMOOTH_LABEL in _labelled(fig.axes[0])
    run = _write_run(tmp_path / "run", _with_reasons(_records(["a", "b"])), _train_log())
    assert (run / "mixture.png") in plots.plot_run(run)
    assert (run / "mixture.png").read_bytes()[:8] == PNG
