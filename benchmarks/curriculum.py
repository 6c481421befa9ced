"""What the curriculum buys: ``make bench-curriculum`` pre-trains the reference models under five mixtures
of objectives, fine-tunes each briefly on phone-book retrieval, and writes one table and one plot.

The grid: {``birdie`` agent, ``linear`` agent, uniform static mixture, UL2 static mixture, next-token only} ×
{``prefix_lm_transformer``, ``gated_ssm``} × seeds. Every cell is two runs of ``birdie train``
(``birdie_core.train.train``):

1. **pre-training** on the embedded corpus (CPython's documentation, byte tokenizer) under the arm's
   objectives:

   - ``birdie``: the quickstart preset's eight objective configurations (next-token prediction, prefix-LM,
     two infillings, copying, deshuffling, autoencoding, selective copying) under the paper's reward-driven
     agent (uniform for a warm-up, then it decides at every evaluation);
   - ``linear``: the same eight configurations under the quickstart's agent and reward (``linear``, counting
     configurations, and ``new_low`` in its absolute form), deciding from the first evaluation on;
   - ``uniform``: the same eight configurations under the ``static`` agent at equal shares;
   - ``ul2``: UL2's seven denoisers (R, X, S; configs/ul2.yaml) under the ``static`` agent at equal shares;
   - ``next_token``: next-token prediction alone;

2. **fine-tuning** on phone-book retrieval (the ``task`` source; ``train.init_from`` the pre-training run:
   its weights, a fresh optimizer and schedule), scored at the end by ``train.evals``: phone-book digit
   accuracy (greedy decoding, instances never trained on) and the exact match of an associative-recall probe.
   The example is ``task_answer``'s (prefix ``prompt [start]``, target the answer), made by this script's
   ``bench.answer_tail`` objective, which keeps the pre-trained vocabulary (see :func:`_answer_objective`).

**The common validation loss.** Each arm's own validation losses measure different objectives and cannot be
compared across arms. The table's loss is measured the same way for every pre-trained model: the mean
next-token loss (plain next-token prediction, no paradigm marker) on the same fixed batches of the corpus's
validation split, computed here from the pre-training run's final weights. It is the ``next_token`` arm's
own training format; the ``birdie``, ``linear`` and ``uniform`` arms train it as one of eight objectives; ``ul2`` never
trains it (its nearest objective is the prefix-LM S-denoiser), so its number is partly format transfer.

    .venv/bin/python benchmarks/curriculum.py [--scale cpu|gpu|smoke] [--smoke] [--seeds 3] [--jobs 2]
        [--arms birdie,linear,uniform,ul2,next_token] [--models prefix_lm_transformer,gated_ssm]
        [--output benchmarks/results] [--runs DIR] [--show JSON]

``--scale cpu`` (the default) fits the whole grid in about 40 minutes on a quiet 2-core CPU; ``--scale
gpu`` is a larger setting for one GPU (sizes only: the same grid); ``--smoke`` (``--scale smoke``) is the
tiniest grid, a couple of steps per run, for the test suite. Results go to ``OUTPUT/curriculum-<scale>.json``
and ``.md`` and the plot to ``OUTPUT/curriculum-<scale>.png``; the run directories to ``--runs`` (default
``runs/bench-curriculum/<scale>``, or ``OUTPUT/runs`` when ``--output`` is given).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

ARMS = ("birdie", "linear", "uniform", "ul2", "next_token")
MODELS = ("prefix_lm_transformer", "gated_ssm")
ARM_TITLES = {
    "birdie": "birdie agent",
    "linear": "linear agent",
    "uniform": "uniform (static)",
    "ul2": "UL2 (static)",
    "next_token": "next-token only",
}

#: the sizes of each scale. ``eval_every``: evaluations of the pre-training run (the birdie agent decides at
#: each one); ``book``: the phone book of fine-tuning and scoring; ``probe``: the associative-recall probe.
SCALES: dict[str, dict[str, Any]] = {
    "cpu": {
        "seeds": 3,
        "sequence_length": 256,
        "batch_size": 8,
        "model": {"width": 64, "depth": 2, "heads": 4},
        "lr": 2e-3,
        "pretrain_steps": 200,
        "warmup_steps": 20,
        "agent_warmup": 20,
        "eval_steps": [0, 10, 20, 30, 40, 60, 80, 100, 125, 150, 175],
        "num_validation_batches": 1,
        "finetune_steps": 150,
        "finetune_lr": 2e-3,
        "finetune_batch_size": 16,
        "book": {"entries": 6, "queries": 1, "digits": 3},
        "probe": {"pairs": 4, "digits": 2},
        "eval_n": 64,
        "ntp_batches": 4,
        "length": [32, 96],
        "agent": {"width": 64, "layers": 1, "heads": 2, "train_steps": 100, "num_candidates": 512},
    },
    "gpu": {
        "seeds": 3,
        "sequence_length": 1024,
        "batch_size": 32,
        "model": {"width": 512, "depth": 8, "heads": 8},
        "lr": 1e-3,
        "pretrain_steps": 5000,
        "warmup_steps": 200,
        "agent_warmup": 250,
        "eval_steps": [0, 10, 50, 250, 500, 750, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500],
        "num_validation_batches": 2,
        "finetune_steps": 1000,
        "finetune_lr": 5e-4,
        "finetune_batch_size": 32,
        "book": {"entries": 32, "queries": 4, "digits": 5},
        "probe": {"pairs": 8, "digits": 2},
        "eval_n": 256,
        "ntp_batches": 8,
        "length": [64, 512],
        "agent": {},
    },
    "smoke": {
        "seeds": 1,
        "sequence_length": 128,
        "batch_size": 2,
        "model": {"width": 16, "depth": 2, "heads": 2},
        "lr": 2e-3,
        "pretrain_steps": 2,
        "warmup_steps": 1,
        "agent_warmup": 0,
        "eval_steps": [0, 1],
        "num_validation_batches": 1,
        "finetune_steps": 2,
        "finetune_lr": 2e-3,
        "finetune_batch_size": 2,
        "book": {"entries": 2, "queries": 1, "digits": 2},
        "probe": {"pairs": 2, "digits": 1},
        "eval_n": 4,
        "ntp_batches": 1,
        "length": [16, 48],
        "agent": {"width": 8, "layers": 1, "heads": 2, "train_steps": 5, "num_candidates": 32},
    },
}
#: the smoke grid: one arm per model, so both models and both agent kinds run
SMOKE_CELLS = (("birdie", "gated_ssm"), ("next_token", "prefix_lm_transformer"))
NUM_SENTINELS = 64


# -- the fine-tuning objective -------------------------------------------------------------------------------


def _answer_objective() -> type:
    """``bench.answer_tail``: ``task_answer``'s example (prefix ``prompt [start]``, target the answer) without
    reserving any id of its own.

    ``train.init_from`` needs the fine-tuning run's vocabulary to be the pre-training run's exactly, and
    ``task_answer`` reserves ``<|answer|>`` (the prompt/answer boundary), which no pre-training arm has. A
    phone-book answer has a known length (``queries × digits`` digits and ``queries − 1`` commas, one byte
    each with the byte tokenizer), so this objective finds the boundary by counting from the end, and
    reserves exactly the markers it is given (``reserve``: the pre-training run's), so both runs' tokenizers
    are the same."""
    from pydantic import Field

    from birdie_core.evals.training import TaskAnswer, TaskAnswerConfig
    from birdie_core.interfaces import ConfigInt

    class AnswerTailConfig(TaskAnswerConfig):
        answer_tokens: ConfigInt = Field(ge=1, description="Tokens of every answer (the document's tail).")
        reserve: tuple[str, ...] = Field((), description="Markers to reserve (the pre-trained run's).")

    class AnswerTail(TaskAnswer):
        Config = AnswerTailConfig

        def special_tokens(self) -> tuple[str, ...]:
            return tuple(self.config.reserve)

        def build(self, tokens: Any, budget: int, ctx: Any) -> tuple[Any, Any]:
            k = self.config.answer_tokens
            if tokens.size <= k or self.overhead + tokens.size - 1 > budget:
                return None, tokens
            example = self.make_example(tokens[:-k], tokens[-k:], ctx, consumed=int(tokens.size))
            return example, tokens[tokens.size :]

    return AnswerTail


class _BenchPlugin:
    """Registers ``bench.answer_tail``."""

    def __init__(self) -> None:
        from birdie_core.hookspecs import hookimpl

        def birdie_register_objectives(register: Any) -> None:
            register("answer_tail", _answer_objective())

        self.birdie_register_objectives = hookimpl(birdie_register_objectives)


def registry() -> Any:
    """The installed plugins (text objectives, the birdie agent) and this benchmark's objective."""
    from birdie_core.registry import load_registry

    return load_registry(autoload=True, extra_plugins={"bench": _BenchPlugin()})


def markers_of(config: dict[str, Any], reg: Any) -> list[str]:
    """The markers the tokenizer of ``config`` reserves, in id order (the start marker first)."""
    from birdie_core.pipeline.build import Components

    return list(Components.resolve(config, reg).tokenizer().reserved.markers)


# -- the configs ---------------------------------------------------------------------------------------------


def objectives(arm: str, scale: dict[str, Any]) -> list[dict[str, Any]]:
    """The arm's objective configurations (``prob`` is the static agent's share; all equal here)."""
    length = scale["length"]
    seq = scale["sequence_length"]
    if arm in ("birdie", "linear", "uniform"):
        # the quickstart preset's configurations, lengths scaled to the rows; next-token prediction carries no
        # paradigm marker, so the common validation loss is measured in the format every arm trains it in
        return [
            {"name": "next_token_prediction", "id": "next_token"},
            {"name": "prefix_lm", "id": "prefix_lm", "prefix_fraction": 0.75, "paradigm": "<|PREFIX_LM|>"},
            {
                "name": "text.infilling",
                "id": "infill_r15_s3",
                "corruption_rate": 0.15,
                "mean_span": 3,
                "paradigm": "<|INFILL|>",
            },
            {
                "name": "text.infilling",
                "id": "infill_r50_s8",
                "corruption_rate": 0.5,
                "mean_span": 8,
                "paradigm": "<|INFILL|>",
            },
            {"name": "text.copying", "id": "copying", "length": length, "paradigm": "<|COPY|>"},
            {
                "name": "text.deshuffling",
                "id": "deshuffling",
                "fraction": 0.5,
                "unit": "characters",
                "length": length,
                "paradigm": "<|DESHUFFLE|>",
            },
            {
                "name": "text.autoencoding",
                "id": "autoencoding",
                "corruption_rate": 0.15,
                "mean_span": 3,
                "length": length,
                "paradigm": "<|AUTOENCODE|>",
            },
            {
                "name": "text.selective_copying",
                "id": "selective_copying",
                "spans": [1, 2],
                "span_length": [4, 16],
                "length": [max(48, seq // 4), max(64, seq * 5 // 8)],
                "paradigm": "<|SELECTIVE_COPY|>",
            },
        ]
    if arm == "ul2":
        # configs/ul2.yaml: R (0.15, 3), (0.15, 8); X (0.5, 3), (0.5, 8), (0.15, 64), (0.5, 64); S prefix-LM
        return [
            {
                "name": "prefix_lm",
                "id": "s_prefix_lm",
                "prob": 1.0,
                "prefix_fraction": 0.75,
                "paradigm": "[S]",
            },
            *(
                {
                    "name": "text.infilling",
                    "id": f"{p.lower()}_rate{round(r * 100)}_span{s}",
                    "prob": 1.0,
                    "corruption_rate": r,
                    "mean_span": s,
                    "paradigm": f"[{p}]",
                }
                for p, r, s in (
                    ("R", 0.15, 3),
                    ("R", 0.15, 8),
                    ("X", 0.5, 3),
                    ("X", 0.5, 8),
                    ("X", 0.15, 64),
                    ("X", 0.5, 64),
                )
            ),
        ]
    if arm == "next_token":
        return [{"name": "next_token_prediction", "id": "next_token"}]
    raise ValueError(f"unknown arm {arm!r}; arms: {', '.join(ARMS)}")


def _train_section(scale: dict[str, Any], model: str, output: Path, **changes: Any) -> dict[str, Any]:
    model_cfg = {"name": model, **scale["model"]}
    if model == "gated_ssm":
        model_cfg.pop("heads")
    return {
        "model": model_cfg,
        "optimizer": {"lr": scale["lr"], "warmup_steps": scale["warmup_steps"]},
        "output": str(output),
        "log_every": 1_000_000,
        "num_threads": 1,
        **changes,
    }


def pretrain_config(arm: str, model: str, seed: int, scale: dict[str, Any], output: Path) -> dict[str, Any]:
    """The pre-training run of one cell of the grid."""
    if arm == "birdie":
        curriculum: dict[str, Any] = {
            "agent": {"name": "birdie", "warmup_steps": scale["agent_warmup"], **scale["agent"]},
            "reward": {"name": "birdie"},
            "steps_between_evaluations": scale["eval_steps"],
        }
    elif arm == "linear":  # the quickstart's agent and reward, with their defaults
        curriculum = {
            "agent": {"name": "linear", "count": "configuration"},
            "reward": {"name": "new_low", "form": "absolute"},
            "steps_between_evaluations": scale["eval_steps"],
        }
    else:  # static: the configured shares (all equal), evaluated as often as the agent's arm for the record
        curriculum = {"agent": {"name": "static"}, "steps_between_evaluations": scale["eval_steps"]}
    curriculum["num_steps"] = scale["pretrain_steps"]
    curriculum["num_validation_batches"] = scale["num_validation_batches"]
    return {
        "seed": seed,
        "batch_size": scale["batch_size"],
        "sequence_length": scale["sequence_length"],
        "tokenizer": {"name": "bytes", "num_sentinels": NUM_SENTINELS},
        "data": {"train": {"name": "embedded"}, "validation": {"name": "embedded", "split": "validation"}},
        "objectives": objectives(arm, scale),
        "packer": {"name": "best_fit"},
        "curriculum": curriculum,
        "workers": {"num_workers": 0},
        "train": _train_section(scale, model, output),
    }


def task_evals(scale: dict[str, Any]) -> list[dict[str, Any]]:
    """What the fine-tuned model is scored on: the phone book it was tuned on (instances of the evaluator's
    own stream, never trained on) and the associative-recall probe."""
    n = scale["eval_n"]
    return [
        {"task": "phonebook", "n": n, "seed": 0, **scale["book"]},
        {"task": "associative_recall", "n": n, "seed": 0, **scale["probe"]},
    ]


def finetune_config(
    model: str, seed: int, scale: dict[str, Any], output: Path, init_from: Path, reserve: list[str]
) -> dict[str, Any]:
    """Brief fine-tuning on phone-book retrieval from the pre-training run's weights (the same for every arm;
    ``reserve``: the pre-training run's markers, so that the vocabularies are the same)."""
    steps = scale["finetune_steps"]
    book = scale["book"]
    answer_tokens = book["queries"] * book["digits"] + book["queries"] - 1
    return {
        "seed": seed,
        "batch_size": scale["finetune_batch_size"],
        "sequence_length": scale["sequence_length"],
        "tokenizer": {"name": "bytes", "num_sentinels": NUM_SENTINELS},
        "data": {
            "train": {"name": "task", "task": "phonebook", "count": 20_000, "seed": seed, **book},
            "validation": {"name": "task", "task": "phonebook", "split": "validation", "count": 64, **book},
        },
        "objectives": [
            {
                "name": "bench.answer_tail",
                "id": "phonebook",
                "answer_tokens": answer_tokens,
                "reserve": reserve,
            }
        ],
        "packer": {"name": "best_fit"},
        "curriculum": {"agent": {"name": "static"}, "steps_between_evaluations": steps, "num_steps": steps},
        "workers": {"num_workers": 0},
        "train": _train_section(
            scale,
            model,
            output,
            optimizer={"lr": scale["finetune_lr"], "warmup_steps": max(1, steps // 10)},
            init_from=str(init_from),
            evals=task_evals(scale),
        ),
    }


def ntp_probe_config(scale: dict[str, Any]) -> dict[str, Any]:
    """The pipeline whose validation batches give the common next-token loss (byte ids only: the same ids in
    every arm's vocabulary)."""
    return {
        "seed": 0,
        "batch_size": scale["batch_size"],
        "sequence_length": scale["sequence_length"],
        "tokenizer": {"name": "bytes", "num_sentinels": NUM_SENTINELS},
        "data": {"train": {"name": "embedded"}, "validation": {"name": "embedded", "split": "validation"}},
        "objectives": [{"name": "next_token_prediction", "id": "next_token"}],
        "packer": {"name": "best_fit"},
        "curriculum": {
            "agent": {"name": "static"},
            "num_steps": 1,
            "num_validation_batches": scale["ntp_batches"],
        },
        "workers": {"num_workers": 0},
    }


# -- one cell ------------------------------------------------------------------------------------------------


def _ntp_batches(scale: dict[str, Any]) -> list[dict[str, Any]]:
    from birdie_core import Birdie

    with Birdie(ntp_probe_config(scale)) as birdie:
        return [batch for _, batch in birdie.measure_validation_losses()]


def common_ntp_loss(run_dir: Path, scale: dict[str, Any], reg: Any) -> float:
    """Mean next-token loss of the run's final model on the common validation batches (token-weighted)."""
    import torch

    from birdie_core.train.evaluation import load_trained_model

    model, _ = load_trained_model(run_dir, reg)
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in _ntp_batches(scale):
            labelled = int((batch["label_ids"] != -100).sum())
            total += float(model(**batch)) * labelled
            count += labelled
    return total / max(count, 1)


def run_cell(arm: str, model: str, seed: int, scale_name: str, runs_dir: str) -> dict[str, Any]:
    """Pre-train, measure the common loss, fine-tune and score one cell; its row of numbers."""
    from birdie_core.train.loop import train

    scale = SCALES[scale_name]
    reg = registry()
    base = Path(runs_dir) / f"{arm}-{model}-s{seed}"
    log_path = base.with_suffix(".log")
    base.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log:

        def echo(line: str) -> None:
            log.write(line + "\n")
            log.flush()

        started = time.perf_counter()
        pre_cfg = pretrain_config(arm, model, seed, scale, base / "pretrain")
        pre = train(pre_cfg, overwrite=True, progress="none", echo=echo, registry=reg)
        pretrain_s = time.perf_counter() - started
        ntp = common_ntp_loss(pre.run_dir, scale, reg)
        own = pre.final_losses or {}
        own_values = [v for v in own.values() if v is not None and math.isfinite(v)]

        tuned_at = time.perf_counter()
        reserve = markers_of(pre_cfg, reg)
        ft_cfg = finetune_config(model, seed, scale, base / "finetune", pre.run_dir, reserve)
        ft = train(ft_cfg, overwrite=True, progress="none", echo=echo, registry=reg)
        finetune_s = time.perf_counter() - tuned_at
    tasks = getattr(ft, "final_tasks", None) or {}
    book_key, probe_key = (_task_key(e) for e in task_evals(scale))
    return {
        "arm": arm,
        "model": model,
        "seed": seed,
        "ntp_val_loss": ntp,
        "own_val_loss_mean": statistics.fmean(own_values) if own_values else None,
        "final_mixture": pre.final_mixture,
        "phonebook_digit_accuracy": tasks.get(book_key),
        "associative_recall_exact_match": tasks.get(probe_key),
        "finetune_val_loss": (ft.final_losses or {}).get("phonebook"),
        "pretrain_s": round(pretrain_s, 1),
        "finetune_s": round(finetune_s, 1),
        "run_dir": str(base),
    }


def _task_key(entry: dict[str, Any]) -> str:
    from birdie_core.evals import TaskEval

    return TaskEval(**entry).key


# -- the table -----------------------------------------------------------------------------------------------

METRICS = (
    ("ntp_val_loss", "next-token val. loss ↓", 3),
    ("phonebook_digit_accuracy", "phone-book digit acc. ↑", 3),
    ("associative_recall_exact_match", "assoc. recall EM ↑", 3),
)


#: the chance level of each score (phone-book: a random digit; recall: a random value of the list)
CHANCE = {
    "phonebook_digit_accuracy": lambda settings: 0.1,
    "associative_recall_exact_match": lambda settings: 1 / settings["probe"]["pairs"],
}


def summarise(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per arm × model: mean and sample standard deviation over seeds of every metric."""
    rows = []
    for model in MODELS:
        for arm in ARMS:
            mine = [c for c in cells if c["arm"] == arm and c["model"] == model and "error" not in c]
            if not mine:
                continue
            row: dict[str, Any] = {"arm": arm, "model": model, "seeds": sorted(c["seed"] for c in mine)}
            for key, _, _ in METRICS:
                values = [float(c[key]) for c in mine if c.get(key) is not None]
                row[key] = {
                    "mean": statistics.fmean(values) if values else None,
                    "sd": statistics.stdev(values) if len(values) > 1 else (0.0 if values else None),
                    "values": values,
                }
            rows.append(row)
    return rows


def _cell(stat: dict[str, Any], digits: int) -> str:
    if stat["mean"] is None:
        return "n/a"
    if len(stat["values"]) < 2:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    head = "| model | mixture | " + " | ".join(title for _, title, _ in METRICS) + " |"
    lines = [
        (
            f"Curriculum benchmark ({results['scale']}), {results['date'][:10]}, "
            f"{results['machine']['summary']}; {len(results['seeds'])} seed(s) {results['seeds']}, "
            f"mean ± sd over seeds; {results['elapsed_s']:.0f} s."
        ),
        "",
        head,
        "|" + "---|" * (2 + len(METRICS)),
    ]
    for row in results["table"]:
        cells = [_cell(row[key], digits) for key, _, digits in METRICS]
        lines.append(f"| {row['model']} | {ARM_TITLES[row['arm']]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        (
            f"Pre-training: {s['pretrain_steps']} steps × {s['batch_size']} rows × "
            f"{s['sequence_length']} tokens, width {s['model']['width']}, depth {s['model']['depth']}. "
            f"Fine-tuning: {s['finetune_steps']} steps × {s['finetune_batch_size']} rows on phone books of "
            f"{s['book']['entries']} entries, {s['book']['queries']} query, {s['book']['digits']} digits. "
            "Next-token val. loss: every pre-trained model on the same "
            f"{s['ntp_batches']} validation batches of plain next-token prediction. Scores: "
            f"{s['eval_n']} held-out instances each (phone-book chance ≈ 0.1; associative recall with "
            f"{s['probe']['pairs']} pairs, chance of a random value of the list "
            f"{1 / s['probe']['pairs']:.2f})."
        ),
    ]
    failed = [c for c in results["cells"] if "error" in c]
    if failed:
        lines += [
            "",
            "Failed cells: "
            + "; ".join(f"{c['arm']}/{c['model']}/s{c['seed']}: {c['error']}" for c in failed),
        ]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.6))
    arms = [a for a in ARMS if any(r["arm"] == a for r in results["table"])]
    width = 0.8 / max(1, len(arms))
    for ax, (key, title, _) in zip(axes, METRICS):
        for i, arm in enumerate(arms):
            xs, means, sds, dots = [], [], [], []
            for j, model in enumerate(MODELS):
                row = next((r for r in results["table"] if r["arm"] == arm and r["model"] == model), None)
                if row is None or row[key]["mean"] is None:
                    continue
                x = j + (i - (len(arms) - 1) / 2) * width
                xs.append(x)
                means.append(row[key]["mean"])
                sds.append(row[key]["sd"] or 0.0)
                dots += [(x, v) for v in row[key]["values"]]
            ax.bar(xs, means, width * 0.9, yerr=sds, capsize=3, label=ARM_TITLES[arm])
            if dots:
                ax.scatter(*zip(*dots), s=8, color="black", zorder=3)
        ax.set_xticks(range(len(MODELS)), MODELS, fontsize=8)
        ax.set_title(title, fontsize=10)
        if key == "ntp_val_loss":
            lows = [v for r in results["table"] for v in r[key]["values"]]
            if lows:
                ax.set_ylim(min(lows) * 0.9, max(lows) * 1.05)
        else:
            chance = CHANCE[key](results["settings"])
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
            ax.set_title(f"{title} (dashed: chance)", fontsize=10)
            ax.set_ylim(0, max(1.15 * chance, ax.get_ylim()[1]))
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"Birdie curriculum benchmark ({results['scale']}, {results['date'][:10]}, "
        f"{len(results['seeds'])} seeds)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- main ----------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cores = os.cpu_count() or 1
    from measures import cpu_name  # benchmarks/ is on sys.path when a script of it runs

    cpu = cpu_name()
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001, S110 - only a description: without it the machine is a CPU
        pass
    summary = f"{gpu} GPU" if gpu else f"{cores}-core CPU ({cpu})"
    return {"cpu": cpu, "cores": cores, "gpu": gpu, "python": platform.python_version(), "summary": summary}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    ap.add_argument("--smoke", action="store_true", help="the tiniest grid (same as --scale smoke)")
    ap.add_argument("--seeds", type=int, help="seeds per cell (default: the scale's)")
    ap.add_argument("--jobs", type=int, default=2, help="cells trained at once, one process each (default 2)")
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--output", help="folder of the JSON, Markdown and PNG (default benchmarks/results)")
    ap.add_argument("--runs", help="folder of the run directories")
    ap.add_argument("--show", metavar="JSON", help="print the Markdown table of a saved result")
    ap.add_argument("--plot", metavar="JSON", help="redraw the plot of a saved result (the PNG beside it)")
    args = ap.parse_args(argv)
    if args.show:
        print(markdown(json.loads(Path(args.show).read_text(encoding="utf-8"))), end="")
        return 0
    if args.plot:
        saved = Path(args.plot)
        drawn = plot(json.loads(saved.read_text(encoding="utf-8")), saved.with_suffix(".png"))
        print(f"written: {drawn}" if drawn else "no plot: matplotlib is missing")
        return 0 if drawn else 1
    scale_name = "smoke" if args.smoke else args.scale
    scale = SCALES[scale_name]
    output = Path(args.output) if args.output else RESULTS
    runs_dir = (
        Path(args.runs)
        if args.runs
        else (output / "runs" if args.output else ROOT / "runs" / "bench-curriculum" / scale_name)
    )
    output.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seeds if args.seeds is not None else scale["seeds"]))
    arms = [a for a in args.arms.split(",") if a]
    models = [m for m in args.models.split(",") if m]
    for a in arms:
        if a not in ARMS:
            ap.error(f"unknown arm {a!r}; arms: {', '.join(ARMS)}")
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r}; models: {', '.join(MODELS)}")
    if scale_name == "smoke" and args.arms == ",".join(ARMS) and args.models == ",".join(MODELS):
        grid = [(a, m, s) for a, m in SMOKE_CELLS for s in seeds]
    else:
        grid = [(a, m, s) for s in seeds for m in models for a in arms]

    started = time.perf_counter()
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    print(f"{len(grid)} cells ({scale_name}), {args.jobs} at a time; runs in {runs_dir}", flush=True)
    cells: list[dict[str, Any]] = []
    env_threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    os.environ.update(env_threads)
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_cell, a, m, s, scale_name, str(runs_dir)): (a, m, s) for a, m, s in grid}
        for future in as_completed(futures):
            a, m, s = futures[future]
            try:
                cell = future.result()
            except Exception as exc:  # noqa: BLE001 - one failed cell is reported, the rest still count
                cell = {"arm": a, "model": m, "seed": s, "error": f"{type(exc).__name__}: {exc}"[:500]}
                print(f"  {a:>10} {m:>21} seed {s}: FAILED {cell['error']}", flush=True)
            else:
                print(
                    f"  {a:>10} {m:>21} seed {s}: next-token loss {cell['ntp_val_loss']:.3f}, phone-book "
                    f"{_fmt(cell['phonebook_digit_accuracy'])}, "
                    f"recall {_fmt(cell['associative_recall_exact_match'])}"
                    f" ({cell['pretrain_s']:.0f} + {cell['finetune_s']:.0f} s; "
                    f"{time.perf_counter() - started:.0f} s in)",
                    flush=True,
                )
            cells.append(cell)
    cells.sort(key=lambda c: (MODELS.index(c["model"]), ARMS.index(c["arm"]), c["seed"]))
    settings = {k: v for k, v in scale.items() if k != "seeds"}
    results: dict[str, Any] = {
        "benchmark": "curriculum",
        "scale": scale_name,
        "date": date,
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, "benchmarks/curriculum.py", *(argv or sys.argv[1:])]),
        "seeds": seeds,
        "settings": settings,
        "common_loss": "mean next-token loss of each pre-trained model on the same validation batches "
        "(plain next_token_prediction, no paradigm marker)",
        "elapsed_s": round(time.perf_counter() - started, 1),
        "table": summarise(cells),
        "cells": cells,
    }
    stem = output / f"curriculum-{scale_name}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    text = markdown(results)
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    picture = plot(results, stem.with_suffix(".png"))
    print("\n" + text)
    print(f"written: {stem}.json, .md" + (", .png" if picture else " (no plot: matplotlib is missing)"))
    return 1 if any("error" in c for c in cells) else 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(main())
