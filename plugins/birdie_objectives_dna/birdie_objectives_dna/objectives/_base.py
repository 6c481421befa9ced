"""What the DNA objectives share: reverse-complement augmentation and N-free windows.

**Runs of N never become targets.** Objectives whose target is the window itself or is derived from it
(autoencoding, deshuffling, reverse complement, selective copying) work on an *N-free stretch*
(:func:`clean_stretch`): the head of the document up to its first N, or — when the document starts with N's
— the first stretch without N that is long enough, the N's before it being consumed without becoming part
of any example. Infilling keeps N's in its input but never in a noise span (the core's
:func:`~birdie_core.tools.noise_mask_avoiding`).

**Reverse-complement augmentation.** Every DNA objective has ``rc_augment: p``: with probability ``p`` the
window it consumed is replaced by its reverse complement before the objective works on it (strand symmetry,
as in HyenaDNA and Caduceus). It is implemented once, in :meth:`DnaObjective.augment`; with ``p = 0`` no
random number is drawn, so the stream is the same as without the option. The objectives built on the core's
(infilling, autoencoding, selective copying) get it through :meth:`DnaObjective.prepare`, the hook those
call on the tokens they consumed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import Field, ValidationInfo

from birdie_core import ConfigFloat, Objective, ObjectiveConfig, ObjectiveContext, tools
from birdie_objectives_dna.alphabet import Alphabet

__all__ = ["DnaObjective", "DnaObjectiveConfig", "check_length_allows", "clean_stretch"]


class DnaObjectiveConfig(ObjectiveConfig):
    """Parameters every DNA objective accepts (beyond the core's)."""

    rc_augment: ConfigFloat = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Probability of reverse-complementing the consumed window before the objective uses it.",
    )


DnaObjectiveConfigT = TypeVar("DnaObjectiveConfigT", bound=DnaObjectiveConfig)


class DnaObjective(Objective[DnaObjectiveConfigT]):
    """Base of the DNA objectives: see the module docstring."""

    Config: ClassVar[type[ObjectiveConfig]] = DnaObjectiveConfig
    #: fewest document tokens one example needs
    MIN_TOKENS: ClassVar[int] = 8

    @property
    def min_document_tokens(self) -> int:
        return self.MIN_TOKENS

    def augment(self, window: np.ndarray, alphabet: Alphabet, ctx: ObjectiveContext) -> np.ndarray:
        """``window``, or its reverse complement with probability ``rc_augment``."""
        p = self.config.rc_augment
        if p > 0.0 and ctx.rng.random() < p:
            return alphabet.reverse_complement(window)
        return window

    def prepare(self, window: np.ndarray, ctx: ObjectiveContext) -> np.ndarray:
        """:meth:`augment` with the tokenizer's alphabet: the hook the core's objectives call."""
        return self.augment(window, Alphabet.of(ctx.tokenizer), ctx)


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
    starts, lengths = tools.mask_runs(~alphabet.n_mask(ahead))
    usable = np.flatnonzero(lengths >= minimum)
    if usable.shape[0] == 0:
        return None
    s = int(starts[usable[0]])
    return s, s + min(int(lengths[usable[0]]), want)


def check_length_allows(minimum: int, what: str) -> Callable[[Any, ValidationInfo], Any]:
    """The core's ``length`` validator, counting in nucleotides."""
    return tools.check_length_allows(minimum, what, unit="nucleotides")
