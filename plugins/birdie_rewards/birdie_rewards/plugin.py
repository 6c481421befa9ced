"""Hook implementations of the `rewards` plugin (entry point `rewards` in the group `birdie`).

Registered names are qualified by the namespace: `rewards.<name>`. Nothing here imports torch: the
``birdie`` agent imports it when its reward model is first needed.
"""

from __future__ import annotations

from typing import Any

from birdie_core import Register, hookimpl


@hookimpl
def birdie_register_reward_fns(register: Register) -> None:
    from birdie_rewards.rewards import (
        BirdieReward,
        LearningProgressReward,
        NewLowReward,
        RelativeImprovementReward,
    )

    register("birdie", BirdieReward)
    register("relative_improvement", RelativeImprovementReward)
    register("learning_progress", LearningProgressReward)
    register("new_low", NewLowReward)


@hookimpl
def birdie_register_agents(register: Register) -> None:
    from birdie_rewards.birdie_agent import BirdieAgent
    from birdie_rewards.exp3 import ExpThreeAgent
    from birdie_rewards.linear_agent import LinearAgent

    register("birdie", BirdieAgent)
    register("exp3", ExpThreeAgent)
    register("linear", LinearAgent)


@hookimpl
def birdie_register_commands(cli: Any) -> None:
    from birdie_rewards.cli import simulate

    cli.add_command(simulate)
