"""Every reward function of birdie_rewards passes the core's reward contract (birdie_core.testing)."""

from __future__ import annotations

from birdie_rewards import (
    BirdieReward,
    LearningProgressReward,
    NewLowReward,
    RelativeImprovementReward,
)

from birdie_core.testing import RewardFnConformance


class TestBirdieReward(RewardFnConformance):
    reward_cls = BirdieReward


class TestBirdieRewardAsPublished(RewardFnConformance):
    reward_cls = BirdieReward
    reward_config = BirdieReward.Config(name="birdie", symmetric=False)


class TestRelativeImprovementReward(RewardFnConformance):
    reward_cls = RelativeImprovementReward


class TestRelativeImprovementUnclipped(RewardFnConformance):
    reward_cls = RelativeImprovementReward
    reward_config = RelativeImprovementReward.Config(name="relative_improvement", clip=None)


class TestLearningProgressReward(RewardFnConformance):
    reward_cls = LearningProgressReward


class TestLearningProgressSignedAbsolute(RewardFnConformance):
    reward_cls = LearningProgressReward
    reward_config = LearningProgressReward.Config(
        name="learning_progress", signed=True, relative=False, smoothing=0.0
    )


class TestNewLowReward(RewardFnConformance):
    reward_cls = NewLowReward


class TestNewLowRewardRelative(RewardFnConformance):
    reward_cls = NewLowReward
    reward_config = NewLowReward.Config(name="new_low", form="relative", scale=20.0)
