"""The ``new_low`` reward: it pays an objective for a loss below its best so far, never for regaining one."""

from __future__ import annotations

import numpy as np
import pytest
from birdie_rewards.rewards import BirdieReward, NewLowReward, birdie_reward


def new_low(previous, current, history=(), **cfg):
    fn = NewLowReward(NewLowReward.Config(name="new_low", **cfg))
    as_vec = lambda v: np.atleast_1d(np.asarray(v, dtype=np.float64))
    return fn(as_vec(previous), as_vec(current), history=tuple(as_vec(h) for h in history))


@pytest.mark.parametrize("form", ["birdie", "relative", "absolute"])
def test_regaining_a_loss_already_reached_earns_nothing(form):
    # 4.0 was reached, the objective was neglected and drifted to 4.6; falling back to 4.1 or 4.0 is recovery
    assert new_low(4.6, 4.1, history=[5.0, 4.0, 4.3], form=form)[0] == 0.0
    assert new_low(4.6, 4.0, history=[5.0, 4.0, 4.3], form=form)[0] == 0.0
    # a reward that compares with the previous evaluation pays the same recovery handsomely
    assert BirdieReward()(np.array([4.6]), np.array([4.1]))[0] > 0.9


@pytest.mark.parametrize("form", ["birdie", "relative", "absolute"])
def test_a_new_low_earns_a_reward_for_the_part_below_the_best(form):
    history = [5.0, 4.0, 4.3]
    below = new_low(4.6, 3.8, history=history, form=form)[0]
    assert below > 0
    # only the fall from the best (4.0) counts, not the fall from 4.6
    assert below == pytest.approx(new_low(4.0, 3.8, form=form)[0])
    assert new_low(4.6, 3.6, history=history, form=form)[0] > below


def test_while_losses_keep_falling_it_is_the_birdie_reward():
    history = [6.0, 5.5, 5.1]
    previous, current = np.array([4.8, 3.0]), np.array([4.5, 2.9])
    fn = NewLowReward()
    np.testing.assert_allclose(
        fn(previous, current, history=[np.array([h, h]) for h in history]), birdie_reward(previous, current)
    )


def test_giving_back_learned_ground_costs_and_a_rise_above_the_first_loss_does_not():
    history = [6.0, 5.0, 4.0]  # first loss 6.0, best 4.0
    # forgetting or interference: 4.0 -> 4.5 gives back ground learned since the first evaluation
    forgetting = BirdieReward()(np.array([4.0]), np.array([4.1]))[0]
    assert new_low(4.0, 4.1, history=history)[0] == pytest.approx(forgetting)
    assert new_low(4.0, 4.1, history=history)[0] < 0
    # an arm that has shown it learns (best 5% or more below its first loss) pays for any rise ...
    assert new_low(5.9, 6.3, history=history)[0] < new_low(5.9, 6.0, history=history)[0] < 0
    # ... one that has not, only for the part below its first loss: 5.9 -> 6.3 costs as much as 5.9 -> 6.0
    barely = [6.0, 5.95, 5.8]
    assert new_low(5.9, 6.3, history=barely)[0] == pytest.approx(new_low(5.9, 6.0, history=barely)[0])
    assert new_low(5.9, 6.3, history=barely)[0] < 0
    # an unlearnable objective drifting above where it started has nothing to give back
    assert new_low(7.1, 7.6, history=[7.0, 7.05])[0] == 0.0
    # the same rises without the penalty
    assert new_low(4.0, 4.5, history=history, penalise_forgetting=False)[0] == 0.0


@pytest.mark.parametrize("form", ["birdie", "relative", "absolute"])
def test_a_loss_going_up_and_down_around_a_level_never_nets_a_gain(form):
    rng = np.random.default_rng(0)
    losses = [6.0, 5.0, 4.0] + list(4.0 + np.abs(rng.normal(0, 0.3, 30)))
    total = sum(
        new_low(losses[t - 1], losses[t], history=losses[: t - 1], form=form)[0] for t in range(3, len(losses))
    )
    assert total <= 0
    # while a reward that compares with the previous evaluation pays each recovery
    assert sum(BirdieReward()(np.array([a]), np.array([b]))[0] for a, b in zip(losses[3:], losses[4:]) if b < a) > 1


def test_history_ending_with_previous_is_not_counted_twice():
    # the training loop passes every earlier loss vector including `previous`; the simulator passes those before
    a = new_low(4.2, 3.9, history=[5.0, 4.5])
    b = new_low(4.2, 3.9, history=[5.0, 4.5, 4.2])
    np.testing.assert_array_equal(a, b)


def test_relative_form_scales_and_clips():
    assert new_low(4.0, 3.9, form="relative", scale=10.0)[0] == pytest.approx(10 * 0.1 / 4.0)
    assert new_low(4.0, 1.0, form="relative", scale=10.0)[0] == 1.0


def test_unlearnable_drift_and_recovery_earn_nothing():
    # an objective at its start that drifts up when neglected and comes back when trained, again and again
    losses = [7.0, 7.0, 7.5, 7.0, 7.6, 7.05, 7.4, 7.0]
    for t in range(1, len(losses)):
        assert new_low(losses[t - 1], losses[t], history=losses[: t - 1])[0] == 0.0


def test_zero_losses_are_allowed():
    assert new_low(0.0, 0.0)[0] == 0.0
    assert np.isfinite(new_low(1.0, 0.0)[0])
