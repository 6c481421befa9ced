"""Which training documents are held out for validation: a fixed share, chosen by a hash of each document.

When a config has no ``data.validation`` source, ``data.validation_holdout`` of the training documents are set
aside: the training stream skips them and the validation stream reads only them. Whether a document is held
out depends only on its domain id and its index in its source, never on the seed, the shard or the epoch,
so the two streams are disjoint in every run, on every rank and worker, and a resumed run holds out the same
documents. Hashing needs no count of the documents, so it works for streaming sources of unknown size.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["HoldOut"]

_MASK = (1 << 64) - 1


def _mix64(x: int) -> int:
    # SplitMix64's finaliser: consecutive indices land far apart, so a share of them is a fair sample
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True, slots=True)
class HoldOut:
    """Hold out ``share`` (0 < share < 1) of the documents of every domain."""

    share: float

    def __post_init__(self) -> None:
        if not 0.0 < self.share < 1.0:
            raise ValueError(f"a hold-out share must be between 0 and 1 (exclusive), got {self.share}")

    def held_out(self, domain: str, index: int) -> bool:
        """Whether document ``index`` of ``domain`` belongs to the validation side."""
        # the domain salts the hash: document 7 of one domain says nothing about document 7 of another
        salt = zlib.crc32(domain.encode()) << 32
        return _mix64((int(index) & _MASK) ^ salt) < self.share * (1 << 64)
