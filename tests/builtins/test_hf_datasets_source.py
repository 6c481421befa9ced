"""The ``huggingface`` source over real local files: map-style and streaming, exactly once, offline, errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from birdie_core.builtins.sources import HuggingFaceSource
from birdie_core.builtins.sources.huggingface import (
    BLOCK_ROWS,
    STREAM_SHARD_STRIDE,
    block_ranges,
    whole_shards,
)
from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import ConfigError, PipelineError
from birdie_core.interfaces import Shard
from birdie_core.pipeline.build import Components
from tests.support import TEXTS, make_config, make_registry

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

pytestmark = pytest.mark.usefixtures("time_limit")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # belt and braces: the source switches datasets offline itself; workers inherit the environment
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def write_parquet(path: Path, texts: list[str]) -> str:
    pq.write_table(pa.table({"text": texts, "id": list(range(len(texts)))}), path)
    return str(path)


def rows(prefix: str, n: int) -> list[dict]:
    return [{"text": f"{prefix} {i}", "id": i} for i in range(n)]


@pytest.fixture
def source(tmp_path):
    def make(**kw) -> HuggingFaceSource:
        kw.setdefault("cache_dir", str(tmp_path / "hf-cache"))
        return HuggingFaceSource(HuggingFaceSource.Config(name="huggingface", **kw))

    return make


def read_shards(src: HuggingFaceSource, count: int, epoch: int = 0) -> list[list]:
    return [list(src.documents(Shard(i, count), epoch)) for i in range(count)]


def once_twice_never(parts: list[list], expected: set[str]) -> tuple[int, int, int]:
    seen = Counter(d.text for part in parts for d in part)
    return (
        sum(1 for t in expected if seen[t] == 1),
        sum(1 for t in expected if seen[t] > 1),
        sum(1 for t in expected if seen[t] == 0),
    )


# ---------------------------------------------------------------------------------------------------------
# Map-style
# ---------------------------------------------------------------------------------------------------------


def test_map_style_parquet_rows_with_their_row_index(tmp_path, source):
    texts = [f"row {i}" for i in range(2500)] + [""]
    src = source(path="parquet", data_files=write_parquet(tmp_path / "a.parquet", texts))
    docs = list(src.documents())
    assert sorted((d.index, d.text) for d in docs) == [(i, t) for i, t in enumerate(texts) if t]
    assert docs[0].origin.startswith("parquet[train][")
    assert src.stats == {"documents": 2500, "empty": 1, "invalid_utf8": 0}
    assert not src.streaming


def test_map_style_order_is_blocks_permuted_per_epoch_and_deterministic(tmp_path, source):
    texts = [f"row {i}" for i in range(5 * BLOCK_ROWS)]
    src = source(path="parquet", data_files=write_parquet(tmp_path / "a.parquet", texts), shuffle_seed=3)
    first = [d.index for d in src.documents(Shard(0, 1), 0)]
    assert first == [d.index for d in src.documents(Shard(0, 1), 0)], "a resume re-reads the same order"
    starts = first[::BLOCK_ROWS]
    assert sorted(starts) == [k * BLOCK_ROWS for k in range(5)] and starts != sorted(starts)
    assert all(first[j + 1] == first[j] + 1 for j in range(len(first) - 1) if (j + 1) % BLOCK_ROWS)
    assert [d.index for d in src.documents(Shard(0, 1), 1)] != first, "each epoch has its own order"
    other_seed = source(path="parquet", data_files=str(tmp_path / "a.parquet"), shuffle_seed=4)
    assert [d.index for d in other_seed.documents(Shard(0, 1), 0)] != first


@pytest.mark.parametrize("num_rows", [1, 3, 7, 999, 1000, 1001, 4321])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_block_ranges_partition_the_rows_evenly(num_rows, count):
    sizes = []
    rows_seen: list[int] = []
    for r in range(count):
        ranges = list(block_ranges(num_rows, Shard(r, count), seed=1, epoch=2))
        assert all(0 <= a < b <= num_rows and b - a <= BLOCK_ROWS for a, b in ranges)
        part = [i for a, b in ranges for i in range(a, b)]
        sizes.append(len(part))
        rows_seen += part
    assert sorted(rows_seen) == list(range(num_rows))
    assert max(sizes) - min(sizes) <= 1


# ---------------------------------------------------------------------------------------------------------
# Exactly once: 2 ranks x 2 workers = 4 readers
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True], ids=["map-style", "streaming"])
def test_two_ranks_two_workers_read_every_document_once(tmp_path, source, streaming):
    files = [write_jsonl(tmp_path / f"part{k}.jsonl", rows(f"file{k}", 700)) for k in range(3)]
    src = source(path="json", data_files=files, streaming=streaming, shuffle_seed=5)
    expected = {f"file{k} {i}" for k in range(3) for i in range(700)}
    for epoch in (0, 1):
        parts = read_shards(src, 4, epoch)
        assert once_twice_never(parts, expected) == (len(expected), 0, 0)
        assert min(map(len, parts)) > 0
        indices = [d.index for part in parts for d in part]
        assert len(set(indices)) == len(indices), "indices are unique in the split"
    assert [d.index for d in src.documents(Shard(2, 4), 1)] == [d.index for d in parts[2]]


def test_streaming_indices_name_the_shard_and_the_row(tmp_path, source):
    files = [write_jsonl(tmp_path / f"part{k}.jsonl", rows(f"file{k}", 5)) for k in range(2)]
    src = source(path="json", data_files=files, streaming=True)
    docs = {d.text: d for d in src.documents()}
    assert docs["file1 3"].index == 1 * STREAM_SHARD_STRIDE + 3 and docs["file0 4"].index == 4
    assert docs["file1 3"].origin == "json[train] shard 1 row 3"


def test_one_shard_and_four_readers_stream_every_row_once(tmp_path, source):
    src = source(path="json", data_files=write_jsonl(tmp_path / "one.jsonl", rows("r", 59)), streaming=True)
    assert not whole_shards(1, 4)
    parts = read_shards(src, 4)
    assert once_twice_never(parts, {f"r {i}" for i in range(59)}) == (59, 0, 0)
    assert sorted(map(len, parts)) == [14, 15, 15, 15]
    # one file, one shard: the index is the row in the file
    assert sorted(d.index for p in parts for d in p) == list(range(59))


@pytest.mark.parametrize("readers", [3, 4, 2])
def test_eight_shards_among_readers(tmp_path, source, readers):
    files = [write_jsonl(tmp_path / f"part{k}.jsonl", rows(f"file{k}", 20 + k)) for k in range(8)]
    src = source(path="json", data_files=files, streaming=True)
    expected = {f"file{k} {i}" for k in range(8) for i in range(20 + k)}
    for epoch in (0, 1):
        parts = read_shards(src, readers, epoch)
        assert once_twice_never(parts, expected) == (len(expected), 0, 0)
        shards_of = [{d.index // STREAM_SHARD_STRIDE for d in part} for part in parts]
        if whole_shards(8, readers):  # 4 and 2 divide 8: each reader streams whole files of its own
            assert sum(map(len, shards_of)) == 8
        else:  # 3 readers: every reader strides through all 8 files
            assert all(s == set(range(8)) for s in shards_of)
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    orders = [[d.index // STREAM_SHARD_STRIDE for d in src.documents(Shard(0, 1), e)] for e in (0, 1)]
    assert orders[0] != orders[1], "the file order is permuted per epoch"


def test_many_shards_are_read_whole():
    assert whole_shards(13, 3) and whole_shards(12, 5) is False and whole_shards(20, 5)


# ---------------------------------------------------------------------------------------------------------
# Through the pipeline, in DataLoader worker processes
# ---------------------------------------------------------------------------------------------------------


def test_streaming_in_dataloader_workers_is_not_split_twice(tmp_path, source):
    # datasets splits a dataset it iterates itself by the torch worker it runs in; Birdie splits it already
    src = source(path="json", data_files=write_jsonl(tmp_path / "one.jsonl", rows("r", 59)), streaming=True)

    class Texts(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            return (d.text for d in src.documents(Shard(info.id, info.num_workers)))

    loader = torch.utils.data.DataLoader(
        Texts(), num_workers=2, batch_size=None, multiprocessing_context="fork"
    )
    seen = Counter(loader)
    assert seen == Counter({f"r {i}": 1 for i in range(59)})


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "map-style"])
def test_pipeline_with_two_workers_uses_every_document_once(tmp_path, streaming):
    texts = [t[:300] for t in TEXTS]  # 48 documents in one file: fewer dataset shards than workers
    data = write_jsonl(tmp_path / "docs.jsonl", [{"text": t} for t in texts])
    cfg = make_config(num_workers=2)
    cfg["data"]["train"] = {
        "name": "huggingface",
        "path": "json",
        "data_files": data,
        "streaming": streaming,
        "cache_dir": str(tmp_path / "hf-cache"),
    }
    by_text = {t: i for i, t in enumerate(texts)}
    epoch0: list[int] = []
    rolled: set[tuple[int, int]] = set()
    with Birdie(cfg, registry=make_registry()) as birdie:
        for _ in range(200):
            birdie.get_next_training_sample()
            info = birdie.last_batch_info
            for epoch, index in info.documents.tolist():
                if epoch == 0:
                    epoch0.append(index)
                else:
                    rolled.add(info.shard)
            if len(rolled) == 2:
                break
    assert rolled == {(0, 2), (1, 2)}, "both workers finished epoch 0"
    assert sorted(epoch0) == sorted(by_text.values())


# ---------------------------------------------------------------------------------------------------------
# Saved datasets (load_from_disk)
# ---------------------------------------------------------------------------------------------------------


def test_a_saved_dataset_is_found_and_read(tmp_path, source):
    ds = datasets.Dataset.from_dict({"text": [f"saved {i}" for i in range(30)], "n": list(range(30))})
    ds.save_to_disk(str(tmp_path / "saved"))
    src = source(path=str(tmp_path / "saved"), streaming=True)
    assert not src.streaming, "a saved dataset is memory-mapped: read map-style"
    parts = read_shards(src, 4)
    assert once_twice_never(parts, {f"saved {i}" for i in range(30)}) == (30, 0, 0)


def test_a_saved_dataset_dict_gives_the_split(tmp_path, source):
    dd = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"text": ["t0", "t1"]}),
        validation=datasets.Dataset.from_dict({"text": ["v0"]}),
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    assert [d.text for d in source(path=str(tmp_path / "dd"), split="validation").documents()] == ["v0"]
    with pytest.raises(PipelineError, match=r"no split 'test'; its splits: 'train', 'validation'"):
        list(source(path=str(tmp_path / "dd"), split="test").documents())


# ---------------------------------------------------------------------------------------------------------
# Splits, files, fields, offline
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
def test_plain_data_files_are_the_split_the_source_reads(tmp_path, source, streaming):
    path = write_jsonl(tmp_path / "valid.jsonl", rows("v", 3))
    for files in (path, [path]):
        src = source(path="json", data_files=files, split="validation", streaming=streaming)
        assert sorted(d.text for d in src.documents()) == ["v 0", "v 1", "v 2"]


def test_data_files_without_the_split_is_a_config_error(tmp_path):
    with pytest.raises(
        ValidationError,
        match=r"names the splits 'train' but this source reads split 'validation'.*validation: FILES",
    ):
        HuggingFaceSource.Config(
            name="huggingface", path="json", data_files={"train": "a.jsonl"}, split="validation"
        )
    with pytest.raises(ValidationError, match="the 'json' builder reads local files: set data_files"):
        HuggingFaceSource.Config(name="huggingface", path="json")


def test_a_missing_file_is_named(tmp_path, source):
    present = write_jsonl(tmp_path / "here.jsonl", rows("x", 2))
    with pytest.raises(
        ConfigError, match=r"data_files: no such file: '.*gone\.jsonl' \(split 'train'\)"
    ) as e:
        source(path="json", data_files=[present, str(tmp_path / "gone.jsonl")])
    assert "here.jsonl" not in str(e.value)
    with pytest.raises(ConfigError, match=r"no file matches '.*\*\.parquet'"):
        source(path="parquet", data_files=str(tmp_path / "*.parquet"))
    with pytest.raises(ConfigError, match="path: no such file or directory: './nowhere/saved'"):
        source(path="./nowhere/saved")


def test_a_missing_split_in_the_pipeline_config_names_its_place(tmp_path):
    cfg = make_config()
    cfg["data"]["train"] = {"name": "huggingface", "path": "json", "data_files": str(tmp_path / "gone.jsonl")}
    with pytest.raises(ConfigError, match=r"data\.train\.data_files: no such file"):
        Components.resolve(cfg, make_registry()).source("train")


@pytest.mark.parametrize("streaming", [False, True])
def test_a_missing_text_field_lists_the_columns(tmp_path, source, streaming):
    data = write_jsonl(tmp_path / "a.jsonl", [{"body": "x", "id": 1}])
    src = source(path="json", data_files=data, field="txt", streaming=streaming)
    with pytest.raises(PipelineError, match=r"no column 'txt' \(field 'txt'\); its columns: 'body', 'id'"):
        list(src.documents())


def test_nested_fields_and_values_that_are_not_text(tmp_path, source):
    data = write_jsonl(tmp_path / "a.jsonl", [{"meta": {"text": "inner"}}, {"meta": {"text": None}}])
    docs = source(path="json", data_files=data, field="meta.text").documents()
    assert next(docs).text == "inner"
    with pytest.raises(PipelineError, match=r"json\[train\]\[1\]: field 'meta.text' is null, not a string"):
        next(docs)
    numbers = write_jsonl(tmp_path / "n.jsonl", [{"text": 1}, {"text": 2}])
    with pytest.raises(
        PipelineError, match=r"json\[train\] shard 0 row 0: field 'text' is a number, not a string"
    ):
        list(source(path="json", data_files=numbers, streaming=True).documents())


@pytest.mark.parametrize("streaming", [False, True])
def test_a_hub_name_offline_says_what_to_do(tmp_path, source, streaming):
    src = source(path="someone/not-cached-here", streaming=streaming)
    with pytest.raises(PipelineError) as e:
        list(src.documents())
    message = str(e.value)
    assert "Birdie reads Hugging Face datasets offline" in message
    assert "save_to_disk(DIR)" in message and "set data_files to local files" in message


def test_an_unknown_split_of_a_local_directory(tmp_path, source):
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", rows("t", 2))
    with pytest.raises(PipelineError, match=r"has no split 'validation'.*train") as e:
        list(source(path=str(tmp_path / "data"), split="validation").documents())
    assert "offline" not in str(e.value)
    assert sorted(d.text for d in source(path=str(tmp_path / "data")).documents()) == ["t 0", "t 1"]
