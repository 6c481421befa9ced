"""``fasta``: windows of FASTA records as documents, streamed, sharded, with runs of N cut out.

Each record is cut into **windows** of ``window`` bases, consecutive windows sharing ``overlap`` bases
(window ``k`` of a stretch starts at ``k * (window - overlap)``); the last window of a stretch holds the
bases left, or — when fewer than ``min_length`` are left — the stretch's last ``window`` bases (overlapping
its predecessor more), so that every base of a long stretch is in some window. Every window is one :class:`~birdie_core.Document`, numbered 0, 1, 2, … across all
files and records in order — the same numbers in every run and every process — so the shards of all ranks
and workers partition the windows with nothing read twice and nothing lost. ``Document.origin`` says where
the window is: ``path record:first-last`` (1-based, inclusive, record coordinates).

Runs of N. A run of more than ``max_n_run`` N's (IUPAC ambiguity codes count as N) is cut out of the record:
the bases before and after it are separate stretches, windowed separately. With the default
``max_n_run: 0`` no window holds an N at all, so even the core objectives (next-nucleotide, prefix-LM)
never see one; a larger value keeps short runs inside windows, where the DNA objectives keep them out of
their targets. A stretch shorter than ``min_length`` bases makes no document. What is cut or skipped is counted in :attr:`FastaSource.stats` and logged once per file:
nothing is dropped silently.

Splits: with ``validation_every: k`` every ``k``-th window (0, k, 2k, …) belongs to the ``validation``
split and the others to ``train``; each split numbers its own windows 0, 1, 2, …. (Overlapping windows
leak bases between the splits: use ``overlap: 0`` with it, or validate on another genome.) Without it,
the source gives every window to whatever split it is configured for.

``rc_augment: p`` gives each window as its reverse complement with probability ``p``, decided by a hash of
``(seed, epoch, window index)``: deterministic, different in each epoch, and applying to every objective,
the core ones included. (DNA objectives also have their own ``rc_augment``.)

The files are re-read on every epoch and by every shard (a FASTA file has no index to seek in); a shard
decodes only its own windows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from birdie_core import WHOLE_SPLIT, ConfigFloat, ConfigInt, Document, Shard, SourceConfig
from birdie_core.tools import UNREAD_COMPRESSIONS, expand_paths
from birdie_objectives_dna.alphabet import Kind, reverse_complement_text
from birdie_objectives_dna.fasta import CHUNK_SIZE, Record, scan_fasta
from birdie_objectives_dna.genomes import genome_path

__all__ = ["FastaSource", "FastaSourceConfig", "Window", "windows"]

log = logging.getLogger(__name__)

_UNSUPPORTED = {
    **UNREAD_COMPRESSIONS,
    ".fastq": "FASTQ is not read; convert it to FASTA",
    ".fq": "FASTQ is not read; convert it to FASTA",
    ".gb": "GenBank files are not read; export the sequence as FASTA",
    ".gbk": "GenBank files are not read; export the sequence as FASTA",
}

_STAT_KEYS = (
    "documents",  # windows yielded to this reader (its shard and split)
    "records",
    "bases",  # bases read (every shard reads every file)
    "windows",  # windows made, all shards and splits
    "ambiguous",  # IUPAC ambiguity codes (read as N)
    "soft_masked",  # lower-case bases
    "n_runs_cut",  # runs of N longer than max_n_run, cut out
    "n_bases_cut",  # the N's in them
    "short_stretches",  # stretches shorter than min_length: no document
    "short_bases",  # the bases in them
    "rc_augmented",  # windows given reverse-complemented
)


def _unsupported_suffix(path: str) -> str | None:
    return _UNSUPPORTED.get(os.path.splitext(path.lower())[1])


def _new_stats() -> dict[str, int]:
    return dict.fromkeys(_STAT_KEYS, 0)


class Window:
    """One window of a record: where it is and its bases (ASCII)."""

    __slots__ = ("data", "path", "record", "start")

    def __init__(self, path: str, record: Record, start: int, data: bytes):
        self.path, self.record, self.start, self.data = path, record, start, data

    @property
    def origin(self) -> str:
        return f"{self.path} {self.record.id}:{self.start + 1}-{self.start + len(self.data)}"


class _Windower:
    """Cuts one record, fed piece by piece, into windows; cuts out long runs of N (see the module doc).

    Holds at most ``window`` bases plus the piece being fed, whatever the record's length.
    """

    def __init__(self, window: int, overlap: int, max_n_run: int, min_length: int, stats: dict[str, int]):
        self.window, self.stride, self.overlap = window, window - overlap, overlap
        self.max_n_run, self.min_length, self.stats = max_n_run, min_length, stats
        self.buf = bytearray()  # bases of the open stretch from buf_start on
        self.buf_start = 0  # record coordinate of buf[0]
        self.open = False  # a stretch is open
        self.emitted = False  # the open stretch has made a window
        self.last = b""  # the last window made
        self.held = bytearray()  # an N run at the end, not yet known to be short
        self.held_start = 0
        self.dropping = False  # inside a long N run being cut out
        self.pos = 0  # record coordinate of the next base fed
        self.out: list[tuple[int, bytes]] = []

    def feed(self, clean: bytes, kinds: np.ndarray) -> list[tuple[int, bytes]]:
        """Windows completed by the next bases of the record: ``(start, bases)``."""
        self.out = []
        if int(kinds.max()) < Kind.N and not self.held and not self.dropping:  # no N anywhere: fast path
            self._append(clean, self.pos)
            self.pos += len(clean)
        else:
            n_like = kinds >= Kind.N
            edges = np.flatnonzero(np.diff(n_like.astype(np.int8), prepend=np.int8(0), append=np.int8(0)))
            i = 0
            for s, e in zip(edges[::2].tolist(), edges[1::2].tolist()):  # the runs of N in this piece
                if s > i:
                    self._clean(clean[i:s])
                self._n_run(clean[s:e])
                i = e
            if i < len(clean):
                self._clean(clean[i:])
        return self.out

    def finish(self) -> list[tuple[int, bytes]]:
        """The last windows of the record."""
        self.out = []
        if self.held:  # a short run of N ends the record: kept, like any short run
            self._append(bytes(self.held), self.held_start)
            self.held.clear()
        self._close()
        self.dropping = False
        return self.out

    # -- internals ------------------------------------------------------------------------------------------
    def _clean(self, part: bytes) -> None:
        if self.dropping:
            self.dropping = False  # a long run ended: the new stretch opens at this base
        elif self.held:
            self._append(bytes(self.held), self.held_start)  # the run was short: it stays in the stretch
            self.held.clear()
        self._append(part, self.pos)
        self.pos += len(part)

    def _n_run(self, part: bytes) -> None:
        if self.dropping:
            self.stats["n_bases_cut"] += len(part)
            self.pos += len(part)
            return
        if not self.held:
            self.held_start = self.pos
        self.held += part
        self.pos += len(part)
        if len(self.held) > self.max_n_run:  # a long run: the stretch ends before it
            self._close()
            self.stats["n_runs_cut"] += 1
            self.stats["n_bases_cut"] += len(self.held)
            self.held.clear()
            self.dropping = True

    def _append(self, part: bytes, at: int) -> None:
        """Add bases starting at record coordinate ``at`` to the stretch (opening one if none is open)."""
        if not self.open:
            self.open, self.emitted, self.buf_start = True, False, at
            self.buf.clear()
        self.buf += part
        buf, window, stride = self.buf, self.window, self.stride
        while len(buf) >= window:
            self.last = bytes(buf[:window])
            self.out.append((self.buf_start, self.last))
            self.emitted = True
            del buf[:stride]
            self.buf_start += stride

    def _close(self) -> None:
        if not self.open:
            return
        self.open = False
        new = len(self.buf) - (self.overlap if self.emitted else 0)  # bases in no window yet
        if new <= 0:
            return
        if len(self.buf) >= self.min_length:
            self.out.append((self.buf_start, bytes(self.buf)))
        elif self.emitted:  # a last window too short to use: the stretch's last `window` bases instead
            data = (self.last + bytes(self.buf[self.overlap :]))[-self.window :]
            self.out.append((self.buf_start + len(self.buf) - len(data), data))
        else:
            self.stats["short_stretches"] += 1
            self.stats["short_bases"] += new


def windows(
    path: str,
    window: int,
    overlap: int = 0,
    max_n_run: int = 0,
    min_length: int = 1,
    stats: dict[str, int] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Window]:
    """Every window of one FASTA file, in order (see the module docstring)."""
    stats = stats if stats is not None else _new_stats()
    cutter: _Windower | None = None
    record: Record | None = None
    for event in scan_fasta(path, chunk_size):
        kind = event[0]
        if kind == "record":
            record = event[1]
            stats["records"] += 1
            cutter = _Windower(window, overlap, max_n_run, min_length, stats)
            continue
        assert cutter is not None and record is not None, "scan_fasta yields a header before its bases"
        if kind == "bases":
            _, clean, kinds = event
            stats["bases"] += len(clean)
            if int(kinds.max()) > Kind.BASE:
                stats["soft_masked"] += int(np.count_nonzero((kinds & 1) == 0))
                stats["ambiguous"] += int(np.count_nonzero(kinds >= Kind.AMBIGUOUS))
            made = cutter.feed(clean, kinds)
        else:
            made = cutter.finish()
        for start, data in made:
            stats["windows"] += 1
            yield Window(path, record, start, data)


def _mix(*values: int) -> int:
    """A 64-bit hash of integers (splitmix64 steps): the same in every process, unlike ``hash``."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h = (h ^ (h >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h


class FastaSourceConfig(SourceConfig):
    """Parameters of the ``fasta`` source: which files and genomes, how they are cut into windows."""

    paths: list[str] = Field(
        default_factory=list,
        description="FASTA files or glob patterns (plain or .gz), relative to the working directory.",
    )
    builtin: list[Literal["lambda", "t7"]] = Field(
        default_factory=list,
        description="Shipped genomes to read before `paths`: lambda (NC_001416.1), t7 (NC_001604.1).",
    )
    window: ConfigInt = Field(1024, ge=1, description="Bases per window (one document).")
    overlap: ConfigInt = Field(0, ge=0, description="Bases two consecutive windows share.")
    max_n_run: ConfigInt = Field(
        0, ge=0, description="Longest run of N kept inside a window; longer runs are cut out."
    )
    min_length: ConfigInt = Field(
        16,
        ge=1,
        description="Stretches of fewer bases (between runs of N, or whole records) are skipped.",
    )
    validation_every: ConfigInt | None = Field(
        None, ge=2, description="Every k-th window is the validation split, the others train."
    )
    rc_augment: ConfigFloat = Field(
        0.0, ge=0.0, le=1.0, description="Probability of giving a window reverse-complemented."
    )
    seed: ConfigInt = Field(0, ge=0, description="Seed of the rc_augment decisions.")

    @field_validator("paths", "builtin", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> FastaSourceConfig:
        if not self.paths and not self.builtin:
            raise ValueError("give `paths` (FASTA files) or `builtin` (lambda, t7), or both")
        if self.overlap >= self.window:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than window ({self.window})")
        if self.min_length > self.window:
            raise ValueError(f"min_length ({self.min_length}) cannot exceed window ({self.window})")
        if self.validation_every is not None and self.split not in ("train", "validation"):
            raise ValueError(
                f"with validation_every the split must be 'train' or 'validation', not {self.split!r}"
            )
        return self


class FastaSource:
    """Windows of the records of FASTA files (plain or gzip) and of the shipped genomes, as documents.

    See the module docstring for windows, runs of N, splits and reverse-complement augmentation.
    """

    Config = FastaSourceConfig

    def __init__(self, config: FastaSourceConfig | None = None):
        self.config = config or FastaSourceConfig(name="fasta", builtin=["lambda"])
        paths = expand_paths(self.config.paths, directory_hint="*.fa.gz", reject=_unsupported_suffix)
        self.files: list[str] = [genome_path(g) for g in self.config.builtin] + paths
        self.stats = _new_stats()
        self._reported: set[str] = set()

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        c = self.config
        every = c.validation_every
        want_validation = c.split == "validation"
        rc_threshold = int(c.rc_augment * 2**64)
        w = 0  # window number over all splits
        index = 0  # document number within this split
        for path in self.files:
            stats = _new_stats()
            try:
                for win in windows(path, c.window, c.overlap, c.max_n_run, c.min_length, stats):
                    w += 1
                    if every is not None and ((w - 1) % every == 0) != want_validation:
                        continue
                    i, index = index, index + 1
                    if not shard.owns(i):
                        continue
                    text = win.data.decode("ascii")
                    if rc_threshold and _mix(c.seed, epoch, i) < rc_threshold:
                        text = reverse_complement_text(text)
                        stats["rc_augmented"] += 1
                    stats["documents"] += 1
                    yield Document(i, text, win.origin)
            finally:
                for k, v in stats.items():
                    self.stats[k] += v
            self._report(path, stats)

    def _report(self, path: str, stats: dict[str, int]) -> None:
        """Say once per file what was read as N, cut out or skipped (the counts are in ``stats``)."""
        if path in self._reported:
            return
        self._reported.add(path)
        notes = []
        if stats["ambiguous"]:
            notes.append(f"{stats['ambiguous']} IUPAC ambiguity codes read as N")
        if stats["n_runs_cut"]:
            notes.append(
                f"{stats['n_runs_cut']} runs of more than {self.config.max_n_run} N cut out "
                f"({stats['n_bases_cut']} bases)"
            )
        if stats["short_stretches"]:
            notes.append(
                f"{stats['short_stretches']} stretches shorter than {self.config.min_length} bases skipped "
                f"({stats['short_bases']} bases)"
            )
        if notes:
            log.warning("%s: %s (counted in the source's stats)", path, "; ".join(notes))
        log.info(
            "%s: %d records, %d bases, %d windows (%d soft-masked bases)",
            path,
            stats["records"],
            stats["bases"],
            stats["windows"],
            stats["soft_masked"],
        )

    def __repr__(self) -> str:
        return (
            f"FastaSource({len(self.files)} files, window={self.config.window}, split={self.config.split!r})"
        )
