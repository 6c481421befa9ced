"""Pre-tokenized data: the files `tokenize_split` writes and the `tokenized` source that reads them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from birdie_core.builtins.sources import EmbeddedSource
from birdie_core.builtins.sources.tokenized import TokenizedSource
from birdie_core.errors import ConfigError, PipelineError
from birdie_core.interfaces import Shard
from birdie_core.pipeline import Components
from birdie_core.pretokenized import HEADER_NAME, tokenize_split, tokenizer_fingerprint
from birdie_core.registry import default_registry
from birdie_core.testing import assert_batch_contract
from tests.support import TEXTS

WHOLE = Shard()

#: one configuration of each objective that works on text (the quickstart's): deshuffling decodes its slice
TEXT_OBJECTIVES = [
    {"name": "next_token_prediction", "id": "next_token", "paradigm": "<|NTP|>"},
    {"name": "prefix_lm", "id": "prefix_lm", "prefix_fraction": 0.75, "paradigm": "<|PREFIX_LM|>"},
    {"name": "text.infilling", "id": "infill", "corruption_rate": 0.15, "mean_span": 3, "paradigm": "[R]"},
    {"name": "text.copying", "id": "copying", "length": [32, 96], "paradigm": "<|COPY|>"},
    {"name": "text.deshuffling", "id": "deshuffle_chars", "unit": "characters", "length": [32, 96]},
    {"name": "text.deshuffling", "id": "deshuffle_tokens", "unit": "tokens", "length": [32, 96]},
    {"name": "text.autoencoding", "id": "autoencoding", "corruption_rate": 0.15, "length": [32, 96]},
    {
        "name": "text.selective_copying",
        "id": "selective_copying",
        "spans": [1, 2],
        "span_length": [4, 16],
        "length": [64, 120],
    },
]


def config(train: dict[str, Any], tokenizer: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return {
        "seed": 3,
        "batch_size": kw.pop("batch_size", 4),
        "sequence_length": kw.pop("sequence_length", 128),
        "tokenizer": tokenizer or {"name": "bytes", "num_sentinels": 32},
        "data": {"train": train, "validation": None},
        "objectives": kw.pop("objectives", [{"name": "next_token_prediction"}, {"name": "prefix_lm"}]),
        "curriculum": {"agent": {"name": "static"}},
        **kw,
    }


def tokenized(path: Path, **kw: Any) -> TokenizedSource:
    return TokenizedSource(TokenizedSource.Config(name="tokenized", path=str(path), **kw))


def read(source: TokenizedSource, shard: Shard = WHOLE, epoch: int = 0) -> list[int]:
    return [d.index for d in source.documents(shard, epoch)]


@pytest.fixture(scope="module")
def embedded_dirs(tmp_path_factory) -> dict[str, Path]:
    """The embedded corpus (bytes) written in several shards and in one."""
    root = tmp_path_factory.mktemp("tokenized")
    cfg = config({"name": "embedded"})
    dirs = {"several": root / "several", "one": root / "one"}
    tokenize_split(cfg, dirs["several"], processes=1, shard_tokens=50_000)
    tokenize_split(cfg, dirs["one"], processes=1)
    return dirs


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory) -> Path:
    """A JSON-lines file of 48 documents of 1,500 characters or so (tests.support.TEXTS)."""
    path = tmp_path_factory.mktemp("texts") / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------------
# What is written, and reading it back
# ---------------------------------------------------------------------------------------------------------


def test_round_trip_gives_the_ids_of_encoding_the_text(embedded_dirs):
    tok = Components.resolve(config({"name": "embedded"})).tokenizer()
    texts = [d.text for d in EmbeddedSource().documents()]
    for directory in embedded_dirs.values():
        source = tokenized(directory, shuffle_buffer=0)
        docs = list(source.documents(Shard(), 0))
        assert [d.index for d in docs] == list(range(len(texts))) == list(range(len(source)))
        for doc, text in zip(docs, texts):
            assert doc.text == ""
            np.testing.assert_array_equal(doc.token_ids(tok), tok.encode(text))
    header = json.loads((embedded_dirs["several"] / HEADER_NAME).read_text())
    assert header["dtype"] == "uint16" and len(header["shards"]) > 4
    assert header["tokenizer"]["base_size"] == 257 and header["tokenizer"]["name"] == "core.bytes"
    assert header["documents"] == len(texts) and header["source"]["config"]["name"] == "core.embedded"


def test_documents_are_views_into_the_memory_map(embedded_dirs):
    source = tokenized(embedded_dirs["one"])
    doc = next(iter(source.documents(Shard(), 0)))
    assert isinstance(doc.tokens, np.ndarray) and not doc.tokens.flags.writeable
    assert np.shares_memory(doc.tokens, source.data.shards[0].raw)


def test_cl100k_ids_are_stored_as_uint32_and_read_as_int32_without_a_copy(tmp_path, texts_file):
    cfg = config(
        {"name": "files", "paths": [str(texts_file)]}, {"name": "tiktoken", "encoding": "cl100k_base"}
    )
    tokenize_split(cfg, tmp_path / "out", processes=1)
    source = tokenized(tmp_path / "out", shuffle_buffer=0)
    tok = Components.resolve(cfg).tokenizer()
    assert json.loads((tmp_path / "out" / HEADER_NAME).read_text())["dtype"] == "uint32"
    docs = list(source.documents(Shard(), 0))
    assert len(docs) == len(TEXTS)
    for doc, text in zip(docs, TEXTS):
        ids = doc.token_ids(tok)
        assert ids.dtype == np.int32 and np.shares_memory(ids, source.data.shards[0].raw)
        np.testing.assert_array_equal(ids, tok.encode(text))


def test_the_output_is_the_same_with_several_processes(tmp_path, texts_file):
    cfg = config({"name": "files", "paths": [str(texts_file)]})
    tokenize_split(cfg, tmp_path / "one", processes=1, shard_tokens=20_000)
    tokenize_split(cfg, tmp_path / "two", processes=2, shard_tokens=20_000)
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(names) > 5
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


# ---------------------------------------------------------------------------------------------------------
# Sharding and shuffling
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["one", "several"])
@pytest.mark.parametrize("shuffle_buffer", [0, 8, 1024])
def test_every_document_is_read_exactly_once_per_epoch_by_1_to_4_readers(
    embedded_dirs, layout, shuffle_buffer
):
    source = tokenized(embedded_dirs[layout], shuffle_buffer=shuffle_buffer, shuffle_seed=5)
    n = len(source)
    for readers in range(1, 5):
        for epoch in (0, 1):
            parts = [read(source, Shard(r, readers), epoch) for r in range(readers)]
            everything = [i for p in parts for i in p]
            assert sorted(everything) == list(range(n)), (readers, epoch)
            sizes = [len(p) for p in parts]
            # the shares differ by about one block at most
            assert max(sizes) - min(sizes) <= max(1, source.block_size(readers)) * 2, sizes
            if shuffle_buffer == 0:  # in order, strided: what Shard.owns says
                assert all(p == list(range(r, n, readers)) for r, p in enumerate(parts))


def test_shuffling_is_deterministic_per_seed_and_epoch_and_new_each_epoch(embedded_dirs):
    directory = embedded_dirs["several"]
    a, b = tokenized(directory, shuffle_seed=1), tokenized(directory, shuffle_seed=1)
    shard = Shard(1, 2)
    assert read(a, shard, 0) == read(b, shard, 0) == read(a, shard, 0)
    assert read(a, shard, 0) != read(a, shard, 1)
    assert read(a, shard, 0) != read(tokenized(directory, shuffle_seed=2), shard, 0)
    whole = read(a, Shard(), 0)
    assert whole != sorted(whole)  # the blocks and the documents inside them are permuted
    assert read(tokenized(directory, shuffle_buffer=1), Shard(), 3) == sorted(whole)


def test_shuffled_documents_still_carry_their_own_ids(embedded_dirs):
    ordered = {d.index: d.tokens for d in tokenized(embedded_dirs["several"], shuffle_buffer=0).documents()}
    for doc in tokenized(embedded_dirs["several"], shuffle_seed=9).documents(Shard(0, 3), 2):
        np.testing.assert_array_equal(doc.tokens, ordered[doc.index])


# ---------------------------------------------------------------------------------------------------------
# Through the pipeline
# ---------------------------------------------------------------------------------------------------------


def test_text_objectives_make_the_same_batches_from_tokenized_data_as_from_text(tmp_path, texts_file):
    text_source = {"name": "files", "paths": [str(texts_file)], "shuffle_buffer": 0}
    text_cfg = config(text_source, objectives=TEXT_OBJECTIVES)
    tokenize_split(text_cfg, tmp_path / "out", processes=1, shard_tokens=10_000)
    tok_cfg = config(
        {"name": "tokenized", "path": str(tmp_path / "out"), "shuffle_buffer": 0}, objectives=TEXT_OBJECTIVES
    )
    from_text = Components.resolve(text_cfg).pipeline()
    from_ids = Components.resolve(tok_cfg).pipeline()
    for i in range(220):  # past the end of the first epoch
        a, b = from_text.next_batch(), from_ids.next_batch()
        assert_batch_contract(b, len(TEXT_OBJECTIVES))
        for key in a.TENSOR_KEYS:
            np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=f"batch {i}: {key}")
    assert from_ids.stats.epochs_completed >= 1 and (from_ids.stats.examples > 0).all()


def test_resuming_from_a_state_continues_the_exact_stream(tmp_path, texts_file):
    tokenize_split(config({"name": "files", "paths": [str(texts_file)]}), tmp_path / "out", processes=1)
    cfg = config(
        {"name": "tokenized", "path": str(tmp_path / "out"), "shuffle_buffer": 4}, objectives=TEXT_OBJECTIVES
    )
    components = Components.resolve(cfg)
    shard = Shard(1, 2)
    first = components.pipeline(shard=shard)
    for _ in range(50):
        first.next_batch()
    state = first.state_dict()
    expected = [first.next_batch() for _ in range(80)]  # across an epoch's end
    resumed = components.pipeline(shard=shard)
    resumed.load_state_dict(state)
    for a, b in zip(expected, (resumed.next_batch() for _ in range(80))):
        np.testing.assert_array_equal(a.input_ids, b.input_ids)
        np.testing.assert_array_equal(a.label_ids, b.label_ids)
    assert first.stats.epochs_completed >= 1


def test_birdie_reads_tokenized_data_in_a_worker(embedded_dirs):
    from birdie_core import Birdie

    cfg = config({"name": "tokenized", "path": str(embedded_dirs["several"])}, workers={"num_workers": 1})
    birdie = Birdie(cfg)
    try:
        batch = birdie.get_next_training_sample()
        assert batch["input_ids"].shape == (4, 128)
        assert birdie.data_stats()["source"]["documents"] > 0
    finally:
        birdie.close()


# ---------------------------------------------------------------------------------------------------------
# The tokenizer must be the one that wrote the ids
# ---------------------------------------------------------------------------------------------------------


def test_another_tokenizer_is_refused_when_the_pipeline_is_built(embedded_dirs):
    directory = embedded_dirs["one"]
    cfg = config(
        {"name": "tokenized", "path": str(directory)}, {"name": "tiktoken", "encoding": "cl100k_base"}
    )
    with pytest.raises(ConfigError) as err:
        Components.resolve(cfg).pipeline()
    message = str(err.value)
    assert "tokenizer:" in message and str(directory) in message
    assert "ByteTokenizer" in message and "TiktokenTokenizer" in message and "core.bytes" in message
    assert "birdie tokenize" in message


def test_markers_and_sentinels_do_not_change_the_fingerprint(embedded_dirs):
    # other objectives reserve other markers, another num_sentinels moves them: the ids of text stay the same
    cfg = config(
        {"name": "tokenized", "path": str(embedded_dirs["one"])},
        {"name": "bytes", "num_sentinels": 7},
        objectives=TEXT_OBJECTIVES,
    )
    pipeline = Components.resolve(cfg).pipeline()
    assert_batch_contract(pipeline.next_batch(), len(TEXT_OBJECTIVES))
    registry = default_registry()
    bytes_cls = registry.resolve("tokenizer", "bytes").obj
    plain = bytes_cls(bytes_cls.Config(name="bytes"), [])
    assert tokenizer_fingerprint(plain) == tokenizer_fingerprint(pipeline.tokenizer)


# ---------------------------------------------------------------------------------------------------------
# Damaged and hostile directories
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def copy_of(embedded_dirs, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(embedded_dirs["several"], target)
    return target


def edit_header(directory: Path, change) -> None:
    path = directory / HEADER_NAME
    header = json.loads(path.read_text())
    change(header)
    path.write_text(json.dumps(header))


def refused(directory: Path, **kw: Any) -> str:
    with pytest.raises(ConfigError) as err:
        tokenized(directory, **kw)
    assert all(issue.path == "path" for issue in err.value.issues)
    return str(err.value)


def test_a_truncated_token_file_is_refused_naming_it(copy_of):
    path = copy_of / "tokens_00002.bin"
    path.write_bytes(path.read_bytes()[:-10])
    message = refused(copy_of)
    assert "tokens_00002.bin" in message and "truncated" in message


def test_a_missing_file_and_a_missing_header_are_refused(copy_of):
    (copy_of / "offsets_00001.npy").unlink()
    assert "offsets_00001.npy is missing" in refused(copy_of)
    (copy_of / HEADER_NAME).unlink()
    assert "did not finish" in refused(copy_of)
    assert "does not exist" in refused(copy_of / "nowhere")


def test_corrupt_contents_are_found_by_verify_and_ids_beyond_the_vocabulary_when_read(copy_of):
    path = copy_of / "tokens_00000.bin"
    data = bytearray(path.read_bytes())
    data[100:102] = b"\xff\xff"  # id 65535 in a vocabulary of 257
    path.write_bytes(bytes(data))
    assert "SHA-256" in refused(copy_of, verify=True)
    source = tokenized(copy_of, shuffle_buffer=0)  # sizes match: opened
    with pytest.raises(PipelineError, match=r"tokens_00000\.bin: document 0 hold ids beyond the 257"):
        list(source.documents(Shard(), 0))


def test_offsets_beyond_the_token_file_are_refused(copy_of):
    shards = json.loads((copy_of / HEADER_NAME).read_text())["shards"]
    name = max(shards, key=lambda s: s["documents"])["offsets"]
    path = copy_of / name
    offsets = np.load(path)
    assert offsets.shape[0] > 5
    offsets[-1] += 1000
    np.save(path, offsets)  # the same size: only its contents lie
    assert f"{name} must run from 0 to" in refused(copy_of)
    offsets[-1] -= 1000
    offsets[3], offsets[4] = offsets[4], offsets[3]
    np.save(path, offsets)
    assert "decrease at document 3" in refused(copy_of)


def test_an_offsets_file_holding_objects_is_refused_without_unpickling(copy_of):
    path = copy_of / "offsets_00000.npy"
    np.save(path, np.array([object()] * 3, dtype=object), allow_pickle=True)
    edit_header(copy_of, lambda h: h["shards"][0].update(offsets_bytes=path.stat().st_size))
    assert "offsets_00000.npy is not a readable .npy array" in refused(copy_of)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda h: h["shards"][0].update(tokens="../../etc/passwd"), "must use the files 'tokens_00000.bin'"),
        (lambda h: h["shards"][1].update(num_tokens=h["shards"][1]["num_tokens"] + 5), "not tokens_bytes="),
        (lambda h: h.update(documents=h["documents"] + 1), "the shards hold"),
        (lambda h: h.update(version=7), "format version 7"),
        (lambda h: h.update(format="something-else"), "not a Birdie pre-tokenized header"),
        (lambda h: h["tokenizer"].update(base_size=True), "tokenizer.base_size"),
        (lambda h: h.update(dtype="float64"), "dtype"),
        (lambda h: h.update(extra_field=1), "extra_field"),
    ],
)
def test_a_tampered_header_is_refused(copy_of, change, expected):
    edit_header(copy_of, change)
    message = refused(copy_of)
    assert expected in message and "header.json" in message


def test_a_header_that_is_not_json_is_refused(copy_of):
    (copy_of / HEADER_NAME).write_bytes(b"\x00\xff not json")
    assert "is not valid JSON" in refused(copy_of)


def test_config_errors_name_their_place_in_the_pipeline_config(tmp_path):
    with pytest.raises(ConfigError) as err:
        Components.resolve(config({"name": "tokenized", "path": str(tmp_path / "missing")})).pipeline()
    assert [i.path for i in err.value.issues] == ["data.train.path"]


def test_one_domain_of_a_list_of_sources_is_written_when_named(tmp_path):
    train = [
        {"name": "embedded", "id": "docs", "weight": 2},
        {"name": "embedded", "id": "held", "split": "validation"},
    ]
    cfg = config(train)
    with pytest.raises(PipelineError, match=r"lists 2 sources \(docs, held\): choose one with --domain"):
        tokenize_split(cfg, tmp_path / "out")
    with pytest.raises(PipelineError, match="no source with id 'nope'"):
        tokenize_split(cfg, tmp_path / "out", domain="nope")
    assert not (tmp_path / "out").exists()
    result = tokenize_split(cfg, tmp_path / "out", domain="held", processes=1)
    assert result.documents == len(EmbeddedSource(EmbeddedSource.Config(name="embedded", split="validation")))
    header = json.loads((tmp_path / "out" / HEADER_NAME).read_text())
    assert header["source"]["domain"] == "held" and header["source"]["config"]["split"] == "validation"
