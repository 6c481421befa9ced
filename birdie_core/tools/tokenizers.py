"""The reserved-id layout every Birdie tokenizer shares, and a base class that implements it.

Id 0 is padding; the tokenizer's own vocabulary follows; then ``num_sentinels`` sentinels (``<mask_0>``,
``<mask_1>``, …); then one id per marker name the objectives asked for (paradigms, the start-of-generation
marker, ``[COPY]`` …), in the order given. The layout depends only on the config and the marker list, so it
is the same in every process, and every objective and packer works with any tokenizer that follows it.

A tokenizer plugin subclasses :class:`ReservedIdsTokenizer`, calls :meth:`~ReservedIdsTokenizer.reserve`
with the size of its base vocabulary (pad included) and implements ``encode`` and ``decode_run``; the base
gives the rest of the :class:`~birdie_core.Tokenizer` protocol (``decode``, ``special_id``, ``sentinel_ids``,
``is_special``)::

    class LetterTokenizerConfig(TokenizerConfig):
        lower_case: bool = False

    class LetterTokenizer(ReservedIdsTokenizer[LetterTokenizerConfig]):
        Config = LetterTokenizerConfig

        def __init__(self, config: LetterTokenizerConfig, specials: Sequence[str] = ()):
            self.config = config
            self.reserve(27, specials)  # pad + 26 letters: ids 1..26

        def encode(self, text: str) -> np.ndarray: ...
        def decode_run(self, run: np.ndarray) -> str: ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np

from birdie_core.interfaces import PAD_ID, TOKEN_DTYPE, TokenizerConfig

__all__ = ["ReservedIds", "ReservedIdsTokenizer"]

TokenizerConfigT = TypeVar("TokenizerConfigT", bound=TokenizerConfig)


class ReservedIds:
    """Sentinel and marker ids above a base vocabulary of ``base_size`` ids (pad included).

    ``markers`` are de-duplicated in order (empty names are skipped); ``vocab_size`` counts every id.
    """

    __slots__ = ("_marker_ids", "_names", "base_size", "markers", "num_sentinels", "vocab_size")

    def __init__(self, base_size: int, num_sentinels: int, markers: Sequence[str]):
        self.base_size = base_size
        self.num_sentinels = num_sentinels
        self.markers = tuple(dict.fromkeys(m for m in markers if m))
        first_marker = base_size + num_sentinels
        self._marker_ids = {m: first_marker + i for i, m in enumerate(self.markers)}
        self._names = {v: k for k, v in self._marker_ids.items()}
        self.vocab_size = first_marker + len(self.markers)

    def special_id(self, name: str) -> int:
        """The id of a marker, or of a sentinel by its name ``<mask_i>``; KeyError names what was reserved."""
        try:
            return self._marker_ids[name]
        except KeyError:
            if name.startswith("<mask_") and name.endswith(">") and name[6:-1].isdigit():
                i = int(name[6:-1])
                if i < self.num_sentinels:
                    return self.base_size + i
            known = ", ".join(self.markers) or "none"
            raise KeyError(
                f"marker {name!r} was not reserved when the tokenizer was built (reserved: {known})"
            )

    def sentinel_ids(self) -> np.ndarray:
        """All sentinel ids, in order (``<mask_0>`` first)."""
        return np.arange(self.base_size, self.base_size + self.num_sentinels, dtype=TOKEN_DTYPE)

    def is_special(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which ids are pad, sentinels or markers."""
        ids = np.asarray(ids)
        return (ids == PAD_ID) | (ids >= self.base_size)

    def name_of(self, i: int) -> str:
        """How a reserved id is shown: ``<pad>``, ``<mask_3>``, the marker's name (``<unk_i>`` for others)."""
        if i == PAD_ID:
            return "<pad>"
        if self.base_size <= i < self.base_size + self.num_sentinels:
            return f"<mask_{i - self.base_size}>"
        return self._names.get(i, f"<unk_{i}>")

    def decode_with(self, ids: Sequence[int] | np.ndarray, decode_run: Callable[[np.ndarray], str]) -> str:
        """Decode runs of ordinary ids with ``decode_run`` and show reserved ids by name."""
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if arr.size == 0:
            return ""
        special = self.is_special(arr)
        if not special.any():
            return decode_run(arr)
        # split at every change between ordinary and special ids: one decode per run, not per token
        cuts = np.flatnonzero(np.diff(special.astype(np.int8))) + 1
        out = []
        for run in np.split(arr, cuts):
            if self.is_special(run[:1])[0]:
                out.append("".join(self.name_of(int(i)) for i in run))
            else:
                out.append(decode_run(run))
        return "".join(out)


class ReservedIdsTokenizer(ABC, Generic[TokenizerConfigT]):
    """Base of a tokenizer with the core's id layout (see the module docstring).

    A subclass sets ``config``, calls :meth:`reserve` in its constructor and implements :meth:`encode` and
    :meth:`decode_run`; written as ``class Mine(ReservedIdsTokenizer[MyConfig])``, ``self.config``
    type-checks as ``MyConfig``.
    """

    config: TokenizerConfigT
    reserved: ReservedIds
    vocab_size: int
    pad_id: int = PAD_ID

    def reserve(self, base_size: int, specials: Sequence[str]) -> None:
        """Reserve ``config.num_sentinels`` sentinels and one id per name in ``specials`` above a base
        vocabulary of ``base_size`` ids (pad included), and set :attr:`vocab_size`."""
        self.reserved = ReservedIds(base_size, self.config.num_sentinels, specials)
        self.vocab_size = self.reserved.vocab_size

    @abstractmethod
    def encode(self, text: str) -> np.ndarray:
        """int32 ids of ``text``, all in the base vocabulary: look-alikes of markers are ordinary text."""

    @abstractmethod
    def decode_run(self, run: np.ndarray) -> str:
        """Text of a run of ids of the base vocabulary (never a reserved id)."""

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of ``ids``; reserved ids are shown by their names (``<mask_3>``, ``[S]``, ``<pad>``)."""
        return self.reserved.decode_with(ids, self.decode_run)

    def special_id(self, name: str) -> int:
        """The reserved id of a marker named when the tokenizer was built, or of a sentinel ``<mask_i>``."""
        return self.reserved.special_id(name)

    def sentinel_ids(self) -> np.ndarray:
        """All reserved sentinel ids, in order (``<mask_0>`` first)."""
        return self.reserved.sentinel_ids()

    def is_special(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which ids are pad, sentinels or markers."""
        return self.reserved.is_special(ids)
