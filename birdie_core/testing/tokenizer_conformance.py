"""The tokenizer contract, for any tokenizer, first-party or third-party.

Subclass it in a pytest module::

    from birdie_core.testing import TokenizerConformance

    class TestMyTokenizer(TokenizerConformance):
        tokenizer_cls = MyTokenizer
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar, Literal

from birdie_core.testing._requires import require_test_tools

require_test_tools()

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birdie_core.interfaces import TOKEN_DTYPE, Tokenizer, TokenizerConfig
from birdie_core.testing.documents import CORPUS

__all__ = ["TokenizerConformance"]

_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)


class TokenizerConformance:
    """The tokenizer contract (:class:`birdie_core.Tokenizer`). Set ``tokenizer_cls`` (built as the registry
    builds it, ``tokenizer_cls(config, specials)``) and ``tokenizer_config``, or override
    :meth:`make_tokenizer`.

    ``round_trip``: ``"exact"`` (``decode(encode(text)) == text``, the default) or ``"stable"`` for a tokenizer
    that normalises text (lower-cases, say): decoding and encoding again then changes nothing more.
    ``documents``: the texts to round-trip (the embedded corpus by default, cut to ``max_chars`` each).
    ``text_alphabet``: the characters of the generated texts (None: any; a vocabulary with an unknown token
    round-trips only what it covers).
    """

    tokenizer_cls: ClassVar[type[Any] | None] = None
    tokenizer_config: ClassVar[TokenizerConfig | None] = None
    specials: ClassVar[tuple[str, ...]] = ("<|start|>", "[S]", "[R]", "<|INFILL|>")
    round_trip: ClassVar[Literal["exact", "stable"]] = "exact"
    documents: ClassVar[Sequence[str]] = CORPUS[:24]
    max_chars: ClassVar[int] = 4000
    text_alphabet: ClassVar[str | None] = None

    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        if self.tokenizer_cls is None:
            raise NotImplementedError("set `tokenizer_cls = MyTokenizer` on the subclass")
        cfg = self.tokenizer_config or self.tokenizer_cls.Config(name=self.tokenizer_cls.__name__)
        tok: Tokenizer = self.tokenizer_cls(cfg, list(specials))
        return tok

    @cached_property
    def _tok(self) -> Tokenizer:
        return self.make_tokenizer(self.specials)

    @cached_property
    def _texts(self) -> list[str]:
        return [d[: self.max_chars] for d in self.documents]

    def _reserved(self) -> dict[str, int]:
        tok = self._tok
        named = {"<pad>": int(tok.pad_id)}
        named.update({name: int(tok.special_id(name)) for name in self.specials})
        named.update({f"sentinel {i}": int(s) for i, s in enumerate(np.asarray(tok.sentinel_ids()))})
        return named

    def _encode(self, text: str) -> np.ndarray:
        ids = self._tok.encode(text)
        assert isinstance(ids, np.ndarray) and ids.ndim == 1, f"encode must give a 1-d array, got {type(ids)}"
        assert ids.dtype == TOKEN_DTYPE, f"encode must give {np.dtype(TOKEN_DTYPE)} ids, got {ids.dtype}"
        assert np.all((ids >= 0) & (ids < self._tok.vocab_size)), "ids must lie in [0, vocab_size)"
        return ids

    def _assert_round_trip(self, text: str) -> None:
        decoded = self._tok.decode(self._encode(text))
        if self.round_trip == "exact":
            assert decoded == text, (
                f"decode(encode(text)) changed the text: {text[:80]!r} -> {decoded[:80]!r}"
            )
        else:
            again = self._tok.decode(self._encode(decoded))
            assert again == decoded, f"decoding is not stable: {decoded[:80]!r} -> {again[:80]!r}"

    # -- the contract -------------------------------------------------------------------------------------
    def test_round_trip_on_the_corpus(self) -> None:
        for text in self._texts:
            self._assert_round_trip(text)

    @_SETTINGS
    @given(data=st.data())
    def test_round_trip_on_any_text(self, data: st.DataObject) -> None:
        self._assert_round_trip(data.draw(self._any_text()))

    def _any_text(self) -> st.SearchStrategy[str]:
        if self.text_alphabet is None:
            return st.text(max_size=200)
        return st.text(alphabet=self.text_alphabet, max_size=200)

    @_SETTINGS
    @given(text=st.text(max_size=200))
    def test_encode_never_gives_reserved_ids(self, text: str) -> None:
        ids = self._encode(text)  # any text at all here: an unknown character is not a reserved id
        assert not np.any(ids == self._tok.pad_id), "encode must never produce the pad id"
        assert not np.any(np.asarray(self._tok.is_special(ids), dtype=bool)), "encode produced a reserved id"

    def test_corpus_ids_are_ordinary(self) -> None:
        for text in self._texts:
            ids = self._encode(text)
            assert not np.any(ids == self._tok.pad_id), "encode must never produce the pad id"
            assert not np.any(np.asarray(self._tok.is_special(ids), dtype=bool)), (
                "encode produced a reserved id"
            )

    def test_reserved_ids_are_distinct_and_special(self) -> None:
        reserved = self._reserved()
        ids = np.array(list(reserved.values()), dtype=np.int64)
        assert np.all((ids >= 0) & (ids < self._tok.vocab_size)), (
            f"reserved ids outside the vocabulary: {reserved}"
        )
        values, counts = np.unique(ids, return_counts=True)
        twice = {name: i for name, i in reserved.items() if i in set(values[counts > 1].tolist())}
        assert not twice, f"reserved ids are shared: {twice}"
        special = np.asarray(self._tok.is_special(ids), dtype=bool)
        assert special.shape == ids.shape and special.all(), (
            f"is_special must be true for every reserved id: {dict(zip(reserved, special.tolist()))}"
        )

    def test_sentinels(self) -> None:
        sentinels = np.asarray(self._tok.sentinel_ids())
        assert sentinels.ndim == 1 and sentinels.size >= 1, "a tokenizer reserves at least one sentinel"
        assert np.issubdtype(sentinels.dtype, np.integer)
        np.testing.assert_array_equal(
            sentinels, np.asarray(self._tok.sentinel_ids()), "sentinel_ids is stable"
        )
        assert np.unique(sentinels).size == sentinels.size, "sentinel ids are distinct"

    def test_markers_have_their_names(self) -> None:
        for name in self.specials:
            marker = self._tok.special_id(name)
            assert name in self._tok.decode([marker]), f"decode shows a marker by its name: {name!r}"
        with pytest.raises(Exception):  # noqa: B017 - any error, as long as an unknown name is not given an id
            self._tok.special_id("<|a marker nobody reserved|>")

    def test_look_alike_text_is_ordinary(self) -> None:
        tok = self._tok
        reserved = np.array(list(self._reserved().values()))
        shown = [tok.decode([int(i)]) for i in reserved[: 3 + len(self.specials)]]
        for text in (*self.specials, *shown, "<mask_0>", "<pad>", "<extra_id_0>", " ".join(self.specials)):
            ids = self._encode(text)
            assert not np.isin(ids, reserved).any(), f"the text {text!r} encoded to reserved ids"
            assert not np.asarray(tok.is_special(ids), dtype=bool).any(), (
                f"the text {text!r} gave special ids"
            )

    def test_is_special_keeps_the_shape(self) -> None:
        ids = np.arange(min(self._tok.vocab_size, 64), dtype=TOKEN_DTYPE).reshape(8, -1)
        mask = np.asarray(self._tok.is_special(ids))
        assert mask.shape == ids.shape and mask.dtype == np.bool_

    def test_picklable(self) -> None:
        clone = pickle.loads(pickle.dumps(self._tok))
        assert clone.vocab_size == self._tok.vocab_size and clone.pad_id == self._tok.pad_id
        assert self._reserved() == {
            "<pad>": int(clone.pad_id),
            **{name: int(clone.special_id(name)) for name in self.specials},
            **{f"sentinel {i}": int(s) for i, s in enumerate(np.asarray(clone.sentinel_ids()))},
        }
        for text in self._texts[:4]:
            np.testing.assert_array_equal(clone.encode(text), self._tok.encode(text))

    def test_token_texts(self) -> None:
        if not hasattr(self._tok, "token_texts"):
            pytest.skip("this tokenizer has no token_texts")
        ids = self._encode(self._texts[0][:300])
        texts = np.asarray(self._tok.token_texts(ids))
        assert texts.shape == ids.shape, "token_texts gives one text per id"
        assert texts.dtype.kind == "U" or all(isinstance(t, str) for t in texts.tolist())
