"""``files``: text, JSON-lines and paragraph files, compressed or not."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Generator, Iterator
from typing import Any, Literal

from pydantic import Field, field_validator

from birdie_core.builtins.sources.common import (
    FieldError,
    emit,
    new_stats,
    select_field,
    type_name,
    validate_selector,
)
from birdie_core.errors import PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, Document, Shard, SourceConfig
from birdie_core.tools.files import GZIP_ERRORS, UNREAD_COMPRESSIONS, expand_paths, open_compressed

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# files: plain text and JSON lines, optionally gzipped
# ---------------------------------------------------------------------------------------------------------

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")
_UNSUPPORTED_SUFFIXES = {
    ".json": "cannot tell whether it holds JSON lines; set format: jsonl (one object per line) or text",
    ".parquet": "Parquet is not read by the 'files' source; use the 'huggingface' source with path: parquet",
    ".arrow": "Arrow is not read by the 'files' source; use the 'huggingface' source with path: arrow",
    **UNREAD_COMPRESSIONS,
}


def _suffix(path: str) -> str:
    """The extension that says what a file holds, looking through a ``.gz`` suffix."""
    return os.path.splitext(path.lower().removesuffix(".gz"))[1]


def _unsupported_suffix(path: str) -> str | None:
    return _UNSUPPORTED_SUFFIXES.get(_suffix(path))


def _strip_eol(line: str) -> str:
    line = line.removesuffix("\n")
    line = line.removesuffix("\r")
    return line


#: a per-file reader: yields the shard's documents, returns the next free document index
_Reader = Generator[Document, None, int]


class FileSourceConfig(SourceConfig):
    """Parameters of the ``files`` source: which files, what they hold, what one document is."""

    paths: list[str] = Field(
        min_length=1, description="Files or glob patterns, relative to the working directory."
    )
    format: Literal["auto", "text", "jsonl"] = Field(
        "auto", description="'jsonl', 'text', or 'auto' (from the extension, looking through .gz)."
    )
    field: str = Field("text", description="Dotted selector of the text in each JSON object.")
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
    """Documents from local text or JSON-lines files, gzipped or not, read as a stream.

    * ``paths`` are files or glob patterns (``**`` allowed), relative to the working directory; each pattern
      expands to its matching files in sorted order, the patterns keeping their order. A file matched twice
      is read once. A path or pattern matching no file is a :class:`ConfigError` when the source is built.
    * ``format``: ``jsonl`` (one JSON object per line; the text is at ``field``, a dotted selector), ``text``,
      or ``auto`` (``.jsonl`` / ``.ndjson`` / ``.jsonlines`` are JSON lines, other files text; a ``.gz``
      suffix is looked through and the file decompressed on the fly).
    * ``unit`` (text files): a document per ``line``, per ``paragraph`` (separated by blank lines), or per
      ``file``.

    Documents are numbered across the files in order (blank lines and paragraph separators take no number).
    A JSON record whose text is empty keeps its number but is skipped and counted in ``stats["empty"]``, as
    are empty lines in ``line`` mode and empty files. Bytes that are not UTF-8 are replaced by U+FFFD and the
    affected lines counted in ``stats["invalid_utf8"]`` (with one warning per file naming its first line):
    one bad byte in a web crawl should not stop a training run. Invalid JSON, a missing or non-string field,
    and a truncated or corrupt gzip stream stop it with a :class:`PipelineError` naming the file and line.
    """

    Config = FileSourceConfig

    def __init__(self, config: FileSourceConfig):
        self.config = config
        self.stats = new_stats()
        reject = _unsupported_suffix if config.format == "auto" else None
        paths = expand_paths(config.paths, directory_hint="*.jsonl", reject=reject)
        #: (path as shown, format) of each file, in reading order
        self.files: list[tuple[str, str]] = [(p, self._format_of(p)) for p in paths]
        self._warned_utf8: set[str] = set()

    def _format_of(self, path: str) -> str:
        if self.config.format != "auto":
            return self.config.format
        return "jsonl" if _suffix(path) in _JSONL_SUFFIXES else "text"

    # -- reading ------------------------------------------------------------------------------------------
    def _lines(self, path: str) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) of ``path``, decompressing on the fly; read errors name the file."""
        lineno = 0
        with open_compressed(path, detect="suffix") as f:
            try:
                for lineno, raw in enumerate(f, 1):  # lineno also names the place of a read error
                    yield lineno, raw
            except GZIP_ERRORS as e:
                raise PipelineError(
                    f"{path}: the gzip stream is truncated or corrupt after line {lineno} ({e}); "
                    f"re-create or re-download the file"
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

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        index = 0
        for path, fmt in self.files:
            if fmt == "jsonl":
                reader = self._jsonl(path, index, shard)
            elif self.config.unit == "file":
                reader = self._whole_file(path, index, shard)
            elif self.config.unit == "line":
                reader = self._text_lines(path, index, shard)
            else:
                reader = self._paragraphs(path, index, shard)
            # each reader yields its owned documents and finally returns the next free index
            index = yield from reader

    def _jsonl(self, path: str, index: int, shard: Shard) -> _Reader:
        selector = self.config.field
        for lineno, raw in self._lines(path):
            if not raw.strip():
                self.stats["empty"] += 1
                continue
            i, index = index, index + 1
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
        return index

    def _whole_file(self, path: str, index: int, shard: Shard) -> _Reader:
        if shard.owns(index):
            with open_compressed(path, detect="suffix") as f:
                try:
                    raw = f.read()
                except GZIP_ERRORS as e:
                    raise PipelineError(f"{path}: the gzip stream is truncated or corrupt ({e})") from e
            text = self._decode(raw, path, 1)
            yield from emit(self.stats, index, text.removeprefix("\ufeff"), path)
        return index + 1

    def _text_lines(self, path: str, index: int, shard: Shard) -> _Reader:
        for lineno, raw in self._lines(path):
            if not raw.strip():
                self.stats["empty"] += 1
                continue
            i, index = index, index + 1
            if shard.owns(i):
                text = _strip_eol(self._decode(raw, path, lineno))
                if lineno == 1:
                    text = text.removeprefix("\ufeff")
                yield from emit(self.stats, i, text, f"{path}:{lineno}")
        return index

    def _paragraphs(self, path: str, index: int, shard: Shard) -> _Reader:
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
        if start:
            if owned:
                yield from emit(self.stats, index, "\n".join(lines), f"{path}:{start}")
            index += 1
        return index

    def __repr__(self) -> str:
        return f"FileSource({len(self.files)} files)"
