"""Files for sources: paths and glob patterns expanded to files, and files opened plain or gzip-compressed.

Both speak to the user who wrote the config: :func:`expand_paths` collects every problem of every pattern
(no match, a directory, a missing file, a file the source cannot read) into one
:class:`~birdie_core.ConfigError` at ``paths[i]``; :func:`open_compressed` names the file and what is wrong
with it in a :class:`~birdie_core.PipelineError`. A source plugin uses them as the core's ``files`` source
does::

    class Config(SourceConfig):
        paths: list[str]

    def __init__(self, config):
        self.files = expand_paths(config.paths, directory_hint="*.fa.gz", reject=unsupported_suffix)

    def documents(self, shard, epoch):
        for path in self.files:
            with open_compressed(path) as f:
                try:
                    for line in f: ...
                except GZIP_ERRORS as e:
                    raise PipelineError(f"{path}: the gzip stream is truncated or corrupt ({e})") from e
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import zlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Literal

from birdie_core.errors import ConfigError, ConfigIssue, PipelineError

__all__ = ["GZIP_ERRORS", "UNREAD_COMPRESSIONS", "expand_paths", "has_glob", "open_compressed"]

#: what reading a truncated or corrupt gzip stream raises (besides ``OSError`` for other read errors)
GZIP_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error)

_RECOMPRESS = "only gzip compression is read; decompress it or recompress it with gzip"

#: file suffixes of compressions the core cannot read, and what to do about them
UNREAD_COMPRESSIONS: Mapping[str, str] = MappingProxyType(
    {
        ".bz2": _RECOMPRESS,
        ".xz": _RECOMPRESS,
        ".zst": _RECOMPRESS,
        ".zip": "zip archives are not read; extract them",
    }
)

#: the first bytes of each compression format, for telling them apart by content
_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}


def has_glob(pattern: str) -> bool:
    """Whether ``pattern`` is a glob pattern (``*``, ``?`` or ``[``) rather than a plain path."""
    return any(c in pattern for c in "*?[")


def expand_paths(
    patterns: Sequence[str], *, directory_hint: str, reject: Callable[[str], str | None] | None = None
) -> list[str]:
    """The files that ``patterns`` (paths or glob patterns, ``**`` allowed) name, each once, in order.

    A pattern expands to its matching files in sorted order; the patterns keep theirs; a file matched twice
    is kept where it is first matched. Paths are relative to the working directory and returned as written.
    ``reject(path)`` may give the reason a matched file cannot be read (e.g. its suffix), or None.

    Raises :class:`~birdie_core.ConfigError` with one issue per problem, at ``paths[i]``: a pattern that
    matches no file, a path that does not exist, a directory (suggesting ``<dir>/<directory_hint>``), a
    rejected file.
    """
    issues: list[ConfigIssue] = []
    files: dict[str, str] = {}  # absolute path -> path as written; a dict keeps the first-seen order
    for i, pattern in enumerate(patterns):
        where = f"paths[{i}]"
        if has_glob(pattern):
            matched = [p for p in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(p)]
            if not matched:
                issues.append(ConfigIssue(where, f"pattern {pattern!r} matches no file (in {os.getcwd()})"))
        elif os.path.isdir(pattern):
            hint = os.path.join(pattern, directory_hint)
            issues.append(ConfigIssue(where, f"{pattern!r} is a directory; use a pattern such as '{hint}'"))
            matched = []
        elif not os.path.isfile(pattern):
            issues.append(ConfigIssue(where, f"file {pattern!r} does not exist (in {os.getcwd()})"))
            matched = []
        else:
            matched = [pattern]
        for path in matched:
            reason = reject(path) if reject is not None else None
            if reason is not None:
                issues.append(ConfigIssue(where, f"{path}: {reason}"))
                continue
            files.setdefault(os.path.abspath(path), path)
    if issues:
        raise ConfigError(issues)
    return list(files.values())


def open_compressed(
    path: str,
    *,
    detect: Literal["content", "suffix"] = "content",
    error: type[PipelineError] = PipelineError,
) -> io.BufferedIOBase:
    """``path`` opened for reading bytes, gzip decompressed on the fly.

    ``detect="content"`` recognises gzip by the file's first bytes, and refuses bzip2, xz, zstd and zip
    files with a message saying what to do; ``detect="suffix"`` reads a ``.gz`` file as gzip and anything
    else as plain bytes. A file that cannot be opened raises ``error`` (a :class:`~birdie_core.PipelineError`
    subclass of the caller's choice) naming it; errors while reading a gzip stream are :data:`GZIP_ERRORS`.
    """
    try:
        if detect == "suffix":
            gzipped = path.lower().endswith(".gz")
        else:
            with open(path, "rb") as f:
                head = f.read(6)
            kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
            if kind not in (None, "gzip"):
                raise error(
                    f"{path}: this is a {kind} file; only plain and gzip-compressed files are read "
                    f"(decompress it, or recompress it with gzip)"
                )
            gzipped = kind == "gzip"
        return gzip.open(path, "rb") if gzipped else open(path, "rb")
    except OSError as e:
        raise error(f"{path}: cannot open ({e.strerror or e})") from e
