"""Span noise shared by the span-corrupting objectives (text and DNA): masks, sentinels, segment shuffles.

Everything here is vectorised numpy over one document: no Python loop per token, and none per span except
:func:`random_partition`'s over at most 32 cut points (for so few, cheaper than a call into numpy).

The noise follows T5's ``random_spans_noise_mask`` (Raffel et al. 2020):

- ``num_noise = round(length * noise_density)``, kept in ``[1, length - 1]``;
- ``num_spans = max(1, round(num_noise / mean_span))``;
- the noise tokens and the non-noise tokens are each split into ``num_spans`` random non-empty parts (every
  composition equally likely), and the parts are interleaved **starting with non-noise**: ``keep₀ noise₀
  keep₁ noise₁ …``, so a mask always starts with a kept token and ends with a noise span.

Two caps keep that well defined, where T5 would fail or need more ids than it has:

- ``num_spans <= length - num_noise`` (every noise span needs a kept token before it; high corruption rates
  with short spans, e.g. 0.85 with a mean of 3, hit this and then keep one token between spans);
- ``num_spans <= max_spans``, e.g. the number of sentinel ids the tokenizer reserved: the same noise is then
  spread over fewer, longer spans.

``round`` is Python's (and numpy's) round-half-to-even, as in T5.

Two ways to corrupt: from drawn :class:`NoiseSpans` (:func:`sentinel_corruption`, :func:`marker_corruption`:
the fast path the objectives use) or from any boolean mask (:func:`replace_spans_with_sentinels`,
:func:`replace_spans_with_marker`: for masks made another way, e.g. by :func:`noise_mask_avoiding`, which
keeps noise off positions that must not become targets, such as the ``N`` runs of DNA).
:func:`splice_sentinel_targets` undoes T5 corruption, for checks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from birdie_core.interfaces import TOKEN_DTYPE

__all__ = [
    "NoiseSpans",
    "marker_corruption",
    "mask_runs",
    "noise_counts",
    "noise_mask_avoiding",
    "random_partition",
    "random_spans",
    "random_spans_noise_mask",
    "replace_spans_with_marker",
    "replace_spans_with_sentinels",
    "segment_gather_index",
    "sentinel_corruption",
    "splice_sentinel_targets",
]


def noise_counts(
    length: int, noise_density: float, mean_span: float, max_spans: int | None = None
) -> tuple[int, int]:
    """``(num_noise, num_spans)`` for a sequence of ``length`` tokens; deterministic (no RNG).

    Objectives use it to size an example before drawing the noise. Needs ``length >= 2``.
    """
    if length < 2:
        raise ValueError(f"span noise needs at least 2 tokens (one kept, one noise), got {length}")
    if not 0.0 < noise_density < 1.0:
        raise ValueError(f"noise_density must be in (0, 1), got {noise_density}")
    if not mean_span > 0:
        raise ValueError(f"mean_span must be > 0, got {mean_span}")
    num_noise = min(max(round(length * noise_density), 1), length - 1)
    num_spans = max(round(num_noise / mean_span), 1)
    num_spans = min(num_spans, num_noise, length - num_noise)
    if max_spans is not None:
        if max_spans < 1:
            raise ValueError(f"max_spans must be >= 1, got {max_spans}")
        num_spans = min(num_spans, max_spans)
    return int(num_noise), int(num_spans)


def random_partition(total: int, parts: int, rng: np.random.Generator) -> np.ndarray:
    """``parts`` positive int64 lengths summing to ``total``; every such composition is equally likely.

    The ``parts - 1`` cut points are a uniform random subset of the ``total - 1`` gaps (T5's
    ``_random_segmentation``, drawn without building a length-``total`` array).
    """
    if not 1 <= parts <= total:
        raise ValueError(f"cannot split {total} items into {parts} non-empty parts")
    if parts == 1:
        return np.array([total], dtype=np.int64)
    if parts <= _FEW_PARTS:
        # Floyd's algorithm in Python over one block of uniform floats: for a few cuts this is several
        # times cheaper than Generator.choice, whose cost is mostly per call
        chosen: set[int] = set()
        for j, u in zip(range(total - parts, total - 1), rng.random(parts - 1).tolist()):
            t = int(u * (j + 1))  # uniform in 0 .. j
            chosen.add(j if t in chosen else t)
        bounds = [0, *(c + 1 for c in sorted(chosen)), total]
        return np.array([b - a for a, b in itertools.pairwise(bounds)], dtype=np.int64)
    # bounds = [0, sorted cuts + 1, total]; its differences are the parts (slices, no np.diff/concatenate)
    bounds_array = np.empty(parts + 1, dtype=np.int64)
    bounds_array[0], bounds_array[parts] = 0, total
    cuts = bounds_array[1:parts]
    cuts[:] = rng.choice(total - 1, parts - 1, replace=False, shuffle=False)
    cuts.sort()
    cuts += 1
    return bounds_array[1:] - bounds_array[:-1]


#: up to this many parts, :func:`random_partition` draws its cuts with a Python loop
_FEW_PARTS = 32


@dataclass(frozen=True, slots=True)
class NoiseSpans:
    """The alternating runs of a span-noise mask: ``keep[0] noise[0] keep[1] noise[1] …``."""

    keep: np.ndarray  # int64 lengths of the kept runs, all >= 1
    noise: np.ndarray  # int64 lengths of the noise runs, all >= 1, same count as ``keep``

    @property
    def num_spans(self) -> int:
        return int(self.noise.shape[0])

    @property
    def length(self) -> int:
        return int(self.keep.sum() + self.noise.sum())

    @property
    def run_lengths(self) -> np.ndarray:
        """All runs in order: ``[keep0, noise0, keep1, noise1, …]``."""
        return np.stack([self.keep, self.noise], axis=1).reshape(-1)

    @property
    def noise_starts(self) -> np.ndarray:
        """Index of the first token of each noise span."""
        return np.cumsum(self.keep + self.noise) - self.noise

    def mask(self) -> np.ndarray:
        """Boolean mask of length :attr:`length`, True on noise tokens."""
        flags = np.tile(np.array([False, True]), self.num_spans)
        return np.repeat(flags, self.run_lengths)


def random_spans(
    length: int,
    noise_density: float,
    mean_span: float,
    rng: np.random.Generator,
    *,
    max_spans: int | None = None,
) -> NoiseSpans:
    """Random noise spans over ``length`` tokens with T5's semantics (see the module docstring)."""
    num_noise, num_spans = noise_counts(length, noise_density, mean_span, max_spans)
    noise = random_partition(num_noise, num_spans, rng)
    keep = random_partition(length - num_noise, num_spans, rng)
    return NoiseSpans(keep=keep, noise=noise)


def random_spans_noise_mask(
    length: int,
    noise_density: float,
    mean_span: float,
    rng: np.random.Generator,
    *,
    max_spans: int | None = None,
) -> np.ndarray:
    """T5's ``random_spans_noise_mask``: a boolean mask of ``length``, True on noise tokens."""
    return random_spans(length, noise_density, mean_span, rng, max_spans=max_spans).mask()


def _runs(spans: NoiseSpans) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(noise mask, first index of each noise span, end of each keep+noise unit)`` of ``spans``."""
    keep, noise = spans.keep, spans.noise
    k = noise.shape[0]
    runs = np.empty(2 * k, dtype=np.int64)  # keep₀ noise₀ keep₁ noise₁ …
    runs[0::2] = keep
    runs[1::2] = noise
    flags = np.zeros(2 * k, dtype=bool)
    flags[1::2] = True
    ends = np.cumsum(keep + noise)
    return np.repeat(flags, runs), ends - noise, ends


def sentinel_corruption(
    tokens: np.ndarray, spans: NoiseSpans, sentinel_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """T5 span corruption of ``tokens`` (length ``spans.length``) by ``spans``: ``(inputs, targets)``.

    ``inputs`` = ``keep₀ <s₀> keep₁ <s₁> …``; ``targets`` = ``<s₀> noise₀ <s₁> noise₁ …``, where ``<sᵢ>`` is
    ``sentinel_ids[i]``. The same result as :func:`replace_spans_with_sentinels` on ``spans.mask()``, in
    about half the time because the runs are known: the inputs are the tokens with each noise span's first
    token overwritten by its sentinel and the rest of the span left out; the targets are the noise tokens
    with each sentinel written over the kept token just before its span.
    """
    k = spans.num_spans
    if k > np.shape(sentinel_ids)[0]:
        raise ValueError(f"{k} noise spans but only {np.shape(sentinel_ids)[0]} sentinel ids")
    sentinels = np.asarray(sentinel_ids)[:k]
    noisy, noise_starts, ends = _runs(spans)
    tokens = tokens[: ends[-1]]
    written = tokens.astype(TOKEN_DTYPE)  # a copy
    written[noise_starts] = sentinels
    take = ~noisy
    take[noise_starts] = True
    inputs = written[take]
    before = noise_starts - 1  # always a kept token: a mask starts with one and spans are separated
    written[noise_starts] = tokens[noise_starts]
    written[before] = sentinels
    noisy[before] = True
    return inputs, written[noisy]


def marker_corruption(
    tokens: np.ndarray, spans: NoiseSpans, marker_id: int, order: np.ndarray | None = None
) -> np.ndarray:
    """BART text infilling of ``tokens`` by ``spans``: ``keep₀ <m> keep₁ <m> …`` with ``<m> = marker_id``.

    ``order`` (a permutation of the span indices) puts the units "kept run + its marker" in that order
    instead: the shuffled variant ("autoencoding + deshuffling").
    """
    noisy, noise_starts, ends = _runs(spans)
    written = tokens[: ends[-1]].astype(TOKEN_DTYPE)  # a copy
    written[noise_starts] = marker_id
    if order is None:
        noisy = ~noisy
        noisy[noise_starts] = True
        return written[noisy]
    # unit i, "kept run i + its marker", is contiguous in `written`: gather the units in the given order
    keep = spans.keep
    return written[segment_gather_index((ends - spans.noise - keep)[order], keep[order] + 1)]


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, lengths)`` of the runs of True in a boolean ``mask``."""
    m = np.asarray(mask, dtype=bool).reshape(-1)
    edges = np.diff(m.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts, ends - starts


def noise_mask_avoiding(spans: NoiseSpans, forbidden: np.ndarray) -> np.ndarray:
    """The noise mask of ``spans`` with every ``forbidden`` position kept out of the noise (e.g. the ``N``
    runs of DNA, which must never become a target).

    Each noise span that covers a forbidden position shrinks to its longest part without one, and vanishes
    when it has none; so there are never more spans than before (the example never grows) and the spans stay
    apart (T5 layout: a kept token between any two). Vectorised; spans without a forbidden position are
    untouched.
    """
    noise = spans.mask()
    hit = noise & forbidden
    if not hit.any():
        return noise
    starts, lengths = mask_runs(noise & ~forbidden)
    if starts.shape[0] == 0:
        return np.zeros_like(noise)
    span_of = np.searchsorted(spans.noise_starts, starts, side="right") - 1
    order = np.lexsort((-lengths, span_of))  # by span, the longest part first
    first = np.ones(order.shape[0], dtype=bool)
    first[1:] = span_of[order][1:] != span_of[order][:-1]
    keep = order[first]
    out = np.zeros_like(noise)
    out[segment_gather_index(starts[keep], lengths[keep])] = True
    return out


def replace_spans_with_sentinels(
    tokens: np.ndarray, mask: np.ndarray, sentinel_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """T5 span corruption: ``(inputs, targets)``.

    ``inputs``: ``tokens`` with the ``i``-th noise run replaced by ``sentinel_ids[i]``. ``targets``: each
    sentinel followed by the run it replaced, in order. Raises ``ValueError`` when there are more runs than
    sentinels.
    """
    tokens = np.asarray(tokens)
    mask = np.asarray(mask, dtype=bool)
    if tokens.shape != mask.shape:
        raise ValueError(f"tokens {tokens.shape} and mask {mask.shape} differ in shape")
    first = mask.copy()
    first[1:] &= ~mask[:-1]  # first token of each noise run
    run_of = np.cumsum(first) - 1  # run index of every noise token
    num_runs = int(run_of[-1]) + 1 if tokens.size else 0
    sentinel_ids = np.asarray(sentinel_ids)
    if num_runs == 0:
        return tokens.astype(TOKEN_DTYPE), np.zeros(0, dtype=TOKEN_DTYPE)
    if num_runs > sentinel_ids.shape[0]:
        raise ValueError(f"{num_runs} noise spans but only {sentinel_ids.shape[0]} sentinel ids")
    keep = ~mask | first
    inputs = np.where(first, sentinel_ids[np.maximum(run_of, 0)], tokens)[keep].astype(TOKEN_DTYPE)
    noise_tokens = tokens[mask]
    run_starts = np.flatnonzero(first[mask])  # where each run begins among the noise tokens
    targets = np.insert(noise_tokens, run_starts, sentinel_ids[:num_runs]).astype(TOKEN_DTYPE)
    return inputs, targets


def splice_sentinel_targets(inputs: np.ndarray, targets: np.ndarray, sentinel_ids: np.ndarray) -> np.ndarray:
    """Undo :func:`replace_spans_with_sentinels`: put each target run back in place of its sentinel.

    Used to check span corruption (inputs + targets must give back the original tokens).
    """
    inputs, targets = np.asarray(inputs), np.asarray(targets)
    is_sent_t = np.isin(targets, sentinel_ids)
    starts = np.flatnonzero(is_sent_t)
    run_sentinels = targets[starts]
    run_lengths = np.diff(np.concatenate((starts, [targets.shape[0]]))) - 1
    runs = targets[~is_sent_t]
    is_sent_i = np.isin(inputs, sentinel_ids)
    if not np.array_equal(inputs[is_sent_i], run_sentinels):
        raise ValueError("the sentinels of the inputs and the targets do not match")
    # each input token expands to 1 position, each sentinel to its run's length
    widths = np.ones(inputs.shape[0], dtype=np.int64)
    widths[is_sent_i] = run_lengths
    out = np.empty(int(widths.sum()), dtype=inputs.dtype)
    offsets = np.cumsum(widths) - widths
    ordinary = ~is_sent_i
    out[offsets[ordinary]] = inputs[ordinary]
    noise_positions = segment_gather_index(offsets[is_sent_i], run_lengths)
    out[noise_positions] = runs
    return out


def replace_spans_with_marker(tokens: np.ndarray, mask: np.ndarray, marker_id: int) -> np.ndarray:
    """BART text infilling: ``tokens`` with every noise run replaced by the one id ``marker_id``."""
    tokens = np.asarray(tokens)
    mask = np.asarray(mask, dtype=bool)
    first = mask.copy()
    first[1:] &= ~mask[:-1]
    keep = ~mask | first
    return np.where(first, marker_id, tokens)[keep].astype(TOKEN_DTYPE)


def segment_gather_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices ``starts[0] … starts[0]+lengths[0]-1, starts[1] …``: gathers the given segments in order.

    ``tokens[segment_gather_index(s[order], l[order])]`` reorders consecutive segments of a sequence without
    a loop (deshuffling of blocks, shuffled spans of autoencoding).
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    out_starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - out_starts, lengths)
