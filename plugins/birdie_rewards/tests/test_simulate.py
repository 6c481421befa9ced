"""The simulator, and what the agents do in it (SPEC §4): medians over seeds, 40 evaluations each (the `birdie`
agent, which trains a model at every decision: 3 seeds; the others: 5)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from birdie_rewards.plugin import birdie_register_commands
from birdie_rewards.simulate import (
    SCENARIOS,
    SIMULATION_BIRDIE_CONFIG,
    best_fixed_mixture,
    final_losses,
    simulate,
    summarise,
)
from click.testing import CliRunner

from birdie_core.cli import cli

SEEDS = 5
# seeds 0-2 meet every assertion below with a margin (summed loss vs uniform: improving -3.3%, noise -1.1%,
# transfer -5.1%, split -8.7%, mixed -2.6%; the noise objective's final share 0.0125)
BIRDIE_SEEDS = 3
BIRDIE_SCENARIOS = ("improving_vs_plateaued", "noise", "transfer", "split", "mixed")


def _run(job: tuple[str, int]) -> tuple[str, int, float, float | None, float | None]:
    scenario, seed = job
    r = simulate(scenario, "rewards.birdie", seed=seed, agent_config=SIMULATION_BIRDIE_CONFIG)
    return scenario, seed, r.relative, r.final_noise_share, r.noise_share


@pytest.fixture(scope="module")
def birdie_results() -> dict[str, list[tuple[float, float | None, float | None]]]:
    """Every scenario × 3 seeds, on two processes where there are two CPUs (each run is independent)."""
    jobs = [(s, seed) for s in BIRDIE_SCENARIOS for seed in range(BIRDIE_SEEDS)]
    workers = min(2, os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            out = list(pool.map(_run, jobs))
    else:  # pragma: no cover - one CPU
        out = [_run(j) for j in jobs]
    results: dict[str, list] = {s: [] for s in BIRDIE_SCENARIOS}
    for scenario, _, rel, final, second_half in out:
        results[scenario].append((rel, final, second_half))
    return results


def median(values) -> float:
    return float(np.median(values))


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["improving_vs_plateaued", "noise", "transfer", "split"])
def test_birdie_beats_uniform(birdie_results, scenario):
    rel = [r[0] for r in birdie_results[scenario]]
    assert median(rel) < 0, f"{scenario}: summed loss vs uniform per seed {rel}"


@pytest.mark.slow
def test_birdie_keeps_the_noise_objective_at_or_below_a_tenth(birdie_results):
    final = [r[1] for r in birdie_results["noise"]]
    assert median(final) <= 0.1, final


@pytest.mark.slow
def test_birdie_is_not_worse_than_uniform_on_many_mixed_objectives(birdie_results):
    rel = [r[0] for r in birdie_results["mixed"]]
    assert median(rel) <= 0.01, rel


def test_exp3_fed_raw_loss_chases_the_noise_objective():
    runs = [
        simulate("noise", "rewards.exp3", seed=s, agent_config={"reward_source": "raw_loss"})
        for s in range(3)
    ]
    summary = summarise(runs)
    assert summary.final_noise_share > 0.6 and summary.relative > 0.02


def test_static_uniform_matches_the_uniform_baseline_exactly():
    r = simulate("split", "core.static", seed=0)
    assert r.relative == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(r.mixtures, 1 / 11)


def test_the_simulation_is_deterministic_given_the_seed():
    a = simulate("transfer", "rewards.exp3", seed=3)
    b = simulate("transfer", "rewards.exp3", seed=3)
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.mixtures, b.mixtures)
    c = simulate("transfer", "rewards.exp3", seed=4)
    assert not np.array_equal(a.losses, c.losses)


def test_scenarios_have_headroom_and_behave_as_described():
    for name, sc in SCENARIOS.items():
        _, best = best_fixed_mixture(sc)
        k = len(sc.curves)
        uniform = final_losses(sc, np.full(k, 1 / k))
        assert best < float(uniform @ (1 / np.bincount(sc.classes)[sc.classes])), name
    sc = SCENARIOS["transfer"]
    only_target = final_losses(sc, np.array([0.0, 1.0, 0.0, 0.0]))
    only_source = final_losses(sc, np.array([1.0, 0.0, 0.0, 0.0]))
    assert only_target[1] == sc.curves[1].start  # the target improves only while the source is trained
    assert only_source[1] < sc.curves[1].start
    noise = SCENARIOS["noise"]
    assert {final_losses(noise, m)[3] for m in np.eye(4)} == {7.0}  # the noise objective never improves
    split = SCENARIOS["split"]
    np.testing.assert_allclose(  # the eight configurations share one skill
        final_losses(split, np.eye(11)[0]), final_losses(split, np.eye(11)[7])
    )


def test_simulator_runs_any_agent_and_checks_its_mixtures():
    from birdie_core.builtins.agents import StaticAgent
    from birdie_core.interfaces import Decision

    class Broken(StaticAgent):
        def decide(self, step, losses, rewards):
            return Decision(step, np.full(len(self.arms), 0.5))

    with pytest.raises(ValueError, match="invalid mixture"):
        simulate("noise", Broken, seed=0)


@pytest.fixture
def runner():
    if "simulate" not in cli.commands:  # `birdie` adds plugin commands in main(); CliRunner skips main()
        birdie_register_commands(cli=cli)
    return CliRunner()


def test_cli_simulate_prints_the_trajectory_and_the_comparison(runner):
    result = runner.invoke(
        cli, ["simulate", "noise", "--agent", "exp3", "--set", "reward_source=raw_loss", "--every", "10"]
    )
    assert result.exit_code == 0, result.output
    assert "noise · rewards.exp3[reward_source=raw_loss] · seed 0" in result.output
    assert "vs uniform" in result.output and "noise share" in result.output
    lines = [l for l in result.output.splitlines() if l.strip().startswith(("1000", "4000"))]
    assert len(lines) == 2


def test_cli_simulate_all_agents_on_one_scenario(runner, tmp_path):
    result = runner.invoke(
        cli, ["simulate", "split", "--agent", "all", "--evaluations", "8", "--plot", str(tmp_path / "x.png")]
    )
    assert result.exit_code == 0, result.output
    for label in (
        "core.static",
        "rewards.birdie",
        "rewards.exp3",
        "rewards.exp3[reward_source=raw_loss]",
        "rewards.linear",
    ):
        assert f"split · {label} · seed 0" in result.output
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "--plot needs matplotlib" in result.output
    else:  # pragma: no cover - matplotlib installed
        assert (tmp_path / "x.png").stat().st_size > 0


def test_cli_simulate_passes_reward_settings(runner):
    args = ["simulate", "noise_drift", "--agent", "linear", "--reward", "new_low", "--seeds", "2"]
    result = runner.invoke(cli, [*args, "--reward-set", "form=absolute", "--every", "20"])
    assert result.exit_code == 0, result.output
    expected = np.median(
        [
            simulate("noise_drift", "rewards.linear", seed=s, reward="new_low", reward_config={"form": "absolute"})
            .relative
            for s in range(2)
        ]
    )
    assert f"median of 2 seed(s): {expected:+.2%}" in result.output
    bad = runner.invoke(cli, [*args, "--reward-set", "form"])
    assert bad.exit_code != 0 and "--reward-set" in bad.output and "expected KEY=VALUE" in bad.output


def test_cli_simulate_rejects_unknown_names(runner):
    result = runner.invoke(cli, ["simulate", "nosuch"])
    assert result.exit_code != 0 and "unknown scenario 'nosuch'" in result.output
    result = runner.invoke(cli, ["simulate", "noise", "--agent", "nosuch"])
    assert result.exit_code != 0 and "unknown agent 'nosuch'" in result.output


# -- the harder scenarios' dynamics -----------------------------------------------------------------------


def test_forgetting_raises_a_skills_loss_while_it_is_not_trained():
    sc = SCENARIOS["forgetting"]
    state = sc.advance(sc.start_state(), np.full(4, 0.25), 1000)
    trained = sc.true_losses(state.exposure)
    neglected = sc.advance(state, np.array([0.0, 1 / 3, 1 / 3, 1 / 3]), 500)
    assert sc.true_losses(neglected.exposure)[0] > trained[0]  # 'fast' was left alone: its loss climbs back
    assert np.all(sc.true_losses(neglected.exposure)[1:] < trained[1:])
    # without forgetting, leaving an objective alone keeps what it learned
    plain = SCENARIOS["noise"]
    s = plain.advance(plain.start_state(), np.full(4, 0.25), 1000)
    assert plain.true_losses(plain.advance(s, np.array([0.0, 0.5, 0.5, 0.0]), 500).exposure)[0] == pytest.approx(
        plain.true_losses(s.exposure)[0]
    )
    # the closed form for a fixed mixture agrees with stepping interval by interval
    np.testing.assert_allclose(final_losses(sc, np.full(4, 0.25)), final_losses(sc, np.full((40, 4), 0.25)))


def test_interference_training_one_objective_hurts_another():
    sc = SCENARIOS["interference"]  # ntp, copying, prefix_lm, deshuffling
    calm = final_losses(sc, np.array([0.5, 0.0, 0.5, 0.0]))
    copying = final_losses(sc, np.array([0.5, 0.3, 0.2, 0.0]))
    ntp_alone = final_losses(sc, np.array([0.5, 0.0, 0.2, 0.3]))
    assert copying[0] > ntp_alone[0]  # same ntp share, but copying was trained beside it
    assert copying[0] > calm[0]
    # interference never unlearns more than was learned
    assert final_losses(sc, np.array([0.0, 1.0, 0.0, 0.0]))[0] == sc.curves[0].start


def test_the_noise_objectives_loss_drifts_up_when_neglected_and_back_when_trained():
    sc = SCENARIOS["noise_drift"]
    noise = 3
    neglected = sc.advance(sc.start_state(), np.array([1 / 3, 1 / 3, 1 / 3, 0.0]), 1000)
    assert neglected.drift[noise] > 0.9 * sc.curves[noise].drift
    trained = sc.advance(neglected, np.full(4, 0.25), 1000)
    assert trained.drift[noise] < 0.01 * sc.curves[noise].drift
    rng = np.random.default_rng(0)
    up = np.mean([sc.measure(neglected.exposure, rng, neglected.drift)[noise] for _ in range(200)])
    down = np.mean([sc.measure(trained.exposure, rng, trained.drift)[noise] for _ in range(200)])
    assert up - down == pytest.approx(sc.curves[noise].drift, abs=0.05)
    # recovery is worth nothing: the loss the summed loss counts stays at its start either way
    assert sc.true_losses(neglected.exposure)[noise] == sc.true_losses(trained.exposure)[noise] == 7.0
    assert best_fixed_mixture(sc)[0][noise] < 1e-3


def test_the_summary_gives_each_agents_share_of_the_hindsight_gain():
    runs = [simulate("noise", "core.static", seed=s) for s in range(2)]
    summary = summarise(runs, best=-0.05)
    assert summary.relative == pytest.approx(0.0, abs=1e-12) and summary.captured == pytest.approx(0.0, abs=1e-9)
    assert summarise(runs).captured is None


# -- the `linear` agent with the `new_low` reward (absolute), the quickstart's pair: quick, no torch -------------
LINEAR_REWARD = {"form": "absolute"}


def _linear(scenario: str) -> list:
    return [
        simulate(scenario, "rewards.linear", seed=s, reward="rewards.new_low", reward_config=LINEAR_REWARD)
        for s in range(SEEDS)
    ]


@pytest.mark.parametrize("scenario", ["improving_vs_plateaued", "noise", "split", "noise_drift", "forgetting"])
def test_linear_beats_uniform_and_captures_most_of_the_hindsight_gain_where_it_should(scenario):
    runs = _linear(scenario)
    _, best = best_fixed_mixture(SCENARIOS[scenario])
    best_rel = best / runs[0].uniform_summed - 1.0
    rel = [r.relative for r in runs]
    assert median(rel) < 0, f"{scenario}: summed loss vs uniform per seed {rel}"
    # a regression guard well below what it measured (see the README's table), not the target
    assert median([r / best_rel for r in rel]) > 0.4, f"{scenario}: {rel} vs best {best_rel}"


@pytest.mark.parametrize(("scenario", "most"), [("noise", 0.15), ("noise_drift", 0.05)])
def test_linear_starves_the_noise_objective_even_when_its_loss_recovers(scenario, most):
    # second half of training; uniform: 0.25. In `noise` the objective's loss jitters by 1% (sd 0.07 around 7),
    # five times the learnable ones', so its value stays uncertain and the optimism tries it again now and then
    # (measured: median 0.10); in `noise_drift` it drifts up while neglected and recovery earns nothing (0.02)
    shares = [r.noise_share for r in _linear(scenario)]
    assert median(shares) < most, shares

