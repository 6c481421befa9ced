"""The ``huggingface`` tokenizer: own ids, reused or appended specials, look-alikes as text, offline only.

The tokenizers are trained here, on the embedded corpus, once per session (birdie_core.testing.tokenizers):
byte-level BPE (GPT-2 style, no pad), WordPiece (BERT style: [PAD], padding and truncation switched on) and
a T5-style Unigram (<pad>, <extra_id_0..99> in its own vocabulary).
"""

from __future__ import annotations

import json
import pickle
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tokenizers import Tokenizer

from birdie_core.builtins.huggingface import HuggingFaceTokenizer
from birdie_core.config import resolved_config
from birdie_core.errors import ConfigError
from birdie_core.interfaces import IGNORE_INDEX, TOKEN_DTYPE
from birdie_core.interfaces import Tokenizer as TokenizerProtocol
from birdie_core.pipeline import Components, Pipeline
from birdie_core.testing import ObjectiveConformance, assert_batch_contract, batch_segments
from birdie_core.testing.tokenizers import train_bpe, train_unigram, train_wordpiece, training_lines
from tests.support import TEXTS, make_config, memory_registry

MARKERS = ["<|gen|>", "[S2S]", "[COPY]"]
ORDINARY = [
    "",
    "Hello, world!",
    "The for statement is used to iterate over the elements of a sequence.",
    "  two  spaces and\ttabs\nand lines  ",
    *training_lines(3_000)[:20],
]
#: text that looks like the special tokens of every tokenizer here, and like Birdie's markers
LOOK_ALIKES = (
    "a <extra_id_0> b <extra_id_99> c <pad> d [PAD] e </s> f <unk> g [UNK] h [CLS] i [SEP] j [MASK] "
    "k <|endoftext|> l <mask_0> m [S2S] n [COPY] o <|gen|>"
)


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf-tokenizers")
    return {
        "bpe": train_bpe(directory),
        "wordpiece": train_wordpiece(directory),
        "unigram": train_unigram(directory),
    }


def make(path, specials=MARKERS, **config) -> HuggingFaceTokenizer:
    return HuggingFaceTokenizer(
        HuggingFaceTokenizer.Config(name="huggingface", path=str(path), **config), specials
    )


def library(path) -> Tokenizer:
    """The library's own tokenizer, with the saved padding and truncation switched off."""
    tok = Tokenizer.from_file(str(path))
    tok.no_padding()
    tok.no_truncation()
    return tok


@pytest.fixture(params=["bpe", "wordpiece", "unigram"])
def kind(request):
    return request.param


# ---------------------------------------------------------------------------------------------------------
# ids
# ---------------------------------------------------------------------------------------------------------


def test_ids_are_the_librarys_own(files, kind):
    tok, lib = make(files[kind]), library(files[kind])
    assert isinstance(tok, TokenizerProtocol)
    for text in ORDINARY:
        ids = tok.encode(text)
        assert ids.dtype == TOKEN_DTYPE and ids.flags.writeable
        assert ids.tolist() == lib.encode(text, add_special_tokens=False).ids
        assert not tok.is_special(ids).any()
    batch = tok.encode_batch(ORDINARY)
    assert [b.tolist() for b in batch] == [tok.encode(t).tolist() for t in ORDINARY]


def test_saved_post_processor_padding_and_truncation_are_not_applied(files):
    tok, lib = make(files["wordpiece"]), Tokenizer.from_file(str(files["wordpiece"]))
    text = ORDINARY[2] * 3
    saved = lib.encode(text).ids  # [CLS] … [SEP], cut at 16 tokens
    assert len(saved) == 16 and saved[0] == lib.token_to_id("[CLS]")
    ids = tok.encode(text)
    assert ids.size > 16 and lib.token_to_id("[CLS]") not in ids.tolist()
    assert len(tok.encode("one")) == 1  # no padding to a multiple of 8 either


def test_round_trip_byte_level_bpe(files):
    tok = make(files["bpe"])
    for text in [*ORDINARY, "naïve café — 日本語 🐦", "a\u00a0b", LOOK_ALIKES]:
        assert tok.decode(tok.encode(text)) == text


def test_round_trip_unigram(files):
    tok, lib = make(files["unigram"]), library(files["unigram"])
    for line in training_lines(3_000)[:20]:  # lines it was trained on: no character it lacks
        text = line.lstrip()  # Metaspace decoding drops the space it put before the first word
        assert tok.decode(tok.encode(text)) == text
    for text in ORDINARY:  # tabs and newlines are unknown to it: decoded as the library decodes them
        ids = lib.encode(text, add_special_tokens=False).ids
        assert tok.decode(tok.encode(text)) == lib.decode(ids, skip_special_tokens=False)


def test_wordpiece_decodes_what_the_library_decodes(files):
    tok, lib = make(files["wordpiece"]), library(files["wordpiece"])
    for text in ORDINARY:
        ids = tok.encode(text)
        assert tok.decode(ids) == lib.decode(ids.tolist(), skip_special_tokens=False)
    assert tok.decode(tok.encode("Hello World")) == "hello world"


def test_lone_surrogates_are_replaced_and_counted(files):
    tok = make(files["bpe"])
    text = json.loads('"a\\ud800b"')
    assert tok.decode(tok.encode(text)) == "a\ufffdb"
    assert [a.tolist() for a in tok.encode_batch([text, "ok"])] == [
        tok.encode(text).tolist(),
        tok.encode("ok").tolist(),
    ]
    assert tok.stats["surrogates_replaced"] == 3


# ---------------------------------------------------------------------------------------------------------
# pad, sentinels, markers
# ---------------------------------------------------------------------------------------------------------


def test_bpe_without_specials_appends_them_all(files):
    tok, lib = make(files["bpe"]), library(files["bpe"])
    base = lib.get_vocab_size(with_added_tokens=True)
    assert tok.reserved.base_size == base
    assert tok.pad_id == base  # no pad token: appended first
    assert tok.sentinel_ids().tolist() == list(range(base + 1, base + 1 + 512))
    assert [tok.special_id(m) for m in MARKERS] == list(range(base + 513, base + 513 + len(MARKERS)))
    assert tok.appended == 1 + 512 + len(MARKERS) and tok.vocab_size == base + tok.appended
    assert (
        tok.decode([tok.pad_id, tok.special_id("<mask_1>"), tok.special_id("[S2S]")]) == "<pad><mask_1>[S2S]"
    )


def test_t5_style_sentinels_and_pad_are_reused(files):
    tok, lib = make(files["unigram"]), library(files["unigram"])
    base = lib.get_vocab_size(with_added_tokens=True)
    assert tok.pad_id == lib.token_to_id("<pad>") == 0
    sentinels = tok.sentinel_ids().tolist()
    assert sentinels == [lib.token_to_id(f"<extra_id_{i}>") for i in range(100)]  # as many as it has
    assert sentinels[0] == base - 1  # T5: <extra_id_0> is the last id
    assert [tok.special_id(m) for m in MARKERS] == [base, base + 1, base + 2]
    assert tok.appended == len(MARKERS) and tok.vocab_size == base + 3
    # reused ids are shown as the tokenizer's own tokens
    assert tok.decode([0, sentinels[0], *tok.encode("so"), sentinels[5]]) == "<pad><extra_id_0>so<extra_id_5>"


def test_explicit_num_sentinels_uses_own_ones_first(files):
    base = library(files["unigram"]).get_vocab_size(with_added_tokens=True)
    more = make(files["unigram"], num_sentinels=104)
    assert more.sentinel_ids().tolist()[99:] == [base - 100, base, base + 1, base + 2, base + 3]
    assert more.appended == 4 + len(MARKERS)
    fewer = make(files["unigram"], num_sentinels=8)
    assert fewer.sentinel_ids().tolist() == list(range(base - 1, base - 9, -1))
    with pytest.raises(KeyError):
        fewer.special_id("<mask_8>")


def test_pad_from_the_padding_settings(files):
    tok = make(files["wordpiece"])
    assert tok.pad_id == library(files["wordpiece"]).token_to_id("[PAD]") == 0
    lib = library(files["bpe"])
    lib.enable_padding(pad_id=lib.token_to_id("<|endoftext|>"), pad_token="<|endoftext|>")
    assert HuggingFaceTokenizer.from_object(lib).pad_id == lib.token_to_id("<|endoftext|>")


def test_pad_token_and_special_tokens_in_the_config(files):
    lib = library(files["unigram"])
    tok = make(
        files["unigram"], pad_token="</s>", num_sentinels=50, special_tokens={"[S2S]": "<extra_id_99>"}
    )
    assert tok.pad_id == lib.token_to_id("</s>")
    assert tok.special_id("[S2S]") == lib.token_to_id("<extra_id_99>")
    assert tok.appended == 2  # <|gen|> and [COPY]

    with pytest.raises(ConfigError) as info:
        make(files["unigram"], pad_token="<nope>", special_tokens={"[COPY]": "[COPY-ME]"})
    assert {(i.path, "is not a token of" in i.message) for i in info.value.issues} == {
        ("tokenizer.pad_token", True),
        ("tokenizer.special_tokens.[COPY]", True),
    }
    with pytest.raises(ConfigError, match="must be different tokens") as info:
        make(files["unigram"], special_tokens={"[S2S]": "<extra_id_99>"})  # also the 100th sentinel
    assert info.value.issues[0].path == "tokenizer.special_tokens"


def test_markers_reuse_added_tokens_of_their_name(files):
    lib = library(files["bpe"])
    lib.add_special_tokens(["[S2S]"])
    lib.add_tokens(["[COPY]"])  # an ordinary added token: matched in text by the library itself
    tok = HuggingFaceTokenizer.from_object(
        lib, MARKERS, HuggingFaceTokenizer.Config(name="huggingface", path="-", num_sentinels=4)
    )
    assert tok.special_id("[S2S]") == lib.token_to_id("[S2S]")
    assert tok.special_id("[COPY]") == lib.token_to_id("[COPY]")
    assert tok.appended == 1 + 4 + 1  # pad, sentinels, <|gen|>
    assert lib.token_to_id("[COPY]") in lib.encode("x [COPY] y").ids
    ids = tok.encode("x [COPY] y [S2S]")
    assert not tok.is_special(ids).any() and tok.decode(ids) == "x [COPY] y [S2S]"
    assert tok.stats["reserved_replaced"] == 0


# ---------------------------------------------------------------------------------------------------------
# look-alikes of special tokens are text
# ---------------------------------------------------------------------------------------------------------


def test_look_alikes_never_produce_a_reserved_id(files, kind):
    tok = make(files[kind], specials=[*MARKERS, "[PAD]", "[CLS]"], num_sentinels=100)
    ids = tok.encode(LOOK_ALIKES)
    assert not tok.is_special(ids).any()
    assert not set(ids.tolist()) & {
        tok.pad_id,
        *tok.sentinel_ids().tolist(),
        *(tok.special_id(m) for m in MARKERS),
    }
    for batch_ids in tok.encode_batch([LOOK_ALIKES, "<pad>"]):
        assert not tok.is_special(batch_ids).any()
    assert tok.stats["reserved_replaced"] == 0  # kept out by the encoder itself, not by the safety net
    if kind == "bpe":
        assert tok.decode(ids) == LOOK_ALIKES


def test_t5_look_alikes_are_spelled_out(files):
    """The library itself produces T5's special ids from their text (its own vocabulary has them)."""
    tok, lib = make(files["unigram"]), library(files["unigram"])
    lib.encode_special_tokens = True
    for text in ["<extra_id_0>", "<pad>", "</s>"]:
        assert lib.encode(text, add_special_tokens=False).ids[-1] == lib.token_to_id(text)
        ids = tok.encode(text)
        assert len(ids) > 2 and lib.token_to_id(text) not in ids.tolist()
        assert tok.decode(ids) == text


def test_a_reserved_ordinary_token_is_replaced_and_counted(files, caplog):
    """A pad token the text can spell (here "!", a byte of the byte-level alphabet) is taken out of encode."""
    tok = make(files["bpe"], pad_token="!")
    bang = library(files["bpe"]).token_to_id("!")
    assert tok.pad_id == bang
    ids = tok.encode("Hi! Ho!")
    assert (
        bang not in ids.tolist() and tok.decode(ids) == "Hi Ho"
    )  # no unknown token in byte-level BPE: dropped
    assert tok.stats["reserved_replaced"] == 2
    assert "replaced" in caplog.text


# ---------------------------------------------------------------------------------------------------------
# pickling, objects, transformers
# ---------------------------------------------------------------------------------------------------------


def test_pickles_without_the_file(files, kind, tmp_path):
    path = tmp_path / "tokenizer.json"
    shutil.copy(files[kind], path)
    tok = make(path, num_sentinels=16)
    data = pickle.dumps(tok)
    path.unlink()
    clone = pickle.loads(data)
    text = ORDINARY[2] + LOOK_ALIKES
    assert clone.encode(text).tolist() == tok.encode(text).tolist()
    assert (clone.vocab_size, clone.pad_id, clone.appended) == (tok.vocab_size, tok.pad_id, tok.appended)
    assert clone.sentinel_ids().tolist() == tok.sentinel_ids().tolist()
    assert clone.special_id("[COPY]") == tok.special_id("[COPY]")


def test_from_object_copies_and_never_changes_the_object(files):
    lib = Tokenizer.from_file(str(files["unigram"]))  # padding and truncation saved on: kept on the object
    before = lib.to_str()
    tok = HuggingFaceTokenizer.from_object(lib, MARKERS)
    assert lib.to_str() == before and not lib.encode_special_tokens
    assert (
        tok.encode(ORDINARY[2]).tolist()
        == library(files["unigram"]).encode(ORDINARY[2], add_special_tokens=False).ids
    )
    assert tok.pad_id == 0 and len(tok.sentinel_ids()) == 100
    with pytest.raises(ConfigError, match="neither a tokenizers.Tokenizer nor a fast transformers"):
        HuggingFaceTokenizer.from_object(object())


def test_transformers_folder_and_object(files, tmp_path):
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_file(str(files["bpe"])),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    fast.save_pretrained(str(tmp_path / "saved"))
    eos = fast.convert_tokens_to_ids("<|endoftext|>")
    from_folder = make(tmp_path / "saved")
    from_file = make(tmp_path / "saved" / "tokenizer.json")  # its folder's tokenizer_config.json is read too
    from_object = HuggingFaceTokenizer.from_object(fast, MARKERS)
    for tok in (from_folder, from_file, from_object):
        assert tok.pad_id == eos  # the pad token transformers declares
        for text in ORDINARY:
            assert tok.encode(text).tolist() == fast(text, add_special_tokens=False)["input_ids"]
        assert eos not in tok.encode("<|endoftext|>").tolist()


def test_transformers_folder_without_tokenizer_json(files, tmp_path):
    transformers = pytest.importorskip("transformers")
    folder = tmp_path / "slow"
    folder.mkdir()
    library(files["bpe"]).model.save(str(folder))  # vocab.json and merges.txt: GPT-2's own files
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {"tokenizer_class": "GPT2Tokenizer", "pad_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
        )
    )
    tok = make(folder)
    assert "transformers" in tok.vocab_origin
    reference = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert tok.pad_id == reference.pad_token_id
    for text in ORDINARY:
        assert tok.encode(text).tolist() == reference(text, add_special_tokens=False)["input_ids"]


# ---------------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to use the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", ["gpt2", "meta-llama/Llama-3-8B"])
def test_a_hub_name_is_a_clear_error_without_a_download(name, no_network, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        make(name)
    (issue,) = info.value.issues
    assert issue.path == "tokenizer.path"
    msg = issue.message
    assert "Hugging Face Hub name" in msg and "never downloads" in msg
    assert f"hf download {name} tokenizer.json" in msg and f"from_pretrained('{name}').save_pretrained" in msg
    assert "tokenizer.path: DIR" in msg


def test_missing_corrupt_and_empty_paths(tmp_path):
    with pytest.raises(ConfigError, match="does not exist") as info:
        make(tmp_path / "nope" / "tokenizer.json")
    assert info.value.issues[0].path == "tokenizer.path"

    corrupt = tmp_path / "broken.json"
    corrupt.write_text('{"version": "1.0", "model": {"type": "BPE", "vocab": ')
    with pytest.raises(ConfigError, match=r"broken\.json: not a valid tokenizer\.json"):
        make(corrupt)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="neither a tokenizer.json nor a tokenizer_config.json"):
        make(empty)


def test_missing_package_says_what_to_install(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # what an uninstalled package looks like to import
    with pytest.raises(ConfigError, match=r"pip install 'birdie-core\[hf\]'"):
        make(files["bpe"])


def test_importing_birdie_does_not_import_the_libraries():
    script = textwrap.dedent(
        """
        import sys
        import birdie_core
        from birdie_core.registry import load_registry
        names = load_registry(autoload=False).names("tokenizer")
        assert {"core.huggingface", "core.sentencepiece"} <= set(names), names
        loaded = [m for m in ("tokenizers", "sentencepiece", "transformers") if m in sys.modules]
        assert not loaded, loaded
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------------------
# through the pipeline, from a YAML-form config
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_pipeline_from_config(files, kind):
    cfg = make_config(sequence_length=96, batch_size=3)
    cfg["tokenizer"] = {"name": "huggingface", "path": str(files[kind]), "num_sentinels": 8}
    pipeline = Pipeline.from_config(cfg, memory_registry())
    tok = pipeline.tokenizer
    assert isinstance(tok, HuggingFaceTokenizer)
    assert len(tok.sentinel_ids()) == 8  # set explicitly: 8, even where the tokenizer has 100
    decoded = 0
    for _ in range(4):
        batch = pipeline.next_batch()
        assert_batch_contract(batch, num_arms=2)
        assert batch.pad_id == tok.pad_id
        if kind != "bpe":
            continue
        for row, start, end, seg in batch_segments(batch):
            if batch.segment_arms[row, seg - 1] != 0:  # next-token prediction: its target is document text
                continue
            labels = batch.label_ids[row, start:end]
            target = tok.decode(labels[labels != IGNORE_INDEX]).strip("\ufffd")
            assert any(target in text for text in TEXTS), target
            decoded += 1
    assert kind != "bpe" or decoded > 0


def test_the_resolved_config_keeps_the_layout(files):
    """A run's saved config writes every default out; read back, it must build the same tokenizer."""
    cfg = make_config()
    cfg["tokenizer"] = {"name": "huggingface", "path": str(files["unigram"])}
    first = Components.resolve(cfg, memory_registry())
    again = Components.resolve(resolved_config(first.config), memory_registry())
    one, two = first.tokenizer(), again.tokenizer()
    assert len(one.sentinel_ids()) == 100  # as many as it has
    assert (two.vocab_size, two.sentinel_ids().tolist()) == (one.vocab_size, one.sentinel_ids().tolist())


def test_leak_check_tokens_avoid_reserved_ids(files):
    """The conformance suite's leak-check document uses ordinary ids only (the matrix in the text plugin's
    test_every_tokenizer.py runs every objective's suite with these tokenizers)."""
    tok = make(files["unigram"])
    ids = ObjectiveConformance().leak_check_tokens(tok)
    assert ids is not None and not tok.is_special(ids).any()
    assert np.unique(ids).size == ids.size
