"""The reward-function contract, for any reward, first-party or third-party.

Subclass it in a pytest module::

    from birdie_core.testing import RewardFnConformance

    class TestMyReward(RewardFnConformance):
        reward_cls = MyReward
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from birdie_core.testing._requires import require_test_tools

require_test_tools()

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birdie_core.errors import InvalidLossError
from birdie_core.interfaces import RewardConfig, RewardFn

__all__ = ["RewardFnConformance"]

_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)

#: a vector of validation losses: what a cross-entropy gives, from nearly solved to untrained
_LOSSES = st.floats(1e-3, 20.0, allow_nan=False, allow_infinity=False)


@st.composite
def _evaluations(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    k = draw(st.integers(1, 12))
    vec = st.lists(_LOSSES, min_size=k, max_size=k).map(lambda v: np.array(v, dtype=np.float64))
    history = draw(st.lists(vec, max_size=3))
    classes = np.array(draw(st.lists(st.integers(0, 3), min_size=k, max_size=k)), dtype=np.int64)
    return draw(vec), draw(vec), history, classes


class RewardFnConformance:
    """The reward contract (:class:`birdie_core.RewardFn`). Set ``reward_cls`` (built as the registry builds
    it, ``reward_cls(config)``) and ``reward_config`` when the defaults do not do, or override
    :meth:`make_reward`.

    Checked: one finite reward per arm, for any number of arms and any finite losses; the same call gives the
    same rewards (a reward is a function of its arguments); relabelling the arms relabels the rewards; unchanged
    losses favour no arm (set ``unchanged_losses_favour_none = False`` for a reward that, by design, prefers
    arms by their loss level); NaN, infinite and mis-shaped losses raise :class:`birdie_core.InvalidLossError`
    with a message naming what was wrong.
    """

    reward_cls: ClassVar[type[Any] | None] = None
    reward_config: ClassVar[RewardConfig | None] = None
    unchanged_losses_favour_none: ClassVar[bool] = True

    def make_reward(self) -> RewardFn:
        if self.reward_cls is None:
            raise NotImplementedError("set `reward_cls = MyReward` on the subclass")
        cfg = self.reward_config or self.reward_cls.Config(name=self.reward_cls.__name__)
        fn: RewardFn = self.reward_cls(cfg)
        return fn

    def _call(
        self,
        fn: RewardFn,
        previous: np.ndarray,
        current: np.ndarray,
        history: Sequence[np.ndarray] = (),
        classes: np.ndarray | None = None,
    ) -> np.ndarray:
        out = fn(previous.copy(), current.copy(), history=tuple(h.copy() for h in history), classes=classes)
        rewards = np.asarray(out, dtype=np.float64)
        assert rewards.shape == previous.shape, f"{previous.size} arms got rewards of shape {rewards.shape}"
        assert np.all(np.isfinite(rewards)), f"rewards must be finite for finite losses, got {rewards}"
        return rewards

    @_SETTINGS
    @given(evaluation=_evaluations())
    def test_one_finite_reward_per_arm(self, evaluation: Any) -> None:
        previous, current, history, classes = evaluation
        fn = self.make_reward()
        self._call(fn, previous, current, history, classes)
        self._call(fn, previous, current)

    @_SETTINGS
    @given(evaluation=_evaluations())
    def test_deterministic(self, evaluation: Any) -> None:
        previous, current, history, classes = evaluation
        fn = self.make_reward()
        once = self._call(fn, previous, current, history, classes)
        np.testing.assert_array_equal(once, self._call(fn, previous, current, history, classes))
        np.testing.assert_array_equal(
            once, self._call(self.make_reward(), previous, current, history, classes)
        )

    @_SETTINGS
    @given(evaluation=_evaluations(), seed=st.integers(0, 2**16))
    def test_relabelling_arms_relabels_rewards(self, evaluation: Any, seed: int) -> None:
        previous, current, history, classes = evaluation
        order = np.random.default_rng(seed).permutation(previous.size)
        fn = self.make_reward()
        plain = self._call(fn, previous, current, history, classes)
        moved = self._call(fn, previous[order], current[order], [h[order] for h in history], classes[order])
        np.testing.assert_allclose(moved, plain[order], rtol=1e-9, atol=1e-12)

    @_SETTINGS
    @given(losses=st.lists(_LOSSES, min_size=1, max_size=12))
    def test_unchanged_losses_favour_no_arm(self, losses: list[float]) -> None:
        if not self.unchanged_losses_favour_none:
            pytest.skip("this reward prefers arms by their loss level by design")
        same = np.array(losses, dtype=np.float64)
        rewards = self._call(self.make_reward(), same, same.copy())
        assert np.ptp(rewards) <= 1e-9, f"unchanged losses {same} gave different rewards {rewards}"

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    @pytest.mark.parametrize("where", ["previous", "current"])
    def test_non_finite_losses_are_refused(self, bad: float, where: str) -> None:
        good = np.array([3.0, 2.5, 4.0])
        broken = good.copy()
        broken[1] = bad
        previous, current = (broken, good) if where == "previous" else (good, broken)
        with pytest.raises(InvalidLossError) as info:
            self.make_reward()(previous, current)
        message = str(info.value).lower()
        assert "finite" in message or str(bad).lower() in message, (
            f"the message should say the loss is {bad} / not finite: {info.value}"
        )

    def test_losses_of_another_length_are_refused(self) -> None:
        with pytest.raises(InvalidLossError) as info:
            self.make_reward()(np.array([3.0, 2.5, 4.0, 1.0]), np.array([3.0, 2.5, 4.0]))
        message = str(info.value)
        assert "3" in message and "4" in message, f"the message should give both lengths: {message}"

    @pytest.mark.parametrize("where", ["previous", "current"])
    def test_losses_not_a_vector_are_refused(self, where: str) -> None:
        good, flat = np.ones(4), np.ones((2, 2))
        previous, current = (flat, good) if where == "previous" else (good, flat)
        with pytest.raises(InvalidLossError) as info:
            self.make_reward()(previous, current)
        message = str(info.value)
        assert "(2, 2)" in message or "1-d" in message or "shape" in message, (
            f"the message should say the shape is wrong: {message}"
        )

    def test_classes_of_another_length_are_refused(self) -> None:
        with pytest.raises(InvalidLossError) as info:
            self.make_reward()(np.ones(3), np.ones(3), classes=np.zeros(2, dtype=np.int64))
        assert "class" in str(info.value).lower(), f"the message should name the classes: {info.value}"
