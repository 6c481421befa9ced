"""Time one agent decision: ``python -m birdie_rewards.benchmark [--agent birdie|linear] [--arms 96] [--evaluations 40]``.

The ``birdie`` agent gets a synthetic history of ``evaluations`` rows over ``arms`` configurations (in 8
classes), then decides once without exploring: it retrains its reward model (``train_steps``) and scores
``num_candidates`` mixtures. Prints the time of each part; the defaults are the agent's own. The ``linear``
agent decides ``evaluations + 1`` times on the same kind of history and the last decision is timed.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from birdie_core import Arm
from birdie_rewards.birdie_agent import BirdieAgent
from birdie_rewards.linear_agent import LinearAgent


def time_decision(arms: int = 96, evaluations: int = 40, repeats: int = 3, **config) -> dict[str, float]:
    """Seconds for one whole decision and for its parts (the minimum over ``repeats``).

    The CPU time of a one-thread decision is what the wall clock shows on an idle machine.
    """
    cfg = BirdieAgent.Config(
        name="rewards.birdie", warmup_steps=0, explore_max=0.0, explore_min=0.0, **config
    )
    arm_list = [Arm(f"c{i}", f"class{i % 8}") for i in range(arms)]
    rng = np.random.default_rng(0)
    losses = np.sort(rng.uniform(2.0, 6.0, size=(evaluations + 1, arms)), axis=0)[::-1]
    mixtures = rng.dirichlet(np.ones(arms), size=evaluations)
    rewards = rng.uniform(-0.2, 0.6, size=(evaluations, arms))
    state = {
        "version": 2,
        "arms": [a.key for a in arm_list],
        "rows": np.concatenate([losses[:-1], mixtures], axis=1),
        "targets": rewards,
        "last_losses": losses[-1],
        "mixture": mixtures[-1],
        "anchor": mixtures[-1],
        "decisions": evaluations,
        "records": [],
        "model": None,
        "optimizer": None,
    }
    best: dict[str, float] = {}
    for _ in range(repeats):
        agent = BirdieAgent(cfg, arm_list, np.ones(arms), seed=0, num_steps=100_000)
        agent.load_state_dict(state)
        agent._rows, agent._targets = agent._rows[:-1], agent._targets[:-1]  # decide() appends the last row
        agent._last_losses, agent._mixture = losses[-2], mixtures[-1]
        t0, c0 = time.perf_counter(), time.process_time()
        decision = agent.decide(100 * evaluations, losses[-1], rewards[-1])
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert decision.info["phase"] == "exploit"
        t1 = time.perf_counter()
        agent._train()
        train = time.perf_counter() - t1
        candidates = agent.candidates(np.random.default_rng(1))
        t2 = time.perf_counter()
        agent.predict(candidates, losses[-1])
        score_first = time.perf_counter() - t2
        parts = {
            "decision (wall clock)": total,
            "decision (CPU time)": cpu,
            "  of which training": train,
            "  of which scoring (encode history + candidates)": score_first,
        }
        best = {k: min(v, best.get(k, float("inf"))) for k, v in parts.items()}
    return best


def time_linear_decision(
    arms: int = 96, evaluations: int = 40, repeats: int = 3, **config
) -> dict[str, float]:
    """Seconds for the ``linear`` agent's decision after ``evaluations`` of history (minimum over ``repeats``)."""
    arm_list = [Arm(f"c{i}", f"class{i % 8}") for i in range(arms)]
    rng = np.random.default_rng(0)
    losses = np.sort(rng.uniform(2.0, 6.0, size=(evaluations + 1, arms)), axis=0)[::-1]
    rewards = rng.uniform(-0.2, 0.6, size=(evaluations + 1, arms))
    best = float("inf")
    for _ in range(repeats):
        agent = LinearAgent(
            LinearAgent.Config(name="rewards.linear", **config), arm_list, np.ones(arms), seed=0
        )
        for t in range(evaluations):
            agent.decide(100 * t, losses[t], None if t == 0 else rewards[t])
        t0 = time.perf_counter()
        agent.decide(100 * evaluations, losses[-1], rewards[-1])
        best = min(best, time.perf_counter() - t0)
    return {"decision (wall clock)": best}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agent", choices=("birdie", "linear"), default="birdie")
    ap.add_argument("--arms", type=int, default=96)
    ap.add_argument("--evaluations", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--config", default="{}", help='agent config overrides as JSON, e.g. \'{"width": 256, "layers": 4}\''
    )
    args = ap.parse_args()
    timer = time_decision if args.agent == "birdie" else time_linear_decision
    out = timer(args.arms, args.evaluations, args.repeats, **json.loads(args.config))
    print(f"{args.agent} agent, {args.arms} configurations, {args.evaluations} evaluations of history:")
    for k, v in out.items():
        print(f"  {k:50s} {v:.3f} s")


if __name__ == "__main__":
    main()
