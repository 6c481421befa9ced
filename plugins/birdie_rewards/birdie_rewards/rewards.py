"""Reward functions: from the previous and current validation losses to one reward per arm.

Each is a class with a nested ``Config`` whose instances follow :class:`birdie_core.RewardFn`:
``fn(previous, current, *, history=(), classes=None) -> rewards``. A falling loss earns a positive reward.
Rewards are per arm; agents combine them per class (see :mod:`birdie_rewards.classes`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, Literal, TypeVar

import numpy as np
from pydantic import Field

from birdie_core import ConfigFloat, RewardConfig
from birdie_rewards.checks import InvalidLossError, check_losses

__all__ = [
    "BirdieReward",
    "BirdieRewardConfig",
    "LearningProgressReward",
    "LearningProgressRewardConfig",
    "NewLowReward",
    "NewLowRewardConfig",
    "RelativeImprovementReward",
    "RelativeImprovementRewardConfig",
]

RewardConfigT = TypeVar("RewardConfigT", bound=RewardConfig)


class _RewardBase(ABC, Generic[RewardConfigT]):
    """The call every reward function answers (:class:`birdie_core.RewardFn`), checking the losses once."""

    Config: type[RewardConfigT]
    default_name = ""

    def __init__(self, config: RewardConfigT | None = None):
        self.config: RewardConfigT = config if config is not None else self.Config(name=self.default_name)

    def __call__(
        self,
        previous: np.ndarray,
        current: np.ndarray,
        *,
        history: Sequence[np.ndarray] = (),
        classes: np.ndarray | None = None,
    ) -> np.ndarray:
        old = check_losses(previous, what="previous validation loss")
        new = check_losses(current, size=old.size, what="validation loss")
        if classes is not None and np.shape(classes) != old.shape:
            raise InvalidLossError(
                f"classes must give one class per arm ({old.size}), got {np.shape(classes)}"
            )
        return self.reward(old, new, history)

    @abstractmethod
    def reward(self, old: np.ndarray, new: np.ndarray, history: Sequence[np.ndarray]) -> np.ndarray:
        """One reward per arm from checked losses (float64 vectors of one size) and the earlier ones."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class BirdieRewardConfig(RewardConfig):
    """Parameters of the ``birdie`` reward."""

    symmetric: bool = Field(
        True,
        description="Measure a rise against the larger loss, so that a rise gives exactly the negative of "
        "the same fall (false: always against the old loss, as the paper writes it).",
    )
    min_loss: ConfigFloat = Field(1e-8, gt=0, description="Losses below this (e.g. 0) are raised to it.")


class BirdieReward(_RewardBase[BirdieRewardConfig]):
    """The Birdie paper's reward, with its sign fixed so that a falling loss earns a positive reward.

    ``d = (old - new) / old``, ``S = sqrt(old * new)``, ``R = clip(100 e tanh(e S d^3), -1, 1)``.
    The cube makes small changes worth little and large ones saturate: 4.5 → 4.2 gives ≈ 0.95, at a loss of
    about 2 a 5% drop gives ≈ 0.18. With ``symmetric`` (default) a rise is measured against the larger loss,
    ``d = (old - new) / max(old, new)``, so swapping old and new exactly negates the reward (a rise from 4.2 to
    4.5 gives -0.95); falls are unchanged. Losses below ``min_loss`` (e.g. exactly 0) are raised to it.
    """

    Config = BirdieRewardConfig
    default_name = "birdie"

    def reward(self, old: np.ndarray, new: np.ndarray, history: Sequence[np.ndarray]) -> np.ndarray:
        return birdie_reward(old, new, symmetric=self.config.symmetric, min_loss=self.config.min_loss)


def birdie_reward(
    old: np.ndarray, new: np.ndarray, *, symmetric: bool = True, min_loss: float = 1e-8
) -> np.ndarray:
    """The formula of :class:`BirdieReward` on arrays (no checks)."""
    old = np.maximum(np.asarray(old, dtype=np.float64), min_loss)
    new = np.maximum(np.asarray(new, dtype=np.float64), min_loss)
    base = np.maximum(old, new) if symmetric else old
    d = (old - new) / base
    s = np.sqrt(old * new)
    return np.clip(100.0 * math.e * np.tanh(math.e * s * d**3), -1.0, 1.0)


class RelativeImprovementRewardConfig(RewardConfig):
    """Parameters of the ``relative_improvement`` reward."""

    clip: ConfigFloat | None = Field(
        1.0, gt=0, description="Clip rewards to [-clip, clip] (null: no clipping)."
    )
    min_loss: ConfigFloat = Field(1e-8, gt=0, description="Losses below this (e.g. 0) are raised to it.")


class RelativeImprovementReward(_RewardBase[RelativeImprovementRewardConfig]):
    """``d = (old - new) / old``: the share of the loss removed since the last evaluation, clipped to ±1."""

    Config = RelativeImprovementRewardConfig
    default_name = "relative_improvement"

    def reward(self, old: np.ndarray, new: np.ndarray, history: Sequence[np.ndarray]) -> np.ndarray:
        old = np.maximum(old, self.config.min_loss)
        new = np.maximum(new, self.config.min_loss)
        d = (old - new) / old
        return d if self.config.clip is None else np.clip(d, -self.config.clip, self.config.clip)


class LearningProgressRewardConfig(RewardConfig):
    """Parameters of the ``learning_progress`` reward."""

    smoothing: ConfigFloat = Field(
        0.5, ge=0.0, lt=1.0, description="Weight of the past in the smoothed loss (0: no smoothing)."
    )
    relative: bool = Field(True, description="Divide the change by the previous smoothed loss.")
    signed: bool = Field(False, description="Keep the sign (a fall is positive) instead of |change|.")
    min_loss: ConfigFloat = Field(1e-8, gt=0, description="Losses below this (e.g. 0) are raised to it.")


class LearningProgressReward(_RewardBase[LearningProgressRewardConfig]):
    """Learning progress (Graves et al. 2017): the absolute change of an exponentially smoothed loss.

    The smoothed loss runs over ``history`` (earlier loss vectors, oldest first), ``previous`` and ``current``
    (``previous`` is not counted twice when ``history`` already ends with it):
    ``s_t = smoothing * s_(t-1) + (1 - smoothing) * L_t``. The reward is ``|s_T - s_(T-1)|``, divided by
    ``s_(T-1)`` when ``relative`` (default, so objectives with different loss scales compare), and clipped to
    [0, 1]. The absolute value rewards forgetting as much as learning: both say the objective is in motion. With
    ``signed`` the sign is kept instead (positive when the smoothed loss falls).
    """

    Config = LearningProgressRewardConfig
    default_name = "learning_progress"

    def reward(self, old: np.ndarray, new: np.ndarray, history: Sequence[np.ndarray]) -> np.ndarray:
        seq = [check_losses(h, size=old.size, what="earlier validation loss") for h in history]
        if not seq or not np.array_equal(seq[-1], old):
            seq.append(old)
        beta = self.config.smoothing
        s = seq[0]
        for loss in seq[1:]:
            s = beta * s + (1 - beta) * loss
        s_next = beta * s + (1 - beta) * new
        change = s - s_next  # positive when the smoothed loss falls
        if self.config.relative:
            change = change / np.maximum(s, self.config.min_loss)
        if self.config.signed:
            return np.clip(change, -1.0, 1.0)
        return np.clip(np.abs(change), 0.0, 1.0)


class NewLowRewardConfig(RewardConfig):
    """Parameters of the ``new_low`` reward."""

    form: Literal["birdie", "relative", "absolute"] = Field(
        "birdie",
        description="How the fall below the best loss is scored: birdie — the paper's formula from the best "
        "loss to the new one; relative — (best - new) / best times `scale`; absolute — (best - new) times "
        "`scale` (in the loss's own units, what a mean validation loss adds up); both clipped to 1.",
    )
    scale: ConfigFloat | None = Field(
        None, gt=0, description="Multiplies the fall (null: 10 with form relative, 1 with absolute)."
    )
    penalise_forgetting: bool = Field(
        True,
        description="A rise that gives back ground gained since the first evaluation earns the negative reward "
        "of that rise (forgetting, interference); a rise above the first evaluation's loss costs nothing.",
    )
    learned: ConfigFloat = Field(
        0.05,
        ge=0,
        lt=1,
        description="An arm whose best loss is this fraction below its first has shown it learns: any rise of "
        "its loss costs, also above the first loss (interference can undo everything).",
    )
    min_loss: ConfigFloat = Field(1e-8, gt=0, description="Losses below this (e.g. 0) are raised to it.")


class NewLowReward(_RewardBase[NewLowRewardConfig]):
    """Learning, not recovery: only a loss below the lowest one seen so far for the arm earns a reward.

    The reference is each arm's best (lowest) loss over ``history`` and ``previous``; the reward scores the fall
    from that best to ``min(current, best)`` — by default with the paper's formula (so while every loss keeps
    falling it equals the ``birdie`` reward), as ``scale × (best - new) / best`` (``relative``), or as
    ``scale × (best - new)`` (``absolute``: in the loss's units, so that rewards add up to the fall of a mean
    validation loss). A loss that climbed back
    after the objective was neglected and is now regained earns nothing: an objective that cannot be learned,
    whose loss rises when it is left alone and falls back when trained, looks like progress to a reward that
    compares with the previous evaluation, but never reaches a new low.

    With ``penalise_forgetting`` (default) a rise earns the negative reward of the rise, but only for the part
    that stays below the arm's *first* loss (the first vector of ``history``, else ``previous``): giving back
    what was learned (forgetting, another objective's interference) costs, while an unlearnable objective
    drifting above where it started has nothing to give back. An arm whose best loss lies at least ``learned``
    (5%) below its first has shown that it learns, and then any rise costs, above the first loss too. Regaining that ground later earns nothing, so a
    loss that goes up and down around a level nets a cost, never a gain. Rewards lie in [-1, 1].
    """

    Config = NewLowRewardConfig
    default_name = "new_low"

    def reward(self, old: np.ndarray, new: np.ndarray, history: Sequence[np.ndarray]) -> np.ndarray:
        earlier = [check_losses(h, size=old.size, what="earlier validation loss") for h in history]
        best, first = old.copy(), (earlier[0] if earlier else old)
        # the core passes every earlier loss vector, ending with `previous`: min is idempotent
        for h in earlier:
            best = np.minimum(best, h)
        floor = self.config.min_loss
        best = np.maximum(best, floor)
        new = np.maximum(new, floor)
        reached = np.minimum(new, best)
        form, scale = self.config.form, self.config.scale
        if scale is None:
            scale = 10.0 if form == "relative" else 1.0
        if form == "birdie":
            gain = birdie_reward(best, reached, min_loss=floor)
        elif form == "relative":
            gain = np.clip(scale * (best - reached) / best, 0.0, 1.0)
        else:
            gain = np.clip(scale * (best - reached), 0.0, 1.0)
        if not self.config.penalise_forgetting:
            return gain
        # losing ground: the part of a rise that stays below the first loss (above it nothing was learned)
        top = np.maximum(np.asarray(first, dtype=np.float64), floor)
        top = np.where(best <= (1.0 - self.config.learned) * top, np.inf, top)  # shown to learn: no ceiling
        was, now = np.minimum(np.maximum(old, floor), top), np.minimum(new, top)
        if form == "birdie":
            loss = np.minimum(birdie_reward(was, now, min_loss=floor), 0.0)
        elif form == "relative":
            loss = np.clip(scale * (was - now) / np.maximum(was, now), -1.0, 0.0)
        else:
            loss = np.clip(scale * (was - now), -1.0, 0.0)
        return gain + loss
