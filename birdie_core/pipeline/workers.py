"""The training batch stream of one process: in-process, or from worker processes.

With ``num_workers: 0`` the :class:`~birdie_core.pipeline.Pipeline` runs in the calling process. With N > 0,
``torchdata``'s ``StatefulDataLoader`` runs N forked worker processes over an ``IterableDataset``
(``batch_size=None``: every item is one finished batch). Worker ``w`` of rank ``r`` (of ``R`` ranks) runs a
Pipeline on ``Shard(index=r * N + w, count=R * N)``, so the shards of all ranks and workers partition the
source. The DataLoader hands out the workers' batches round-robin, so the global batch index ``g`` of a rank
is ``j * N + w`` for the ``j``-th batch of worker ``w``: a pure function of the stream, never of timing.

Mixture updates. The mixture lives in a :class:`MixtureSchedule`, a small table in shared memory where each
mixture is stamped with the global batch index it takes effect from. Before building batch ``g`` a worker
uses the entry with the largest stamp ``<= g``. The main process stamps an update commanded after it consumed
``k`` batches with ``k + lookahead``, ``lookahead = num_workers * prefetch_factor`` (0 in-process): the
DataLoader has already requested the batches ``k .. k + lookahead - 1`` (a worker may be building them) and
requests batch ``k + lookahead`` only when the main process consumes its next batch, after the update was
written. So every batch uses exactly the mixture its index says, whatever the workers' timing.

Resume. Each worker's iterator has ``state_dict`` / ``load_state_dict`` (its batch counter and its
Pipeline's state); the StatefulDataLoader snapshots them with every batch (``snapshot_every_n_steps=1``), so
its ``state_dict`` describes exactly the batches consumed, and a new loader that loads it continues the exact
stream in fresh workers.

What crosses from a worker per batch: one ``(5, batch_size, sequence_length)`` int32 array (the main process
widens it to ``torch.long`` with numpy, not torch, whose thread pool would then spin), a few small arrays of
metadata, and the snapshot, in which the Pipeline's state is a single leaf (an empty open batch in it holds no
array). The result pipe is widened to hold a whole batch. See ``benchmarks/`` for what this costs.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from birdie_core.errors import BirdieError, PipelineError
from birdie_core.interfaces import PackedBatch, Shard, normalise
from birdie_core.pipeline.build import Components
from birdie_core.pipeline.stream import Pipeline

__all__ = ["BatchInfo", "BatchLoader", "MixtureSchedule"]

_STATE_VERSION = 1


class MixtureSchedule:
    """Mixtures stamped with the global batch index they take effect from, in shared memory.

    Written only by the main process, read by every worker. The table is a ring; the stamps of its entries
    strictly increase (two updates with the same stamp keep the later one). A reader takes the entry with the
    largest stamp ``<= index``. The entry a worker needs was written before the DataLoader requested that
    batch (the request goes through a pipe, which orders the writes before it) and at most ``lookahead``
    newer entries can be written while the worker builds it, so a ring of ``lookahead + 2`` entries is
    enough; an entry being overwritten concurrently carries a stamp that is either too old (a larger stamp
    <= index exists) or too new (> index) to be chosen, so no lock is needed.
    """

    def __init__(self, initial: np.ndarray, lookahead: int):
        mixture = normalise(initial)
        self.num_arms = int(mixture.shape[0])
        self.capacity = int(lookahead) + 16
        # column 0: the stamp (a float64 holds every integer below 2**53 exactly); -1 marks an empty slot
        self._table = torch.full((self.capacity, self.num_arms + 1), -1.0, dtype=torch.float64)
        self._count = torch.zeros(1, dtype=torch.int64)  # entries ever written (the next slot is count % cap)
        # bumped after every write: a reader's last answer holds while it is unchanged (see lookup)
        self._writes = torch.zeros(1, dtype=torch.int64)
        self._table.share_memory_()
        self._count.share_memory_()
        self._writes.share_memory_()
        self._cache: tuple[int, int, np.ndarray] | None = None  # (writes, stamp, mixture) in this process
        self.set(0, mixture)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}

    def set(self, effective: int, mixture: np.ndarray) -> None:
        """Use ``mixture`` for every batch with global index ``>= effective`` (main process only)."""
        m = normalise(mixture)
        if m.shape != (self.num_arms,):
            raise PipelineError(f"the mixture has {m.size} entries for {self.num_arms} arms")
        count = int(self._count[0])
        slot = count % self.capacity
        if count:
            last = (count - 1) % self.capacity
            last_stamp = int(self._table[last, 0])
            if effective < last_stamp:
                raise PipelineError(
                    f"a mixture update effective from batch {effective} follows one effective from batch "
                    f"{last_stamp}: stamps must not decrease"
                )
            if effective == last_stamp:
                slot, count = last, count - 1  # the later update replaces the earlier one
        row = torch.from_numpy(np.concatenate([[-1.0], m]))
        self._table[slot, 1:] = row[1:]
        self._table[slot, 0] = float(effective)  # the stamp last: a half-written row is never chosen early
        self._count[0] = count + 1
        self._writes[0] += 1

    def lookup(self, index: int) -> tuple[int, np.ndarray]:
        """``(stamp, mixture)`` of the entry in force for global batch ``index``.

        Workers call this before every batch. When the answer was the newest entry and nothing has been
        written since, it holds for every later index too, so it is reused without reading the table.
        """
        writes = int(self._writes.numpy()[0])
        cache = self._cache
        if cache is not None and cache[0] == writes and index >= cache[1]:
            return cache[1], cache[2].copy()
        table = self._table.numpy().copy()
        stamps = table[:, 0]
        ok = np.flatnonzero((stamps >= 0) & (stamps <= index))
        if ok.size == 0:
            raise PipelineError(
                f"no mixture is recorded for batch {index}: the schedule keeps only the last "
                f"{self.capacity} updates (this is a bug)"
            )
        best = ok[np.argmax(stamps[ok])]
        stamp, mixture = int(stamps[best]), table[best, 1:].copy()
        # the copy is consistent with `writes` only if no write completed meanwhile
        if stamps[best] == stamps.max() and int(self._writes.numpy()[0]) == writes:
            self._cache = (writes, stamp, mixture.copy())
        return stamp, mixture

    def entries(self) -> list[tuple[int, list[float]]]:
        """The retained entries, oldest first, as plain data (for ``state_dict``)."""
        table = self._table.numpy().copy()
        rows = [r for r in table if r[0] >= 0]
        rows.sort(key=lambda r: r[0])
        return [(int(r[0]), r[1:].tolist()) for r in rows]

    def load(self, entries: list[tuple[int, list[float]]]) -> None:
        """Replace every entry (main process, before workers start)."""
        if not entries:
            raise PipelineError("a mixture schedule needs at least one entry")
        self._table.fill_(-1.0)
        self._count[0] = 0
        self._writes[0] += 1
        for stamp, mixture in entries[-self.capacity :]:
            self.set(int(stamp), np.asarray(mixture, dtype=np.float64))

    def latest(self) -> tuple[int, np.ndarray]:
        """The newest entry: the last commanded mixture and its stamp."""
        entries = self.entries()
        stamp, mixture = entries[-1]
        return stamp, np.asarray(mixture, dtype=np.float64)


@dataclass(slots=True)
class BatchInfo:
    """Metadata of one training batch, kept beside it (``Birdie.last_batch_info``)."""

    index: int  # global batch index of this rank's stream (0, 1, 2, ...)
    worker: int  # the worker that built it (0 in-process)
    shard: tuple[int, int]  # (index, count) of the shard that worker reads
    arm_keys: tuple[str, ...]
    mixture: np.ndarray  # the mixture the batch was drawn with
    segment_arms: np.ndarray  # (batch_size, max segments): arm index of each segment, -1 = none
    arm_positions: np.ndarray  # non-pad positions per arm
    arm_consumed: np.ndarray  # document tokens consumed per arm
    documents: np.ndarray  # (n, 2): (epoch, document index) of documents first used in this batch
    stats: dict[str, Any]  # the building worker's cumulative counters (see data_stats_of)
    #: the training domains (``("train",)`` for a single train source)
    domain_ids: tuple[str, ...] = ("train",)
    #: (n,): the domain (position in ``domain_ids``) of each row of ``documents``; indices are unique per domain
    document_domains: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: document tokens this batch took from each domain
    domain_consumed: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    def segment_objectives(self) -> list[list[str]]:
        """The objective key of every segment, row by row (``segment_ids`` 1, 2, ... in order)."""
        return [[self.arm_keys[a] for a in row if a >= 0] for row in self.segment_arms.tolist()]

    def tokens_per_objective(self) -> dict[str, int]:
        return {k: int(n) for k, n in zip(self.arm_keys, self.arm_positions)}

    def tokens_per_domain(self) -> dict[str, int]:
        """Document tokens this batch took from each training domain."""
        return {k: int(n) for k, n in zip(self.domain_ids, self.domain_consumed)}


def data_stats_of(pipeline: Pipeline) -> dict[str, Any]:
    """A pipeline's counters as plain data: documents read and skipped (and why), tokens dropped, examples and
    positions per arm, per domain the documents read, the document tokens consumed and the documents held out
    for validation, its sources' own counters (``source.stats``: empty documents, invalid UTF-8, ...) and its
    tokenizer's (``tokenizer.stats``, e.g. the bytes tokenizer's lone surrogates replaced)."""
    stats = pipeline.stats
    source_stats = getattr(pipeline.source, "stats", None)
    tokenizer_stats = getattr(pipeline.tokenizer, "stats", None)
    return {
        "documents_read": stats.documents_read,
        "documents_too_short": stats.documents_skipped,
        "tail_tokens_dropped": stats.tail_tokens_dropped,
        "epochs_completed": stats.epochs_completed,
        "examples": stats.examples.tolist(),
        "positions": stats.positions.tolist(),
        "domains": {
            d: {"documents": int(n), "tokens": int(t), "held_out": int(h)}
            for d, n, t, h in zip(
                pipeline.domain_ids, stats.domain_documents, stats.domain_consumed, stats.domain_held_out
            )
        },
        "source": {k: int(v) for k, v in source_stats.items()} if isinstance(source_stats, dict) else {},
        "tokenizer": (
            {k: int(v) for k, v in tokenizer_stats.items()} if isinstance(tokenizer_stats, dict) else {}
        ),
    }


def sum_data_stats(parts: Iterable[dict[str, Any]], arm_keys: tuple[str, ...]) -> dict[str, Any]:
    """Counters of several workers (or ranks) added up; per-arm lists become ``{arm key: count}``."""
    total: dict[str, Any] = {
        "documents_read": 0,
        "documents_too_short": 0,
        "tail_tokens_dropped": 0,
        "examples": dict.fromkeys(arm_keys, 0),
        "positions": dict.fromkeys(arm_keys, 0),
        "domains": {},
        "source": {},
        "tokenizer": {},
    }
    for part in parts:
        for key in ("documents_read", "documents_too_short", "tail_tokens_dropped"):
            total[key] += int(part[key])
        for key in ("examples", "positions"):
            values = part[key].values() if isinstance(part[key], dict) else part[key]
            for arm, n in zip(arm_keys, values):
                total[key][arm] += int(n)
        for domain, counts in part.get("domains", {}).items():
            into = total["domains"].setdefault(domain, {})
            for key, n in counts.items():
                into[key] = into.get(key, 0) + int(n)
        for group in ("source", "tokenizer"):
            # .get: counters saved before tokenizers had any carry no "tokenizer" group
            for key, n in part.get(group, {}).items():
                total[group][key] = total[group].get(key, 0) + int(n)
    return total


def _identity(item: Any) -> Any:
    return item


def _widen_result_pipe(loader_iter: Any, batch_bytes: int) -> None:
    """Let the pipe that carries the workers' batches hold a whole batch (Linux; best effort).

    A pipe holds 64 KiB by default, so a batch of a few hundred KiB crossed it in several rounds of write,
    wake-up and read; in one round the main process spent about a third less CPU time per 330 KB batch. The
    size is capped at ``/proc/sys/fs/pipe-max-size`` (1 MiB by default); where any of this is unavailable
    (not Linux, no permission) the pipe stays as it was.
    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    reader = getattr(getattr(loader_iter, "_data_queue", None), "_reader", None)
    if set_size is None or reader is None:
        return
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            limit = int(f.read())
        fcntl.fcntl(reader.fileno(), set_size, min(limit, max(1 << 16, 2 * batch_bytes)))
    except (OSError, ValueError):
        pass


class _BatchIterator:
    """One worker's stream: a Pipeline on its shard, applying the schedule's mixture before each batch."""

    def __init__(self, stream: BatchStream, worker: int, num_workers: int):
        self.worker = worker
        self.num_workers = num_workers
        self.shard = Shard(stream.rank * num_workers + worker, stream.world_size * num_workers)
        self.schedule = stream.schedule
        self.local = 0  # batches this worker has built
        _, mixture = self.schedule.lookup(worker)
        self.pipeline = stream.components.pipeline("train", self.shard, mixture)
        self._mixture = self.pipeline.mixture

    def __iter__(self) -> _BatchIterator:
        return self

    def __next__(self) -> dict[str, Any]:
        index = self.local * self.num_workers + self.worker
        _, mixture = self.schedule.lookup(index)
        if not np.array_equal(mixture, self._mixture):
            self.pipeline.set_mixture(mixture)
        self._mixture = mixture
        batch = self.pipeline.next_batch()
        self.local += 1
        # One (5, batch, length) array of the packer's int32 crosses the process boundary: one buffer to
        # pickle and half the bytes of five int64 arrays. The main process widens it once (BatchLoader.next).
        stacked = np.stack([getattr(batch, k) for k in batch.TENSOR_KEYS])
        return {
            "tensors": stacked,
            "index": index,
            "worker": self.worker,
            "shard": (self.shard.index, self.shard.count),
            "mixture": mixture,
            "segment_arms": batch.segment_arms,
            "arm_positions": batch.arm_positions,
            "arm_consumed": batch.arm_consumed,
            "documents": self.pipeline.last_documents,
            "document_domains": self.pipeline.last_document_domains,
            "domain_consumed": self.pipeline.last_domain_consumed,
            # cumulative counters of this worker, so that the training process sees what happens in workers
            "stats": data_stats_of(self.pipeline),
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "local": self.local,
            "shard": (self.shard.index, self.shard.count),
            # In a 1-tuple, so that torchdata keeps it as one leaf: its incremental snapshots split every
            # nested dict into leaves in the worker and rebuild them in the main process after every batch,
            # which for the pipeline's state cost the main process more than receiving the batch itself.
            "pipeline": (self.pipeline.state_dict(),),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise PipelineError(f"unknown batch stream state version {state.get('version')!r}")
        if tuple(state["shard"]) != (self.shard.index, self.shard.count):
            raise PipelineError(
                f"the state was saved by shard {tuple(state['shard'])}, this worker reads shard "
                f"{(self.shard.index, self.shard.count)}: resume with the same number of workers and ranks"
            )
        self.local = int(state["local"])
        pipeline = state["pipeline"]
        self.pipeline.load_state_dict(pipeline[0] if isinstance(pipeline, (tuple, list)) else pipeline)
        self._mixture = self.pipeline.mixture


class BatchStream(torch.utils.data.IterableDataset):
    """The IterableDataset the DataLoader's workers iterate: each builds a :class:`_BatchIterator`.

    Workers are forked, so the components (with any Python objects beside the config) and the registry are
    inherited, not pickled. Where fork is unavailable only the config travels, and the worker resolves it
    again against the default registry.
    """

    def __init__(self, components: Components, schedule: MixtureSchedule, rank: int, world_size: int):
        super().__init__()
        self.components = components
        self.schedule = schedule
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        if info is None:
            return _BatchIterator(self, 0, 1)
        return _BatchIterator(self, info.id, info.num_workers)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["components"] = self.components.loaded  # spawn only: plugin objects need not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.components = Components.resolve(state["components"])


#: Seconds between a worker's checks that the training process is still there (the watchdog of _die_with).
PARENT_CHECK_INTERVAL = 0.5
_PR_SET_PDEATHSIG = 1


def _die_with(parent_pid: int, ignore: tuple[int, ...], worker_id: int) -> None:
    """``worker_init_fn``: a worker never outlives the training process, whatever kills it.

    On Linux the kernel sends the worker SIGKILL when its parent dies (a parent-death signal); everywhere a
    watchdog thread checks every PARENT_CHECK_INTERVAL seconds that the parent is still there, which also
    covers a parent that died before the signal was armed and a worker blocked writing into a full pipe
    (torch's own check runs only between batches). The signal fires when the *thread* that forked the worker
    ends, so build Birdie's loader in a thread that lives as long as training does (the main thread does).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl (an unusual libc): the watchdog alone
            pass
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    # Stop signals the training process acts on itself (see _signals_to_ignore) are its to act on: a scheduler
    # or a Ctrl-C that signals the whole process group must not take the workers away before, say, `birdie
    # train` has written its checkpoint. The workers still die with the training process.
    for sig in ignore:
        signal.signal(sig, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_INTERVAL)
        os._exit(1)

    threading.Thread(target=watch, name="birdie-parent-watchdog", daemon=True).start()


def _start_method() -> str | None:
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else None


def _signals_to_ignore() -> tuple[int, ...]:
    """The stop signals workers leave to the training process: SIGTERM and SIGUSR1 always (a scheduler may
    send them to every process of a job), SIGINT when the training process handles it itself (as `birdie
    train` does). A loop that lets Ctrl-C raise KeyboardInterrupt keeps the usual behaviour: the workers in the
    terminal's process group stop with it."""
    ignore = [signal.SIGTERM, signal.SIGUSR1]
    handler = signal.getsignal(signal.SIGINT)
    if handler not in (signal.default_int_handler, signal.SIG_DFL, None):
        ignore.append(signal.SIGINT)
    return tuple(int(s) for s in ignore)


def _close_at_exit(loader: BatchLoader) -> None:
    """Stop ``loader``'s workers when the interpreter exits, before multiprocessing's own exit handler runs.

    That handler terminates daemon children with SIGTERM and then joins them; our workers ignore SIGTERM (see
    _die_with), so it would wait for ever. atexit runs handlers last-registered first, and this one is
    registered when the workers start, after multiprocessing registered its own.
    """
    ref = weakref.ref(loader)

    def close() -> None:
        live = ref()
        if live is not None:
            live.close()

    atexit.register(close)


def _no_async_worker_errors(loader_iter: Any) -> None:
    """Stop torch raising a worker's death asynchronously from its SIGCHLD handler.

    That handler raises a RuntimeError wherever the training process happens to be (inside the model's
    forward pass, say), and a loader interrupted that way can block on its next request. Without it, a dead
    worker is found when the loader next waits for a batch: torch checks its workers every 5 s while waiting
    and raises there, where :meth:`BatchLoader.next` turns it into a PipelineError naming the worker and signal.
    """
    if getattr(loader_iter, "_worker_pids_set", False):
        from torch.utils.data._utils import signal_handling

        signal_handling._remove_worker_pids(id(loader_iter))
        loader_iter._worker_pids_set = False


class BatchLoader:
    """The training batches of one rank, from the in-process pipeline or from N worker processes
    (``workers.num_workers`` of the config, each preparing ``workers.prefetch_factor`` batches ahead).

    :meth:`next` returns ``(tensors, info)``. Any failure of the data pipeline (a worker that raised, died or
    timed out) is raised as a :class:`PipelineError` carrying the worker's traceback, after every worker has
    been stopped; the loader cannot be used after that.
    """

    def __init__(
        self,
        components: Components,
        schedule: MixtureSchedule,
        *,
        rank: int = 0,
        world_size: int = 1,
        timeout: float = 0.0,
    ):
        cfg = self.cfg = components.config
        self.schedule = schedule
        self.arm_keys = components.keys
        self.domain_ids = components.domain_ids
        self.rank, self.world_size = rank, world_size
        self.num_workers = cfg.workers.num_workers
        self.prefetch_factor = cfg.workers.prefetch_factor
        self.timeout = timeout
        self.seed = cfg.seed
        self._stream = BatchStream(components, schedule, rank, world_size)
        self._loader: Any = None
        self._iter: Any = None
        self._failure: str | None = None
        self._closed = False
        self._stats_by_worker: dict[int, dict[str, Any]] = {}

    @property
    def lookahead(self) -> int:
        """Batches already requested when one is consumed: an update's stamp is ``consumed + lookahead``."""
        return self.num_workers * self.prefetch_factor

    @property
    def started(self) -> bool:
        return self._iter is not None

    def start(self, state: dict[str, Any] | None = None) -> None:
        """Build the pipeline (in-process) or start the workers, continuing from ``state`` if given."""
        if self._failure is not None:
            raise PipelineError(f"the data pipeline failed earlier and is stopped: {self._failure}")
        if self._iter is not None:
            return
        try:
            if self.num_workers == 0:
                it = _BatchIterator(self._stream, 0, 1)
                if state is not None:
                    it.load_state_dict(state)
                self._iter = it
                return
            from torchdata.stateful_dataloader import StatefulDataLoader

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*set_vital.*")  # torchdata 0.11 on torch >= 2.9
                self._loader = self._make_loader(StatefulDataLoader)
            if state is not None:
                self._loader.load_state_dict(state)
            self._iter = iter(self._loader)
            _no_async_worker_errors(self._iter)
            _close_at_exit(self)
            # five int32 arrays per batch
            _widen_result_pipe(self._iter, 20 * self.cfg.batch_size * self.cfg.sequence_length)
        except BaseException as exc:
            self.close()
            if isinstance(exc, Exception):
                raise self._as_pipeline_error(exc) from exc
            raise

    def _make_loader(self, loader_cls: Any) -> Any:
        return loader_cls(
            self._stream,
            batch_size=None,
            num_workers=self.num_workers,
            prefetch_factor=self.prefetch_factor,
            collate_fn=_identity,
            timeout=self.timeout,
            multiprocessing_context=_start_method(),
            worker_init_fn=functools.partial(_die_with, os.getpid(), _signals_to_ignore()),
            # the loader's base seed must not come from (and advance) the global torch RNG
            generator=torch.Generator().manual_seed(self.seed),
            snapshot_every_n_steps=1,
        )

    def next(self) -> tuple[dict[str, torch.Tensor], BatchInfo]:
        if self._iter is None:
            self.start()
        try:
            # a worker that died while the training process was busy is found here at once; one that dies
            # while we wait is found by torch within its 5 s status check
            if self.num_workers and self._dead_workers():
                raise ChildProcessError("a data worker died")  # named by _as_pipeline_error below
            item = next(self._iter)
        except StopIteration:  # the stream is endless: only a bug gets here
            self.close()
            raise PipelineError("the batch stream ended unexpectedly") from None
        except Exception as exc:
            dead = self._dead_workers()
            self.close()
            err = self._as_pipeline_error(exc, dead)
            self._failure = str(err).splitlines()[0]
            raise err from exc
        # torch.long in one conversion, by numpy: torch's own conversion of an array this size runs on its
        # thread pool, whose threads then spin for milliseconds, taking CPU time from the workers. Each key
        # is a contiguous (batch, length) view of the result.
        stacked = torch.from_numpy(np.asarray(item["tensors"]).astype(np.int64))
        tensors = dict(zip(PackedBatch.TENSOR_KEYS, stacked.unbind(0)))
        info = BatchInfo(
            index=int(item["index"]),
            worker=int(item["worker"]),
            shard=tuple(item["shard"]),
            arm_keys=self.arm_keys,
            mixture=np.asarray(item["mixture"]),
            segment_arms=np.asarray(item["segment_arms"]),
            arm_positions=np.asarray(item["arm_positions"]),
            arm_consumed=np.asarray(item["arm_consumed"]),
            documents=np.asarray(item["documents"]),
            stats=item["stats"],
            domain_ids=self.domain_ids,
            document_domains=np.asarray(item["document_domains"]),
            domain_consumed=np.asarray(item["domain_consumed"]),
        )
        self._stats_by_worker[info.worker] = info.stats
        return tensors, info

    def data_stats(self) -> dict[str, Any]:
        """What the workers of this rank have read and made so far, summed over workers (see data_stats_of).

        Each worker's counters arrive with its batches, so they describe the batches consumed (and any the
        workers had built ahead), and continue across a resume.
        """
        return sum_data_stats(self._stats_by_worker.values(), self.arm_keys)

    def _dead_workers(self) -> list[str]:
        """How each worker that has exited died: ``data worker 1 (pid 4242, rank 0) was killed by signal SIGKILL``."""
        out = []
        for i, w in enumerate(getattr(self._iter, "_workers", None) or []):
            code = w.exitcode
            if code is None or w.is_alive():
                continue
            if code < 0:
                try:
                    how = f"was killed by signal {signal.Signals(-code).name}"
                except ValueError:
                    how = f"was killed by signal {-code}"
            else:
                how = f"exited with code {code}"
            out.append(f"data worker {i} (pid {w.pid}, rank {self.rank}) {how}")
        return out

    def _as_pipeline_error(self, exc: Exception, dead: list[str] | None = None) -> BirdieError:
        if isinstance(exc, BirdieError):
            return exc  # a worker's BirdieError arrives re-raised with the worker's traceback in its message
        if dead:
            return PipelineError(
                "; ".join(dead) + ". The data pipeline is stopped; restart the run from its last checkpoint"
            )
        where = "the data pipeline" if self.num_workers == 0 else "a data worker"
        return PipelineError(f"{where} failed: {type(exc).__name__}: {exc}")

    def state_dict(self) -> dict[str, Any] | None:
        """The position after the batches consumed so far (None before the first batch was requested).

        A stopped loader has no position to give: after a failure or :meth:`close` this raises.
        """
        if self._failure is not None:
            raise PipelineError(f"the data pipeline failed and has no resumable state: {self._failure}")
        if self._closed:
            raise PipelineError("the data pipeline is closed: take its state before closing it")
        if self._iter is None:
            return None
        if self.num_workers == 0:
            return self._iter.state_dict()
        return self._loader.state_dict()

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes (empty in-process or before the first batch)."""
        workers = getattr(self._iter, "_workers", None) or []
        return [w.pid for w in workers if w.is_alive()]

    def close(self, grace: float = 2.0) -> None:
        """Stop every worker process now; they are gone when this returns (at most ``grace`` s + a kill).

        Workers are killed rather than asked to finish: torch's orderly shutdown joins each worker for up to
        5 s, and a worker whose result pipe is full (the main process stopped reading, e.g. after Ctrl-C)
        cannot exit by itself. They ignore SIGTERM (see _die_with), so it is SIGKILL; they hold nothing that
        needs cleaning up.
        """
        it, self._iter, self._loader = self._iter, None, None
        if it is None:
            return
        self._closed = True
        if self.num_workers == 0:
            it.pipeline.close()
            return
        workers = list(getattr(it, "_workers", None) or [])
        _no_async_worker_errors(it)  # they may exit now without torch raising about it
        for w in workers:
            if w.is_alive():
                w.kill()
        deadline = time.monotonic() + grace
        for w in workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.is_alive():
                w.kill()
                w.join(timeout=1.0)
        # Not torch's _shutdown_workers: it sets the workers' done event, whose lock the workers take every
        # time they check it, and a worker killed while holding it (here, or by anything else) would make that
        # wait for ever. Marking the iterator shut down keeps torch from trying later (on collection); the
        # queues are closed here without waiting on their feeder threads.
        it._shutdown = True
        for queue in [getattr(it, "_worker_result_queue", None), *(getattr(it, "_index_queues", None) or [])]:
            if queue is not None:
                queue.cancel_join_thread()
                queue.close()
