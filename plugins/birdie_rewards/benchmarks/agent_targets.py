"""Measure issue 18's simulator targets for an agent: share of the hindsight-best gain, never worse than uniform.

    python plugins/birdie_rewards/benchmarks/agent_targets.py [--agent birdie|linear|...] [--seeds 5]
        [--reward birdie] [--reward-set K=V ...] [--set KEY=VALUE ...] [--full] [--workers 2]
        [--scenarios a,b] [--no-timing]

Runs an agent (default ``birdie``, with the simulator's quick settings unless ``--full``) on every scenario of
``birdie simulate`` for seeds 0..N-1 and prints, per scenario, the median summed loss relative to the uniform
mixture, the best fixed mixture's (chosen in hindsight), the share of that gain the agent captured (median of
the per-seed shares), the worst seed, and the noise objective's share over the second half. Then it times one
decision of that agent (``birdie`` or ``linear``) at 96 configurations × 40 evaluations of history on one CPU
thread with its real defaults (``birdie_rewards.benchmark``). Targets: ≥ 75% of the hindsight gain on every
scenario, never worse than uniform (median), decision ≤ 1 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import yaml
from birdie_rewards.simulate import SCENARIOS, SIMULATION_BIRDIE_CONFIG, best_fixed_mixture, simulate

CAPTURE_TARGET = 0.75
DECISION_TARGET_S = 1.0


def _run(
    job: tuple[str, int, str, str, dict[str, Any], dict[str, Any]],
) -> tuple[str, int, float, float | None]:
    scenario, seed, agent, reward, config, reward_config = job
    r = simulate(scenario, agent, seed=seed, reward=reward, agent_config=config, reward_config=reward_config)
    return scenario, seed, r.relative, r.noise_share


def measure(
    scenarios: list[str],
    seeds: int,
    reward: str,
    config: dict[str, Any],
    workers: int,
    reward_config: dict[str, Any] | None = None,
    agent: str = "rewards.birdie",
) -> list[dict[str, Any]]:
    jobs = [
        (s, seed, agent, reward, config, dict(reward_config or {}))
        for s in scenarios
        for seed in range(seeds)
    ]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            out = list(pool.map(_run, jobs))
    else:
        out = [_run(j) for j in jobs]
    rows = []
    for name in scenarios:
        sc = SCENARIOS[name]
        _, best = best_fixed_mixture(sc)
        k = len(sc.curves)
        uniform = simulate(sc, "core.static", seed=0, reward=None).uniform_summed
        best_rel = best / uniform - 1.0
        rel = [r for s, _, r, _ in out if s == name]
        noise = [n for s, _, _, n in out if s == name and n is not None]
        captured = [r / best_rel for r in rel]
        rows.append(
            {
                "scenario": name,
                "relative": float(np.median(rel)),
                "worst": float(np.max(rel)),
                "best": best_rel,
                "captured": float(np.median(captured)),
                "noise_share": float(np.median(noise)) if noise else None,
                "arms": k,
            }
        )
    return rows


def _settings(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = yaml.safe_load(value)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--agent", default="birdie", help="a registered agent (birdie, linear, exp3, ...)")
    ap.add_argument("--reward", default="birdie")
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--reward-set", dest="reward_settings", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--full", action="store_true", help="the agent's real defaults, not the quick settings")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--no-timing", action="store_true")
    args = ap.parse_args()
    overrides, reward_overrides = _settings(args.settings), _settings(args.reward_settings)
    agent = args.agent if "." in args.agent else f"rewards.{args.agent}"
    quick = agent == "rewards.birdie" and not args.full
    config = {**(SIMULATION_BIRDIE_CONFIG if quick else {}), **overrides}
    scenarios = args.scenarios.split(",")
    started = time.perf_counter()
    rows = measure(scenarios, args.seeds, args.reward, config, args.workers, reward_overrides, agent)
    print(
        f"{agent} agent, reward {args.reward}{' ' + str(reward_overrides) if reward_overrides else ''}, "
        f"{'simulation settings' if quick else 'real defaults'}"
        f"{', ' + str(overrides) if overrides else ''}; median of {args.seeds} seeds "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print(
        f"| scenario | vs uniform | best fixed | share of best gain | worst seed | noise share (2nd half) | "
        f"≥ {CAPTURE_TARGET:.0%} and ≤ uniform |"
    )
    print("|---|---|---|---|---|---|---|")
    met = True
    for r in rows:
        ok = r["captured"] >= CAPTURE_TARGET and r["relative"] <= 0
        met &= ok
        noise = "-" if r["noise_share"] is None else f"{r['noise_share']:.3f}"
        print(
            f"| `{r['scenario']}` | {r['relative']:+.2%} | {r['best']:+.2%} | {r['captured']:.0%} | "
            f"{r['worst']:+.2%} | {noise} | {'yes' if ok else 'NO'} |"
        )
    print(f"simulator targets {'met' if met else 'NOT met'}")
    if not args.no_timing:
        from birdie_rewards.benchmark import time_decision, time_linear_decision

        if agent == "rewards.linear":
            t = time_linear_decision(96, 40, repeats=3)
            wall = cpu = t["decision (wall clock)"]
            parts = ""
        else:
            t = time_decision(96, 40, repeats=3)
            wall, cpu = t["decision (wall clock)"], t["decision (CPU time)"]
            parts = f" (training {t['  of which training']:.3f} s)"
        print(
            f"{agent} decision at 96 configurations × 40 evaluations, one thread, real defaults: {wall:.3f} s "
            f"wall, {cpu:.3f} s CPU{parts} — target ≤ {DECISION_TARGET_S:.0f} s: "
            f"{'met' if min(wall, cpu) <= DECISION_TARGET_S else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
