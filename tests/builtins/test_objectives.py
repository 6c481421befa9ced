"""The core objectives: exact layouts, budget accounting and edge cases (the contract is in the conformance suite)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from birdie_core.builtins.objectives import NextTokenPrediction, PrefixLM
from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.interfaces import ObjectiveContext

START = "<|start|>"


def make(cls, **kw):
    obj = cls(cls.Config(name=cls.__name__, **kw))
    tok = ByteTokenizer(None, [START, *obj.special_tokens()])
    return obj, tok


def ctx(tok, seed=0):
    return ObjectiveContext(tokenizer=tok, rng=np.random.default_rng(seed), start_id=tok.special_id(START))


def doc(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.int32) % 250) + 1


# -- next-token prediction --------------------------------------------------------------------------------


def test_ntp_is_true_next_token_prediction_not_copying():
    obj, tok = make(NextTokenPrediction)
    tokens = doc(50)
    ex, rest = obj.build(tokens, 1000, ctx(tok))
    assert ex.prefix.tolist() == [tok.special_id(START)]  # no document token in the input
    assert ex.target.tolist() == tokens.tolist()
    assert ex.consumed == 50 and rest.size == 0 and ex.length == 50


def test_ntp_fills_the_budget_exactly_and_returns_the_rest():
    obj, tok = make(NextTokenPrediction, paradigm="[NTP]")
    tokens = doc(300)
    ex, rest = obj.build(tokens, 100, ctx(tok))
    assert ex.prefix.tolist() == [tok.special_id("[NTP]"), tok.special_id(START)]
    assert ex.length == 100  # 2 markers + 99 targets - 1
    assert ex.target.tolist() == tokens[:99].tolist()
    assert rest.tolist() == tokens[99:].tolist()


@pytest.mark.parametrize("n, budget", [(0, 100), (1, 100), (5, 1), (2, 1)])
def test_ntp_refuses_what_it_cannot_use(n, budget):
    obj, tok = make(NextTokenPrediction)
    tokens = doc(n)
    ex, rest = obj.build(tokens, budget, ctx(tok))
    assert ex is None and rest is tokens


def test_ntp_needs_two_target_tokens_and_a_paradigm_costs_one_position():
    obj, tok = make(NextTokenPrediction, paradigm="[P]")
    assert obj.build(doc(10), 2, ctx(tok))[0] is None  # 2 markers + 2 targets - 1 = 3 > 2
    ex, _ = obj.build(doc(10), 3, ctx(tok))
    assert ex.length == 3 and ex.target.size == 2


def test_ntp_length_range_is_honoured():
    obj, tok = make(NextTokenPrediction, length=(10, 20))
    c = ctx(tok, 4)
    sizes = [obj.build(doc(1000), 2048, c)[0].consumed for _ in range(200)]
    assert min(sizes) >= 10 and max(sizes) <= 20 and len(set(sizes)) > 5


def test_paradigm_at_the_end():
    obj, tok = make(PrefixLM, paradigm="[S]", paradigm_at_end=1.0)
    ex, _ = obj.build(doc(8), 100, ctx(tok))
    assert ex.prefix[-2:].tolist() == [tok.special_id("[S]"), tok.special_id(START)]
    assert ex.prefix[:-2].tolist() == doc(8)[:6].tolist()


# -- prefix LM --------------------------------------------------------------------------------------------


def test_prefix_lm_splits_at_the_fraction():
    obj, tok = make(PrefixLM, paradigm="[S]")
    tokens = doc(100)
    ex, rest = obj.build(tokens, 1000, ctx(tok))
    assert ex.prefix.tolist() == [tok.special_id("[S]"), *tokens[:75].tolist(), tok.special_id(START)]
    assert ex.target.tolist() == tokens[75:].tolist()
    assert ex.length == 2 + 100 - 1 and rest.size == 0


def test_prefix_lm_budget_accounting_is_exact():
    obj, tok = make(PrefixLM, prefix_fraction=0.5)
    tokens = doc(1000)
    ex, rest = obj.build(tokens, 64, ctx(tok))
    assert ex.length == 64 and ex.consumed == 64 and rest.size == 936
    assert len(ex.prefix) + len(ex.target) - 1 == 64


@pytest.mark.parametrize("n", [0, 1])
def test_prefix_lm_one_token_leftover_does_not_crash(n):
    obj, tok = make(PrefixLM)
    tokens = doc(n)
    ex, rest = obj.build(tokens, 512, ctx(tok))
    assert ex is None and rest is tokens


def test_prefix_lm_two_tokens_make_a_one_token_prefix_and_target():
    obj, tok = make(PrefixLM, prefix_fraction=0.9)
    ex, rest = obj.build(doc(2), 512, ctx(tok))
    assert ex.prefix.tolist() == [1, tok.special_id(START)] and ex.target.tolist() == [2] and rest.size == 0


def test_prefix_lm_uniform_split_varies_within_bounds():
    obj, tok = make(PrefixLM, prefix_fraction=None)
    c = ctx(tok, 1)
    splits = {obj.build(doc(20), 512, c)[0].prefix.size - 1 for _ in range(300)}
    assert splits == set(range(1, 20))


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.2, 1.5])
def test_prefix_fraction_is_validated(bad):
    with pytest.raises(ValidationError):
        PrefixLM.Config(name="prefix_lm", prefix_fraction=bad)


def test_unknown_keys_are_errors():
    with pytest.raises(ValidationError):
        NextTokenPrediction.Config(name="next_token_prediction", lenght=(1, 2))


# -- properties -------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 3000),
    budget=st.integers(1, 2048),
    paradigm=st.sampled_from([None, "[P]"]),
    cls=st.sampled_from([NextTokenPrediction, PrefixLM]),
)
def test_examples_use_the_whole_budget_or_the_whole_document(n, budget, paradigm, cls):
    obj, tok = make(cls, paradigm=paradigm)
    tokens = doc(n)
    ex, rest = obj.build(tokens, budget, ctx(tok))
    cap = min(n, budget - obj.overhead + 1)  # most document tokens that fit
    if cap < 2:
        assert ex is None and rest is tokens
        return
    assert ex.length <= budget
    assert ex.consumed == cap and rest.size == n - cap  # nothing wasted: the packer's rows fill exactly
    body = ex.prefix[(1 if paradigm else 0) : -1]
    assert np.array_equal(np.concatenate([body, ex.target]), tokens[:cap])


def test_objectives_do_not_copy_the_document():
    obj, tok = make(PrefixLM)
    tokens = doc(200)
    ex, rest = obj.build(tokens, 2048, ctx(tok))
    assert np.shares_memory(ex.target, tokens)  # a view, not a copy: long documents stay O(n)
    assert np.shares_memory(rest, tokens) or rest.size == 0
