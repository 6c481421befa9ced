"""Deterministic, resumable shuffling for sources: a per-epoch permutation and a bounded shuffle buffer.

Both depend only on ``(seed, epoch, salt)``, never on time or process, so every rank and worker computes the
same order, a resumed run skips exactly the documents it had taken, and a new epoch has a new order.

- :func:`epoch_permutation`: the order in which to visit ``n`` things (files, dataset shards) in an epoch;
- :func:`shuffle_buffer`: a stream shuffled within a window of ``size`` items (what a source whose records
  arrive in file order can afford: memory stays bounded, and items move at most about ``size`` places from
  where they started, which is why the file order is permuted as well).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np

__all__ = ["epoch_permutation", "epoch_rng", "shuffle_buffer"]

T = TypeVar("T")


def epoch_rng(seed: int, epoch: int, *salt: int) -> np.random.Generator:
    """A generator for one epoch of one use (``salt`` tells uses apart, e.g. a shard index)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), *(int(s) for s in salt)])


def epoch_permutation(n: int, seed: int, epoch: int, *salt: int) -> np.ndarray:
    """The order of ``n`` items in ``epoch``: a permutation of ``range(n)``, the same wherever it is computed."""
    return epoch_rng(seed, epoch, 0x5EED, *salt).permutation(n)


def shuffle_buffer(items: Iterable[T], size: int, rng: np.random.Generator) -> Iterator[T]:
    """``items`` shuffled through a buffer of ``size``: each item out is drawn uniformly from the buffer, which
    is refilled from the stream; at the end the buffer drains in random order. ``size <= 1`` passes the items
    through unchanged. Every item comes out exactly once."""
    if size <= 1:
        yield from items
        return
    buffer: list[T] = []
    for item in items:
        if len(buffer) < size:
            buffer.append(item)
            continue
        j = int(rng.integers(size))
        buffer[j], item = item, buffer[j]
        yield item
    order = rng.permutation(len(buffer))
    for j in order:
        yield buffer[j]
