"""``exp3``: Online Data Mixing (Albalak et al. 2023), an EXP3 bandit over objective configurations.

ODM samples one domain per batch with probability ``π_i`` and adds ``reward / π_i`` to that domain's
cumulative estimate ``R_i`` (importance weighting). Here every arm is observed at every evaluation, so one
update adds what those per-batch updates add in expectation over an interval: arm ``i`` is drawn ``π_i n``
times and each draw is weighted ``1 / π_i``, so ``R_i`` grows by the arm's reward per update, whatever ``π``.
Then ``ε_t = min(1/K, sqrt(ln K / (K t)))`` (``t`` = updates so far) and
``π = (1 - K ε_t) softmax(ε_t R) + ε_t``.

``estimator: smoothed`` replaces the cumulative sum by ODM's smoothed mean ``R ← α R + (1 - α) r``.
``reward_source: raw_loss`` uses the validation loss itself as the reward, as ODM does (the loss of the
sampled batch) — which makes it chase any objective whose loss stays high, learnable or not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from birdie_core import Agent, AgentConfig, Arm, ConfigFloat, Decision
from birdie_rewards.checks import check_agent_state, check_losses, check_rewards

__all__ = ["ExpThreeAgent", "ExpThreeAgentConfig"]

STATE_VERSION = 1


class ExpThreeAgentConfig(AgentConfig):
    """Parameters of the ``exp3`` agent: how rewards are accumulated, and what a reward is."""

    estimator: Literal["cumulative", "smoothed"] = Field(
        "cumulative", description="cumulative: sum of rewards; smoothed: ODM's smoothed mean."
    )
    smoothing: ConfigFloat = Field(0.9, ge=0.0, lt=1.0, description="α of the smoothed mean.")
    reward_source: Literal["reward", "raw_loss"] = Field(
        "reward",
        description="reward: the configured reward function; raw_loss: the validation loss itself (ODM's "
        "choice, which chases objectives that cannot be learned).",
    )


class ExpThreeAgent(Agent[ExpThreeAgentConfig]):
    """EXP3 with importance-weighted rewards and ODM's exploration schedule (see the module docstring)."""

    Config = ExpThreeAgentConfig
    needs_reward = True

    # seed and num_steps pass through to Agent, which keeps them
    def __init__(self, config: ExpThreeAgentConfig, arms: Sequence[Arm], initial: np.ndarray, **options: int):
        super().__init__(config, arms, initial, **options)
        if config.reward_source == "raw_loss":
            self.needs_reward = False  # per instance: this one ignores rewards
        self.names = [a.key for a in self.arms]
        self.k = len(self.arms)
        self.estimates = np.zeros(self.k)
        self.updates = 0
        self.records: list[dict[str, Any]] = []

    def initial_mixture(self) -> np.ndarray:
        return np.full(self.k, 1.0 / self.k)

    def epsilon(self, t: int) -> float:
        if self.k == 1:
            return 1.0
        return min(1.0 / self.k, math.sqrt(math.log(self.k) / (self.k * max(t, 1))))

    def mixture(self) -> np.ndarray:
        eps = self.epsilon(self.updates)
        z = eps * self.estimates
        w = np.exp(z - z.max())
        return (1.0 - self.k * eps) * w / w.sum() + eps

    def decide(self, step: int, losses: np.ndarray, rewards: np.ndarray | None) -> Decision:
        losses = check_losses(losses, names=self.names)
        if self.config.reward_source == "raw_loss":
            signal: np.ndarray | None = losses
        else:
            signal = None if rewards is None else check_rewards(rewards, size=self.k, names=self.names)
        if signal is not None:
            self.updates += 1
            if self.config.estimator == "cumulative":
                self.estimates = self.estimates + signal
            else:
                a = self.config.smoothing
                self.estimates = signal.copy() if self.updates == 1 else a * self.estimates + (1 - a) * signal
        mixture = self.mixture()
        mixture = mixture / mixture.sum()
        record = {
            "step": int(step),
            "mixture": mixture.tolist(),
            "losses": losses.tolist(),
            "rewards": None if rewards is None else np.asarray(rewards, dtype=np.float64).tolist(),
            "explored": False,
            "epsilon": self.epsilon(self.updates),
            "estimates": self.estimates.tolist(),
        }
        self.records.append(record)
        info = {"epsilon": record["epsilon"], "estimates": record["estimates"]}
        return Decision(step=int(step), mixture=mixture, explored=False, info=info)

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "arms": list(self.names),
            "estimates": self.estimates.copy(),
            "updates": self.updates,
            "records": [dict(r) for r in self.records],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_agent_state(state, STATE_VERSION, self.names, "exp3")
        self.estimates = np.asarray(state["estimates"], dtype=np.float64).copy()
        self.updates = int(state["updates"])
        self.records = [dict(r) for r in state["records"]]
