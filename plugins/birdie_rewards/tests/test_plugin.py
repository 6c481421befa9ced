"""The plugin as Birdie sees it: what it registers, and pipelines that name its components."""

from __future__ import annotations

import numpy as np
import pytest
from birdie_rewards import BirdieAgent, BirdieReward, ExpThreeAgent, LinearAgent

from birdie_core.errors import ConfigError
from birdie_core.registry import load_registry
from birdie_core.testing import config_issues


@pytest.fixture(scope="module")
def registry():
    return load_registry(allow=["rewards"])


def test_registers_rewards_agents_and_a_command(registry):
    assert registry.names("reward") == [
        "rewards.birdie",
        "rewards.learning_progress",
        "rewards.new_low",
        "rewards.relative_improvement",
    ]
    assert registry.names("agent") == ["core.static", "rewards.birdie", "rewards.exp3", "rewards.linear"]
    info = next(p for p in registry.plugins if p.namespace == "rewards")
    assert info.distribution == "birdie-rewards" and info.error is None
    assert "birdie_register_commands" in info.hooks


def test_a_pipeline_config_names_the_agent_and_reward(registry):
    from birdie_core.config import load_config

    cfg = load_config(
        {
            "objectives": [{"name": "next_token_prediction"}, {"name": "prefix_lm"}],
            "curriculum": {
                "agent": {"name": "birdie", "width": 64, "layers": 1, "heads": 2, "temperature": 1.0},
                "reward": {"name": "birdie"},
                "num_steps": 600,
            },
        },
        registry=registry,
    )
    assert isinstance(cfg.curriculum.agent, BirdieAgent.Config) and cfg.curriculum.agent.width == 64
    assert isinstance(cfg.curriculum.reward, BirdieReward.Config)


def test_a_misspelt_agent_parameter_is_a_config_error(registry):
    from birdie_core.config import load_config

    with pytest.raises(ConfigError, match="temprature"):
        load_config(
            {"curriculum": {"agent": {"name": "exp3", "temprature": 1.0}}},
            registry=registry,
        )


def test_reward_fn_follows_the_protocol(registry):
    from birdie_core.interfaces import RewardFn

    for entry in registry.entries("reward"):
        fn = entry.obj(entry.obj.Config(name=entry.qualified_name))
        assert isinstance(fn, RewardFn)
        out = fn(
            np.array([3.0, 2.0]),
            np.array([2.9, 2.1]),
            history=(np.array([3.1, 2.0]),),
            classes=np.array([0, 1]),
        )
        assert out.shape == (2,) and np.all(np.isfinite(out))


def test_agents_build_from_their_registered_config(registry):
    from birdie_core.interfaces import Arm

    arms = [Arm("a", "x"), Arm("b", "y")]
    for name, cls in (
        ("rewards.birdie", BirdieAgent),
        ("rewards.exp3", ExpThreeAgent),
        ("rewards.linear", LinearAgent),
    ):
        entry = registry.resolve("agent", name)
        assert entry.obj is cls
        agent = cls(cls.Config(name=name), arms, np.ones(2), seed=0, num_steps=100)
        np.testing.assert_allclose(agent.initial_mixture(), 0.5)


def test_a_bool_or_float_for_an_int_and_inf_for_a_float_are_errors_at_their_paths(registry):
    # YAML reads `true` and `8.0` as a bool and a float; pydantic's lax mode would take them as 1 and 8
    issues = config_issues(
        "objectives: [{name: next_token_prediction}, {name: prefix_lm}]\n"
        "curriculum:\n"
        "  agent: {name: birdie, width: true, top_k: 8.0, lr: .inf, explore_classes: [1, 2.0]}\n"
        "  reward: {name: birdie, min_loss: .inf}\n"
        "  num_steps: 600\n",
        registry,
    )
    assert "boolean" in issues["curriculum.agent.width"]
    assert "integer" in issues["curriculum.agent.top_k"]
    assert "integer" in issues["curriculum.agent.explore_classes[1]"]
    assert "finite" in issues["curriculum.agent.lr"]
    assert "finite" in issues["curriculum.reward.min_loss"]


def test_a_bad_linear_agent_or_new_low_setting_is_an_error_at_its_path(registry):
    issues = config_issues(
        "objectives: [{name: next_token_prediction}, {name: prefix_lm}]\n"
        "curriculum:\n"
        "  agent: {name: linear, count: objectives, half_life: 0}\n"
        "  reward: {name: new_low, form: absolut, scale: -1}\n"
        "  num_steps: 600\n",
        registry,
    )
    assert "'objective'" in issues["curriculum.agent.count"]
    assert "greater than 0" in issues["curriculum.agent.half_life"]
    assert "'absolute'" in issues["curriculum.reward.form"]
    assert "greater than 0" in issues["curriculum.reward.scale"]
