"""Class normalisation: an objective split into many configurations counts once."""

from __future__ import annotations

import numpy as np
import pytest
from birdie_rewards.classes import class_index, class_means, class_total, class_weights

from birdie_core.interfaces import Arm


def test_class_index_follows_first_appearance():
    arms = [Arm("a", "text.infilling"), Arm("b", "core.prefix_lm"), Arm("c", "text.infilling")]
    np.testing.assert_array_equal(class_index(arms), [0, 1, 0])
    np.testing.assert_array_equal(class_index(["x", "y", "y", "z"]), [0, 1, 1, 2])


def test_class_reward_is_the_mean_over_its_configurations_and_the_total_sums_classes():
    classes = np.array([0, 0, 0, 0, 1, 2])
    rewards = np.array([0.4, 0.2, 0.0, 0.2, 0.5, -0.1])
    np.testing.assert_allclose(class_means(rewards, classes), [0.2, 0.2, 0.2, 0.2, 0.5, -0.1])
    np.testing.assert_allclose(class_weights(classes), [0.25, 0.25, 0.25, 0.25, 1.0, 1.0])
    assert class_total(rewards, classes) == pytest.approx(0.2 + 0.5 - 0.1)
    assert class_total(rewards, None) == pytest.approx(rewards.sum())


def test_a_split_objective_does_not_outweigh_one_with_a_single_configuration():
    # eight configurations of one objective each earning 0.3 weigh as much as one objective earning 0.3
    classes = np.array([0] * 8 + [1])
    split_good = np.array([0.3] * 8 + [0.0])
    single_good = np.array([0.0] * 8 + [0.3])
    assert class_total(split_good, classes) == pytest.approx(class_total(single_good, classes))
    assert split_good.sum() == pytest.approx(8 * single_good.sum())  # what a plain sum would do


def test_class_totals_work_on_batches_of_candidates():
    classes = np.array([0, 0, 1])
    preds = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(class_total(preds, classes), [0.5, 1.0])
    with pytest.raises(ValueError, match="one class per arm"):
        class_total(preds, np.array([0, 1]))
