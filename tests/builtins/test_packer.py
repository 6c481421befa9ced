"""BestFitPacker: exact layout, best-fit placement, readiness, efficiency on realistic streams, resume."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from birdie_core.builtins.objectives import NextTokenPrediction
from birdie_core.builtins.packers import BestFitPacker
from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.interfaces import Example, ObjectiveContext
from birdie_core.testing import assert_batch_contract, batch_segments


def packer(batch_size=2, sequence_length=16, num_arms=2, **kw) -> BestFitPacker:
    return BestFitPacker(BestFitPacker.Config(name="best_fit", **kw), batch_size, sequence_length, num_arms)


def ex(prefix, target, consumed=0) -> Example:
    return Example(np.asarray(prefix, np.int32), np.asarray(target, np.int32), consumed)


def test_layout_of_one_example():
    p = packer(1, 8)
    p.add(ex([5, 6, 99], [7, 8, 9], consumed=5), 1)
    b = p.pop()
    assert b.input_ids.tolist() == [[5, 6, 99, 7, 8, 0, 0, 0]]
    assert b.label_ids.tolist() == [[-100, -100, 7, 8, 9, -100, -100, -100]]
    assert b.attention_mask.tolist() == [[1, 1, 1, 0, 0, 0, 0, 0]]
    assert b.segment_ids.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    assert b.position_ids.tolist() == [[0, 1, 2, 3, 4, 0, 0, 0]]
    assert b.segment_arms.tolist() == [[1]]
    assert b.arm_positions.tolist() == [0, 5] and b.arm_consumed.tolist() == [0, 5]
    assert b.efficiency == 5 / 8
    assert_batch_contract(b, num_arms=2)


def test_second_segment_restarts_positions_and_counts_up():
    p = packer(1, 8)
    p.add(ex([9, 99], [1, 2]), 0)
    p.add(ex([99], [3, 4, 5]), 1)
    b = p.pop()
    assert b.segment_ids.tolist() == [[1, 1, 1, 2, 2, 2, 0, 0]]
    assert b.position_ids.tolist() == [[0, 1, 2, 0, 1, 2, 0, 0]]
    assert b.label_ids.tolist() == [[-100, 1, 2, 3, 4, 5, -100, -100]]
    assert b.segment_arms.tolist() == [[0, 1]]


def test_best_fit_picks_the_tightest_row_that_fits():
    p = packer(3, 20)
    p.add(ex([1] * 10, [2]), 0)  # row 0: 10 free
    p.add(ex([1] * 15, [2]), 0)  # goes to row 1 (row 0 too small): 5 free
    assert p.budget() == 20
    p.add(ex([1] * 4, [2]), 1)  # fits rows 0 (10 free), 1 (5 free), 2 (20 free): tightest is row 1
    b = p.pop()
    assert b.segment_ids[1].tolist().count(2) == 4
    assert b.segment_arms.tolist() == [[0, -1], [0, 1], [-1, -1]]


def test_budget_is_the_largest_free_space_and_overflow_is_refused():
    p = packer(2, 10)
    p.add(ex([1] * 10, [2]), 0)
    p.add(ex([1] * 7, [2]), 0)
    assert p.budget() == 3
    with pytest.raises(ValueError, match="does not fit"):
        p.add(ex([1] * 4, [2]), 0)


@pytest.mark.parametrize("length, free", [(512, 2), (2048, 10), (64, 2), (4, 2)])
def test_ready_threshold(length, free):
    p = packer(1, length)
    p.add(ex([1] * (length - free - 1), [2]), 0)  # leaves free + 1
    assert not p.ready()
    p.add(ex([1], [2]), 0)  # one more position
    assert p.budget() == free and p.ready()


def test_a_long_segment_list_grows():
    p = packer(1, 100)
    for i in range(50):
        p.add(ex([3], [4, 5]), i % 2)
    b = p.pop()
    assert b.segment_arms.shape == (1, 50) and b.segment_ids.max() == 50
    assert_batch_contract(b, num_arms=2)


@settings(max_examples=60, deadline=None)
@given(
    batch_size=st.integers(1, 5),
    sequence_length=st.integers(1, 128),
    plan=st.lists(st.tuples(st.integers(1, 200), st.integers(0, 100), st.booleans()), max_size=80),
)
def test_random_lengths_keep_the_contract(batch_size, sequence_length, plan):
    """Random lengths, prefix shares and early pops: every batch keeps the contract, no example is lost."""
    p = packer(batch_size, sequence_length, num_arms=3)
    added = kept = 0
    for i, (want, share, pop_now) in enumerate(plan):
        if p.ready() or pop_now:
            b = p.pop()
            assert_batch_contract(b, num_arms=3)
            kept += len(batch_segments(b))
        n = min(want, p.budget())
        n_prefix = max(1, n * share // 100)
        p.add(ex(np.full(n_prefix, 7), np.full(n - n_prefix + 1, 8)), i % 3)
        added += 1
    b = p.pop()
    assert_batch_contract(b, num_arms=3)
    assert kept + len(batch_segments(b)) == added


def _ntp_stream(sequence_length: int, batch_size: int, num_batches: int, seed: int = 0) -> BestFitPacker:
    """Pack variable-length documents (log-normal, median ~300 tokens) with next-token prediction."""
    rng = np.random.default_rng(seed)
    tok = ByteTokenizer(None, ["<s>"])
    ctx = ObjectiveContext(tokenizer=tok, rng=rng, start_id=tok.special_id("<s>"))
    ntp = NextTokenPrediction(NextTokenPrediction.Config(name="next_token_prediction"))
    p = packer(batch_size, sequence_length, num_arms=1)
    tokens = np.zeros(0, np.int32)
    while p.stats["batches"] < num_batches:
        if p.ready():
            p.pop()
            continue
        if tokens.size == 0:
            tokens = rng.integers(1, 256, int(rng.lognormal(np.log(300), 1.0)) + 1).astype(np.int32)
        example, tokens = ntp.build(tokens, p.budget(), ctx)
        if example is None:
            tokens = tokens[:0]
        else:
            p.add(example, 0)
    return p


@pytest.mark.parametrize("sequence_length", [512, 2048])
def test_efficiency_on_a_stream_of_next_token_examples(sequence_length):
    p = _ntp_stream(sequence_length, batch_size=8, num_batches=20)
    assert p.stats["efficiency"] >= 0.98
    assert p.stats["batches"] == 20 and p.stats["positions"] == 20 * 8 * sequence_length


def test_state_round_trip_mid_batch():
    a = packer(2, 16)
    a.add(ex([1, 2, 3], [4, 5]), 0)
    b = packer(2, 16)
    b.load_state_dict(pickle.loads(pickle.dumps(a.state_dict())))
    for p in (a, b):
        p.add(ex([6, 7], [8, 9, 10]), 1)
    x, y = a.pop(), b.pop()
    for k in ("input_ids", "label_ids", "segment_ids", "segment_arms", "arm_positions"):
        np.testing.assert_array_equal(getattr(x, k), getattr(y, k))
    assert a.stats == b.stats


def test_state_between_batches_holds_no_arrays():
    """Workers snapshot the packer after every batch: an empty open batch must not cost five arrays."""
    a = packer(2, 16)
    a.add(ex([1, 2, 3], [4, 5]), 0)
    a.pop()
    state = a.state_dict()
    assert state["open"] is None
    assert len(pickle.dumps(state)) < 500
    b = packer(2, 16)
    b.load_state_dict(pickle.loads(pickle.dumps(state)))
    for p in (a, b):
        p.add(ex([6, 7], [8, 9, 10]), 1)
    x, y = a.pop(), b.pop()
    for k in ("input_ids", "label_ids", "attention_mask", "segment_ids", "position_ids", "segment_arms"):
        np.testing.assert_array_equal(getattr(x, k), getattr(y, k))
    assert a.stats == b.stats


def test_budget_tracks_the_roomiest_row():
    p = packer(2, 20)
    assert p.budget() == 20
    for prefix, target, budget in ([[1] * 5, [2], 20], [[1] * 19, [2, 3], 15], [[1] * 3, [2], 12]):
        p.add(ex(prefix, target), 0)
        assert p.budget() == budget
    p.pop()
    assert p.budget() == 20 and not p.ready()


def test_state_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="sequence_length"):
        packer(2, 32).load_state_dict(packer(2, 16).state_dict())


def test_to_torch_gives_long_tensors_of_batch_shape():
    p = packer(2, 8)
    p.add(ex([1, 2], [3, 4]), 0)
    t = p.pop().to_torch()
    assert set(t) == {"input_ids", "label_ids", "attention_mask", "segment_ids", "position_ids"}
    assert all(v.dtype == torch.long and v.shape == (2, 8) for v in t.values())


def test_config_is_validated():
    with pytest.raises(ValidationError):
        BestFitPacker.Config(name="best_fit", min_fill=1.5)
    with pytest.raises(ValidationError):
        BestFitPacker.Config(name="best_fit", bogus=1)
