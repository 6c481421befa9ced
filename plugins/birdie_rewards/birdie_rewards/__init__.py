"""Reward functions and agents for Birdie's curriculum: the paper's reward-model agent, a linear one, EXP3, and a
simulator.

Nothing here imports torch; the ``birdie`` agent imports it when its reward model is first needed.
"""

from birdie_rewards.birdie_agent import BirdieAgent, apply_floor, apply_temperature, exploration_rate
from birdie_rewards.checks import InvalidLossError, check_losses, check_rewards, loss_vector
from birdie_rewards.classes import class_index, class_means, class_total, class_weights
from birdie_rewards.exp3 import ExpThreeAgent
from birdie_rewards.linear_agent import LinearAgent
from birdie_rewards.rewards import (
    BirdieReward,
    LearningProgressReward,
    NewLowReward,
    RelativeImprovementReward,
    birdie_reward,
)

__version__ = "0.1.0"

__all__ = [
    "BirdieAgent",
    "BirdieReward",
    "ExpThreeAgent",
    "InvalidLossError",
    "LearningProgressReward",
    "LinearAgent",
    "NewLowReward",
    "RelativeImprovementReward",
    "__version__",
    "apply_floor",
    "apply_temperature",
    "birdie_reward",
    "check_losses",
    "check_rewards",
    "class_index",
    "class_means",
    "class_total",
    "class_weights",
    "exploration_rate",
    "loss_vector",
]
