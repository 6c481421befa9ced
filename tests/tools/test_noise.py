"""birdie_core.tools.noise: T5 span-noise semantics, sentinel corruption and its inverse, segment gathers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from birdie_core.tools.noise import (
    marker_corruption,
    mask_runs,
    noise_counts,
    random_partition,
    random_spans,
    random_spans_noise_mask,
    replace_spans_with_marker,
    replace_spans_with_sentinels,
    segment_gather_index,
    sentinel_corruption,
    splice_sentinel_targets,
)

SENTINELS = np.arange(1000, 1512, dtype=np.int32)
rates = st.floats(0.01, 0.99, allow_nan=False)
means = st.floats(1.0, 80.0, allow_nan=False)
seeds = st.integers(0, 2**32 - 1)


def _runs_alternate(mask: np.ndarray) -> bool:
    return not mask[0] and mask[-1]


@settings(max_examples=200, deadline=None)
@given(length=st.integers(2, 3000), rate=rates, mean=means, seed=seeds)
def test_mask_follows_t5(length, rate, mean, seed):
    mask = random_spans_noise_mask(length, rate, mean, np.random.default_rng(seed))
    assert mask.shape == (length,) and mask.dtype == bool
    num_noise = min(max(round(length * rate), 1), length - 1)
    assert mask.sum() == num_noise
    starts, lengths = mask_runs(mask)
    want_spans = min(max(round(num_noise / mean), 1), num_noise, length - num_noise)
    assert starts.shape[0] == want_spans == noise_counts(length, rate, mean)[1]
    assert _runs_alternate(mask), "starts with a kept token, ends with noise"
    assert np.all(lengths >= 1)


@settings(max_examples=100, deadline=None)
@given(length=st.integers(2, 2000), rate=rates, mean=means, cap=st.integers(1, 20), seed=seeds)
def test_span_count_is_capped(length, rate, mean, cap, seed):
    spans = random_spans(length, rate, mean, np.random.default_rng(seed), max_spans=cap)
    assert spans.num_spans <= cap
    assert spans.length == length
    assert spans.noise.sum() == min(max(round(length * rate), 1), length - 1), "capping keeps the noise"
    np.testing.assert_array_equal(mask_runs(spans.mask())[0], spans.noise_starts)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 5000), data=st.data(), seed=seeds)
def test_random_partition(total, data, seed):
    parts = data.draw(st.integers(1, total))
    out = random_partition(total, parts, np.random.default_rng(seed))
    assert out.shape == (parts,) and out.sum() == total and np.all(out >= 1)


def test_random_partition_is_uniform_over_compositions():
    # 5 items into 3 parts: C(4, 2) = 6 compositions, each equally likely
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(6000):
        key = tuple(random_partition(5, 3, rng).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    assert all(800 < v < 1200 for v in counts.values()), counts


def test_mean_span_length_is_respected_on_average():
    rng = np.random.default_rng(1)
    lengths = np.concatenate([mask_runs(random_spans_noise_mask(512, 0.15, 8, rng))[1] for _ in range(200)])
    assert 7.0 < lengths.mean() < 9.0


@settings(max_examples=200, deadline=None)
@given(length=st.integers(2, 2000), rate=rates, mean=means, seed=seeds)
def test_sentinel_corruption_round_trips(length, rate, mean, seed):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 257, length).astype(np.int32)
    mask = random_spans_noise_mask(length, rate, mean, rng, max_spans=SENTINELS.shape[0])
    inputs, targets = replace_spans_with_sentinels(tokens, mask, SENTINELS)
    k = mask_runs(mask)[0].shape[0]
    assert inputs.shape[0] == length - mask.sum() + k
    assert targets.shape[0] == mask.sum() + k
    # every sentinel once on each side, in order
    np.testing.assert_array_equal(inputs[np.isin(inputs, SENTINELS)], SENTINELS[:k])
    np.testing.assert_array_equal(targets[np.isin(targets, SENTINELS)], SENTINELS[:k])
    assert targets[0] == SENTINELS[0]
    np.testing.assert_array_equal(splice_sentinel_targets(inputs, targets, SENTINELS), tokens)


@given(mask=st.lists(st.booleans(), min_size=0, max_size=200), seed=seeds)
def test_sentinel_corruption_of_any_mask(mask, seed):
    mask = np.array(mask, dtype=bool)
    tokens = np.random.default_rng(seed).integers(1, 257, mask.shape[0]).astype(np.int32)
    inputs, targets = replace_spans_with_sentinels(tokens, mask, SENTINELS)
    np.testing.assert_array_equal(splice_sentinel_targets(inputs, targets, SENTINELS), tokens)
    np.testing.assert_array_equal(inputs[~np.isin(inputs, SENTINELS)], tokens[~mask])


def test_too_few_sentinels_is_an_error():
    mask = np.array([0, 1, 0, 1, 0, 1], dtype=bool)
    with pytest.raises(ValueError, match="3 noise spans but only 2"):
        replace_spans_with_sentinels(np.arange(1, 7), mask, SENTINELS[:2])


@given(mask=st.lists(st.booleans(), min_size=1, max_size=200), seed=seeds)
def test_marker_replacement(mask, seed):
    mask = np.array(mask, dtype=bool)
    tokens = np.random.default_rng(seed).integers(1, 257, mask.shape[0]).astype(np.int32)
    out = replace_spans_with_marker(tokens, mask, 999)
    assert (out == 999).sum() == mask_runs(mask)[0].shape[0]
    np.testing.assert_array_equal(out[out != 999], tokens[~mask])


@given(lengths=st.lists(st.integers(0, 20), min_size=0, max_size=30), seed=seeds)
def test_segment_gather_matches_a_loop(lengths, seed):
    lengths = np.array(lengths, dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    tokens = np.arange(int(lengths.sum()))
    order = np.random.default_rng(seed).permutation(lengths.shape[0])
    got = tokens[segment_gather_index(starts[order], lengths[order])]
    want = [t for i in order for t in tokens[starts[i] : starts[i] + lengths[i]]]
    np.testing.assert_array_equal(got, np.array(want, dtype=got.dtype))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1, 0.5, 3), "at least 2 tokens"),
        ((10, 0.0, 3), "noise_density"),
        ((10, 1.0, 3), "noise_density"),
        ((10, 0.5, 0), "mean_span"),
    ],
)
def test_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        noise_counts(*args)


def test_deterministic_under_a_seed():
    a = random_spans_noise_mask(1000, 0.3, 5, np.random.default_rng(4))
    b = random_spans_noise_mask(1000, 0.3, 5, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)


def test_fast_on_long_sequences():
    import time

    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 257, 2048).astype(np.int32)
    t0 = time.perf_counter()
    for _ in range(200):
        mask = random_spans_noise_mask(2048, 0.15, 3, rng, max_spans=512)
        replace_spans_with_sentinels(tokens, mask, SENTINELS)
    per_call = (time.perf_counter() - t0) / 200
    assert per_call < 5e-3, f"{per_call * 1e6:.0f} µs per 2048-token corruption: not vectorised?"


@settings(max_examples=200, deadline=None)
@given(length=st.integers(2, 2000), rate=rates, mean=means, seed=seeds, shuffle=st.booleans())
def test_span_based_corruption_equals_the_mask_based(length, rate, mean, seed, shuffle):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 257, length).astype(np.int32)
    spans = random_spans(length, rate, mean, rng, max_spans=SENTINELS.shape[0])
    mask = spans.mask()
    for fast, slow in zip(
        sentinel_corruption(tokens, spans, SENTINELS), replace_spans_with_sentinels(tokens, mask, SENTINELS)
    ):
        np.testing.assert_array_equal(fast, slow)
    inputs = marker_corruption(tokens, spans, 999)
    np.testing.assert_array_equal(inputs, replace_spans_with_marker(tokens, mask, 999))
    if shuffle:  # units "kept run + marker" reordered
        order = rng.permutation(spans.num_spans)
        shuffled = marker_corruption(tokens, spans, 999, order)
        units = np.split(inputs, np.flatnonzero(inputs == 999)[:-1] + 1)
        np.testing.assert_array_equal(shuffled, np.concatenate([units[i] for i in order]))
