"""MixtureSchedule: the stamped mixtures workers read before every batch, and the answer they reuse."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from birdie_core.errors import PipelineError
from birdie_core.pipeline.workers import MixtureSchedule


def mix(*p: float) -> np.ndarray:
    return np.asarray(p, dtype=np.float64) / sum(p)


def test_lookup_takes_the_newest_entry_in_force():
    s = MixtureSchedule(mix(1, 1), lookahead=2)
    s.set(5, mix(1, 3))
    for index, want in ((0, mix(1, 1)), (4, mix(1, 1)), (5, mix(1, 3)), (100, mix(1, 3))):
        stamp, m = s.lookup(index)
        np.testing.assert_allclose(m, want)
        assert stamp == (0 if index < 5 else 5)


def test_a_reused_answer_never_hides_a_later_write():
    s = MixtureSchedule(mix(1, 1), lookahead=2)
    assert s.lookup(10)[0] == 0  # the newest entry: remembered for every later index
    s.set(12, mix(3, 1))
    assert s.lookup(11)[0] == 0
    np.testing.assert_allclose(s.lookup(12)[1], mix(3, 1))
    s.set(12, mix(1, 4))  # same stamp: replaces the entry, the count of entries stays the same
    np.testing.assert_allclose(s.lookup(13)[1], mix(1, 4))
    s.load([(0, mix(2, 1).tolist())])
    stamp, m = s.lookup(14)
    assert stamp == 0
    np.testing.assert_allclose(m, mix(2, 1))


def test_returned_mixtures_are_copies():
    s = MixtureSchedule(mix(1, 1), lookahead=2)
    s.lookup(3)[1][:] = 0.0
    np.testing.assert_allclose(s.lookup(4)[1], mix(1, 1))


def test_pickling_drops_the_remembered_answer():
    s = MixtureSchedule(mix(1, 1), lookahead=2)
    s.lookup(3)
    t = pickle.loads(pickle.dumps(s))
    assert t._cache is None
    np.testing.assert_allclose(t.lookup(3)[1], mix(1, 1))


def test_stamps_must_not_decrease():
    s = MixtureSchedule(mix(1, 1), lookahead=2)
    s.set(4, mix(1, 2))
    with pytest.raises(PipelineError, match="must not decrease"):
        s.set(3, mix(1, 1))
