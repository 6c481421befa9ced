"""The `linear` agent: the contract, the reward model's prior and cross effects, the step rule, its records."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from birdie_rewards.checks import InvalidLossError
from birdie_rewards.linear_agent import LinearAgent, class_values

from birdie_core.interfaces import Arm
from birdie_core.testing import AgentConformance


class TestLinearAgentConformance(AgentConformance):
    agent_cls = LinearAgent


class TestLinearAgentWithoutExplorationConformance(AgentConformance):
    agent_cls = LinearAgent
    agent_config = LinearAgent.Config(name="rewards.linear", exploration=0.0, warmup_steps=30)


ARMS = (Arm("good", "x.good"), Arm("bad", "x.bad"), Arm("s1", "x.split"), Arm("s2", "x.split"))


def make(**cfg) -> LinearAgent:
    config = LinearAgent.Config(name="rewards.linear", **cfg)
    return LinearAgent(config, ARMS, np.ones(len(ARMS)), seed=0, num_steps=1000)


def test_the_prior_credits_a_class_with_its_own_training():
    # constant shares: the data pin only what each class earned at them, and the prior attributes it to the
    # class's own share, so a class's value is its reward per unit of its share
    x = np.tile([0.5, 0.25, 0.25], (6, 1))
    y = np.tile([0.10, 0.0, 0.05], (6, 1))
    value, error, m = class_values(x, y, half_life=8, cross_prior=0.2)
    np.testing.assert_allclose(value, [0.2, 0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(m, np.diag([0.2, 0.0, 0.2]), atol=1e-6)
    assert np.all(error > 0)


def test_a_class_losing_ground_is_taken_to_lose_it_to_the_others():
    x = np.tile([0.5, 0.5], (4, 1))
    y = np.tile([-0.1, 0.0], (4, 1))
    _, _, m = class_values(x, y, half_life=8, cross_prior=0.2)
    # class 0 loses 0.2 per unit of class 1's share and nothing from its own: training it protects it
    np.testing.assert_allclose(m[0], [0.0, -0.2], atol=1e-6)


def test_cross_effects_are_learned_when_the_shares_vary():
    rng = np.random.default_rng(0)
    x = rng.dirichlet(np.ones(3), size=60)
    # class 0 learns only from class 1's training (transfer); classes 1 and 2 from their own
    y = np.stack([0.1 * x[:, 1], 0.05 * x[:, 1], 0.02 * x[:, 2]], axis=1)
    y += 1e-4 * rng.standard_normal(y.shape)
    value, _, m = class_values(x, y, half_life=1000, cross_prior=0.2)
    assert m[0, 1] == pytest.approx(0.1, abs=0.01)
    assert m[0, 0] == pytest.approx(0.0, abs=0.01)
    # training class 1 is worth its own reward and the transfer together
    assert value[1] == pytest.approx(0.15, abs=0.01)
    assert np.argmax(value) == 1


def test_recent_rows_weigh_more():
    x = np.tile([0.5, 0.5], (20, 1))
    y = np.array([[0.2, 0.0]] * 10 + [[0.0, 0.2]] * 10)
    value, _, _ = class_values(x, y, half_life=2, cross_prior=0.2)
    assert value[1] > 10 * value[0]


def run(agent: LinearAgent, rewards_of, steps: int = 20) -> list[np.ndarray]:
    mixtures = [agent.initial_mixture()]
    losses = np.full(len(ARMS), 3.0)
    for t in range(steps):
        decision = agent.decide(10 * t, losses, None if t == 0 else rewards_of(mixtures[-1]))
        mixtures.append(decision.mixture)
    return mixtures


def test_a_class_that_never_earns_fades_to_the_floor_and_configurations_keep_their_parts():
    agent = make(exploration=0.0)
    mixtures = run(agent, lambda m: np.array([0.05, 0.0, 0.02, 0.02]) * m / m.mean())
    # the configured mixture (uniform here) is where it starts
    np.testing.assert_allclose(mixtures[0], 0.25)
    last = mixtures[-1]
    floor_share = agent.config.floor / 4  # floor / K per configuration
    assert floor_share <= last[1] < 1.25 * floor_share
    assert last[0] > last[2] + last[3]  # the best earner holds most
    assert last[2] == pytest.approx(last[3])  # a class's configurations share its share as configured


def test_it_starts_from_the_configured_mixture_and_keeps_its_parts_within_a_class():
    agent = LinearAgent(
        LinearAgent.Config(name="rewards.linear", exploration=0.0),
        ARMS,
        np.array([2.0, 1.0, 3.0, 1.0]),
        seed=0,
    )
    np.testing.assert_allclose(agent.initial_mixture(), [2 / 7, 1 / 7, 3 / 7, 1 / 7])
    mixtures = run(agent, lambda m: np.array([0.0, 0.0, 0.05, 0.05]) * m / m.mean(), steps=6)
    assert mixtures[-1][2] / mixtures[-1][3] == pytest.approx(3.0)
    # a class configured at 0 starts there; the first step's floor brings it in, and then it competes
    off = LinearAgent(
        LinearAgent.Config(name="rewards.linear", exploration=0.0),
        ARMS,
        np.array([1.0, 0.0, 1.0, 1.0]),
        seed=0,
    )
    assert off.initial_mixture()[1] == 0.0
    first_step = run(off, lambda m: np.full(4, 0.01), steps=3)[2]
    assert first_step[1] == pytest.approx(off.config.floor / 4, rel=1e-6)


def test_a_step_is_bounded_and_explained():
    agent = make(exploration=0.0, step_size=0.5, max_evidence=2.0)
    mixtures = run(agent, lambda m: np.array([1.0, 0.0, 0.0, 0.0]) * m[0], steps=8)
    # the odds of two classes change by at most exp(step_size × 2 max_evidence) per decision (the floor only
    # pulls them toward even)
    odds = [m[0] / m[1] for m in mixtures[1:]]
    assert max(b / a for a, b in itertools.pairwise(odds)) <= np.exp(0.5 * 2 * 2.0) + 1e-9
    assert odds[-1] > odds[1]
    record = agent.records[-1]
    assert record["phase"] == "step"
    assert set(record["value"]) == {"x.good", "x.bad", "x.split"}
    for key in ("value_error", "evidence", "exploration", "predicted_class_rewards"):
        assert set(record[key]) == set(record["value"])
    assert record["score_chosen"] > record["score_uniform"]
    assert all(abs(z) <= 2.0 for z in record["evidence"].values())
    assert record["strong"] == any(abs(z) >= 2.0 for z in record["evidence"].values())
    assert any(r.get("strong") for r in agent.records)


def test_exploration_jitters_the_shares_visibly_and_reproducibly():
    a, b = make(exploration=0.3), make(exploration=0.3)
    flat = lambda m: np.zeros(4)
    ma, mb = run(a, flat, steps=6), run(b, flat, steps=6)
    np.testing.assert_array_equal(np.asarray(ma), np.asarray(mb))
    assert np.abs(ma[-1] - ma[0]).max() > 0.01
    assert any(abs(v) > 0 for v in a.records[-1]["exploration"].values())


def test_warmup_keeps_the_initial_mixture():
    agent = make(warmup_steps=100)
    mixtures = run(agent, lambda m: np.array([1.0, 0.0, 0.0, 0.0]), steps=8)
    for m in mixtures[:9]:
        np.testing.assert_allclose(m, mixtures[0])
    assert agent.records[-1]["phase"] == "warmup"


def test_bad_rewards_name_the_objective():
    agent = make()
    agent.decide(0, np.ones(4), None)
    with pytest.raises(InvalidLossError, match="'bad'"):
        agent.decide(10, np.ones(4), np.array([0.1, np.nan, 0.0, 0.0]))


def test_counting_configurations_values_each_configuration_on_its_own():
    # two configurations of one objective that each learn only from their own share: counted per objective,
    # the class's mean reward per unit of the class's share is half a configuration's, and the agent starves it
    rewards_of = lambda m: np.array([0.02, 0.02, 0.02, 0.02]) * m / 0.25
    per_objective = run(make(exploration=0.0), rewards_of, steps=12)[-1]
    per_configuration = run(make(exploration=0.0, count="configuration"), rewards_of, steps=12)[-1]
    assert per_objective[2] + per_objective[3] < 0.4  # the split class lost share
    np.testing.assert_allclose(per_configuration, 0.25, atol=0.03)  # every configuration earns alike
    agent = make(count="configuration")
    run(agent, rewards_of, steps=3)
    assert set(agent.records[-1]["value"]) == {"good", "bad", "s1", "s2"}
