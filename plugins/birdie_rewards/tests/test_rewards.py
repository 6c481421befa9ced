"""The reward functions: the values SPEC §2 gives, their shape, and what they do with bad input."""

from __future__ import annotations

import numpy as np
import pytest
from birdie_rewards.checks import InvalidLossError, loss_vector
from birdie_rewards.rewards import BirdieReward, LearningProgressReward, RelativeImprovementReward

from birdie_core.errors import PipelineError
from birdie_core.interfaces import Arm


def birdie(old, new, **cfg):
    fn = BirdieReward(BirdieReward.Config(name="birdie", **cfg))
    return fn(np.atleast_1d(np.asarray(old, float)), np.atleast_1d(np.asarray(new, float)))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [(4.5, 4.2, 0.95), (0.6, 0.52, 0.95), (2.0, 1.9, 0.18)],  # SPEC §2
)
def test_birdie_reward_reproduces_the_spec_values(old, new, expected):
    assert birdie(old, new)[0] == pytest.approx(expected, abs=0.03)


def test_a_falling_loss_earns_a_positive_reward_and_a_rise_the_negative_of_the_same_fall():
    falls = [(4.5, 4.2), (0.6, 0.52), (2.0, 1.9), (10.0, 9.99), (3.0, 1.0)]
    for old, new in falls:
        fall, rise = birdie(old, new)[0], birdie(new, old)[0]
        assert fall > 0 > rise
        assert rise == pytest.approx(-fall, abs=1e-12)
    # the paper's form (`symmetric: false`) keeps `old` as the base: the same fall, a slightly larger rise
    assert birdie(4.5, 4.2, symmetric=False)[0] == pytest.approx(birdie(4.5, 4.2)[0])
    assert birdie(2.0, 2.1, symmetric=False)[0] < birdie(2.0, 2.1)[0] < 0


def test_birdie_reward_is_bounded_flat_for_no_change_and_grows_with_the_drop():
    assert birdie(3.0, 3.0)[0] == 0.0
    drops = birdie(np.full(6, 3.0), 3.0 * (1 - np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.5])))
    assert np.all(np.diff(drops[:5]) > 0) and drops[4] == drops[5] == 1.0  # saturates at 1
    assert birdie(3.0, 300.0)[0] == -1.0


def test_birdie_reward_handles_zero_losses():
    r = birdie([0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    assert np.all(np.isfinite(r))
    assert r[0] == 0.0 and r[1] > 0 > r[2]


def test_relative_improvement():
    fn = RelativeImprovementReward()
    np.testing.assert_allclose(fn(np.array([4.0, 2.0, 1.0]), np.array([3.0, 2.0, 5.0])), [0.25, 0.0, -1.0])
    unclipped = RelativeImprovementReward(RelativeImprovementReward.Config(name="r", clip=None))
    assert unclipped(np.array([1.0]), np.array([5.0]))[0] == pytest.approx(-4.0)


def test_learning_progress_is_the_absolute_change_of_a_smoothed_loss():
    fn = LearningProgressReward(LearningProgressReward.Config(name="lp", smoothing=0.5, relative=False))
    # smoothed: 4 -> 0.5*4 + 0.5*2 = 3 (previous) -> 0.5*3 + 0.5*3 = 3 (current): no progress
    assert fn(np.array([2.0]), np.array([3.0]), history=[np.array([4.0])])[0] == pytest.approx(0.0)
    # without history the smoothed loss starts at `previous`
    assert fn(np.array([4.0]), np.array([2.0]))[0] == pytest.approx(1.0)
    # forgetting counts as much as learning, unless signed
    assert fn(np.array([2.0]), np.array([4.0]))[0] == pytest.approx(1.0)
    signed = LearningProgressReward(LearningProgressReward.Config(name="lp", relative=False, signed=True))
    assert signed(np.array([2.0]), np.array([4.0]))[0] == pytest.approx(-1.0)
    # `previous` is not counted twice when the history already ends with it
    h = [np.array([5.0]), np.array([4.0])]
    assert fn(np.array([4.0]), np.array([3.0]), history=h)[0] == pytest.approx(
        fn(np.array([4.0]), np.array([3.0]), history=h[:1])[0]
    )


def test_learning_progress_relative_is_scale_free_and_bounded():
    fn = LearningProgressReward()
    a = fn(np.array([4.0, 400.0]), np.array([3.0, 300.0]))
    assert a[0] == pytest.approx(a[1]) and 0 < a[0] <= 1


@pytest.mark.parametrize("fn", [BirdieReward(), RelativeImprovementReward(), LearningProgressReward()])
@pytest.mark.parametrize(
    ("previous", "current", "message"),
    [
        ([3.0, 2.0], [np.nan, 2.0], "arm #0 is nan"),
        ([3.0, 2.0], [3.0, np.inf], "arm #1 is inf"),
        ([3.0, 2.0], [3.0, -0.5], "cannot be negative"),
        ([3.0, 2.0], [3.0], "got 1 validation losses for 2"),
        ([], [], "no previous validation loss"),
    ],
)
def test_bad_losses_raise_a_clear_error(fn, previous, current, message):
    with pytest.raises(InvalidLossError, match=message) as info:
        fn(np.asarray(previous, float), np.asarray(current, float))
    assert isinstance(info.value, PipelineError) and isinstance(info.value, ValueError)


def test_loss_vector_from_a_mapping_names_missing_and_unknown_objectives():
    arms = [Arm("a", "x"), Arm("b", "y")]
    np.testing.assert_array_equal(loss_vector({"b": 2.0, "a": 1.0}, arms), [1.0, 2.0])
    with pytest.raises(InvalidLossError, match=r"no validation loss for \['b'\]"):
        loss_vector({"a": 1.0}, arms)
    with pytest.raises(InvalidLossError, match=r"unknown objective ids \['c'\]"):
        loss_vector({"a": 1.0, "b": 1.0, "c": 1.0}, arms)
    with pytest.raises(InvalidLossError, match="objective 'b' is nan"):
        loss_vector({"a": 1.0, "b": float("nan")}, arms)
