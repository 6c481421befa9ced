"""The built-in objectives, packer and agent pass the same conformance suites a third-party plugin runs."""

from __future__ import annotations

import numpy as np
import pytest

from birdie_core.builtins.agents import StaticAgent
from birdie_core.builtins.objectives import NextTokenPrediction, PrefixLM
from birdie_core.builtins.packers import BestFitPacker
from birdie_core.interfaces import Decision
from birdie_core.testing import AgentConformance, ObjectiveConformance, PackerConformance


class TestNextTokenPrediction(ObjectiveConformance):
    objective = NextTokenPrediction(NextTokenPrediction.Config(name="next_token_prediction"))


class TestNextTokenPredictionWithParadigmAndLength(ObjectiveConformance):
    objective = NextTokenPrediction(
        NextTokenPrediction.Config(
            name="next_token_prediction", paradigm="[NTP]", paradigm_at_end=0.5, length=(4, 40)
        )
    )


class TestPrefixLM(ObjectiveConformance):
    objective = PrefixLM(PrefixLM.Config(name="prefix_lm", paradigm="[S]"))


class TestPrefixLMUniformSplit(ObjectiveConformance):
    objective = PrefixLM(PrefixLM.Config(name="prefix_lm", prefix_fraction=None, length=(2, 300)))


class TestBestFitPacker(PackerConformance):
    packer_cls = BestFitPacker


class TestBestFitPackerExactFill(PackerConformance):
    packer_cls = BestFitPacker
    packer_config = BestFitPacker.Config(name="best_fit", min_fill=1.0, min_space=1)


class TestStaticAgent(AgentConformance):
    agent_cls = StaticAgent


class TestStaticAgentWithOverride(AgentConformance):
    agent_cls = StaticAgent
    agent_config = StaticAgent.Config(name="static", probs={"c": 0.0, "d": 3.0})


# -- the suites have teeth: broken components fail them ----------------------------------------------------


class _CopyingNTP(NextTokenPrediction):
    """The original project's bug: the text is in the input and the target."""

    def build(self, tokens, budget, ctx):
        n = min(tokens.size, (budget + 1) // 2)
        if n < 2:
            return None, tokens
        return self.make_example(tokens[:n], tokens[:n], ctx, n), tokens[n:]


class _OverBudget(NextTokenPrediction):
    def build(self, tokens, budget, ctx):
        if tokens.size < 2:
            return None, tokens
        return self.make_example(tokens[:0], tokens, ctx, tokens.size), tokens[:0]


class _LosesAToken(NextTokenPrediction):
    def build(self, tokens, budget, ctx):
        example, rest = super().build(tokens, budget, ctx)
        return (example, rest[1:]) if example is not None and rest.size else (example, rest)


class _Unseeded(PrefixLM):
    def build(self, tokens, budget, ctx):
        ctx.rng.random()  # keep the suite's RNG in step, but decide with a global, unseeded one
        return super().build(tokens[: int(np.random.default_rng().integers(2, 50))], budget, ctx)


class _NoPositionRestart(BestFitPacker):
    def pop(self):
        batch = super().pop()
        batch.position_ids = np.where(
            batch.segment_ids > 0, np.arange(batch.position_ids.shape[1]), 0
        ).astype(np.int32)
        return batch


class _NaNAgent(StaticAgent):
    def decide(self, step, losses, rewards):
        return Decision(step, self.mixture * float(losses.max() < 1000 or np.nan))


def _cfg(cls):
    return cls(cls.Config(name="broken"))


@pytest.mark.parametrize(
    "objective, test",
    [
        (_cfg(_CopyingNTP), "test_target_shares_only_what_is_declared"),
        (_cfg(_OverBudget), "test_examples_respect_budget_and_return_rest"),
        (_cfg(_LosesAToken), "test_any_slice_any_budget"),
        (_cfg(_Unseeded), "test_deterministic_under_a_seed"),
    ],
    ids=["copying", "over-budget", "loses-a-token", "unseeded"],
)
def test_objective_suite_catches_broken_objectives(objective, test):
    suite = type("Suite", (ObjectiveConformance,), {"objective": objective})()
    with pytest.raises(AssertionError):
        getattr(suite, test)()


def test_packer_suite_catches_a_broken_packer():
    suite = type("Suite", (PackerConformance,), {"packer_cls": _NoPositionRestart})()
    with pytest.raises(AssertionError, match="position_ids"):
        suite.test_random_streams_keep_the_contract()


def test_agent_suite_catches_nan():
    suite = type("Suite", (AgentConformance,), {"agent_cls": _NaNAgent})()
    with pytest.raises(AssertionError, match="not a mixture"):
        suite.test_never_nan_for_extreme_losses(1e4)
