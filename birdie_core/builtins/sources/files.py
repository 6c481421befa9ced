"""``files``: text, JSON-lines, Parquet and Arrow files, compressed or not, sharded by file or by record."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, field_validator

from birdie_core.builtins.sources.columnar import TextColumn, require_pyarrow
from birdie_core.builtins.sources.common import (
    FieldError,
    emit,
    new_stats,
    select_field,
    type_name,
    validate_selector,
)
from birdie_core.errors import ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, Document, Shard, SourceConfig
from birdie_core.tools.files import (
    COMPRESSIONS,
    DECOMPRESSION_ERRORS,
    DecompressionError,
    compression_of,
    expand_paths,
    open_compressed,
    require_decompressor,
)
from birdie_core.tools.shuffle import epoch_permutation

log = logging.getLogger(__name__)

#: record ``r`` of the file at position ``p`` of the expanded list is ``Document.index`` ``p * INDEX_STRIDE + r``
INDEX_STRIDE = 1 << 40
#: so that every index fits the int64 in which the pipeline reports it
MAX_FILES = (1 << 63) // INDEX_STRIDE

_TABLE_FORMATS = ("parquet", "arrow")
_FORMAT_OF_SUFFIX = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
_UNSUPPORTED_SUFFIXES = {
    ".json": "cannot tell whether it holds JSON lines; set format: jsonl (one object per line) or text",
    ".zip": "zip archives are not read; extract them",
}


def _suffix(path: str) -> str:
    """The extension that says what a file holds, looking through a compression suffix."""
    stem = path.lower()
    if compression_of(stem) is not None:
        stem = os.path.splitext(stem)[0]
    return os.path.splitext(stem)[1]


def _strip_eol(line: str) -> str:
    line = line.removesuffix("\n")
    line = line.removesuffix("\r")
    return line


class FileSourceConfig(SourceConfig):
    """Parameters of the ``files`` source: which files, what they hold, what one document is."""

    paths: list[str] = Field(
        min_length=1, description="Files or glob patterns, relative to the working directory."
    )
    format: Literal["auto", "text", "jsonl", "parquet", "arrow"] = Field(
        "auto",
        description="'text', 'jsonl', 'parquet', 'arrow' (IPC file or stream, Feather 2), or 'auto' (from "
        "the extension, looking through .gz, .bz2, .xz, .zst).",
    )
    field: str = Field(
        "text", description="Dotted selector of the text in each JSON object or Parquet/Arrow row."
    )
    unit: Literal["line", "paragraph", "file"] = Field(
        "paragraph", description="What one document of a text file is."
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("field")
    @classmethod
    def _selector(cls, v: str) -> str:
        return validate_selector(v)


class FileSource:
    """Documents from local files, read as a stream: text, JSON lines, Parquet, Arrow.

    * ``paths`` are files or glob patterns (``**`` allowed), relative to the working directory; each pattern
      expands to its matching files in sorted order, the patterns keeping their order. A file matched twice
      is read once. A path or pattern matching no file is a :class:`ConfigError` when the source is built.
    * ``format``: ``jsonl`` (one JSON object per line; the text is at ``field``, a dotted selector),
      ``text``, ``parquet`` and ``arrow`` (the text is the column ``field`` names; dots walk into struct
      columns, a number into a list), or ``auto``: ``.jsonl`` / ``.ndjson`` / ``.jsonlines`` are JSON lines, ``.parquet`` Parquet,
      ``.arrow`` / ``.arrows`` / ``.feather`` / ``.ipc`` Arrow IPC (file or stream), other files text. Text
      and JSON lines may be compressed: ``.gz``, ``.bz2``, ``.xz``, ``.zst`` / ``.zstd`` (the compression
      suffix is looked through and the file decompressed on the fly; zstd needs ``zstandard``, Parquet and
      Arrow need ``pyarrow``: a missing one is a :class:`PipelineError` with the command that installs it).
    * ``unit`` (text files): a document per ``line``, per ``paragraph`` (separated by blank lines), or per
      ``file``. Each row of a Parquet or Arrow file is a document.

    **Indices.** Record ``r`` of the file at position ``p`` of the expanded list is document
    ``p * 2**40 + r`` (:data:`INDEX_STRIDE`), whatever order an epoch reads it in: ``r`` counts the
    non-blank lines of a JSON-lines or line-unit file, the paragraphs of a paragraph-unit file, the rows
    (from 0) of a Parquet or Arrow file; a whole file is record 0. A record whose text is empty keeps its
    number but is skipped and counted in ``stats["empty"]``, as are empty lines in ``line`` mode and empty
    files.

    **Order and sharding.** Each epoch visits the files in the order ``epoch_permutation(len(files),
    shuffle_seed, epoch)``: a new order every epoch, the same in every process. With at least as many files
    as readers (``len(files) >= shard.count``) reader ``k`` opens only the files at positions ``p`` with
    ``p % shard.count == k`` (the same files every epoch); with fewer, every reader reads every file and
    keeps the records it owns (``shard.owns(index)``), except that a Parquet or Arrow file with at least as
    many row groups (record batches) as readers is shared by row group: group ``g`` of the file at ``p`` goes
    to reader ``(p + g) % shard.count``. The row groups (record batches) of a Parquet or Arrow IPC file are
    read in a per-epoch order too. Either way each record is read by exactly one reader every epoch.

    **Errors.** Bytes that are not UTF-8 are replaced by U+FFFD and the affected lines counted in
    ``stats["invalid_utf8"]`` (with one warning per file naming its first line): one bad byte in a web crawl
    should not stop a training run. Invalid JSON, a missing or non-string field (JSON ``null`` and a Parquet
    or Arrow null included), a column that does not exist or does not hold strings, and a truncated or
    corrupt compressed stream stop it with a :class:`PipelineError` naming the file and the line or row.
    """

    Config = FileSourceConfig

    def __init__(self, config: FileSourceConfig):
        self.config = config
        self.stats = new_stats()
        paths = expand_paths(config.paths, directory_hint="*.jsonl", reject=self._unreadable)
        #: (path as shown, format) of each file, in the order its position in the index counts
        self.files: list[tuple[str, str]] = [(p, self._format_of(p)) for p in paths]
        if len(self.files) > MAX_FILES:
            raise ConfigError(
                [ConfigIssue("paths", f"{len(self.files)} files; at most {MAX_FILES} can be numbered")]
            )
        for path, fmt in self.files:  # a missing package is said now, not by a worker at its first read
            if fmt in _TABLE_FORMATS:
                require_pyarrow(path)
                break
        for path, _ in self.files:
            if compression_of(path) == "zstd":
                require_decompressor("zstd", path)
                break
        self._warned_utf8: set[str] = set()

    def _format_of(self, path: str) -> str:
        if self.config.format != "auto":
            return self.config.format
        return _FORMAT_OF_SUFFIX.get(_suffix(path), "text")

    def _unreadable(self, path: str) -> str | None:
        suffix = _suffix(path)
        if suffix in _UNSUPPORTED_SUFFIXES and (self.config.format == "auto" or suffix == ".zip"):
            return _UNSUPPORTED_SUFFIXES[suffix]
        compression = compression_of(path)
        if compression is not None and self._format_of(path) in _TABLE_FORMATS:
            return (
                f"a {compression}-compressed {self._format_of(path)} file is not read (these files are "
                f"compressed inside); decompress it"
            )
        return None

    # -- which files, in which order ----------------------------------------------------------------------
    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        seed = 0 if self.config.shuffle_seed is None else self.config.shuffle_seed
        by_file = len(self.files) >= shard.count
        # a reader of whole files keeps every record of them; otherwise it keeps its share of each file
        within = WHOLE_SPLIT if by_file else shard
        for pos in epoch_permutation(len(self.files), seed, epoch).tolist():
            if by_file and pos % shard.count != shard.index:
                continue
            path, fmt = self.files[pos]
            base = pos * INDEX_STRIDE
            if fmt in _TABLE_FORMATS:
                yield from self._table(path, fmt, base, within, seed, epoch, pos)
            elif fmt == "jsonl":
                yield from self._jsonl(path, base, within)
            elif self.config.unit == "file":
                yield from self._whole_file(path, base, within)
            elif self.config.unit == "line":
                yield from self._text_lines(path, base, within)
            else:
                yield from self._paragraphs(path, base, within)

    # -- text and JSON lines ------------------------------------------------------------------------------
    def _lines(self, path: str) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) of ``path``, decompressing on the fly; read errors name the file."""
        lineno = 0
        with open_compressed(path, detect="suffix", compressions=COMPRESSIONS) as f:
            try:
                for lineno, raw in enumerate(f, 1):  # lineno also names the place of a read error
                    yield lineno, raw
            except DECOMPRESSION_ERRORS as e:
                raise PipelineError(
                    f"{path}: {_stream_problem(e)} after line {lineno}; re-create or re-download the file"
                ) from e
            except OSError as e:
                raise PipelineError(f"{path}: read error after line {lineno} ({e})") from e

    def _decode(self, raw: bytes, path: str, lineno: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.stats["invalid_utf8"] += 1
            if path not in self._warned_utf8:
                self._warned_utf8.add(path)
                log.warning(
                    "%s:%d: bytes that are not UTF-8 replaced by U+FFFD (counted in stats['invalid_utf8'])",
                    path,
                    lineno,
                )
            return raw.decode("utf-8", errors="replace")

    def _jsonl(self, path: str, base: int, shard: Shard) -> Iterator[Document]:
        selector = self.config.field
        i = base - 1
        for lineno, raw in self._lines(path):
            if not raw.strip():
                self.stats["empty"] += 1
                continue
            i += 1
            if not shard.owns(i):  # another shard's record: counted, never parsed
                continue
            origin = f"{path}:{lineno}"
            try:
                record = json.loads(self._decode(raw, path, lineno))
            except json.JSONDecodeError as e:
                raise PipelineError(f"{origin}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(record, dict):
                raise PipelineError(
                    f"{origin}: expected a JSON object with field {selector!r}, found {type_name(record)}"
                )
            try:
                text = select_field(record, selector)
            except FieldError as e:
                raise PipelineError(f"{origin}: {e}") from None
            yield from emit(self.stats, i, text, origin)

    def _whole_file(self, path: str, base: int, shard: Shard) -> Iterator[Document]:
        if not shard.owns(base):
            return
        with open_compressed(path, detect="suffix", compressions=COMPRESSIONS) as f:
            try:
                raw = f.read()
            except DECOMPRESSION_ERRORS as e:
                raise PipelineError(f"{path}: {_stream_problem(e)}; re-create or re-download the file") from e
        text = self._decode(raw, path, 1)
        yield from emit(self.stats, base, text.removeprefix("\ufeff"), path)

    def _text_lines(self, path: str, base: int, shard: Shard) -> Iterator[Document]:
        i = base - 1
        for lineno, raw in self._lines(path):
            if not raw.strip():
                self.stats["empty"] += 1
                continue
            i += 1
            if shard.owns(i):
                text = _strip_eol(self._decode(raw, path, lineno))
                if lineno == 1:
                    text = text.removeprefix("\ufeff")
                yield from emit(self.stats, i, text, f"{path}:{lineno}")

    def _paragraphs(self, path: str, base: int, shard: Shard) -> Iterator[Document]:
        index = base
        lines: list[str] = []
        start = 0  # first line of the current paragraph; 0 = between paragraphs
        owned = False
        for lineno, raw in self._lines(path):
            if not raw.strip():  # a blank line ends the paragraph
                if start:
                    if owned:
                        yield from emit(self.stats, index, "\n".join(lines), f"{path}:{start}")
                    index, start, lines = index + 1, 0, []
                continue
            if not start:
                start, owned = lineno, shard.owns(index)
            if owned:  # another shard's paragraph is only delimited, never kept in memory
                text = _strip_eol(self._decode(raw, path, lineno))
                lines.append(text.removeprefix("\ufeff") if lineno == 1 else text)
        if start and owned:
            yield from emit(self.stats, index, "\n".join(lines), f"{path}:{start}")

    # -- Parquet and Arrow --------------------------------------------------------------------------------
    def _table(
        self, path: str, fmt: str, base: int, shard: Shard, seed: int, epoch: int, pos: int
    ) -> Iterator[Document]:
        stats = self.stats
        count, owner = shard.count, shard.index
        with TextColumn(path, fmt, self.config.field) as column:
            parts = column.part_count
            order: list[int] | None = None
            stride = count > 1  # by row, unless the file has a row group for every reader
            if parts is not None:
                # a single large file still gets a new order every epoch, one row group at a time
                order = epoch_permutation(parts, seed, epoch, pos).tolist()
                if stride and parts >= count:
                    order = [g for g in order if (pos + g) % count == owner]
                    stride = False
            step = count if stride else 1
            for first, texts in column.batches(order):
                # the rows this reader owns are those whose index is ``owner`` modulo ``count``
                for j in range((owner - base - first) % count if stride else 0, len(texts), step):
                    text = texts[j]
                    if text:
                        stats["documents"] += 1
                        yield Document(base + first + j, text, f"{path} row {first + j}")
                    else:
                        stats["empty"] += 1

    def __repr__(self) -> str:
        return f"FileSource({len(self.files)} files)"


def _stream_problem(e: Exception) -> str:
    """What is wrong with a compressed stream, in words."""
    if isinstance(e, DecompressionError):  # bzip2, xz, zstd: the message names the compression
        return str(e)
    return f"the gzip stream is truncated or corrupt ({e})"
