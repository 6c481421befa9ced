"""``linear``: a per-class linear reward model and multiplicative steps — small, quick and explainable.

The agent works on *classes* (objectives). It starts from the configured mixture (each objective's ``prob``;
uniform by default, the static agent's mixture) and moves the class shares; a class's configurations keep the
parts of its share they were configured with. At every evaluation it appends one row to its history: the class
shares ``x`` of the interval that just ended and each class's mean reward ``y`` over it. It models the reward of
class ``c`` as linear in the shares, ``y_c ≈ Σ_d M[c, d] x_d`` (the shares sum to 1, so row ``c`` of ``M`` holds
what ``c`` would earn if all training went to ``d``), fitted per class by Bayesian ridge regression on the
history, recent rows weighing more (weights halve every ``half_life`` evaluations: the rewards of a curve with
diminishing returns fall, and an old row overstates them). The prior credits a class's own training: a class
that earned ``ȳ_c`` at share ``x̄_c`` (recency-weighted means) is assumed to earn ``ȳ_c / x̄_c`` per unit of its
own share and nothing from the others' — and a class whose reward is negative (it is losing ground) is assumed
to lose it to the others' training. Cross effects (one objective's training helping or hurting another's) are
learned from the data when the shares vary enough to show them; ``cross_prior`` sets how readily.

The *value* of training class ``d`` is ``v_d = Σ_c M[c, d]`` (the predicted class-normalised total reward of an
interval spent on ``d``), with its posterior standard error ``σ_d``. The decision is a multiplicative step from
the current class shares — the rule, stated: ``q_d ← q_d · exp(step_size · z_d + ε_d)`` with
``z_d = (h_d − q·h) / σ_d`` clipped to ``±max_evidence``, ``h_d = v_d + optimism · σ_d`` (a class the model
knows little about is given the benefit of the doubt, so a class left at the floor is tried again), and
``ε_d`` the exploration jitter (normal, sd ``exploration``; recorded per decision), then the floor. So, jitter
aside, the odds of two classes change by a factor of at most ``exp(2 × step_size × max_evidence)`` per decision,
and by that much only when the evidence is ``max_evidence`` standard errors either way; a class that keeps
earning less than the mixture's average fades geometrically toward the floor and comes back the same way if it
starts to earn more. The jitter makes the shares vary, which is what lets cross effects be measured. The floor
(a total share spread evenly over all configurations) keeps every objective observed.

No torch: a decision is a handful of C×C solves (C = number of classes), about a millisecond.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from birdie_core import Agent, AgentConfig, Arm, ConfigFloat, ConfigInt, Decision
from birdie_rewards.checks import check_agent_state, check_losses, check_rewards
from birdie_rewards.classes import class_index

__all__ = ["LinearAgent", "LinearAgentConfig", "class_values"]

STATE_VERSION = 1


class LinearAgentConfig(AgentConfig):
    """Parameters of the ``linear`` agent."""

    warmup_steps: ConfigInt = Field(0, ge=0, description="Keep the initial mixture before this step.")
    count: Literal["objective", "configuration"] = Field(
        "objective",
        description="What the agent's total counts once: each objective (Birdie's class normalisation: an "
        "objective split into many configurations weighs as much as one with one), or each configuration (a "
        "plain mean over configurations, like the mean validation loss `birdie train` prints).",
    )
    half_life: ConfigFloat = Field(
        2.0, gt=0, description="A history row's weight halves every this many evaluations."
    )
    step_size: ConfigFloat = Field(
        0.8, gt=0, description="q ← q·exp(step_size · z): how far one unit of evidence moves a share."
    )
    max_evidence: ConfigFloat = Field(
        3.0, gt=0, description="z is clipped to ±this: the largest step is a factor exp(step_size × it)."
    )
    exploration: ConfigFloat = Field(
        0.3, ge=0, description="Standard deviation of the log-normal jitter of each class's share (0: none)."
    )
    cross_prior: ConfigFloat = Field(
        0.2,
        gt=0,
        description="Prior scale of cross effects relative to a class's own effect (small: cross effects "
        "need more evidence).",
    )
    optimism: ConfigFloat = Field(
        1.0,
        ge=0,
        description="Score a class at its value plus this many standard errors (optimism in doubt).",
    )
    floor: ConfigFloat = Field(
        0.05, ge=0, lt=1, description="Total share spread evenly over all configurations (floor/K each)."
    )
    min_noise: ConfigFloat = Field(
        1e-4, gt=0, description="Lower bound of a class's reward noise (standard deviation) in the model."
    )


def class_values(
    shares: np.ndarray,
    rewards: np.ndarray,
    *,
    half_life: float,
    cross_prior: float,
    min_noise: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(v, σ, M)``: each class's value, its standard error, and the fitted reward matrix.

    ``shares`` and ``rewards`` are (T, C): the class shares of each interval and the class rewards it earned,
    oldest first. See the module docstring for the model and its prior.
    """
    x = np.asarray(shares, dtype=np.float64)
    y = np.asarray(rewards, dtype=np.float64)
    t, c_count = x.shape
    w = 0.5 ** (np.arange(t)[::-1] / half_life)
    x_mean = (w @ x) / w.sum()
    y_mean = (w @ y) / w.sum()
    xw = x.T * w  # (C, T)
    gram = xw @ x
    m = np.zeros((c_count, c_count))
    variance = np.zeros(c_count)
    for c in range(c_count):
        prior = np.zeros(c_count)
        if y_mean[c] >= 0:  # it earns from its own training
            prior[c] = y_mean[c] / max(x_mean[c], 1e-6)
        else:  # it loses ground to the others' training
            prior[:] = y_mean[c] / max(1.0 - x_mean[c], 1e-6)
            prior[c] = 0.0
        noise = max(float(w @ (y[:, c] - y_mean[c]) ** 2) / w.sum(), min_noise**2)
        scale = (float(np.abs(prior).max()) + np.sqrt(noise) * c_count) ** 2  # prior variance of own effect
        precision = np.full(c_count, 1.0 / (cross_prior**2 * scale))
        precision[c] = 1.0 / scale
        a = gram / noise + np.diag(precision)
        b = xw @ (y[:, c] - x @ prior) / noise
        cov = np.linalg.inv(a)
        m[c] = prior + cov @ b
        variance += np.diag(cov)
    return m.sum(axis=0), np.sqrt(variance), m


class LinearAgent(Agent[LinearAgentConfig]):
    """A per-class linear reward model with multiplicative steps (see the module docstring)."""

    Config = LinearAgentConfig
    needs_reward = True

    # seed and num_steps pass through to Agent, which keeps them
    def __init__(self, config: LinearAgentConfig, arms: Sequence[Arm], initial: np.ndarray, **options: int):
        super().__init__(config, arms, initial, **options)
        self.names = [a.key for a in self.arms]
        self.k = len(self.arms)
        self.classes = (
            class_index(self.arms) if config.count == "objective" else np.arange(len(self.arms), dtype=np.int64)
        )
        self.class_count = int(self.classes.max()) + 1
        self._onehot = np.eye(self.class_count)[self.classes]  # (K, C)
        self._sizes = self._onehot.sum(axis=0)
        first = [self.arms[int(np.flatnonzero(self.classes == c)[0])] for c in range(self.class_count)]
        self.class_names = [a.objective if config.count == "objective" else a.key for a in first]
        start = self.initial  # the configured mixture, normalised and checked by Agent
        self._start = np.bincount(self.classes, weights=start, minlength=self.class_count)  # the configured
        self._uniform = self._sizes / self.k  # the uniform mixture over configurations, by class
        # each configuration's part of its class's share (equal parts in a class configured at 0)
        configured = self._start[self.classes] > 0
        self._within = np.where(configured, start / np.where(configured, self._start[self.classes], 1.0), 0.0)
        self._within = np.where(configured, self._within, 1.0 / self._sizes[self.classes])
        self._shares: np.ndarray = self._start.astype(np.float64)
        self._used: np.ndarray | None = None  # class shares of the mixture in use since the last decision
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._decisions = 0
        self.records: list[dict[str, Any]] = []

    def to_mixture(self, class_shares: np.ndarray) -> np.ndarray:
        """Per-configuration mixture: each class's share split among its configurations as configured."""
        p = class_shares[self.classes] * self._within
        return p / p.sum()

    def initial_mixture(self) -> np.ndarray:
        return self.to_mixture(self._start)

    def decide(self, step: int, losses: np.ndarray, rewards: np.ndarray | None) -> Decision:
        started = time.perf_counter()
        losses = check_losses(losses, names=self.names)
        if rewards is not None:
            rewards = check_rewards(rewards, size=self.k, names=self.names)
            if self._used is not None:
                self._x.append(self._used)
                self._y.append((rewards @ self._onehot) / self._sizes)
        cfg = self.config
        info: dict[str, Any] = {}
        if self.class_count == 1:
            phase = "single"
        elif not self._x:
            phase = "no_history"
        elif step < cfg.warmup_steps:
            phase = "warmup"
        else:
            phase = "step"
            info = self._step()
        mixture = self.to_mixture(self._shares)
        self._used = self._shares.copy()
        info["phase"] = phase
        info["seconds"] = time.perf_counter() - started
        self.records.append(
            {
                "step": int(step),
                "mixture": mixture.tolist(),
                "losses": losses.tolist(),
                "rewards": None if rewards is None else rewards.tolist(),
                "explored": False,
                **info,
            }
        )
        self._decisions += 1
        return Decision(step=int(step), mixture=mixture, explored=False, info=dict(info))

    def _step(self) -> dict[str, Any]:
        cfg = self.config
        x, y = np.asarray(self._x), np.asarray(self._y)
        value, error, _ = class_values(
            x, y, half_life=cfg.half_life, cross_prior=cfg.cross_prior, min_noise=cfg.min_noise
        )
        before = self._shares
        hopeful = value + cfg.optimism * error
        average = float(before @ hopeful)
        z = np.clip((hopeful - average) / np.maximum(error, 1e-12), -cfg.max_evidence, cfg.max_evidence)
        rng = np.random.default_rng([self.seed, self._decisions])
        jitter = (
            cfg.exploration * rng.standard_normal(self.class_count)
            if cfg.exploration
            else np.zeros(self.class_count)
        )
        shares = before * np.exp(cfg.step_size * z + jitter)
        # the floor is part of the state, so that a class that fades can come back in a few steps
        shares = (1.0 - cfg.floor) * shares / shares.sum() + cfg.floor * self._uniform
        self._shares = shares
        names = self.class_names
        return {
            "value": {n: float(v) for n, v in zip(names, value)},
            "value_error": {n: float(e) for n, e in zip(names, error)},
            "evidence": {n: float(v) for n, v in zip(names, z)},
            "exploration": {n: float(v) for n, v in zip(names, jitter)},
            "predicted_class_rewards": {n: float(v) for n, v in zip(names, value * shares)},
            "score_chosen": float(shares @ value),
            "score_previous": float(before @ value),
            "score_uniform": float(self._uniform @ value),
            "strong": bool(np.any(np.abs(z) >= cfg.max_evidence)),
            "change": 0.5 * float(np.abs(shares - before).sum()),
        }

    def state_dict(self) -> dict[str, Any]:
        c = self.class_count
        return {
            "version": STATE_VERSION,
            "arms": list(self.names),
            "shares": self._shares.copy(),
            "used": None if self._used is None else self._used.copy(),
            "x": np.asarray(self._x, dtype=np.float64).reshape(-1, c),
            "y": np.asarray(self._y, dtype=np.float64).reshape(-1, c),
            "decisions": self._decisions,
            "records": [dict(r) for r in self.records],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_agent_state(state, STATE_VERSION, self.names, "linear")
        self._shares = np.asarray(state["shares"], dtype=np.float64).copy()
        used = state["used"]
        self._used = None if used is None else np.asarray(used, dtype=np.float64).copy()
        self._x = [np.asarray(r, dtype=np.float64) for r in state["x"]]
        self._y = [np.asarray(r, dtype=np.float64) for r in state["y"]]
        self._decisions = int(state["decisions"])
        self.records = [dict(r) for r in state["records"]]
