"""The files source's formats: Parquet, Arrow IPC (file, stream, Feather 2), gzip / bzip2 / xz / zstd text.

Every error names the file and the line (text, JSON lines) or the row (Parquet, Arrow).
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import sys

import pytest

from birdie_core.builtins.sources import FileSource, columnar
from birdie_core.errors import ConfigError, PipelineError
from birdie_core.interfaces import Shard
from birdie_core.tools.files import COMPRESSIONS, open_compressed

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
zstandard = pytest.importorskip("zstandard")

STRIDE = 2**40


def files(*paths, **kw) -> FileSource:
    return FileSource(FileSource.Config(name="files", paths=[str(p) for p in paths], **kw))


def texts(source, epoch: int = 0) -> list[str]:
    return [d.text for d in sorted(source.documents(Shard(0, 1), epoch), key=lambda d: d.index)]


# ---------------------------------------------------------------------------------------------------------
# Parquet and Arrow
# ---------------------------------------------------------------------------------------------------------

ROWS = [f"row {i}: some text" if i % 5 else "" for i in range(23)]
TABLE_DATA = {
    "id": list(range(23)),
    "text": ROWS,
    "meta": [{"body": f"body {i}", "n": i} for i in range(23)],
    "messages": [[f"hi {i}", f"reply {i}"] for i in range(23)],
}


def write_arrow_file(path, table, batch_rows=5):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=batch_rows)


def write_arrow_stream(path, table, batch_rows=5):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=batch_rows)


def write_table(path, table):
    if path.suffix == ".parquet":
        pq.write_table(table, path, row_group_size=4)
    elif path.suffix == ".arrows":
        write_arrow_stream(path, table)
    else:
        write_arrow_file(path, table)


@pytest.mark.parametrize("name", ["t.parquet", "t.arrow", "t.feather", "t.arrows"])
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("text", ROWS),
        ("meta.body", [m["body"] for m in TABLE_DATA["meta"]]),
        ("messages.1", [m[1] for m in TABLE_DATA["messages"]]),
    ],
)
def test_rows_are_documents(tmp_path, name, field, expected):
    path = tmp_path / name
    write_table(path, pa.table(TABLE_DATA))
    source = files(path, field=field)
    docs = sorted(source.documents(), key=lambda d: d.index)
    kept = [(i, t) for i, t in enumerate(expected) if t]
    assert [(d.index, d.text) for d in docs] == kept
    assert docs[1].origin == f"{path} row {kept[1][0]}"
    assert source.stats["documents"] == len(kept) and source.stats["empty"] == len(expected) - len(kept)


def test_a_stream_named_arrow_and_dictionary_strings(tmp_path):
    # Hugging Face datasets saves Arrow *streams* as .arrow: the format is told by content
    path = tmp_path / "data-00000-of-00001.arrow"
    table = pa.table({"text": pa.array(["a", "b", "a", "c"]).dictionary_encode()})
    write_arrow_stream(path, table, batch_rows=3)
    assert texts(files(path)) == ["a", "b", "a", "c"]


def test_forced_format_and_a_column_name_with_dots(tmp_path):
    path = tmp_path / "rows.bin"
    pq.write_table(pa.table({"doc.text": ["x", "y"]}), path)
    assert texts(files(path, format="parquet", field="doc.text")) == ["x", "y"]


def test_large_row_groups_are_read_in_bounded_batches(tmp_path, monkeypatch):
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(1000)]}), path, row_group_size=1000)
    monkeypatch.setattr(columnar, "BATCH_ROWS", 64)
    with columnar.TextColumn(str(path), "parquet", "text") as column:
        sizes = [len(t) for _, t in column.batches()]
    assert max(sizes) <= 64 and sum(sizes) == 1000
    assert texts(files(path)) == [f"t{i}" for i in range(1000)]


@pytest.mark.parametrize("name", ["t.parquet", "t.arrow", "t.arrows"])
@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("txt", r"no column 'txt' \(columns: id, text, meta, messages\); did you mean 'text'\?"),
        ("meta.bdy", r"no field 'bdy' in column 'meta' \(fields: body, n\); did you mean 'body'\?"),
        ("meta.n", r"field 'meta\.n' is of type int64, not a string column"),
        ("id", r"field 'id' is of type int64, not a string column"),
        ("messages.x", r"cannot select 'x' in column 'messages', which is a list"),
        ("text.x", r"cannot select 'x' in column 'text', which is string"),
    ],
)
def test_schema_errors_name_the_file_and_the_columns(tmp_path, name, field, message):
    path = tmp_path / name
    write_table(path, pa.table(TABLE_DATA))
    with pytest.raises(PipelineError, match=rf"{re.escape(name)}: {message}"):
        list(files(path, field=field).documents())


@pytest.mark.parametrize("name", ["t.parquet", "t.arrow", "t.arrows"])
def test_a_null_text_is_an_error_naming_the_row(tmp_path, name):
    # as a JSON null is for JSON lines: a null is not an empty text, it is a text that is missing
    path = tmp_path / name
    write_table(path, pa.table({"text": ["a", "b", "c", "d", "e", None, "g"]}))
    with pytest.raises(PipelineError, match=rf"{name} row 5: field 'text' is null, not a string"):
        list(files(path).documents())


def test_a_list_too_short_is_an_error_naming_the_rows(tmp_path):
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.table({"messages": [["a", "b"], ["c"]]}), path)
    with pytest.raises(
        PipelineError, match=r"chat\.parquet rows 0 to 1: field 'messages\.1': a list has no item 1"
    ):
        list(files(path, field="messages.1").documents())


@pytest.mark.parametrize("name", ["bad.parquet", "bad.arrow"])
def test_a_corrupt_file_is_an_error_naming_it(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a columnar file at all" * 10)
    with pytest.raises(PipelineError, match=rf"{name}: not a readable (Parquet|Arrow IPC) file"):
        list(files(path).documents())


def test_feather_version_1_is_refused_with_the_conversion(tmp_path):
    path = tmp_path / "old.feather"
    path.write_bytes(b"FEA1" + bytes(60))
    with pytest.raises(PipelineError, match=r"old\.feather: a Feather version 1 file.*write_feather"):
        list(files(path).documents())


def test_a_truncated_parquet_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "cut.parquet"
    pq.write_table(pa.table({"text": [f"text {i}" for i in range(5000)]}), path, row_group_size=1000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PipelineError, match=r"cut\.parquet: not a readable Parquet file"):
        list(files(path).documents())


def test_compressed_columnar_files_are_refused_when_built(tmp_path):
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "t.parquet")
    (tmp_path / "t.parquet.gz").write_bytes(gzip.compress((tmp_path / "t.parquet").read_bytes()))
    with pytest.raises(ConfigError, match=r"paths\[0\].*gzip-compressed parquet file is not read"):
        files(tmp_path / "t.parquet.gz")


def test_missing_pyarrow_is_a_clear_error_when_built(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["x"]}), path)
    for name in ("pyarrow", "pyarrow.parquet", "pyarrow.ipc"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(
        PipelineError, match=r"t\.parquet: .*needs pyarrow.*pip install 'birdie-core\[parquet\]'"
    ):
        files(path)


def test_row_groups_change_order_every_epoch(tmp_path):
    # one large file cannot be shared by file nor reordered by the file order: its row groups are
    path = tmp_path / "one.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(60)]}), path, row_group_size=5)
    source = files(path)
    orders = [[d.index for d in source.documents(Shard(0, 1), epoch)] for epoch in range(3)]
    assert all(sorted(o) == list(range(60)) for o in orders)
    assert len({tuple(o) for o in orders}) == 3
    assert orders[0] == [d.index for d in source.documents(Shard(0, 1), 0)]  # the same for a resume


# ---------------------------------------------------------------------------------------------------------
# Compressed text and JSON lines
# ---------------------------------------------------------------------------------------------------------

COMPRESS = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda data: zstandard.ZstdCompressor().compress(data),
    ".zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}
PROSE = "first paragraph\nstill first\n\nsecond ☃\n\n\nthird\n"
RECORDS = [{"text": f"record {i} ☃"} for i in range(50)]
JSONL = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS)


@pytest.mark.parametrize("suffix", list(COMPRESS))
@pytest.mark.parametrize(
    ("name", "content", "kw", "expected"),
    [
        ("p.txt", PROSE, {}, ["first paragraph\nstill first", "second ☃", "third"]),
        ("l.txt", PROSE, {"unit": "line"}, ["first paragraph", "still first", "second ☃", "third"]),
        ("f.txt", PROSE, {"unit": "file"}, [PROSE]),
        ("r.jsonl", JSONL, {}, [r["text"] for r in RECORDS]),
    ],
)
def test_every_compression_of_every_text_format(tmp_path, suffix, name, content, kw, expected):
    path = tmp_path / (name + suffix)
    path.write_bytes(COMPRESS[suffix](content.encode()))
    source = files(path, **kw)
    assert texts(source) == expected
    if name == "r.jsonl":
        assert sorted(source.documents(), key=lambda d: d.index)[3].origin == f"{path}:4"


def test_concatenated_zstd_frames_are_read_whole(tmp_path):
    path = tmp_path / "frames.jsonl.zst"
    half = len(JSONL) // 2
    cut = JSONL.index("\n", half) + 1  # two frames, as parallel compressors and `cat a.zst b.zst` make
    frames = [zstandard.ZstdCompressor().compress(part.encode()) for part in (JSONL[:cut], JSONL[cut:])]
    path.write_bytes(b"".join(frames))
    assert texts(files(path)) == [r["text"] for r in RECORDS]


BIG = "".join(json.dumps({"text": f"line {i} " + "x" * 40}) + "\n" for i in range(20000)).encode()


@pytest.mark.parametrize(
    ("suffix", "kind"), [(".gz", "gzip"), (".bz2", "bzip2"), (".xz", "xz"), (".zst", "zstd")]
)
def test_a_truncated_stream_names_the_file_and_line(tmp_path, suffix, kind):
    data = COMPRESS[suffix](BIG)
    path = tmp_path / ("cut.jsonl" + suffix)
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        PipelineError, match=rf"cut\.jsonl\{suffix}: the {kind} stream is truncated.* after line \d+"
    ):
        list(files(path).documents())
    whole = tmp_path / ("cut.txt" + suffix)
    whole.write_bytes(data[: len(data) // 2])
    with pytest.raises(PipelineError, match=rf"cut\.txt\{suffix}: the {kind} stream is truncated"):
        list(files(whole, unit="file").documents())


@pytest.mark.parametrize(
    ("suffix", "kind"), [(".gz", "gzip"), (".bz2", "bzip2"), (".xz", "xz"), (".zst", "zstd")]
)
def test_a_file_not_of_its_compression_is_an_error(tmp_path, suffix, kind):
    path = tmp_path / ("fake.txt" + suffix)
    path.write_text("this was never compressed\n" * 100)
    with pytest.raises(PipelineError, match=rf"fake\.txt\{suffix}: the {kind} stream is .*corrupt"):
        list(files(path).documents())


def test_missing_zstandard_is_a_clear_error_when_built(tmp_path, monkeypatch):
    path = tmp_path / "t.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(JSONL.encode()))
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(PipelineError, match=r"t\.jsonl\.zst: .*zstandard.*pip install 'birdie-core\[zstd\]'"):
        files(path)


def test_zip_is_refused_and_json_needs_a_format(tmp_path):
    (tmp_path / "a.zip").write_bytes(b"PK\x03\x04")
    (tmp_path / "b.json").write_text('{"text": "x"}\n')
    with pytest.raises(ConfigError) as info:
        files(tmp_path / "a.zip", tmp_path / "b.json")
    messages = {i.path: i.message for i in info.value.issues}
    assert "extract them" in messages["paths[0]"] and "set format: jsonl" in messages["paths[1]"]
    assert texts(files(tmp_path / "b.json", format="jsonl")) == ["x"]


def test_indices_are_per_file_and_stable_across_epochs(tmp_path):
    paths = []
    for k in range(4):
        p = tmp_path / f"{k}.jsonl"
        p.write_text("".join(json.dumps({"text": f"{k}/{r}"}) + "\n" for r in range(3)))
        paths.append(p)
    source = files(*paths)
    for epoch in range(3):
        got = {d.index: d.text for d in source.documents(Shard(0, 1), epoch)}
        assert got == {k * STRIDE + r: f"{k}/{r}" for k in range(4) for r in range(3)}


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zst"])
def test_open_compressed_by_content(tmp_path, suffix):
    # a plugin's reader that recognises compressions by content accepts those it asks for, and only those
    path = tmp_path / "data.bin"
    path.write_bytes(COMPRESS[suffix](b"hello\nworld\n"))
    with open_compressed(str(path), compressions=COMPRESSIONS) as f:
        assert list(f) == [b"hello\n", b"world\n"]
    if suffix != ".gz":
        with pytest.raises(
            PipelineError, match=r"data\.bin: this is a \w+ file; only plain and gzip-compressed"
        ):
            open_compressed(str(path))
