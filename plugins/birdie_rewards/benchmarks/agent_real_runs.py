"""Measure issue 18's real-run targets for an agent and reward (slow: real training runs).

    python plugins/birdie_rewards/benchmarks/agent_real_runs.py [--part quickstart|unlearnable|all]
        [--seeds N | --seeds 0,3,4] [--jobs 2] [--steps S] [--out DIR]
        [--agent '{name: linear}'] [--reward '{name: new_low, form: absolute}']

``--agent`` and ``--reward`` (YAML mappings) replace the curriculum's agent and reward in both parts; without
them each part runs its config as it is.

``unlearnable`` (seeds 0..9 by default): the setup of the unlearnable-objective tests in
``tests/train/test_train.py`` (next-token, prefix-LM, copying and ``noise``, whose targets are uniformly random
bytes; 200 steps, an evaluation every 10), by default with the ``birdie`` agent of ``tests.support.tiny_config``
and the ``birdie`` reward. Per seed: the noise objective's share of the batches over the run (the commanded draw
probability of every consumed batch after the first evaluation, as the test computes it), its realised share of
the examples, and its mean commanded share over the second half of the decisions. Targets: median share of the
batches ≤ 0.08, maximum ≤ 0.15.

``quickstart`` (seeds 0..4 by default): ``configs/quickstart.yaml`` with its agent, and the same config with the
core ``static`` agent (every objective's default ``prob``: the uniform mixture). Per seed: the final mean
validation loss of each. Target: the agent's ≤ uniform's in ≥ 4 of 5 seeds. ``--steps`` shortens the runs
(``curriculum.num_steps``; the quickstart's is 500) — a shortened run measures something else, say so.

Runs go to ``--out`` (a temporary directory by default, removed at the end), ``--jobs`` processes at a time,
each on one torch thread. Prints a table per part and, last, one JSON object with every measurement.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
NOISE = "noise"
MEDIAN_TARGET = 0.08
MAX_TARGET = 0.15
WINS_TARGET = 4  # of 5 seeds


def _path() -> None:
    # `tests.support` holds the unlearnable setup (tiny_config, the noise objective's plugin)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _quiet(_: str) -> None:
    pass


def unlearnable_config(output: Path, seed: int, curriculum: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config of the unlearnable-objective test, with ``seed`` (and ``curriculum`` entries replaced)."""
    _path()
    from tests import support

    cfg = support.unlearnable_config(output)
    cfg["seed"] = seed
    cfg["curriculum"].update(copy.deepcopy(curriculum or {}))
    return cfg


def noise_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    """The noise objective's shares of a run's evaluation records (the first has consumed no batch)."""
    later = [r for r in records[1:] if r.get("realised")]
    batches = sum(r["realised"]["batches"] for r in later)
    commanded = (
        sum(r["realised"]["commanded_share"][NOISE] * r["realised"]["batches"] for r in later) / batches
    )
    examples = sum(r["realised"]["example_share"][NOISE] * r["realised"]["batches"] for r in later) / batches
    shares = [r["mixture"][NOISE] for r in records]
    second_half = shares[len(shares) // 2 :]
    return {
        "of_batches": commanded,
        "of_examples": examples,
        "second_half_mean": sum(second_half) / len(second_half),
        "final": shares[-1],
    }


def _read_metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def run_unlearnable(job: tuple[int, str, dict[str, Any]]) -> dict[str, Any]:
    seed, out, curriculum = job
    _path()
    from birdie_core.train.loop import train
    from tests.support import registry_with_noise

    run = Path(out) / f"unlearnable-{seed}"
    started = time.perf_counter()
    result = train(
        unlearnable_config(run, seed, curriculum),
        registry=registry_with_noise(),
        overwrite=True,
        echo=_quiet,
        progress="none",
    )
    losses = result.final_losses or {}
    return {
        "seed": seed,
        **noise_shares(_read_metrics(run)),
        "noise_loss": losses.get(NOISE),
        "max_learnable_loss": max(v for k, v in losses.items() if k != NOISE),
        "seconds": time.perf_counter() - started,
    }


def quickstart_config(
    agent: str, seed: int, steps: int | None, curriculum: dict[str, Any] | None = None
) -> dict[str, Any]:
    import yaml

    cfg = yaml.safe_load(QUICKSTART.read_text())
    cfg["seed"] = seed
    if agent == "static":
        cfg["curriculum"]["agent"] = {"name": "static"}  # every objective's default prob: uniform
    else:
        cfg["curriculum"].update(copy.deepcopy(curriculum or {}))
    if steps is not None:
        cfg["curriculum"]["num_steps"] = steps
    cfg["train"]["checkpoint_every"] = None
    return copy.deepcopy(cfg)


def run_quickstart(job: tuple[str, int, int | None, str, dict[str, Any]]) -> dict[str, Any]:
    agent, seed, steps, out, curriculum = job
    from birdie_core.train.loop import train

    run = Path(out) / f"quickstart-{agent}-{seed}"
    started = time.perf_counter()
    result = train(
        quickstart_config(agent, seed, steps, curriculum),
        output=run,
        overwrite=True,
        echo=_quiet,
        progress="none",
    )
    losses = result.final_losses or {}
    records = _read_metrics(run)
    top = [max(r["mixture"].values()) for r in records]
    return {
        "agent": agent,
        "seed": seed,
        "steps": result.steps_done,
        "final_mean_loss": sum(losses.values()) / len(losses),
        "initial_mixture": result.initial_mixture,
        "largest_share_max": max(top),
        "explored": sum(bool(r.get("explored")) for r in records),
        "strong": sum(bool((r.get("agent") or {}).get("strong")) for r in records),
        "seconds": time.perf_counter() - started,
    }


def _pool(jobs: int) -> ProcessPoolExecutor:
    # spawn: each run starts a fresh interpreter (torch and the data workers do not mix well with fork)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))


def measure_unlearnable(
    seeds: list[int], jobs: int, out: str, curriculum: dict[str, Any] | None = None
) -> dict[str, Any]:
    work = [(s, out, dict(curriculum or {})) for s in seeds]
    with _pool(jobs) as pool:
        rows = sorted(pool.map(run_unlearnable, work), key=lambda r: r["seed"])
    of_batches = [r["of_batches"] for r in rows]
    median, worst = statistics.median(of_batches), max(of_batches)
    print(f"\nunlearnable objective, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}): noise share")
    print(
        f"{'seed':>4} {'of batches':>10} {'of examples':>11} {'2nd half':>8} {'final':>6} {'noise loss':>10} {'s':>5}"
    )
    for r in rows:
        print(
            f"{r['seed']:>4} {r['of_batches']:>10.3f} {r['of_examples']:>11.3f} {r['second_half_mean']:>8.3f}"
            f" {r['final']:>6.3f} {r['noise_loss']:>10.3f} {r['seconds']:>5.0f}"
        )
    ok = median <= MEDIAN_TARGET and worst <= MAX_TARGET
    print(
        f"share of batches: median {median:.3f} (target ≤ {MEDIAN_TARGET}), max {worst:.3f} (target ≤ {MAX_TARGET})"
        f" -> {'met' if ok else 'NOT met'}"
    )
    return {"runs": rows, "median_of_batches": median, "max_of_batches": worst, "target_met": ok}


def measure_quickstart(
    seeds: list[int], jobs: int, steps: int | None, out: str, curriculum: dict[str, Any] | None = None
) -> dict[str, Any]:
    work = [(agent, s, steps, out, dict(curriculum or {})) for s in seeds for agent in ("agent", "static")]
    with _pool(jobs) as pool:
        rows = list(pool.map(run_quickstart, work))
    by = {(r["agent"], r["seed"]): r for r in rows}
    length = f"{steps} steps (shortened)" if steps is not None else "500 steps"
    print(f"\nquickstart, {length}, seeds {seeds}: final mean validation loss")
    print(
        f"{'seed':>4} {'agent':>8} {'uniform':>8} {'diff':>7} {'max share':>9} {'explored':>8} {'strong':>6}"
    )
    wins = 0
    per_seed = []
    for s in seeds:
        a, u = by[("agent", s)], by[("static", s)]
        diff = a["final_mean_loss"] / u["final_mean_loss"] - 1
        wins += a["final_mean_loss"] <= u["final_mean_loss"]
        per_seed.append(
            {"seed": s, "agent": a["final_mean_loss"], "uniform": u["final_mean_loss"], "relative": diff}
        )
        print(
            f"{s:>4} {a['final_mean_loss']:>8.4f} {u['final_mean_loss']:>8.4f} {diff:>+7.2%}"
            f" {a['largest_share_max']:>9.2f} {a['explored']:>8} {a['strong']:>6}"
        )
    need = WINS_TARGET if len(seeds) == 5 else -(-WINS_TARGET * len(seeds) // 5)
    ok = wins >= need
    print(
        f"agent ≤ uniform in {wins} of {len(seeds)} seeds (target ≥ {need}) -> {'met' if ok else 'NOT met'}"
    )
    return {"steps": steps or 500, "per_seed": per_seed, "runs": rows, "wins": wins, "target_met": ok}


def _seeds(text: str, default: int) -> list[int]:
    if not text:
        return list(range(default))
    return [int(s) for s in text.split(",")] if "," in text else list(range(int(text)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("quickstart", "unlearnable", "all"), default="all")
    parser.add_argument("--seeds", default="", help="N (seeds 0..N-1) or a comma list; default 5 / 10")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (processes)")
    parser.add_argument(
        "--steps", type=int, default=None, help="shorten the quickstart runs to this many steps"
    )
    parser.add_argument("--out", default=None, help="keep the run directories here")
    parser.add_argument(
        "--agent", default=None, help="replace the agent, e.g. '{name: linear}' (YAML; default: the configs')"
    )
    parser.add_argument(
        "--reward",
        default=None,
        help="replace the reward, e.g. '{name: new_low}' (YAML; default: the configs')",
    )
    args = parser.parse_args(argv)
    import yaml

    curriculum: dict[str, Any] = {}
    for key, text in (("agent", args.agent), ("reward", args.reward)):
        if text:
            value = yaml.safe_load(text)
            if not isinstance(value, dict) or "name" not in value:
                parser.error(f"--{key} must be a YAML mapping with a name, e.g. '{{name: linear}}'; got {text!r}")
            curriculum[key] = value
    if curriculum:
        print(f"curriculum overrides: {curriculum}")
    report: dict[str, Any] = {"curriculum": curriculum}
    with tempfile.TemporaryDirectory(prefix="birdie-real-runs-") as tmp:
        out = args.out or tmp
        Path(out).mkdir(parents=True, exist_ok=True)
        if args.part in ("unlearnable", "all"):
            report["unlearnable"] = measure_unlearnable(_seeds(args.seeds, 10), args.jobs, out, curriculum)
        if args.part in ("quickstart", "all"):
            report["quickstart"] = measure_quickstart(
                _seeds(args.seeds, 5), args.jobs, args.steps, out, curriculum
            )
    print(json.dumps(report, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
