"""Built-in sources: the embedded corpus, files (text / JSON lines / gzip), callables, Hugging Face.

More on the files source: test_file_source_formats.py (Parquet, Arrow, compressions) and
test_file_sharding.py (file order per epoch, file-level sharding).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections import Counter
from pydoc_data.topics import topics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from birdie_core.builtins.sources import (
    CallableSource,
    EmbeddedSource,
    FileSource,
    HuggingFaceSource,
    select_field,
)
from birdie_core.errors import ConfigError, PipelineError
from birdie_core.interfaces import Document, Shard, Source


def read_all(source, count: int = 1) -> list[Document]:
    """Every document of every shard, checking that the shards partition the split."""
    docs = []
    for i in range(count):
        part = list(source.documents(Shard(i, count), epoch=0))
        # the files source shares whole files among readers when it can, so only its striding follows owns()
        striding = not isinstance(source, FileSource) or len(source.files) < count
        assert not striding or all(Shard(i, count).owns(d.index) for d in part)
        docs += part
    indices = [d.index for d in docs]
    assert len(indices) == len(set(indices)), "a document was read by two shards"
    return sorted(docs, key=lambda d: d.index)


def texts(source, count: int = 1) -> list[str]:
    return [d.text for d in read_all(source, count)]


def files(*paths, **kw) -> FileSource:
    return FileSource(FileSource.Config(name="files", paths=[str(p) for p in paths], **kw))


# ---------------------------------------------------------------------------------------------------------
# embedded
# ---------------------------------------------------------------------------------------------------------


def embedded(split: str = "train", **kw) -> EmbeddedSource:
    return EmbeddedSource(EmbeddedSource.Config(name="embedded", split=split, **kw))


def test_embedded_splits():
    train, valid = embedded("train"), embedded("validation")
    assert isinstance(train, Source)
    n = len(topics)
    assert len(valid) == (n + 9) // 10 and len(train) == n - len(valid)
    t, v = read_all(train), read_all(valid)
    assert [d.index for d in t] == list(range(len(train)))
    assert [d.index for d in v] == list(range(len(valid)))
    keys = sorted(topics)
    assert [d.origin for d in v] == [f"pydoc_data.topics[{k!r}]" for k in keys[::10]]
    assert {d.origin for d in t}.isdisjoint(d.origin for d in v)
    total = sum(len(d.text) for d in t + v)
    assert total == sum(map(len, topics.values())) and 400_000 < total < 600_000


def test_embedded_two_ranks_two_workers_cover_every_document_once():
    source = embedded()
    seen = Counter()
    for rank in range(2):
        for worker in range(2):
            shard = Shard(rank * 2 + worker, 4)
            seen.update(d.index for d in source.documents(shard, epoch=0))
    assert sorted(seen) == list(range(len(source))) and set(seen.values()) == {1}


def test_embedded_is_deterministic_and_repeats():
    assert texts(embedded()) == texts(embedded(), count=3)
    repeated = embedded("validation", repeat=3)
    docs = read_all(repeated, count=2)
    n = len(embedded("validation"))
    assert [d.index for d in docs] == list(range(3 * n))
    assert [d.text for d in docs] == texts(embedded("validation")) * 3


def test_embedded_unknown_split():
    with pytest.raises(ValidationError, match="split"):
        EmbeddedSource.Config(name="embedded", split="test")
    with pytest.raises(ConfigError) as info:
        EmbeddedSource(EmbeddedSource.Config.model_construct(name="embedded", split="test", repeat=1))
    assert info.value.issues[0].path == "split"


# ---------------------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------------------

PROSE = "\ufeffFirst paragraph,\r\nstill first.\r\n\r\n  \nSecond — ünïcode.\n\n\n\nThird\nand last\n"


def test_text_paragraphs_lines_and_files(tmp_path):
    p = tmp_path / "prose.txt"
    p.write_text(PROSE, encoding="utf-8", newline="")
    paragraphs = files(p)
    docs = read_all(paragraphs)
    assert [d.text for d in docs] == [
        "First paragraph,\nstill first.",
        "Second — ünïcode.",
        "Third\nand last",
    ]
    assert [d.origin for d in docs] == [f"{p}:1", f"{p}:5", f"{p}:9"]

    lines = files(p, unit="line")
    docs = read_all(lines)
    assert [d.text for d in docs] == [
        "First paragraph,",
        "still first.",
        "Second — ünïcode.",
        "Third",
        "and last",
    ]
    assert docs[2].origin == f"{p}:5"
    assert lines.stats["empty"] == 5 and lines.stats["documents"] == 5  # blank lines skipped, but counted

    whole = files(p, unit="file")
    assert texts(whole) == [PROSE[1:]]


def test_paths_globs_and_indices_across_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    for name in ["b.txt", "a.txt", "c.md"]:
        (tmp_path / "data" / name).write_text(f"{name} one\n\n{name} two\n")
    source = files("data/c.md", "data/*.txt", "data/a.txt")  # a.txt matched twice: read once
    docs = read_all(source, count=3)
    assert [d.text for d in docs] == [
        "c.md one",
        "c.md two",
        "a.txt one",
        "a.txt two",
        "b.txt one",
        "b.txt two",
    ]
    # record r of the file at position p of the expanded list is p * 2**40 + r
    assert [d.index for d in docs] == [p * 2**40 + r for p in range(3) for r in range(2)]
    assert docs[3].origin == "data/a.txt:3"


def test_jsonl_dotted_field_and_gzip(tmp_path):
    rows = [{"entry": {"text": f"doc {i} ☃"}, "id": i} for i in range(7)]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n"
    plain = tmp_path / "a.jsonl"
    plain.write_text(body, encoding="utf-8")
    zipped = tmp_path / "b.jsonl.gz"
    with gzip.open(zipped, "wt", encoding="utf-8") as f:
        f.write(body)
    source = files(plain, zipped, field="entry.text")
    for count in (1, 2, 3):
        docs = read_all(source, count)
        assert [d.text for d in docs] == [r["entry"]["text"] for r in rows] * 2
        assert [d.index for d in docs] == [p * 2**40 + r for p in range(2) for r in range(7)]
    assert docs[8].origin == f"{zipped}:2"


def test_text_gzip_and_forced_format(tmp_path):
    p = tmp_path / "notes.txt.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("alpha\nbeta\n\ngamma\n")
    assert texts(files(p)) == ["alpha\nbeta", "gamma"]
    q = tmp_path / "records.data"
    q.write_text('{"text": "forced"}\n')
    assert texts(files(q, format="jsonl")) == ["forced"]
    assert texts(files(q)) == ['{"text": "forced"}']  # auto: unknown extension is text


def test_empty_json_texts_keep_their_index(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_text('{"text": "a"}\n{"text": ""}\n{"text": "c"}\n')
    source = files(p)
    docs = read_all(source)
    assert [(d.index, d.text) for d in docs] == [(0, "a"), (2, "c")]
    assert source.stats["empty"] == 1


def test_invalid_utf8_is_replaced_and_counted(tmp_path, caplog):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"good line\nbad \xff\xfe byte\nalso \xc3 bad\n")
    source = files(p, unit="line")
    with caplog.at_level("WARNING"):
        assert texts(source) == ["good line", "bad \ufffd\ufffd byte", "also \ufffd bad"]
    assert source.stats["invalid_utf8"] == 2
    assert f"{p}:2" in caplog.text  # one warning per file, naming the first bad line


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        ('{"text": "ok"}\n{"text": "fine"}\n{"text": oops}\n', "text", r"bad\.jsonl:3: invalid JSON"),
        (
            '{"text": "ok"}\n{"body": "no text"}\n',
            "text",
            r"bad\.jsonl:2: no field 'text' at the top level \(keys: body\)",
        ),
        (
            '{"entry": {"txt": "x"}}\n',
            "entry.text",
            r"bad\.jsonl:1: no field 'text' in 'entry' .*did you mean 'txt'",
        ),
        ('{"text": 12}\n', "text", r"bad\.jsonl:1: field 'text' is a number, not a string"),
        ('{"text": null}\n', "text", r"bad\.jsonl:1: field 'text' is null"),
        ('["text"]\n', "text", r"bad\.jsonl:1: expected a JSON object"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, content, field, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(content)
    with pytest.raises(PipelineError, match=message):
        read_all(files(p, field=field))


def test_truncated_gzip_names_the_file(tmp_path):
    good = gzip.compress(b"".join(b'{"text": "line %d"}\n' % i for i in range(2000)))
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(good[: len(good) // 2])
    with pytest.raises(PipelineError, match=r"cut\.jsonl\.gz: the gzip stream is truncated or corrupt"):
        read_all(files(p))
    q = tmp_path / "cut.txt.gz"
    q.write_bytes(good[: len(good) // 2])
    with pytest.raises(PipelineError, match=r"cut\.txt\.gz: the gzip stream is truncated"):
        read_all(files(q, unit="file"))
    r = tmp_path / "fake.txt.gz"
    r.write_text("not gzip at all")
    with pytest.raises(PipelineError, match=r"fake\.txt\.gz"):
        read_all(files(r))


def test_missing_paths_are_config_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir").mkdir()
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(ConfigError) as info:
        files("missing.txt", "nothing/*.jsonl", "dir", "x.json")
    issues = {i.path: i.message for i in info.value.issues}  # every problem reported at once
    assert "'missing.txt' does not exist" in issues["paths[0]"]
    assert "'nothing/*.jsonl' matches no file" in issues["paths[1]"]
    assert "is a directory" in issues["paths[2]"]
    assert "set format: jsonl" in issues["paths[3]"]
    with pytest.raises(ValidationError):
        FileSource.Config(name="files", paths=[])
    with pytest.raises(ValidationError, match="field selector"):
        FileSource.Config(name="files", paths=["a"], field="entry..text")


def test_file_removed_after_construction(tmp_path):
    p = tmp_path / "gone.txt"
    p.write_text("x\n")
    source = files(p)
    p.unlink()
    with pytest.raises(PipelineError, match=r"gone\.txt: cannot open"):
        read_all(source)


@settings(max_examples=40, deadline=None)
@given(
    paragraphs=st.lists(st.text(alphabet="ab é\n", min_size=0, max_size=12), max_size=12),
    unit=st.sampled_from(["line", "paragraph", "file"]),
    count=st.integers(1, 4),
)
def test_files_shards_partition_the_documents(tmp_path_factory, paragraphs, unit, count):
    p = tmp_path_factory.mktemp("prop") / "t.txt"
    p.write_text("\n\n".join(paragraphs), encoding="utf-8")
    whole = read_all(files(p, unit=unit))
    sharded = read_all(files(p, unit=unit), count)
    assert [(d.index, d.text, d.origin) for d in sharded] == [(d.index, d.text, d.origin) for d in whole]


def test_select_field():
    record = {"a": {"b": [{"c": "deep"}]}, "t": "top"}
    assert select_field(record, "t") == "top"
    assert select_field(record, "a.b.0.c") == "deep"
    with pytest.raises(ValueError, match="cannot select 'x' in 't'"):
        select_field(record, "t.x")


# ---------------------------------------------------------------------------------------------------------
# callable
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def helpers():
    from tests.builtins import document_functions

    return document_functions


def callable_source(**kw) -> CallableSource:
    return CallableSource(CallableSource.Config(name="callable", **kw))


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_callable_sharded_by_function(helpers, count):
    source = callable_source(function="tests.builtins.document_functions:sharded")
    docs = read_all(source, count)
    assert [d.text for d in docs] == helpers.TEXTS["train"]
    assert [d.index for d in docs] == list(range(10))
    part = list(source.documents(Shard(1, count), 0))
    assert part[0].origin.startswith("tests.builtins.document_functions:sharded(split='train', worker_id=1, ")


@pytest.mark.parametrize("count", [1, 3])
def test_callable_sharded_here_with_field_or_grabber(helpers, count):
    by_field = callable_source(
        function="tests.builtins.document_functions:unsharded",
        sharded_by_function=False,
        text_field="entry.text",
        split="validation",
    )
    assert texts(by_field, count) == helpers.TEXTS["validation"]
    by_grabber = callable_source(
        function="tests.builtins.document_functions.unsharded",
        sharded_by_function=False,
        text_grabber="tests.builtins.document_functions:grab",
    )
    assert texts(by_grabber, count) == [t.upper() for t in helpers.TEXTS["train"]]
    plain_dicts = callable_source(
        function="tests.builtins.document_functions:records", sharded_by_function=False
    )
    assert texts(plain_dicts, count) == helpers.TEXTS["train"]


def test_callable_from_callables():
    data = [f"doc {i}" for i in range(5)]
    source = CallableSource.from_callables(
        lambda split, worker_id, num_workers, rng_seed: data[worker_id::num_workers],
        text_grabber=lambda x: x + "!",
        split="validation",
    )
    assert texts(source, 2) == [d + "!" for d in data]
    assert source.config.split == "validation"
    unsharded = CallableSource.from_callables(lambda split: iter(data), sharded_by_function=False)
    assert texts(unsharded, 3) == data


def test_callable_empty_items_are_counted(helpers):
    source = callable_source(
        function="tests.builtins.document_functions:with_empty", sharded_by_function=False
    )
    docs = read_all(source)
    assert [(d.index, d.text) for d in docs] == [(0, "first"), (2, "third")]
    assert source.stats["empty"] == 1


def test_callable_bad_import_strings(helpers, tmp_path, monkeypatch):
    def problem(**kw) -> tuple[str, str]:
        with pytest.raises(ConfigError) as info:
            callable_source(**kw)
        (issue,) = info.value.issues
        return issue.path, issue.message

    path, msg = problem(function="no_such_module_xyz:docs")
    assert path == "function" and "no module named 'no_such_module_xyz'" in msg
    path, msg = problem(function="tests.builtins.document_functions:shardd")
    assert path == "function" and "has no attribute 'shardd'; did you mean 'sharded'" in msg
    path, msg = problem(function="tests.builtins.document_functions:NOT_A_FUNCTION")
    assert "is a list, not a function" in msg
    path, msg = problem(
        function="tests.builtins.document_functions:records",
        text_grabber="tests.builtins.document_functions:nope",
    )
    assert path == "text_grabber"
    path, msg = problem(
        function="tests.builtins.document_functions:unsharded"
    )  # sharded_by_function needs worker_id, ...
    assert "sharded_by_function: false" in msg

    (tmp_path / "birdie_explodes_on_import.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path, msg = problem(function="birdie_explodes_on_import:docs")
    assert "raised RuntimeError: boom at import" in msg

    with pytest.raises(ValidationError, match="not an import string"):
        CallableSource.Config(name="callable", function="docs")
    with pytest.raises(ValidationError, match="not both"):
        CallableSource.Config(name="callable", function="m:f", text_field="text", text_grabber="m:g")


def test_callable_bad_items_name_their_origin(helpers):
    with pytest.raises(
        PipelineError, match=r"numbers\(split='train'\)\[0\]: item is a number; set text_grabber"
    ):
        read_all(
            callable_source(function="tests.builtins.document_functions:numbers", sharded_by_function=False)
        )
    with pytest.raises(PipelineError, match="returned a number, not a string"):
        read_all(
            callable_source(
                function="tests.builtins.document_functions:records",
                sharded_by_function=False,
                text_grabber="tests.builtins.document_functions:grab_badly",
            )
        )
    with pytest.raises(PipelineError, match="no field 'text'.*set text_field or text_grabber"):
        read_all(
            callable_source(function="tests.builtins.document_functions:unsharded", sharded_by_function=False)
        )
    with pytest.raises(PipelineError, match="raised RuntimeError while producing item 1: the disk fell off"):
        read_all(
            callable_source(function="tests.builtins.document_functions:broken", sharded_by_function=False)
        )


# ---------------------------------------------------------------------------------------------------------
# huggingface
# ---------------------------------------------------------------------------------------------------------


def test_huggingface_without_datasets_is_a_clear_error(monkeypatch):
    find_spec = importlib.util.find_spec
    # as if `datasets` were not installed, whether it is or not
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "datasets" else find_spec(name, *a)
    )
    config = HuggingFaceSource.Config(name="huggingface", path="roneneldan/TinyStories", config_name=None)
    with pytest.raises(PipelineError, match="needs the `datasets` package.*pip install datasets"):
        HuggingFaceSource(config)
