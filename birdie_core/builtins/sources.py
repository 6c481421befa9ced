"""Built-in sources: the embedded corpus, text / JSON-lines files, a Python callable, Hugging Face datasets.

Every source numbers the documents of its split (``Document.index``: 0, 1, 2, … in a fixed order, the same
in every run and every process) and a reader given a :class:`Shard` yields only the documents it owns, so
the shards of a split partition it: nothing read twice, nothing lost. Each document carries its ``origin``
(``data/a.jsonl:12``, ``pydoc_data.topics['if']``) so that any later error can point at it.

Nothing is dropped silently: what a source skips (empty lines or texts) and what it repairs (bytes that are
not UTF-8) is counted in its ``stats`` dictionary, per process, since the source was built.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from birdie_core.errors import BirdieError, ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, ConfigInt, Document, Shard, SourceConfig
from birdie_core.tools.files import GZIP_ERRORS, UNREAD_COMPRESSIONS, expand_paths, open_compressed

log = logging.getLogger(__name__)

__all__ = [
    "CallableSource",
    "CallableSourceConfig",
    "EmbeddedSource",
    "EmbeddedSourceConfig",
    "FileSource",
    "FileSourceConfig",
    "HuggingFaceSource",
    "HuggingFaceSourceConfig",
    "select_field",
]


def _new_stats() -> dict[str, int]:
    return {"documents": 0, "empty": 0, "invalid_utf8": 0}


def _emit(stats: dict[str, int], index: int, text: str, origin: str) -> Iterator[Document]:
    """The document, counted in ``stats``; nothing for an empty text, which is counted as ``empty``."""
    if text:
        stats["documents"] += 1
        yield Document(index, text, origin)
    else:
        stats["empty"] += 1


# ---------------------------------------------------------------------------------------------------------
# Field selection (shared by the JSON-lines, callable and Hugging Face sources)
# ---------------------------------------------------------------------------------------------------------


class FieldError(ValueError):
    """A dotted field selector does not lead to a string in a record."""


_MISSING = object()


def _validate_selector(v: str) -> str:
    if not v or any(not part for part in v.split(".")):
        raise ValueError(f"{v!r} is not a field selector: use names separated by dots, e.g. 'entry.text'")
    return v


def select_field(record: Any, selector: str) -> str:
    """The string at ``selector`` in ``record``: ``"entry.text"`` is ``record["entry"]["text"]``.

    A part that is an integer indexes a list (``"messages.0.content"``). Raises :class:`FieldError` with a
    message saying which part is missing or what type was found instead of a string.
    """
    value: Any = record
    walked: list[str] = []
    for part in selector.split("."):
        found: Any = _MISSING
        if isinstance(value, Mapping):
            found = value.get(part, _MISSING)
        elif isinstance(value, (list, tuple)) and part.lstrip("-").isdigit():
            i = int(part)
            found = value[i] if -len(value) <= i < len(value) else _MISSING
        if found is _MISSING:
            where = f"in {'.'.join(walked)!r}" if walked else "at the top level"
            if isinstance(value, Mapping):
                keys = ", ".join(map(str, list(value)[:20])) or "none"
                close = difflib.get_close_matches(part, [str(k) for k in value], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise FieldError(f"no field {part!r} {where} (keys: {keys}){hint}")
            raise FieldError(f"cannot select {part!r} {where}: found {_type_name(value)}, not an object")
        value = found
        walked.append(part)
    if not isinstance(value, str):
        raise FieldError(f"field {selector!r} is {_type_name(value)}, not a string")
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), f"a {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------------
# embedded: the English text that ships with CPython
# ---------------------------------------------------------------------------------------------------------


class EmbeddedSourceConfig(SourceConfig):
    """Parameters of the ``embedded`` source: which split of CPython's help texts, how many times."""

    split: Literal["train", "validation"] = Field(
        "train", description="'train' (9 topics in 10) or 'validation' (every 10th topic)."
    )
    repeat: ConfigInt = Field(1, ge=1, le=100_000, description="How many times to repeat the split.")


class EmbeddedSource:
    """The English corpus that ships with CPython: the ``pydoc_data.topics`` help texts (~465k characters).

    Documents are the topics sorted by key; every 10th one (positions 0, 10, 20, …) forms the ``validation``
    split and the rest ``train``. Indices are numbered 0..n-1 within each split. ``repeat`` concatenates the
    split with itself, the indices continuing (``repeat * n`` documents), for benchmarks wanting more data.
    """

    SPLITS = ("train", "validation")
    VALIDATION_EVERY = 10

    Config = EmbeddedSourceConfig

    def __init__(self, config: EmbeddedSourceConfig | None = None):
        self.config = config or EmbeddedSourceConfig(name="embedded")
        split = self.config.split
        if split not in self.SPLITS:  # the Config already refuses it; this guards hand-built configs
            raise ConfigError(
                ConfigIssue(
                    path="split",
                    message=f"unknown split {split!r} for the embedded corpus; use one of "
                    f"{', '.join(map(repr, self.SPLITS))}",
                )
            )
        try:
            from pydoc_data.topics import topics
        except ImportError as e:  # some trimmed Python builds drop pydoc_data
            raise PipelineError(
                f"the embedded corpus needs the standard library's pydoc_data, which this Python lacks "
                f"({e}); use the 'files' source instead"
            ) from e
        keys = sorted(topics)
        every = self.VALIDATION_EVERY
        chosen = keys[::every] if split == "validation" else [k for i, k in enumerate(keys) if i % every]
        self._docs: list[tuple[str, str]] = [(k, topics[k]) for k in chosen]
        self.repeat = self.config.repeat
        self.stats = _new_stats()

    def __len__(self) -> int:
        return len(self._docs) * self.repeat

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        n = len(self._docs)
        # walk only this shard's indices: no need to look at the others
        for index in range(shard.index, n * self.repeat, shard.count):
            key, text = self._docs[index % n]
            self.stats["documents"] += 1
            yield Document(index, text, f"pydoc_data.topics[{key!r}]")

    def __repr__(self) -> str:
        return f"EmbeddedSource(split={self.config.split!r}, documents={len(self)})"


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
        return _validate_selector(v)


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
        self.stats = _new_stats()
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
                    f"{origin}: expected a JSON object with field {selector!r}, found {_type_name(record)}"
                )
            try:
                text = select_field(record, selector)
            except FieldError as e:
                raise PipelineError(f"{origin}: {e}") from None
            yield from _emit(self.stats, i, text, origin)
        return index

    def _whole_file(self, path: str, index: int, shard: Shard) -> _Reader:
        if shard.owns(index):
            with open_compressed(path, detect="suffix") as f:
                try:
                    raw = f.read()
                except GZIP_ERRORS as e:
                    raise PipelineError(f"{path}: the gzip stream is truncated or corrupt ({e})") from e
            text = self._decode(raw, path, 1)
            yield from _emit(self.stats, index, text.removeprefix("\ufeff"), path)
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
                yield from _emit(self.stats, i, text, f"{path}:{lineno}")
        return index

    def _paragraphs(self, path: str, index: int, shard: Shard) -> _Reader:
        lines: list[str] = []
        start = 0  # first line of the current paragraph; 0 = between paragraphs
        owned = False
        for lineno, raw in self._lines(path):
            if not raw.strip():  # a blank line ends the paragraph
                if start:
                    if owned:
                        yield from _emit(self.stats, index, "\n".join(lines), f"{path}:{start}")
                    index, start, lines = index + 1, 0, []
                continue
            if not start:
                start, owned = lineno, shard.owns(index)
            if owned:  # another shard's paragraph is only delimited, never kept in memory
                text = _strip_eol(self._decode(raw, path, lineno))
                lines.append(text.removeprefix("\ufeff") if lineno == 1 else text)
        if start:
            if owned:
                yield from _emit(self.stats, index, "\n".join(lines), f"{path}:{start}")
            index += 1
        return index

    def __repr__(self) -> str:
        return f"FileSource({len(self.files)} files)"


# ---------------------------------------------------------------------------------------------------------
# callable: the original project's `ds` + `text_grabber_fn`
# ---------------------------------------------------------------------------------------------------------


def _validate_import_string(v: str | None) -> str | None:
    if v is not None and not (":" in v or "." in v.strip(".")):
        raise ValueError(
            f"{v!r} is not an import string; expected 'module:function' (e.g. 'mydata:documents')"
        )
    return v


def _split_import_string(spec: str, path: str) -> tuple[str, str]:
    """``(module, attribute)`` of ``"package.module:function"`` or ``"package.module.function"``."""
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(ConfigIssue(path, f"{spec!r} is not an import string; expected 'module:function'"))
    return module_name, attr


def _no_module_message(spec: str, missing: str) -> str:
    return (
        f"cannot import {spec!r}: no module named {missing!r} (is it installed, or its directory on "
        f"PYTHONPATH? the working directory is {os.getcwd()})"
    )


def _missing_module(module_name: str) -> str | None:
    """The first of ``module_name``'s packages (or itself) that cannot be found; None when all are there.

    Nothing is imported: ``importlib.util.find_spec("a.b")`` would import (run) the package ``a``, so each
    level is looked up with the meta path finders in its parent's search locations, as ``import`` would.
    """
    parts = module_name.split(".")
    locations: list[str] | None = None
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        loaded = sys.modules.get(name)
        if loaded is not None:
            found = getattr(loaded, "__path__", None)
        elif depth > 1 and locations is None:
            return name  # its parent is a plain module, which has no submodules
        else:
            spec = None
            for finder in sys.meta_path:
                find_spec = getattr(finder, "find_spec", None)
                spec = find_spec(name, locations) if find_spec is not None else None
                if spec is not None:
                    break
            if spec is None:
                return name
            found = spec.submodule_search_locations
        locations = list(found) if found is not None else None
    return None


def import_object(spec: str, path: str) -> Any:
    """The object named by ``spec`` (``"package.module:function"``, or ``"package.module.function"``).

    Problems are :class:`ConfigError` at ``path`` saying what could not be imported and why.
    """
    module_name, attr = _split_import_string(spec, path)
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.split(".")[0] == e.name.split(".")[0] and module_name.startswith(e.name):
            msg = _no_module_message(spec, e.name)
        else:
            msg = f"cannot import {spec!r}: importing {module_name!r} failed: {type(e).__name__}: {e}"
        raise ConfigError(ConfigIssue(path, msg)) from e
    except Exception as e:  # the module itself raised while being imported
        raise ConfigError(
            ConfigIssue(
                path, f"cannot import {spec!r}: importing {module_name!r} raised {type(e).__name__}: {e}"
            )
        ) from e
    walked = module_name
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                ConfigIssue(path, f"cannot import {spec!r}: {walked!r} has no attribute {part!r}{hint}")
            )
        walked = f"{walked}.{part}"
    if not callable(obj):
        raise ConfigError(ConfigIssue(path, f"{spec!r} is {_type_name(obj)}, not a function"))
    return obj


def _describe(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "<unknown>"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return f"{module}:{name}"


class CallableSourceConfig(SourceConfig):
    """Parameters of the ``callable`` source: the function, how items become text, who shards."""

    function: str = Field(description="'module:function' returning an iterable of documents.")
    text_field: str | None = Field(None, description="Dotted selector of the text in mapping items.")
    text_grabber: str | None = Field(None, description="'module:function' turning an item into its text.")
    sharded_by_function: bool = Field(
        True, description="Call fn(split, worker_id, num_workers, rng_seed) and let it shard."
    )
    seed: ConfigInt = Field(0, description="Passed to the function as rng_seed.")

    @field_validator("function", "text_grabber")
    @classmethod
    def _import_string(cls, v: str | None) -> str | None:
        return _validate_import_string(v)

    @field_validator("text_field")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        return None if v is None else _validate_selector(v)

    @model_validator(mode="after")
    def _one_way_to_text(self) -> CallableSourceConfig:
        if self.text_field is not None and self.text_grabber is not None:
            raise ValueError("set text_field or text_grabber, not both")
        return self


class CallableSource:
    """Documents from a Python function: the original project's ``ds`` / ``text_grabber_fn`` style.

    With ``sharded_by_function`` (the original convention) the function shards itself: it is called as
    ``fn(split=…, worker_id=shard.index, num_workers=shard.count, rng_seed=seed)`` and everything it returns
    belongs to this shard; its ``i``-th item gets the index ``shard.index + i * shard.count``. Otherwise it is
    called as ``fn(split=…)`` and this source keeps every ``shard.count``-th item.

    Items may be strings, mappings (the text at ``text_field``, default ``"text"``), or anything
    ``text_grabber`` turns into a string. Empty texts are skipped and counted in ``stats["empty"]``.
    """

    Config = CallableSourceConfig

    @classmethod
    def find_modules(cls, config: CallableSourceConfig) -> None:
        """Check that the modules ``function`` and ``text_grabber`` name exist, without importing them.

        For ``birdie config check``: importing runs the module's code, which a check must not do. Raises the
        :class:`ConfigError` building the source would raise for a missing module; whether the function is
        there and callable is only known once it is imported.
        """
        issues = []
        for path in ("function", "text_grabber"):
            spec = getattr(config, path)
            if spec is None:
                continue
            try:
                missing = _missing_module(_split_import_string(spec, path)[0])
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            if missing is not None:
                issues.append(ConfigIssue(path, _no_module_message(spec, missing)))
        if issues:
            raise ConfigError(issues)

    def __init__(self, config: CallableSourceConfig):
        fn = import_object(config.function, "function")
        grabber = import_object(config.text_grabber, "text_grabber") if config.text_grabber else None
        self._setup(config, fn, grabber)

    @classmethod
    def from_callables(
        cls,
        fn: Callable[..., Iterable[Any]],
        text_grabber: Callable[[Any], str] | None = None,
        split: str = "train",
        *,
        sharded_by_function: bool = True,
        seed: int = 0,
        text_field: str | None = None,
    ) -> CallableSource:
        """A source over Python callables given directly (the original project's dict config)."""
        if not callable(fn):
            raise ConfigError(ConfigIssue("function", f"expected a function, got {_type_name(fn)}"))
        if text_grabber is not None and not callable(text_grabber):
            raise ConfigError(
                ConfigIssue("text_grabber", f"expected a function, got {_type_name(text_grabber)}")
            )
        config = CallableSourceConfig(
            name="callable",
            split=split,
            function=_describe(fn),
            text_grabber=_describe(text_grabber) if text_grabber is not None else None,
            text_field=text_field,
            sharded_by_function=sharded_by_function,
            seed=seed,
        )
        self = cls.__new__(cls)
        self._setup(config, fn, text_grabber)
        return self

    def _setup(
        self,
        config: CallableSourceConfig,
        fn: Callable[..., Iterable[Any]],
        grabber: Callable[[Any], str] | None,
    ) -> None:
        self.config = config
        self.fn = fn
        self.text_grabber = grabber
        self.stats = _new_stats()
        self._check_signature()

    def _call_kwargs(self, shard: Shard) -> dict[str, Any]:
        if self.config.sharded_by_function:
            return {
                "split": self.config.split,
                "worker_id": shard.index,
                "num_workers": shard.count,
                "rng_seed": self.config.seed,
            }
        return {"split": self.config.split}

    def _check_signature(self) -> None:
        """Refuse, when built, a function that cannot take the arguments it will be called with."""
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):  # builtins and some C callables: nothing to check
            return
        try:
            sig.bind(**self._call_kwargs(Shard()))
        except TypeError as e:
            if self.config.sharded_by_function:
                how = (
                    "it is called as fn(split=..., worker_id=..., num_workers=..., rng_seed=...); set "
                    "sharded_by_function: false to call it as fn(split=...)"
                )
            else:
                how = "it is called as fn(split=...)"
            raise ConfigError(
                ConfigIssue("function", f"{self.config.function}{sig} cannot be used: {e}; {how}")
            )

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        name = self.config.function
        kwargs = self._call_kwargs(shard)
        call = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        try:
            items = iter(self.fn(**kwargs))
        except BirdieError:
            raise
        except Exception as e:
            raise PipelineError(f"{call} raised {type(e).__name__}: {e}") from e
        i = 0
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except BirdieError:
                raise
            except Exception as e:
                raise PipelineError(f"{call} raised {type(e).__name__} while producing item {i}: {e}") from e
            if self.config.sharded_by_function:
                index = shard.index + i * shard.count
            elif shard.owns(i):
                index = i
            else:
                i += 1
                continue
            origin = f"{call}[{i}]"
            yield from _emit(self.stats, index, self._text_of(item, origin), origin)
            i += 1

    def _text_of(self, item: Any, origin: str) -> str:
        if self.text_grabber is not None:
            try:
                text = self.text_grabber(item)
            except BirdieError:
                raise
            except Exception as e:
                raise PipelineError(
                    f"{origin}: text_grabber {self.config.text_grabber} raised {type(e).__name__}: {e}"
                ) from e
            if not isinstance(text, str):
                raise PipelineError(
                    f"{origin}: text_grabber {self.config.text_grabber} returned "
                    f"{_type_name(text)}, not a string"
                )
            return text
        if isinstance(item, str):
            return item
        if isinstance(item, Mapping):
            try:
                return select_field(item, self.config.text_field or "text")
            except FieldError as e:
                raise PipelineError(f"{origin}: {e} (set text_field or text_grabber)") from None
        raise PipelineError(f"{origin}: item is {_type_name(item)}; set text_grabber to turn it into text")

    def __repr__(self) -> str:
        return f"CallableSource({self.config.function!r}, split={self.config.split!r})"


# ---------------------------------------------------------------------------------------------------------
# huggingface: `datasets`, when installed
# ---------------------------------------------------------------------------------------------------------


class HuggingFaceSourceConfig(SourceConfig):
    """Parameters of the ``huggingface`` source: the dataset, its configuration and files, the text field."""

    path: str = Field(description="Dataset name on the hub, a local directory, or a builder ('json').")
    # `name` is taken by the component name, so the dataset configuration is `config_name`
    config_name: str | None = Field(None, description="The dataset configuration (datasets' `name`).")
    data_files: str | list[str] | dict[str, str | list[str]] | None = Field(
        None, description="Files for builders such as 'json' or 'parquet'."
    )
    field: str = Field("text", description="Dotted selector of the text in each row.")
    streaming: bool = Field(False, description="Stream the dataset instead of downloading it whole.")

    @field_validator("field")
    @classmethod
    def _selector(cls, v: str) -> str:
        return _validate_selector(v)


class HuggingFaceSource:
    """A Hugging Face ``datasets`` dataset (hub name or a builder such as ``json`` / ``parquet``).

    ``datasets`` is optional: it is imported only when this source is used, and a missing install is a
    :class:`PipelineError` saying how to get it. The split is ``config.split``; the text of row ``i`` is at
    ``field``; row ``i`` has index ``i``. ``datasets`` may go to the network for hub datasets: set
    ``HF_DATASETS_OFFLINE=1`` to use its cache only.
    """

    Config = HuggingFaceSourceConfig

    def __init__(self, config: HuggingFaceSourceConfig):
        self.config = config
        self.stats = _new_stats()
        self._dataset: Any = None
        if importlib.util.find_spec("datasets") is None:
            raise PipelineError(
                f"the 'huggingface' source (dataset {config.path!r}) needs the `datasets` package, which is "
                f"not installed: pip install datasets"
            )

    def _load(self) -> Any:
        if self._dataset is None:
            import datasets

            c = self.config
            try:
                self._dataset = datasets.load_dataset(
                    c.path, name=c.config_name, data_files=c.data_files, split=c.split, streaming=c.streaming
                )
            except Exception as e:
                raise PipelineError(
                    f"cannot load Hugging Face dataset {c.path!r} (split {c.split!r}): {type(e).__name__}: "
                    f"{e} (offline? set HF_DATASETS_OFFLINE=1 to use the local cache only)"
                ) from e
        return self._dataset

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        ds = self._load()
        c = self.config
        if c.streaming:  # no random access: walk the stream and keep this shard's rows
            rows: Iterable[tuple[int, Any]] = ((i, row) for i, row in enumerate(ds) if shard.owns(i))
        else:
            rows = ((i, ds[i]) for i in range(shard.index, len(ds), shard.count))
        for i, row in rows:
            origin = f"{c.path}[{c.split}][{i}]"
            try:
                text = select_field(row, c.field)
            except FieldError as e:
                raise PipelineError(f"{origin}: {e}") from None
            yield from _emit(self.stats, i, text, origin)

    def __repr__(self) -> str:
        return f"HuggingFaceSource({self.config.path!r}, split={self.config.split!r})"
