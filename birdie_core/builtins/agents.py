"""``static``: the configured mixture, normalised, at every evaluation (``uniform`` is its special case)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import Field, field_validator

from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.interfaces import Agent, AgentConfig, Arm, ConfigFloat, Decision, normalise

__all__ = ["StaticAgent", "StaticAgentConfig"]


class StaticAgentConfig(AgentConfig):
    """Parameters of ``static``: weights that replace some objectives' ``prob``."""

    probs: dict[str, ConfigFloat] | None = Field(
        None, description="Weights by objective id, replacing those entries' `prob` (others keep theirs)."
    )

    @field_validator("probs")
    @classmethod
    def _non_negative(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        bad = {k: p for k, p in (v or {}).items() if not (np.isfinite(p) and p >= 0)}
        if bad:
            raise ValueError(f"probabilities must be finite and >= 0, got {bad}")
        return v


class StaticAgent(Agent[StaticAgentConfig]):
    """Never changes the mixture: each objective's ``prob``, optionally overridden by ``probs``."""

    Config = StaticAgentConfig
    needs_reward = False

    # seed and num_steps only pass through to Agent: a static mixture needs neither
    def __init__(self, config: StaticAgentConfig, arms: Sequence[Arm], initial: np.ndarray, **options: int):
        super().__init__(config, arms, initial, **options)
        weights = np.asarray(initial, dtype=np.float64).copy()
        overrides = config.probs or {}
        index = {arm.key: i for i, arm in enumerate(self.arms)}
        unknown = sorted(set(overrides) - set(index))
        if unknown:
            raise ConfigError(
                ConfigIssue(
                    "curriculum.agent.probs",
                    f"unknown objective id(s) {unknown}; the objectives are {sorted(index)}",
                )
            )
        for key, p in overrides.items():
            weights[index[key]] = p
        self.mixture = normalise(weights)

    def initial_mixture(self) -> np.ndarray:
        return self.mixture.copy()

    def decide(self, step: int, losses: np.ndarray, rewards: np.ndarray | None) -> Decision:
        return Decision(step=step, mixture=self.mixture.copy(), explored=False)
