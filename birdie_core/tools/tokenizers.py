"""The reserved-id layout every Birdie tokenizer shares, and a base class that implements it.

A Birdie tokenizer has a base vocabulary (the ids its own encoder produces), a pad id, ``num_sentinels``
sentinels (``<mask_0>``, ``<mask_1>``, …) and one id per marker name the objectives asked for (paradigms, the
start-of-generation marker, ``[COPY]`` …). Where the tokenizer has tokens for them already (a Hugging Face
vocabulary's pad token, T5's ``<extra_id_N>``), those ids are used; the others are appended above the base
vocabulary, in the order pad, sentinels, markers. The layout depends only on the tokenizer, the config and
the marker list, so it is the same in every process, and every objective and packer works with any tokenizer
that follows it. ``bytes`` and ``tiktoken`` keep id 0 free as the pad id and shift their own ids up by one.

A tokenizer plugin subclasses :class:`ReservedIdsTokenizer`, calls :meth:`~ReservedIdsTokenizer.reserve`
with the size of its base vocabulary (and, optionally, its own special tokens) and implements ``encode`` and ``decode_run``; the base
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

The base also gives ``token_texts(ids)``, the text of each id of an array in one numpy look-up (a table of the
whole vocabulary is built from :meth:`~ReservedIdsTokenizer.base_token_texts` on first use). The module
function :func:`token_texts` gives the same for any tokenizer, with that method or without it.
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from birdie_core.interfaces import PAD_ID, TOKEN_DTYPE, Tokenizer, TokenizerConfig

__all__ = ["ReservedIds", "ReservedIdsTokenizer", "token_texts"]

TokenizerConfigT = TypeVar("TokenizerConfigT", bound=TokenizerConfig)


class ReservedIds:
    """Pad, sentinel and marker ids around a base vocabulary of ``base_size`` ids.

    By default (the layout of ``bytes`` and ``tiktoken``) the pad id is 0, inside the base vocabulary, and
    every sentinel and marker is a new id above it. A tokenizer that brings its own special tokens (a Hugging
    Face or SentencePiece vocabulary) passes them instead, so that a model keeps the tokenizer's ids:

    - ``pad_id``: the tokenizer's own pad id, or ``None`` to append one;
    - ``own_sentinels``: ids of the tokenizer's own sentinel tokens (T5's ``<extra_id_0>``, …), used first;
      sentinels beyond them are appended;
    - ``own_markers``: marker name → an existing id (a marker the tokenizer already has a token for);
    - ``names``: how existing ids above are shown by :meth:`decode_with` (the tokenizer's own token text).

    Appended ids follow the base vocabulary in this order: the pad id (when appended), the remaining sentinels,
    the remaining markers. ``markers`` are de-duplicated in order (empty names are skipped); ``vocab_size``
    counts every id, appended ones included (what a model's embedding needs); ``appended`` says how many ids
    were added above the base vocabulary.
    """

    __slots__ = (
        "_marker_ids",
        "_names",
        "_sentinels",
        "_special",
        "appended",
        "base_size",
        "markers",
        "num_sentinels",
        "pad_id",
        "vocab_size",
    )

    def __init__(
        self,
        base_size: int,
        num_sentinels: int,
        markers: Sequence[str],
        *,
        pad_id: int | None = PAD_ID,
        own_sentinels: Sequence[int] = (),
        own_markers: Mapping[str, int] | None = None,
        names: Mapping[int, str] | None = None,
    ):
        self.base_size = base_size
        self.num_sentinels = num_sentinels
        self.markers = tuple(dict.fromkeys(m for m in markers if m))
        own_markers = dict(own_markers or {})
        next_id = base_size
        if pad_id is None:
            pad_id, next_id = next_id, next_id + 1
        self.pad_id = int(pad_id)
        own = [int(i) for i in own_sentinels[:num_sentinels]]
        appended = list(range(next_id, next_id + num_sentinels - len(own)))
        self._sentinels = np.array(own + appended, dtype=TOKEN_DTYPE)
        next_id += len(appended)
        self._marker_ids: dict[str, int] = {}
        for m in self.markers:
            if m in own_markers:
                self._marker_ids[m] = int(own_markers[m])
            else:
                self._marker_ids[m], next_id = next_id, next_id + 1
        self.vocab_size = next_id
        self.appended = next_id - base_size
        taken = [self.pad_id, *self._sentinels.tolist(), *self._marker_ids.values()]
        if len(set(taken)) != len(taken):
            raise ValueError(f"pad, sentinel and marker ids must be distinct; got {taken[:16]}")
        if min(taken) < 0 or max(taken) >= self.vocab_size:
            raise ValueError(f"special ids must lie in [0, {self.vocab_size}); got {taken[:16]}")
        # one extra slot, always True: an id outside the vocabulary (clipped onto it) counts as special
        self._special = np.zeros(self.vocab_size + 1, dtype=bool)
        self._special[taken] = True
        self._special[-1] = True
        shown = dict(names or {})
        self._names = {self.pad_id: shown.get(self.pad_id, "<pad>")}
        for i, sid in enumerate(self._sentinels.tolist()):
            self._names[sid] = shown.get(sid, f"<mask_{i}>")
        for m, mid in self._marker_ids.items():
            self._names[mid] = m

    def special_id(self, name: str) -> int:
        """The id of a marker, or of a sentinel by its name ``<mask_i>``; KeyError names what was reserved."""
        try:
            return self._marker_ids[name]
        except KeyError:
            if name.startswith("<mask_") and name.endswith(">") and name[6:-1].isdigit():
                i = int(name[6:-1])
                if i < self.num_sentinels:
                    return int(self._sentinels[i])
            known = ", ".join(self.markers) or "none"
            raise KeyError(
                f"marker {name!r} was not reserved when the tokenizer was built (reserved: {known})"
            )

    def sentinel_ids(self) -> np.ndarray:
        """All sentinel ids, in order (``<mask_0>`` first)."""
        return self._sentinels.copy()

    def is_special(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which ids are pad, sentinels or markers (or outside the vocabulary)."""
        ids = np.asarray(ids)
        return self._special[np.clip(ids, -1, self.vocab_size)]

    def name_of(self, i: int) -> str:
        """How a reserved id is shown: ``<pad>``, ``<mask_3>`` (or the tokenizer's own token), the marker's
        name; ``<unk_i>`` for an id outside the vocabulary."""
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

    def reserve(
        self,
        base_size: int,
        specials: Sequence[str],
        *,
        num_sentinels: int | None = None,
        pad_id: int | None = PAD_ID,
        own_sentinels: Sequence[int] = (),
        own_markers: Mapping[str, int] | None = None,
        names: Mapping[int, str] | None = None,
    ) -> None:
        """Reserve ``num_sentinels`` sentinels (default ``config.num_sentinels``) and one id per name in
        ``specials`` around a base vocabulary of ``base_size`` ids, and set :attr:`vocab_size` and
        :attr:`pad_id`. The keyword arguments reuse the tokenizer's own tokens (see :class:`ReservedIds`);
        without them the pad id is 0 (inside the base vocabulary) and every special id is new."""
        self.reserved = ReservedIds(
            base_size,
            self.config.num_sentinels if num_sentinels is None else num_sentinels,
            specials,
            pad_id=pad_id,
            own_sentinels=own_sentinels,
            own_markers=own_markers,
            names=names,
        )
        self.vocab_size = self.reserved.vocab_size
        self.pad_id = self.reserved.pad_id

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

    # -- the text of each token, in bulk ------------------------------------------------------------------
    def token_texts(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Each id's own text: an object array of ``str`` with the shape of ``ids``, in one numpy look-up.

        ``token_texts(ids)[i] == decode([ids[i]])`` for every id: reserved ids show their names (``<mask_3>``,
        ``[S]``, ``<pad>``), an id outside the vocabulary ``<unk_i>``, and a token whose bytes are not valid
        UTF-8 on their own (part of a character) shows U+FFFD, as ``decode`` does. The table of the whole
        vocabulary is built on first use from :meth:`base_token_texts` and kept on the tokenizer (never
        pickled: a worker builds its own when it needs one).
        """
        arr = _as_ids(ids)
        table = self._token_text_table()
        inside = (arr >= 0) & (arr < table.shape[0])
        if inside.all():
            return table[arr]
        out = table[np.where(inside, arr, 0)]
        flat_ids, flat_out = arr.reshape(-1), out.reshape(-1)
        for k in np.flatnonzero(~inside.reshape(-1)).tolist():
            flat_out[k] = self.reserved.name_of(int(flat_ids[k]))
        return out

    def base_token_texts(self) -> Sequence[str]:
        """The text of every id of the base vocabulary (``0 .. base_size - 1``), each decoded alone.

        What :meth:`token_texts` builds its table from; reserved ids among them are replaced by their names
        afterwards, so their entries may be anything. The default decodes one id at a time with
        :meth:`decode_run`; a subclass whose library can do it faster (a whole vocabulary in one call, or
        straight from its byte table) overrides this, and must give exactly what ``decode_run`` gives.
        """
        special = self.reserved.is_special(np.arange(self.reserved.base_size))
        return [
            "" if special[i] else self.decode_run(np.array([i], dtype=TOKEN_DTYPE))
            for i in range(self.reserved.base_size)
        ]

    def _token_text_table(self) -> np.ndarray:
        table: np.ndarray | None = self.__dict__.get("_token_texts")
        if table is None:
            base = self.reserved.base_size
            texts = list(self.base_token_texts())
            if len(texts) != base:
                raise ValueError(
                    f"{type(self).__name__}.base_token_texts() gave {len(texts)} texts for a base vocabulary "
                    f"of {base} ids"
                )
            table = np.empty(self.vocab_size, dtype=object)
            table[:base] = texts
            for i in np.flatnonzero(self.reserved.is_special(np.arange(self.vocab_size))).tolist():
                table[i] = self.reserved.name_of(i)
            self.__dict__["_token_texts"] = table
        return table

    def __getstate__(self) -> dict[str, Any]:
        # the table of token texts can be megabytes: rebuilt where it is needed rather than pickled
        state = self.__dict__.copy()
        state.pop("_token_texts", None)
        return state


def _as_ids(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"token ids must be integers, got an array of {arr.dtype}")
    return arr


#: per tokenizer object without a ``token_texts`` method of its own: id → text, filled as ids are met
_DECODED: weakref.WeakKeyDictionary[Any, dict[int, str]] = weakref.WeakKeyDictionary()


def token_texts(tokenizer: Tokenizer, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """Each id's own text, as ``decode([id])`` gives it: an object array of ``str`` with the shape of ``ids``.

    Works with any :class:`~birdie_core.Tokenizer`: it calls the tokenizer's own ``token_texts`` when it has
    one (every tokenizer built on :class:`ReservedIdsTokenizer` has: a vectorised look-up in a table of its
    whole vocabulary) and otherwise decodes each distinct id once, keeping the texts for the tokenizer's
    lifetime (when it can be weakly referenced), so that later calls decode only ids not met before.
    """
    own = getattr(tokenizer, "token_texts", None)
    if callable(own):
        return np.asarray(own(ids), dtype=object)
    arr = _as_ids(ids)
    try:
        known = _DECODED.setdefault(tokenizer, {})
    except TypeError:  # neither hashable nor weakly referenceable: nothing is kept between calls
        known = {}
    unique, inverse = np.unique(arr.reshape(-1), return_inverse=True)
    texts = np.empty(unique.shape[0], dtype=object)
    for k, i in enumerate(unique.tolist()):
        text = known.get(i)
        if text is None:
            text = known[i] = tokenizer.decode([i])
        texts[k] = text
    return texts[inverse.reshape(-1)].reshape(arr.shape)
