"""``birdie simulate``: run agents on synthetic loss curves and print what they did."""

from __future__ import annotations

import time
from typing import Any

import click

ALL = "all"


def _parse_settings(items: tuple[str, ...], option: str = "--set") -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _agents(reg: Any, name: str, settings: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(qualified agent name, config overrides) to run; ``all`` adds EXP3 fed raw loss, as ODM does."""
    if name != ALL:
        return [(reg.resolve("agent", name).qualified_name, dict(settings))]
    runs = [(n, dict(settings)) for n in reg.names("agent")]
    if "rewards.exp3" in reg.names("agent"):
        runs.append(("rewards.exp3", {**settings, "reward_source": "raw_loss"}))
    return runs


def _label(agent: str, overrides: dict[str, Any]) -> str:
    extra = ",".join(f"{k}={v}" for k, v in overrides.items() if k == "reward_source" and v != "reward")
    return f"{agent}[{extra}]" if extra else agent


@click.command("simulate")
@click.argument("scenario", default=ALL, required=False)
@click.option(
    "--agent", "agent_name", default="birdie", show_default=True, help="A registered agent, or 'all'."
)
@click.option(
    "--reward", default="birdie", show_default=True, help="The reward function the agent learns from."
)
@click.option(
    "--seeds", default=1, show_default=True, type=click.IntRange(1), help="Seeds 0..N-1; medians reported."
)
@click.option("--evaluations", default=None, type=click.IntRange(2), help="Evaluations per run (default 40).")
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", help="Agent config override (repeatable)."
)
@click.option(
    "--reward-set",
    "reward_settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Reward config override (repeatable), e.g. --reward new_low --reward-set form=absolute.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Give the birdie agent its real defaults (width 128, 2 layers, 200 training steps: about 10× slower) "
    "instead of the quick simulation settings.",
)
@click.option(
    "--every", default=4, show_default=True, type=click.IntRange(1), help="Print every N-th evaluation."
)
@click.option(
    "--plot", "plot_path", default=None, type=click.Path(dir_okay=False), help="Also draw the mixtures (PNG)."
)
def simulate(
    scenario: str,
    agent_name: str,
    reward: str,
    seeds: int,
    evaluations: int | None,
    settings: tuple[str, ...],
    reward_settings: tuple[str, ...],
    full: bool,
    every: int,
    plot_path: str | None,
) -> None:
    """Run agents on synthetic loss curves that react to the mixture, and compare with the uniform mixture.

    SCENARIO is one of improving_vs_plateaued, noise, transfer, split, mixed, forgetting, interference,
    noise_drift, or 'all' (default). Prints the
    mixture trajectory (share per objective class, first seed) and the final summed loss versus the uniform
    mixture, as the median over seeds.
    """
    from birdie_core import default_registry
    from birdie_rewards import simulate as sim

    reg = default_registry()
    names = list(sim.SCENARIOS) if scenario == ALL else [scenario]
    for n in names:
        if n not in sim.SCENARIOS:
            raise click.BadParameter(f"unknown scenario {n!r}; choose from {', '.join(sim.SCENARIOS)} or all")
    runs = _agents(reg, agent_name, _parse_settings(settings))
    reward_config = _parse_settings(reward_settings, "--reward-set")
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            click.echo(
                "warning: --plot needs matplotlib, which is not installed (pip install 'birdie-rewards[plot]'); "
                "printing the results only",
                err=True,
            )
            plot_path = None

    started = time.perf_counter()
    summaries, drawn = [], []
    for n in names:
        sc = sim.SCENARIOS[n]
        _, best = sim.best_fixed_mixture(sc)
        for agent, overrides in runs:
            config = dict(overrides)
            if agent == "rewards.birdie" and not full:
                config = {**sim.SIMULATION_BIRDIE_CONFIG, **config}
            results = [
                sim.simulate(
                    sc,
                    agent,
                    seed=s,
                    evaluations=evaluations,
                    reward=reward,
                    agent_config=config,
                    reward_config=reward_config,
                )
                for s in range(seeds)
            ]
            label = _label(agent, overrides)
            for r in results:
                r.agent = label
            summary = sim.summarise(results, best=best / results[0].uniform_summed - 1.0)
            _print_run(sc, results[0], label, summary, every, best)
            summaries.append((label, summary))
            drawn.append(results[0])
    _print_summary(summaries, time.perf_counter() - started)
    if plot_path is not None:
        sim.plot_results(drawn, plot_path)
        click.echo(f"wrote {plot_path}")


def _print_run(sc: Any, r: Any, label: str, summary: Any, every: int, best: float) -> None:
    from birdie_rewards.simulate import class_shares

    names, shares = class_shares(sc, r.mixtures[1:])
    width = max(7, *(len(x) for x in names))
    click.echo(f"\n── {sc.name} · {label} · seed {r.seed}  ({sc.description})")
    click.echo("  step  phase    " + " ".join(x[:width].rjust(width) for x in names))
    click.echo(
        "     0  initial  " + " ".join(f"{v:{width}.3f}" for v in class_shares(sc, r.mixtures[:1])[1][0])
    )
    for i, step in enumerate(r.steps):
        if i % every == every - 1 or i == len(r.steps) - 1:
            phase = r.phases[i] or ("explore" if r.explored[i] else "")
            click.echo(f"{step:6d}  {phase[:7]:7s}  " + " ".join(f"{v:{width}.3f}" for v in shares[i]))
    noise = (
        ""
        if summary.noise_share is None
        else (
            f"; noise share: last mixture {summary.final_noise_share:.3f}, second half {summary.noise_share:.3f}"
        )
    )
    click.echo(
        f"  summed loss {r.summed:.3f} vs uniform {r.uniform_summed:.3f} ({r.relative:+.2%}); "
        f"median of {summary.seeds} seed(s): {summary.relative:+.2%}"
        + ("" if summary.captured is None else f" ({summary.captured:.0%} of the best fixed mixture's gain)")
        + noise
    )


def _print_summary(rows: list[tuple[str, Any]], seconds: float) -> None:
    click.echo(
        "\nsummary (medians over seeds; summed loss = sum over classes of the mean final loss; "
        "of best = share of the best fixed mixture's gain captured)"
    )
    head = (
        f"  {'scenario':24s} {'agent':36s} {'vs uniform':>10s} {'best fixed':>10s} {'of best':>8s} "
        f"{'noise last':>10s} {'noise 2nd½':>10s} {'s/decision':>10s}"
    )
    click.echo(head)
    for label, s in rows:
        nl = "-" if s.final_noise_share is None else f"{s.final_noise_share:.3f}"
        nh = "-" if s.noise_share is None else f"{s.noise_share:.3f}"
        share = "-" if s.captured is None else f"{s.captured:.0%}"
        click.echo(
            f"  {s.scenario:24s} {label:36s} {s.relative:+10.2%} {s.best:+10.2%} {share:>8s} {nl:>10s} "
            f"{nh:>10s} {s.seconds_per_decision:10.4f}"
        )
    click.echo(f"  ({seconds:.1f} s)")
