"""Files for sources: paths and glob patterns expanded to files, and files opened plain or decompressed.

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

By default only gzip is decompressed (what every reader of the core has always accepted); a reader that
handles bzip2, xz and zstd as well passes ``compressions=COMPRESSIONS`` and catches
:data:`DECOMPRESSION_ERRORS`.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

from birdie_core.errors import ConfigError, ConfigIssue, PipelineError

__all__ = [
    "COMPRESSIONS",
    "COMPRESSION_SUFFIXES",
    "DECOMPRESSION_ERRORS",
    "GZIP_ERRORS",
    "UNREAD_COMPRESSIONS",
    "DecompressionError",
    "compression_of",
    "expand_paths",
    "has_glob",
    "open_compressed",
    "require_decompressor",
]

#: what reading a truncated or corrupt gzip stream raises (besides ``OSError`` for other read errors)
GZIP_ERRORS: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, zlib.error)


class DecompressionError(ValueError):
    """A bzip2, xz or zstd stream is truncated or holds bytes that are not of its format."""


#: what reading a truncated or corrupt stream of any compression raises (``OSError``: other read errors)
DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (*GZIP_ERRORS, DecompressionError)

#: every compression :func:`open_compressed` can read, for its ``compressions`` argument
COMPRESSIONS: tuple[str, ...] = ("gzip", "bzip2", "xz", "zstd")

#: the file suffix of each compression
COMPRESSION_SUFFIXES: Mapping[str, str] = MappingProxyType(
    {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}
)

_RECOMPRESS = "only gzip compression is read; decompress it or recompress it with gzip"

#: file suffixes of compressions that readers accepting gzip alone cannot read, and what to do about them
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

# Large enough that the Python-level decompression loop of bzip2, xz and zstd costs nothing per line read
_BUFFER = 1 << 20
# A zstd frame can expand a thousandfold or more and its decompressor has no output limit: feeding it small
# pieces bounds the memory one step takes
_ZSTD_INPUT = 1 << 14


def has_glob(pattern: str) -> bool:
    """Whether ``pattern`` is a glob pattern (``*``, ``?`` or ``[``) rather than a plain path."""
    return any(c in pattern for c in "*?[")


def compression_of(path: str) -> str | None:
    """The compression ``path``'s suffix names (``gzip``, ``bzip2``, ``xz``, ``zstd``), or None."""
    return COMPRESSION_SUFFIXES.get(os.path.splitext(path.lower())[1])


def require_decompressor(kind: str, path: str, error: type[PipelineError] = PipelineError) -> None:
    """Raise ``error`` naming ``path`` and the install command when compression ``kind`` needs a package
    that is missing (zstd needs ``zstandard``; gzip, bzip2 and xz are in the standard library)."""
    if kind != "zstd":
        return
    try:
        import zstandard  # noqa: F401
    except ImportError:
        raise error(
            f"{path}: reading zstd-compressed files needs the zstandard package, which is not installed: "
            f"pip install 'birdie-core[zstd]'"
        ) from None


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
    compressions: Collection[str] = ("gzip",),
) -> io.BufferedIOBase:
    """``path`` opened for reading bytes, decompressed on the fly.

    ``compressions`` are those decompressed (a subset of :data:`COMPRESSIONS`; gzip alone by default).
    ``detect="content"`` recognises a compression by the file's first bytes and refuses one not accepted
    (bzip2, xz, zstd, zip) with a message saying what to do; ``detect="suffix"`` goes by the name
    (:data:`COMPRESSION_SUFFIXES`), reads a file without such a suffix as plain bytes, and refuses a
    compression not accepted. A file that cannot be opened raises ``error`` (a
    :class:`~birdie_core.PipelineError` subclass of the caller's choice) naming it, as does a zstd file when
    the ``zstandard`` package is missing. Errors while reading a gzip stream are :data:`GZIP_ERRORS`, those
    of any stream :data:`DECOMPRESSION_ERRORS`.
    """
    try:
        if detect == "suffix":
            kind = compression_of(path)
        else:
            with open(path, "rb") as f:
                head = f.read(6)
            kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
        if kind is not None and kind not in compressions:
            accepted = [c for c in COMPRESSIONS if c in compressions]
            what = (
                f"only plain and {' or '.join(accepted)}-compressed files are read (decompress it, or "
                f"recompress it with {accepted[0]})"
                if accepted
                else "only plain files are read (decompress it)"
            )
            raise error(f"{path}: this is a {kind} file; {what}")
        if kind == "gzip":
            return gzip.open(path, "rb")
        if kind == "bzip2":
            return io.BufferedReader(_Checked(bz2.open(path, "rb"), kind), _BUFFER)
        if kind == "xz":
            return io.BufferedReader(_Checked(lzma.open(path, "rb"), kind), _BUFFER)
        if kind == "zstd":
            return io.BufferedReader(_ZstdReader(path, error), _BUFFER)
        return open(path, "rb")
    except OSError as e:
        raise error(f"{path}: cannot open ({e.strerror or e})") from e


class _Checked(io.RawIOBase):
    """A bzip2 or xz file whose stream errors are :class:`DecompressionError`: the standard library reports
    a corrupt bzip2 stream as a bare ``OSError`` and an xz one as ``LZMAError``, a truncated one as
    ``EOFError``; a reader should not have to know which."""

    def __init__(self, inner: Any, kind: str):
        self._inner = inner
        self._kind = kind

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            # read1: what one decompression step gives, so that a truncated stream fails only after every
            # good byte was handed on (readinto would lose the part of the buffer it had filled)
            data = self._inner.read1(len(b))
        except EOFError as e:
            raise DecompressionError(f"the {self._kind} stream is truncated ({e})") from e
        except lzma.LZMAError as e:
            raise DecompressionError(f"the {self._kind} stream is corrupt ({e})") from e
        except OSError as e:
            if e.errno is not None:  # a real read error, not bytes that are not of the format
                raise
            raise DecompressionError(f"the {self._kind} stream is corrupt ({e})") from e
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


class _ZstdReader(io.RawIOBase):
    """A zstd file, frame after frame, failing on a truncated last frame.

    zstandard's own stream reader ends quietly where a truncated file ends, which would lose the rest of a
    document without a word; a decompression object per frame says whether its frame was complete.
    """

    def __init__(self, path: str, error: type[PipelineError]):
        require_decompressor("zstd", path, error)
        import zstandard

        self._zstd_error = zstandard.ZstdError
        self._context = zstandard.ZstdDecompressor()
        self._frame: Any = None  # the decompression object of the frame being read, None between frames
        self._pending = memoryview(b"")
        self._file = open(path, "rb")  # noqa: SIM115  # open as long as the reader, closed by close()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._pending:
            data = self._file.read(_ZSTD_INPUT)
            if not data:
                if self._frame is not None:
                    raise DecompressionError("the zstd stream is truncated (its last frame is incomplete)")
                return 0
            self._pending = memoryview(self._decompress(data))
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _decompress(self, data: bytes) -> bytes:
        out = []
        try:
            while data:
                if self._frame is None:
                    self._frame = self._context.decompressobj()
                out.append(self._frame.decompress(data))
                if not self._frame.eof:
                    break
                data, self._frame = self._frame.unused_data, None  # the next frame starts in the same read
        except self._zstd_error as e:
            raise DecompressionError(f"the zstd stream is corrupt ({e})") from e
        return b"".join(out)

    def close(self) -> None:
        file = getattr(self, "_file", None)  # None when opening it failed
        if file is not None and not self.closed:
            file.close()
        super().close()
