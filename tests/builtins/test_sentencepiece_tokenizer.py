"""The ``sentencepiece`` tokenizer: own piece ids, reused or appended specials, look-alikes as text.

The models are trained here, on the embedded corpus, once per session (birdie_core.testing.tokenizers): a
T5-style unigram model (``<pad>`` 0, no sentinels), a Llama-style BPE model (no pad, byte fallback) and a
unigram model whose sentinels and ``[S2S]`` are user-defined pieces (matched wherever their text occurs)
and whose ``[COPY]`` is a control piece (never produced from text).
"""

from __future__ import annotations

import pickle
import shutil
import sys

import pytest
import sentencepiece as spm

from birdie_core.builtins.sentencepiece import SentencePieceTokenizer
from birdie_core.errors import ConfigError
from birdie_core.interfaces import IGNORE_INDEX, TOKEN_DTYPE
from birdie_core.interfaces import Tokenizer as TokenizerProtocol
from birdie_core.pipeline import Pipeline
from birdie_core.testing import assert_batch_contract, batch_segments
from birdie_core.testing.tokenizers import train_sentencepiece, training_lines
from tests.support import TEXTS, make_config, memory_registry

MARKERS = ["<|gen|>", "[S2S]", "[COPY]"]
OWN_SENTINELS = [f"<extra_id_{i}>" for i in range(10)]
ORDINARY = [
    "",
    "Hello, world!",
    "The for statement is used to iterate over the elements of a sequence.",
    "  two  spaces and\ttabs\nand lines  ",
    *training_lines(3_000)[:20],
]
LOOK_ALIKES = (
    "a <extra_id_0> b <extra_id_9> c <pad> d </s> e <unk> f <s> g [S2S] h [COPY] i <|gen|> j <mask_0>"
)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sp-models")
    return {
        "t5": train_sentencepiece(directory),
        "llama": train_sentencepiece(directory, model_type="bpe", pad=False, byte_fallback=True),
        "sentinels": train_sentencepiece(
            directory, user_defined_symbols=[*OWN_SENTINELS, "[S2S]"], control_symbols=["[COPY]"], name="ud"
        ),
    }


def make(path, specials=MARKERS, **config) -> SentencePieceTokenizer:
    config = SentencePieceTokenizer.Config(name="sentencepiece", path=str(path), **config)
    return SentencePieceTokenizer(config, specials)


def library(path) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(path))


@pytest.fixture(params=["t5", "llama", "sentinels"])
def kind(request):
    return request.param


# ---------------------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------------------


def test_ids_are_the_librarys_own(models, kind):
    tok, lib = make(models[kind]), library(models[kind])
    assert isinstance(tok, TokenizerProtocol)
    for text in ORDINARY:
        ids = tok.encode(text)
        assert ids.dtype == TOKEN_DTYPE and ids.flags.writeable
        assert ids.tolist() == lib.encode(text, out_type=int)
        assert not tok.is_special(ids).any()
    assert [b.tolist() for b in tok.encode_batch(ORDINARY)] == [tok.encode(t).tolist() for t in ORDINARY]


def test_round_trip(models):
    tok = make(models["llama"])  # byte fallback: every character survives; whitespace runs are normalised
    for text in ["Hello, world!", "naïve café — 日本語 🐦", LOOK_ALIKES, *training_lines(3_000)[:20]]:
        assert tok.decode(tok.encode(text)) == " ".join(text.split())
    t5, lib = make(models["t5"]), library(models["t5"])
    for text in ORDINARY:
        assert t5.decode(t5.encode(text)) == lib.decode(lib.encode(text))


def test_lone_surrogates_are_replaced_and_counted(models):
    tok = make(models["llama"])
    text, lib = "a\ud800b", library(models["llama"])
    assert tok.encode(text).tolist() == lib.encode("a\ufffdb")
    assert tok.encode_batch([text, "ok"])[0].tolist() == tok.encode(text).tolist()
    assert tok.stats["surrogates_replaced"] == 3


# ---------------------------------------------------------------------------------------------------------
# pad, sentinels, markers
# ---------------------------------------------------------------------------------------------------------


def test_the_models_pad_is_used(models):
    tok, lib = make(models["t5"]), library(models["t5"])
    size = lib.get_piece_size()
    assert tok.pad_id == lib.pad_id() == 0
    assert tok.sentinel_ids().tolist() == list(range(size, size + 512))  # none of its own: appended
    assert tok.appended == 512 + len(MARKERS) and tok.vocab_size == size + tok.appended
    assert tok.decode([0, size, size + 512]) == "<pad><mask_0><|gen|>"


def test_no_pad_in_the_model_appends_one(models):
    tok, lib = make(models["llama"], num_sentinels=4), library(models["llama"])
    size = lib.get_piece_size()
    assert lib.pad_id() == -1
    assert tok.pad_id == size and tok.sentinel_ids().tolist() == [size + 1, size + 2, size + 3, size + 4]
    assert tok.appended == 1 + 4 + len(MARKERS)
    assert make(models["llama"], pad_token="</s>").pad_id == lib.eos_id()


def test_own_sentinels_and_markers_are_reused(models):
    tok, lib = make(models["sentinels"]), library(models["sentinels"])
    size = lib.get_piece_size()
    assert tok.sentinel_ids().tolist() == [lib.piece_to_id(s) for s in OWN_SENTINELS]  # as many as it has
    assert tok.special_id("[S2S]") == lib.piece_to_id("[S2S]")  # a user-defined piece
    assert tok.special_id("[COPY]") == lib.piece_to_id("[COPY]")  # a control piece
    assert tok.special_id("<|gen|>") == size and tok.appended == 1
    more = make(models["sentinels"], num_sentinels=12)
    assert more.sentinel_ids().tolist()[9:] == [lib.piece_to_id("<extra_id_9>"), size, size + 1]
    mapped = make(models["t5"], special_tokens={"[S2S]": "</s>"})
    assert mapped.special_id("[S2S]") == library(models["t5"]).eos_id()
    with pytest.raises(ConfigError) as info:
        make(models["t5"], pad_token="<nope>", special_tokens={"[COPY]": "▁nope-nope"})
    assert sorted(i.path for i in info.value.issues) == [
        "tokenizer.pad_token",
        "tokenizer.special_tokens.[COPY]",
    ]


# ---------------------------------------------------------------------------------------------------------
# look-alikes of special tokens are text
# ---------------------------------------------------------------------------------------------------------


def test_look_alikes_never_produce_a_reserved_id(models, kind):
    tok = make(models[kind])
    ids = tok.encode(LOOK_ALIKES)
    reserved = {tok.pad_id, *tok.sentinel_ids().tolist(), *(tok.special_id(m) for m in MARKERS)}
    assert not tok.is_special(ids).any() and not reserved & set(ids.tolist())
    for batch_ids in tok.encode_batch([LOOK_ALIKES, "[S2S]"]):
        assert not tok.is_special(batch_ids).any()


def test_user_defined_reserved_pieces_are_spelled_out(models):
    tok, lib = make(models["sentinels"]), library(models["sentinels"])
    raw = lib.encode(LOOK_ALIKES, out_type=int)
    assert (
        lib.piece_to_id("<extra_id_0>") in raw and lib.piece_to_id("[S2S]") in raw
    )  # the library matches them
    ids = tok.encode(LOOK_ALIKES)
    assert tok.decode(ids) == lib.decode(raw)  # the same text (" ⁇ " where a character is unknown to it)
    assert tok.stats["reserved_replaced"] == 3  # <extra_id_0>, <extra_id_9>, [S2S]; control pieces never come


def test_reserved_ordinary_piece_is_spelled_out(models):
    lib = library(models["t5"])
    piece = next(p for p in map(lib.id_to_piece, range(lib.get_piece_size())) if p.startswith("▁the"))
    tok = make(models["t5"], special_tokens={"[S2S]": piece})
    ids = tok.encode("so" + piece.replace("▁", " ") + " end")
    assert tok.special_id("[S2S]") not in ids.tolist()
    assert tok.decode(ids) == "so" + piece.replace("▁", " ") + " end"


# ---------------------------------------------------------------------------------------------------------
# pickling, objects, errors
# ---------------------------------------------------------------------------------------------------------


def test_pickles_without_the_file(models, kind, tmp_path):
    path = tmp_path / "model.model"
    shutil.copy(models[kind], path)
    tok = make(path, num_sentinels=16)
    data = pickle.dumps(tok)
    path.unlink()
    clone = pickle.loads(data)
    text = ORDINARY[2] + LOOK_ALIKES
    assert clone.encode(text).tolist() == tok.encode(text).tolist()
    assert (clone.vocab_size, clone.pad_id, clone.appended) == (tok.vocab_size, tok.pad_id, tok.appended)
    assert clone.special_id("[COPY]") == tok.special_id("[COPY]")


def test_from_object(models):
    # encode options belong to the object, not to the model: they are not carried over
    lib = spm.SentencePieceProcessor(model_file=str(models["sentinels"]), add_eos=True)
    tok = SentencePieceTokenizer.from_object(lib, MARKERS)
    assert tok.encode("hello").tolist() == library(models["sentinels"]).encode("hello")
    assert tok.special_id("[S2S]") == lib.piece_to_id("[S2S]")
    assert lib.encode("hello")[-1] == lib.eos_id()  # the object itself is unchanged
    with pytest.raises(ConfigError, match="not a sentencepiece.SentencePieceProcessor"):
        SentencePieceTokenizer.from_object("spiece.model")


def test_missing_corrupt_and_folder_paths(tmp_path):
    with pytest.raises(ConfigError, match="does not exist.*never downloads") as info:
        make(tmp_path / "spiece.model")
    assert info.value.issues[0].path == "tokenizer.path"
    corrupt = tmp_path / "corrupt.model"
    corrupt.write_bytes(b"\x0a\x05hello not a model")
    with pytest.raises(ConfigError, match=r"corrupt\.model: not a valid SentencePiece model"):
        make(corrupt)
    with pytest.raises(ConfigError, match="is a folder"):
        make(tmp_path)


def test_missing_package_says_what_to_install(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    with pytest.raises(ConfigError, match=r"pip install 'birdie-core\[sentencepiece\]'"):
        make(models["t5"])


# ---------------------------------------------------------------------------------------------------------
# through the pipeline, from a YAML-form config
# ---------------------------------------------------------------------------------------------------------


def test_pipeline_from_config(models):
    cfg = make_config(sequence_length=96, batch_size=3)
    cfg["tokenizer"] = {"name": "sentencepiece", "path": str(models["llama"]), "num_sentinels": 8}
    pipeline = Pipeline.from_config(cfg, memory_registry())
    tok = pipeline.tokenizer
    assert isinstance(tok, SentencePieceTokenizer)
    normalised = [tok.decode(tok.encode(t)) for t in TEXTS]  # SentencePiece folds runs of whitespace
    decoded = 0
    for _ in range(4):
        batch = pipeline.next_batch()
        assert_batch_contract(batch, num_arms=2)
        assert batch.pad_id == tok.pad_id
        for row, start, end, seg in batch_segments(batch):
            if batch.segment_arms[row, seg - 1] != 0:  # next-token prediction: its target is document text
                continue
            labels = batch.label_ids[row, start:end]
            target = tok.decode(labels[labels != IGNORE_INDEX]).strip("\ufffd ")
            assert any(target in text for text in normalised), target
            decoded += 1
    assert decoded > 0
