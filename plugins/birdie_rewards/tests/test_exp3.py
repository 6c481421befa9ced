"""`exp3` (Online Data Mixing): the contract, the update rule, and its raw-loss failure mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from birdie_rewards.checks import InvalidLossError
from birdie_rewards.exp3 import ExpThreeAgent

from birdie_core.interfaces import Arm
from birdie_core.testing import AgentConformance


class TestExpThreeConformance(AgentConformance):
    agent_cls = ExpThreeAgent


class TestExpThreeSmoothedRawLossConformance(AgentConformance):
    agent_cls = ExpThreeAgent
    agent_config = ExpThreeAgent.Config(name="rewards.exp3", estimator="smoothed", reward_source="raw_loss")


ARMS = tuple(Arm(k, f"x.{k}") for k in "abcd")


def make(**cfg) -> ExpThreeAgent:
    return ExpThreeAgent(ExpThreeAgent.Config(name="rewards.exp3", **cfg), ARMS, np.ones(4), seed=0)


def test_epsilon_schedule():
    agent = make()
    assert agent.epsilon(1) == pytest.approx(min(0.25, math.sqrt(math.log(4) / 4)))
    assert agent.epsilon(100) == pytest.approx(math.sqrt(math.log(4) / 400))
    assert agent.epsilon(1) == 0.25  # capped at 1/K: the first mixture is uniform


def test_mixture_is_the_exp3_mixture_of_cumulative_rewards():
    agent = make()
    rewards = [np.array([0.5, 0.1, 0.0, -0.2]), np.array([0.4, 0.0, 0.1, -0.1])]
    for t, r in enumerate(rewards, start=1):
        m = agent.decide(100 * t, np.full(4, 3.0), r).mixture
    total = sum(rewards)
    eps = agent.epsilon(2)
    w = np.exp(eps * total)
    np.testing.assert_allclose(m, (1 - 4 * eps) * w / w.sum() + eps)
    assert m.min() >= eps - 1e-12 and np.argmax(m) == 0


def test_smoothed_estimator_forgets():
    agent = make(estimator="smoothed", smoothing=0.5)
    agent.decide(100, np.full(4, 3.0), np.array([1.0, 0, 0, 0]))
    agent.decide(200, np.full(4, 3.0), np.array([0.0, 0, 0, 0]))
    np.testing.assert_allclose(agent.estimates, [0.5, 0, 0, 0])


def test_raw_loss_chases_the_highest_loss_and_needs_no_reward():
    agent = make(reward_source="raw_loss")
    assert agent.needs_reward is False and ExpThreeAgent.needs_reward is True
    losses = np.array([3.0, 2.5, 2.0, 7.0])  # the last never improves: think of random tokens
    for t in range(1, 41):
        m = agent.decide(100 * t, losses, None).mixture
    assert m[3] > 0.6


def test_no_reward_yet_keeps_the_mixture():
    agent = make()
    np.testing.assert_allclose(agent.decide(100, np.full(4, 3.0), None).mixture, 0.25)


def test_records_and_bad_input():
    agent = make()
    agent.decide(100, np.full(4, 3.0), None)
    agent.decide(200, np.full(4, 2.9), np.full(4, 0.1))
    assert [r["step"] for r in agent.records] == [100, 200]
    assert agent.records[1]["rewards"] == [0.1] * 4 and agent.records[1]["explored"] is False
    with pytest.raises(InvalidLossError, match="objective 'c' is nan"):
        agent.decide(300, np.array([3.0, 3.0, np.nan, 3.0]), np.zeros(4))
    with pytest.raises(InvalidLossError, match="reward of objective 'a' is inf"):
        agent.decide(300, np.full(4, 3.0), np.array([np.inf, 0, 0, 0]))
