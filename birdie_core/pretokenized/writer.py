"""Writing a config's source as pre-tokenized shards (what ``birdie tokenize`` runs).

Documents are read in the source's own order for epoch 0 (the pipeline's shuffle buffer is not applied: the
data is shuffled when it is read) and encoded in chunks by a pool of processes, each with its own tokenizer
built from the config. Chunks are written back in the order they were read, so the output is the same whatever the number of
processes. A shard is closed once it holds at least ``shard_tokens`` tokens (documents are never split), and
``header.json`` is written last, atomically: a directory without it is refused by the ``tokenized`` source.

Ctrl-C (or SIGTERM through ``birdie tokenize``) stops the pool's processes, removes the files written so far
and re-raises; a process killed outright leaves files without a header, which are refused and which
``--overwrite`` clears.
"""

from __future__ import annotations

import collections
import ctypes
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from birdie_core.errors import BirdieError, PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, Tokenizer
from birdie_core.pretokenized.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER_NAME,
    describe_tokenizer,
    is_format_file,
    offsets_name,
    sha256_of,
    storage_dtype,
    token_bound,
    tokens_name,
)
from birdie_core.pretokenized.progress import Progress

__all__ = ["DEFAULT_SHARD_TOKENS", "TokenizeResult", "tokenize_split"]

#: about 200 MB (uint16) or 400 MB (uint32) per token file
DEFAULT_SHARD_TOKENS = 100_000_000
#: a chunk (one task of a process) ends after this many documents or characters, whichever comes first
CHUNK_DOCUMENTS = 256
CHUNK_CHARACTERS = 2_000_000
#: chunks in flight per process: enough to keep every process busy, few enough to bound memory
IN_FLIGHT_PER_PROCESS = 3
#: how often the main process looks at its pool while it waits (a dead process would lose its chunk)
_POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1
_TMP_HEADER = HEADER_NAME + ".tmp"


@dataclass(frozen=True)
class TokenizeResult:
    """What :func:`tokenize_split` wrote."""

    directory: Path
    documents: int
    tokens: int
    shards: int
    dtype: str
    seconds: float


def default_processes() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def tokenize_split(
    config: Any,
    output: str | os.PathLike[str],
    *,
    split: str = "train",
    domain: str | None = None,
    processes: int | None = None,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    overwrite: bool = False,
    registry: Any = None,
    progress: TextIO | None = None,
    progress_interval: float = 10.0,
) -> TokenizeResult:
    """Write the documents of ``config``'s ``data.<split>`` source as pre-tokenized shards into ``output``.

    When ``data.<split>`` lists several sources (data domains), ``domain`` names the one to write. ``config`` is anything :meth:`Components.resolve <birdie_core.pipeline.Components.resolve>` accepts, or
    resolved Components. ``processes`` defaults to the CPUs available (1: encode in this process).
    ``output`` must be missing or empty; with ``overwrite`` a directory holding only the files of this format
    is emptied first (anything else in it is refused, never deleted). ``progress``: a stream to show progress
    on (a bar on a terminal, a line every ``progress_interval`` seconds and per shard elsewhere).
    """
    from birdie_core.pipeline.build import Components

    if shard_tokens < 1:
        raise PipelineError(f"shard_tokens must be at least 1, got {shard_tokens}")
    if processes is not None and processes < 1:
        raise PipelineError(f"processes must be at least 1, got {processes}")
    components = config if isinstance(config, Components) else Components.resolve(config, registry)
    which, index = _domain(components, split, domain)
    source = components.domain_source(which, index)
    src_cfg = components.config.data.domains(which)[index].source
    tokenizer = components.tokenizer()
    bound = token_bound(tokenizer)
    dtype = np.dtype(storage_dtype(bound)).newbyteorder("<")
    tokenizer_entry = describe_tokenizer(tokenizer, components.config.tokenizer)
    directory = Path(output)
    created = _prepare_output(directory, overwrite)
    sized = getattr(source, "__len__", None)
    total = int(sized()) if callable(sized) else None
    shown = (
        Progress(f"tokenize {split}", total, stream=progress, interval=progress_interval)
        if progress
        else None
    )
    writer = _ShardWriter(directory, dtype, shard_tokens, shown)
    started = time.monotonic()
    chunks = _chunks(source.documents(WHOLE_SPLIT, 0))
    n = processes if processes is not None else default_processes()
    encoded = (
        _encode_inline(tokenizer, bound, dtype, chunks)
        if n == 1
        else _encode_in_pool(components, tokenizer, bound, dtype, chunks, n)
    )
    try:
        try:
            for ids, lengths in encoded:
                writer.add(ids, lengths)
        finally:
            encoded.close()  # stops the pool now, also when the loop body (not the pool) was interrupted
        writer.finish()
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "dtype": dtype.name,
            "byte_order": "little",
            "tokenizer": tokenizer_entry,
            "source": {
                "split": split,
                "domain": domain,
                "config": src_cfg.model_dump(mode="json"),
                "stats": {k: int(v) for k, v in dict(getattr(source, "stats", None) or {}).items()},
            },
            "documents": writer.documents,
            "tokens": writer.tokens,
            "shards": writer.entries,
            "created_by": _created_by(),
        }
        tmp = directory / _TMP_HEADER
        tmp.write_text(json.dumps(header, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, directory / HEADER_NAME)
    except BaseException:
        writer.abandon()
        _remove_written(directory, created)
        raise
    if shown is not None:
        shown.close()
    return TokenizeResult(
        directory,
        writer.documents,
        writer.tokens,
        len(writer.entries),
        dtype.name,
        time.monotonic() - started,
    )


def _created_by() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"birdie-core {version('birdie-core')}"
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "birdie-core"


def _domain(components: Any, split: str, domain: str | None) -> tuple[Literal["train", "validation"], int]:
    """``(split, position)`` of the source to write: ``data.<split>``, or the domain ``domain`` of a list."""
    if split not in ("train", "validation"):
        raise PipelineError(f"unknown split {split!r}: 'train' or 'validation'")
    which: Literal["train", "validation"] = "train" if split == "train" else "validation"
    ids = [d.id for d in components.config.data.domains(which)]
    if not ids:
        raise PipelineError(f"no {split!r} source is configured (data.{split})")
    if domain is None:
        if len(ids) > 1:
            raise PipelineError(
                f"data.{split} lists {len(ids)} sources ({', '.join(ids)}): choose one with --domain ID "
                "(domain=...); write each into a directory of its own and list the directories as `tokenized` "
                "sources to mix them again"
            )
        return which, 0
    if domain not in ids:
        raise PipelineError(f"data.{split} has no source with id {domain!r} (its sources: {', '.join(ids)})")
    return which, ids.index(domain)


# ---------------------------------------------------------------------------------------------------------
# The output directory
# ---------------------------------------------------------------------------------------------------------


def _ours(name: str) -> bool:
    return name == _TMP_HEADER or is_format_file(name)


def _prepare_output(directory: Path, overwrite: bool) -> bool:
    """Make ``directory`` ready to write into; True when it was created here."""
    if directory.exists() and not directory.is_dir():
        raise PipelineError(f"the output {directory} exists and is not a directory")
    if not directory.exists():
        directory.mkdir(parents=True)
        return True
    names = sorted(p.name for p in directory.iterdir())
    if not names:
        return False
    if not overwrite:
        raise PipelineError(
            f"the output directory {directory} is not empty ({len(names)} entries, e.g. {names[0]!r}); pass "
            "--overwrite (overwrite=True) to replace pre-tokenized data written there, or choose another"
        )
    foreign = [n for n in names if not _ours(n)]
    if foreign:
        raise PipelineError(
            f"refusing to overwrite {directory}: it holds files that `birdie tokenize` did not write "
            f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); remove them or choose another directory"
        )
    # the header first: from here on the directory is an unfinished write, whatever happens next
    for name in sorted(names, key=lambda n: n != HEADER_NAME):
        (directory / name).unlink()
    return False


def _remove_written(directory: Path, created: bool) -> None:
    if not directory.is_dir():
        return
    for p in directory.iterdir():
        if _ours(p.name):
            p.unlink(missing_ok=True)
    if created:
        try:
            directory.rmdir()
        except OSError:  # something else was put there meanwhile: left alone
            pass


class _ShardWriter:
    """Appends documents to ``tokens_NNNNN.bin`` files, hashing as it goes; a shard closes once it holds
    ``shard_tokens`` tokens or more."""

    def __init__(self, directory: Path, dtype: np.dtype[Any], shard_tokens: int, progress: Progress | None):
        self.directory = directory
        self.dtype = dtype
        self.shard_tokens = shard_tokens
        self.progress = progress
        self.entries: list[dict[str, Any]] = []
        self.documents = 0
        self.tokens = 0
        self._file: Any = None
        self._hash = hashlib.sha256()
        self._offsets: list[np.ndarray] = []
        self._shard_tokens = 0
        self._shard_documents = 0

    def add(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        """Documents of one chunk: their ids one after another, and each one's length."""
        ends = np.cumsum(lengths, dtype=np.int64)
        i, n = 0, lengths.shape[0]
        while i < n:
            base = int(ends[i - 1]) if i else 0
            room = self.shard_tokens - self._shard_tokens
            # every document that starts while the shard has room goes into it, whole
            take = min(int(np.searchsorted(ends[i:] - base, room, side="left")) + 1, n - i)
            stop = int(ends[i + take - 1])
            self._write(ids[base:stop], ends[i : i + take] - base)
            i += take
            if self._shard_tokens >= self.shard_tokens:
                self._close_shard()
        if self.progress is not None:
            self.progress.update(n, int(ids.shape[0]))

    def _write(self, ids: np.ndarray, ends: np.ndarray) -> None:
        if self._file is None:
            # open across many calls (one per chunk), closed by _close_shard or abandon
            self._file = open(self.directory / tokens_name(len(self.entries)), "wb")  # noqa: SIM115
            self._hash = hashlib.sha256()
            self._offsets = [np.zeros(1, dtype=np.int64)]
        data = np.ascontiguousarray(ids, dtype=self.dtype).tobytes()
        self._file.write(data)
        self._hash.update(data)
        self._offsets.append(ends + self._shard_tokens)
        self._shard_tokens += int(ids.shape[0])
        self._shard_documents += int(ends.shape[0])

    def _close_shard(self) -> None:
        if self._file is None:
            return
        self._file.close()
        self._file = None
        i = len(self.entries)
        offsets_path = self.directory / offsets_name(i)
        np.save(offsets_path, np.concatenate(self._offsets).astype("<i8"), allow_pickle=False)
        entry = {
            "tokens": tokens_name(i),
            "offsets": offsets_name(i),
            "documents": self._shard_documents,
            "num_tokens": self._shard_tokens,
            "tokens_bytes": self._shard_tokens * self.dtype.itemsize,
            "offsets_bytes": offsets_path.stat().st_size,
            "tokens_sha256": self._hash.hexdigest(),
            "offsets_sha256": sha256_of(offsets_path),
        }
        self.entries.append(entry)
        self.documents += self._shard_documents
        self.tokens += self._shard_tokens
        self._shard_tokens = self._shard_documents = 0
        if self.progress is not None:
            self.progress.note(
                f"wrote {entry['tokens']}: {entry['documents']:,} documents, {entry['num_tokens']:,} tokens"
            )

    def finish(self) -> None:
        self._close_shard()

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# ---------------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------------

#: a chunk as it travels to a process: texts, or ids for documents that have them already
_Chunk = list[Any]


def _chunks(documents: Iterable[Any]) -> Iterator[_Chunk]:
    chunk: _Chunk = []
    characters = 0
    for doc in documents:
        if doc.tokens is not None:
            chunk.append(np.asarray(doc.tokens))
        else:
            chunk.append(doc.text)
            characters += len(doc.text)
        if len(chunk) >= CHUNK_DOCUMENTS or characters >= CHUNK_CHARACTERS:
            yield chunk
            chunk, characters = [], 0
    if chunk:
        yield chunk


def _encode_chunk(
    tokenizer: Tokenizer, bound: int, dtype: np.dtype[Any], chunk: _Chunk
) -> tuple[np.ndarray, np.ndarray]:
    """The chunk's ids in the storage dtype, one document after another, and each one's length."""
    encoded = [
        np.asarray(item, dtype=np.int64)
        if isinstance(item, np.ndarray)
        else np.asarray(tokenizer.encode(item))
        for item in chunk
    ]
    lengths = np.array([e.shape[0] for e in encoded], dtype=np.int64)
    ids = np.concatenate(encoded) if encoded else np.zeros(0, dtype=np.int64)
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= bound):
        bad = int(np.argmax((ids < 0) | (ids >= bound)))
        raise PipelineError(
            f"the tokenizer gave id {int(ids[bad])}, outside its base vocabulary of {bound} ids; pre-tokenized "
            "data holds ids of the base vocabulary only"
        )
    return ids.astype(dtype), lengths


def _encode_inline(
    tokenizer: Tokenizer, bound: int, dtype: np.dtype[Any], chunks: Iterable[_Chunk]
) -> Generator[tuple[np.ndarray, np.ndarray], None, None]:
    for chunk in chunks:
        yield _encode_chunk(tokenizer, bound, dtype, chunk)


# state of a pool process, set by _start_process
_process_tokenizer: Tokenizer | None = None
_process_error: BaseException | None = None
_process_args: tuple[int, np.dtype[Any]] = (0, np.dtype("<u4"))


def _start_process(
    parent: int, components: Any, tokenizer: Tokenizer | None, fingerprint: str, bound: int, dtype: Any
) -> None:
    """Pool initializer: die with the main process, leave Ctrl-C to it, build this process's tokenizer.

    A failure is kept and raised by the first chunk: an initializer that raises makes the pool start a new
    process, again and again.
    """
    global _process_tokenizer, _process_error, _process_args
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog below alone
            pass
    if os.getppid() != parent:
        os._exit(1)
    # the main process stops the pool itself (and removes what was written); a Ctrl-C that reaches the whole
    # process group must not kill a process in the middle of a chunk first
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the main process's own stop handlers are inherited by fork; the pool ends its processes with SIGTERM,
    # which must simply end them (an inherited handler would print a KeyboardInterrupt traceback instead)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="birdie-tokenize-watchdog", daemon=True).start()
    _process_args = (bound, dtype)
    try:
        own = tokenizer if tokenizer is not None else components.tokenizer()
        from birdie_core.pretokenized.format import tokenizer_fingerprint

        if tokenizer_fingerprint(own) != fingerprint:
            raise PipelineError(
                "the tokenizer built in a tokenize process gives other ids than the main process's; is its "
                "construction deterministic?"
            )
        _process_tokenizer = own
    except BaseException as exc:  # noqa: BLE001 - raised with the first chunk instead
        _process_error = exc


def _encode_in_process(chunk: _Chunk) -> tuple[np.ndarray, np.ndarray]:
    if _process_error is not None:
        raise _process_error
    assert _process_tokenizer is not None
    return _encode_chunk(_process_tokenizer, *_process_args, chunk)


def _encode_in_pool(
    components: Any, tokenizer: Tokenizer, bound: int, dtype: np.dtype[Any], chunks: Iterable[_Chunk], n: int
) -> Generator[tuple[np.ndarray, np.ndarray], None, None]:
    """Encoded chunks in the order read, by ``n`` processes, at most a few chunks per process in flight."""
    from birdie_core.pretokenized.format import tokenizer_fingerprint

    fork = "fork" in multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if fork else None)
    before = set(multiprocessing.active_children())
    # forked processes build their tokenizer from the config they inherit; spawned ones get a pickled copy
    init = (
        os.getpid(),
        components if fork else None,
        None if fork else tokenizer,
        tokenizer_fingerprint(tokenizer),
        bound,
        dtype,
    )
    pool: Pool = ctx.Pool(n, initializer=_start_process, initargs=init)
    workers = [p for p in multiprocessing.active_children() if p not in before]
    pending: collections.deque[AsyncResult[tuple[np.ndarray, np.ndarray]]] = collections.deque()
    try:
        for chunk in chunks:
            pending.append(pool.apply_async(_encode_in_process, (chunk,)))
            while len(pending) >= IN_FLIGHT_PER_PROCESS * n:
                yield _result(pending.popleft(), workers)
        while pending:
            yield _result(pending.popleft(), workers)
        pool.close()
        pool.join()
    finally:
        pool.terminate()  # stops the processes at once when anything went wrong; a no-op after close/join
        pool.join()


def _result(
    result: AsyncResult[tuple[np.ndarray, np.ndarray]], workers: list[Any]
) -> tuple[np.ndarray, np.ndarray]:
    while not result.ready():
        result.wait(_POLL_SECONDS)
        # a process that died (killed for memory) loses its chunk, which would never come back
        dead = [p for p in workers if not p.is_alive()]
        if dead and not result.ready():
            codes = ", ".join(f"pid {p.pid}: exit code {p.exitcode}" for p in dead)
            raise PipelineError(f"a tokenize process died ({codes}); was it killed for memory?")
    try:
        return result.get()
    except BirdieError:
        raise
    except Exception as exc:
        raise PipelineError(f"encoding failed in a tokenize process: {type(exc).__name__}: {exc}") from exc
