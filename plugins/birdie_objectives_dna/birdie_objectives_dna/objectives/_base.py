"""What the DNA objectives share: reverse-complement augmentation, N-free windows, budget arithmetic.

**Runs of N never become targets.** Objectives whose target is the window itself or is derived from it
(autoencoding, deshuffling, reverse complement, selective copying) work on an *N-free stretch*
(:func:`clean_stretch`): the head of the document up to its first N, or — when the document starts with N's
— the first stretch without N that is long enough, the N's before it being consumed without becoming part
of any example. Infilling keeps N's in its input but never in a noise span (:func:`noise_mask_avoiding`).

**Reverse-complement augmentation.** Every DNA objective has ``rc_augment: p``: with probability ``p`` the
window it consumed is replaced by its reverse complement before the objective works on it (strand symmetry,
as in HyenaDNA and Caduceus). It is implemented once, in :meth:`DnaObjective.augment`; with ``p = 0`` no
random number is drawn, so the stream is the same as without the option.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

from birdie_core.interfaces import Objective, ObjectiveConfig, ObjectiveContext
from birdie_core.noise import NoiseSpans, mask_runs, segment_gather_index
from birdie_objectives_dna.alphabet import Alphabet

__all__ = [
    "DnaObjective",
    "DnaObjectiveConfig",
    "IntRange",
    "MarkerName",
    "check_length_allows",
    "clean_stretch",
    "fit_length",
    "noise_mask_avoiding",
    "room",
]


class DnaObjectiveConfig(ObjectiveConfig):
    """Parameters every DNA objective accepts (beyond the core's)."""

    rc_augment: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Probability of reverse-complementing the consumed window before the objective uses it.",
    )


class DnaObjective(Objective):
    """Base of the DNA objectives: see the module docstring."""

    Config: ClassVar[type[ObjectiveConfig]] = DnaObjectiveConfig
    #: fewest document tokens one example needs
    MIN_TOKENS: ClassVar[int] = 8

    def augment(self, window: np.ndarray, alphabet: Alphabet, ctx: ObjectiveContext) -> np.ndarray:
        """``window``, or its reverse complement with probability ``rc_augment``."""
        p = self.config.rc_augment  # type: ignore[attr-defined]
        if p > 0.0 and ctx.rng.random() < p:
            return alphabet.reverse_complement(window)
        return window


def room(objective: Objective, budget: int) -> int:
    """Positions left for the prefix body plus the target once the markers are placed.

    An example occupies ``overhead + len(body) + len(target) - 1`` positions (the last target token is only
    a label), so ``len(body) + len(target) <= room``.
    """
    return budget - objective.overhead + 1


def fit_length(n: int, cost: Callable[[int], int], limit: int) -> int:
    """The largest ``m <= n`` (to within a few tokens) with ``cost(m) <= limit``; a value < 1 when none.

    ``cost`` must grow by at least one per document token (true of every objective here).
    """
    n = min(n, limit)
    for _ in range(3):
        c = cost(n) if n > 0 else 0
        if c <= limit:
            return n
        n = n * limit // c
    while n > 0:
        excess = cost(n) - limit
        if excess <= 0:
            return n
        n -= excess
    return n


def clean_stretch(tokens: np.ndarray, want: int, minimum: int, alphabet: Alphabet) -> tuple[int, int] | None:
    """``(start, end)`` of the N-free stretch of ``tokens`` an example uses: ``minimum <= end - start <=
    want``, as early as possible.

    The head ``tokens[:want]`` when it has no N; else the head up to its first N when that is at least
    ``minimum`` long; else the first N-free stretch of at least ``minimum`` tokens within the next
    ``4 * want`` tokens (the tokens before it — N's and stretches too short to use — are consumed without
    being used). None when there is none. Looks at ``O(want)`` tokens, never at the whole document.
    """
    if want < minimum:
        return None
    head = tokens[:want]
    bad = alphabet.n_mask(head)
    if not bad.any():
        return (0, int(head.shape[0])) if head.shape[0] >= minimum else None
    first = int(np.argmax(bad))
    if first >= minimum:
        return 0, first
    ahead = tokens[: 4 * want + minimum]
    starts, lengths = mask_runs(~alphabet.n_mask(ahead))
    usable = np.flatnonzero(lengths >= minimum)
    if usable.shape[0] == 0:
        return None
    s = int(starts[usable[0]])
    return s, s + min(int(lengths[usable[0]]), want)


def noise_mask_avoiding(spans: NoiseSpans, forbidden: np.ndarray) -> np.ndarray:
    """The noise mask of ``spans`` with every ``forbidden`` position (N) kept out of the noise.

    Each noise span that covers a forbidden position shrinks to its longest part without one, and vanishes
    when it has none; so there are never more spans than before (the example never grows) and the spans stay
    apart (T5 layout: a kept token between any two). Vectorised; spans without an N are untouched.
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


# ---------------------------------------------------------------------------------------------------------
# Config field types
# ---------------------------------------------------------------------------------------------------------


def _as_range(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)  # `spans: 2` means exactly two
    return value


def _check_range(value: tuple[int, int]) -> tuple[int, int]:
    lo, hi = value
    if not 1 <= lo <= hi:
        raise ValueError(f"must be [min, max] with 1 <= min <= max, got {list(value)}")
    return value


#: ``[min, max]`` of positive integers, both inclusive; a single integer ``n`` means ``[n, n]``
IntRange = Annotated[tuple[int, int], BeforeValidator(_as_range), AfterValidator(_check_range)]


def _check_marker(value: str) -> str:
    if not value.strip():
        raise ValueError("a marker name must not be empty or blank")
    return value


#: the name of a reserved marker (one special id of the tokenizer, e.g. ``[COPY]``)
MarkerName = Annotated[str, AfterValidator(_check_marker)]


def check_length_allows(minimum: int, what: str) -> Callable[[Any, ValidationInfo], Any]:
    """A ``length`` validator: the longest slice must hold the ``minimum`` tokens the objective needs."""

    def validate(value: tuple[int, int] | None, info: ValidationInfo) -> tuple[int, int] | None:
        if value is not None and value[1] < minimum:
            raise ValueError(
                f"length max {value[1]} is below the {minimum} nucleotides {what} needs for one example"
            )
        return value

    return validate
