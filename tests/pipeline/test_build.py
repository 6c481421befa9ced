"""The one construction path: names are resolved once, and everything is built from the resolved components."""

from __future__ import annotations

import numpy as np

from birdie_core import Components, Shard, hookimpl, load_registry
from birdie_core.builtins.agents import StaticAgent
from birdie_core.curriculum.birdie import Birdie


class CountingAgent(StaticAgent):
    """The static agent, counting how often it is built."""

    built = 0

    def __init__(self, *args, **kwargs):
        type(self).built += 1
        super().__init__(*args, **kwargs)


class CountingPlugin:
    @hookimpl
    def birdie_register_agents(self, register):
        register("counting", CountingAgent)


def spy_registry():
    registry = load_registry(autoload=False, extra_plugins={"test": CountingPlugin()})
    calls: list[tuple[str, str]] = []
    real = registry.resolve

    def resolve(kind, name):
        calls.append((kind, name))
        return real(kind, name)

    registry.resolve = resolve  # type: ignore[method-assign]
    return registry, calls


def config():
    return {
        "batch_size": 2,
        "sequence_length": 64,
        "objectives": [
            {"name": "next_token_prediction", "id": "ntp"},
            {"name": "prefix_lm", "prob": 2.0},
        ],
        "curriculum": {"agent": {"name": "counting"}, "steps_between_evaluations": 2},
    }


def test_every_name_is_resolved_once_when_the_components_are_resolved():
    registry, calls = spy_registry()
    components = Components.resolve(config(), registry)
    kinds = sorted(kind for kind, _ in calls)
    assert kinds == ["agent", "objective", "objective", "packer", "source", "source", "tokenizer"]
    assert [(a.key, a.objective) for a in components.arms] == [
        ("ntp", "core.next_token_prediction"),
        ("prefix_lm", "core.prefix_lm"),
    ]  # the arm keys are the config's objective ids, derived in one place (the configuration)
    assert components.keys == tuple(o.id for o in components.config.objectives)

    calls.clear()
    components.pipeline("train").next_batch()
    components.pipeline("validation", Shard(1, 2), [1.0, 0.0]).next_batch()
    components.pipeline("validation", read_from="train")
    components.tokenizer()
    components.reward_fn(components.agent())
    assert calls == []  # building never looks a name up again


def test_birdie_builds_through_the_components_with_one_agent():
    registry, calls = spy_registry()
    CountingAgent.built = 0
    with Birdie(config(), registry=registry) as birdie:
        resolved = len(calls)
        for step in range(3):
            if birdie.time_for_eval(step):
                for key, _ in birdie.measure_validation_losses():
                    birdie.log_validation_loss(key, 1.0, step)
            birdie.get_next_training_sample()
        assert birdie.components.registry is registry and birdie.arms == birdie.components.arms
        np.testing.assert_allclose(list(birdie.mixture.values()), [1 / 3, 2 / 3])
    assert len(calls) == resolved  # workers and validation batches resolved nothing more
    assert CountingAgent.built == 1  # no throwaway agent for the initial mixture
