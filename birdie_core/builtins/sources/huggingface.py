"""``huggingface``: a Hugging Face ``datasets`` dataset, map-style or streaming, read offline.

Where the data comes from (``path``):

- a directory written by ``save_to_disk`` (a ``Dataset`` or a ``DatasetDict``), recognised by its
  ``state.json`` / ``dataset_dict.json`` and opened with ``load_from_disk``; memory-mapped, so it is always
  read map-style (``streaming`` has nothing to add);
- a builder (``json``, ``parquet``, ``arrow``, ``text``, ``csv``) with local ``data_files``;
- a local directory of data files, or a hub name whose data is already in the ``datasets`` cache.

The hub is never reached: ``datasets`` runs in its offline mode while the dataset is opened.

Exactly once per epoch, whatever the number of readers (ranks × DataLoader workers):

- map-style: the rows are cut into blocks of :data:`BLOCK_ROWS`; each epoch visits the blocks in a permuted
  order (:func:`~birdie_core.tools.shuffle.epoch_permutation`) and reader ``r`` of ``R`` takes the ``r``-th of
  ``R`` near-equal consecutive stretches of that sequence, read as Arrow slices of the text column only.
  ``Document.index`` is the row's index in the split.
- streaming: the dataset's shards (``n_shards``, usually its files) are visited in a per-epoch permuted
  order. With enough shards (a multiple of the readers, or at least four per reader) each reader streams
  whole shards of its own; otherwise every reader streams them all and keeps every ``R``-th row. Either way
  the split is made here, with ``IterableDataset.shard`` and ``IterableDataset.iter``, which, unlike
  iterating the dataset itself, do not split it again by the DataLoader worker they run in.
  ``Document.index`` is ``shard * STREAM_SHARD_STRIDE + row within the shard``.
"""

from __future__ import annotations

import contextlib
import difflib
import glob
import importlib
import importlib.util
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from birdie_core.builtins.sources.common import FieldError, new_stats, select_field, validate_selector
from birdie_core.errors import ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, Document, Shard, SourceConfig
from birdie_core.tools.shuffle import epoch_permutation

__all__ = ["BLOCK_ROWS", "STREAM_SHARD_STRIDE", "HuggingFaceSource", "HuggingFaceSourceConfig"]

#: Rows per block of a map-style dataset: blocks are the unit of the per-epoch order, small enough for the
#: pipeline's shuffle buffer to mix neighbours, large enough to be read as one Arrow slice.
BLOCK_ROWS = 1000
#: ``Document.index`` of row ``j`` of shard ``k`` of a streamed dataset is ``k * STREAM_SHARD_STRIDE + j``:
#: stable without counting the rows of the shards before it (which would mean reading them).
STREAM_SHARD_STRIDE = 10**12
#: Builders of ``datasets`` that read local files; each needs ``data_files``.
FILE_BUILDERS = frozenset({"json", "parquet", "arrow", "text", "csv"})
_BATCH_ROWS = 1000  # rows per Arrow batch of a stream


class HuggingFaceSourceConfig(SourceConfig):
    """Parameters of the ``huggingface`` source: where the dataset is, its split and files, the text field."""

    path: str = Field(
        description="A directory written by save_to_disk, a builder ('json', 'parquet', 'arrow', 'text', "
        "'csv') with data_files, a local directory of data files, or a hub name already in the datasets cache."
    )
    # `name` is taken by the component name, so the dataset configuration is `config_name`
    config_name: str | None = Field(None, description="The dataset configuration (datasets' `name`).")
    data_files: str | list[str] | dict[str, str | list[str]] | None = Field(
        None,
        description="Local files: a path or glob, a list, or a mapping split -> files. A path or a list is "
        "read as the split this source reads.",
    )
    field: str = Field("text", description="Dotted selector of the text in each row.")
    streaming: bool = Field(
        False, description="Stream the rows from the files instead of building an Arrow cache."
    )
    cache_dir: str | None = Field(
        None, description="Where datasets keeps its cache (default: its own, HF_DATASETS_CACHE)."
    )

    @field_validator("field")
    @classmethod
    def _selector(cls, v: str) -> str:
        return validate_selector(v)

    @model_validator(mode="after")
    def _files_for_the_split(self) -> HuggingFaceSourceConfig:
        if self.path in FILE_BUILDERS and not self.data_files:
            raise ValueError(
                f"the {self.path!r} builder reads local files: set data_files (a path, a glob or a list)"
            )
        if isinstance(self.data_files, dict) and split_name(self.split) not in self.data_files:
            named = ", ".join(map(repr, self.data_files)) or "none"
            raise ValueError(
                f"data_files names the splits {named} but this source reads split {self.split!r}: write "
                f"data_files: {{{split_name(self.split)}: FILES}}, or a plain path or list (read as this split)"
            )
        return self


def split_name(split: str) -> str:
    """The split without the slice ``datasets`` accepts after it (``train[:10%]`` -> ``train``)."""
    return split.split("[", 1)[0]


class HuggingFaceSource:
    """A Hugging Face ``datasets`` dataset; see the module docstring for how it is found, split and ordered.

    ``datasets`` is optional: it is imported only when this source is used, and a missing install is a
    :class:`PipelineError` saying how to get it. The dataset is opened on first use (in each worker process);
    missing files are reported when the source is built.
    """

    Config = HuggingFaceSourceConfig

    def __init__(self, config: HuggingFaceSourceConfig):
        self.config = config
        self.stats = new_stats()
        self._dataset: Any = None
        self._column, _, rest = config.field.partition(".")
        self._nested = bool(rest)
        if importlib.util.find_spec("datasets") is None:
            raise PipelineError(
                f"the 'huggingface' source (dataset {config.path!r}) needs the `datasets` package, which is "
                f"not installed: pip install datasets"
            )
        self._from_disk = _saved_dataset(config.path)
        self._data_files = None if self._from_disk else _data_files_for(config)
        if self._data_files is not None:
            _check_files(self._data_files, _files_base(config.path))
        elif not self._from_disk and _looks_local(config.path) and not Path(config.path).exists():
            raise ConfigError(ConfigIssue("path", f"no such file or directory: {config.path!r}"))

    # -----------------------------------------------------------------------------------------------------
    # Opening
    # -----------------------------------------------------------------------------------------------------

    @property
    def _what(self) -> str:
        c = self.config
        conf = f", configuration {c.config_name!r}" if c.config_name else ""
        return f"Hugging Face dataset {c.path!r}{conf} (split {c.split!r})"

    @property
    def streaming(self) -> bool:
        """Whether the rows are streamed (a dataset saved with ``save_to_disk`` never is)."""
        return self.config.streaming and not self._from_disk

    def _load(self) -> Any:
        if self._dataset is None:
            with _offline():
                ds = self._load_from_disk() if self._from_disk else self._load_dataset()
            self._check_column(ds.column_names)
            self._dataset = ds
        return self._dataset

    def _load_from_disk(self) -> Any:
        import datasets

        c = self.config
        try:
            ds = datasets.load_from_disk(c.path)
        except Exception as e:
            raise PipelineError(f"cannot open the saved {self._what}: {type(e).__name__}: {e}") from e
        if isinstance(ds, datasets.DatasetDict):
            if split_name(c.split) not in ds:
                raise PipelineError(
                    f"the saved {self._what} has no split {split_name(c.split)!r}; its splits: "
                    f"{', '.join(map(repr, ds))}"
                )
            ds = ds[split_name(c.split)]
        return ds

    def _load_dataset(self) -> Any:
        import datasets

        c = self.config
        try:
            return datasets.load_dataset(
                c.path,
                name=c.config_name,
                data_files=self._data_files,
                split=c.split,
                streaming=c.streaming,
                cache_dir=c.cache_dir,
            )
        except ConnectionError as e:  # offline mode refused a request: the data is not here
            raise PipelineError(self._not_here(e)) from e
        except FileNotFoundError as e:
            if self._data_files is None and not _looks_local(c.path):
                raise PipelineError(self._not_here(e)) from e
            raise PipelineError(f"cannot load the {self._what}: {e}") from e
        except ValueError as e:
            if "Unknown split" in str(e):
                raise PipelineError(f"the {self._what} has no split {c.split!r}: {e}") from e
            raise PipelineError(f"cannot load the {self._what}: {e}") from e
        except Exception as e:
            raise PipelineError(f"cannot load the {self._what}: {type(e).__name__}: {e}") from e

    def _not_here(self, e: Exception) -> str:
        c = self.config
        how = "stream it" if c.streaming else "find it in the datasets cache"
        return (
            f"the {self._what} is not a local file or directory, and Birdie reads Hugging Face datasets "
            f"offline: it could not {how} ({type(e).__name__}: {e}). On a machine with internet run "
            f"`datasets.load_dataset({c.path!r}, split={split_name(c.split)!r}).save_to_disk(DIR)`, copy DIR "
            "here and set path: DIR; or set data_files to local files"
        )

    def _check_column(self, columns: list[str] | None) -> None:
        if columns is not None and self._column not in columns:
            raise PipelineError(self._no_column(columns))

    def _no_column(self, columns: list[str]) -> str:
        close = difflib.get_close_matches(self._column, columns, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return (
            f"the {self._what} has no column {self._column!r} (field {self.config.field!r}); its columns: "
            f"{', '.join(map(repr, columns)) or 'none'}{hint}"
        )

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_dataset": None}  # reopened where it is used, never pickled

    # -----------------------------------------------------------------------------------------------------
    # Reading
    # -----------------------------------------------------------------------------------------------------

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        ds = self._load()
        seed = self.config.shuffle_seed or 0
        if self.streaming:
            return self._streamed(ds, shard, seed, epoch)
        return self._mapped(ds, shard, seed, epoch)

    def _mapped(self, ds: Any, shard: Shard, seed: int, epoch: int) -> Iterator[Document]:
        c = self.config
        table = ds.select_columns([self._column]).with_format("arrow")
        where = f"{c.path}[{c.split}]"
        for start, stop in block_ranges(len(ds), shard, seed, epoch):
            values = table[start:stop].column(0).to_pylist()
            yield from self._emit(values, start, 1, lambda i: f"{where}[{i}]")

    def _streamed(self, ds: Any, shard: Shard, seed: int, epoch: int) -> Iterator[Document]:
        n = ds.n_shards
        order = [int(k) for k in epoch_permutation(n, seed, epoch)]
        whole = whole_shards(n, shard.count)
        mine = order[shard.index :: shard.count] if whole else order
        position = 0  # rows seen this epoch across the shards every reader streams (striding only)
        for k in mine:
            part = ds.shard(num_shards=n, index=k) if n > 1 else ds
            origin, row = self._stream_origin(k), 0
            for batch in part.with_format("arrow").iter(batch_size=_BATCH_ROWS):
                if self._column not in batch.column_names:
                    raise PipelineError(self._no_column(batch.column_names))
                column = batch.column(self._column)
                base = k * STREAM_SHARD_STRIDE + row
                if whole:
                    yield from self._emit(column.to_pylist(), base, 1, origin)
                else:
                    first = (shard.index - position) % shard.count
                    taken = column.take(np.arange(first, len(column), shard.count)).to_pylist()
                    yield from self._emit(taken, base + first, shard.count, origin)
                    position += len(column)
                row += len(column)

    def _stream_origin(self, k: int) -> Callable[[int], str]:
        where = f"{self.config.path}[{self.config.split}] shard {k} row"
        return lambda i: f"{where} {i - k * STREAM_SHARD_STRIDE}"

    def _emit(
        self, values: list[Any], first: int, step: int, origin: Callable[[int], str]
    ) -> Iterator[Document]:
        """Documents of ``values``, whose indices are ``first, first + step, ...``; empty texts are counted."""
        stats = self.stats
        nested, column, selector = self._nested, self._column, self.config.field
        i = first
        for value in values:
            if nested or type(value) is not str:
                try:
                    value = select_field({column: value}, selector)
                except FieldError as e:
                    raise PipelineError(f"{origin(i)}: {e}") from None
            if value:
                stats["documents"] += 1
                yield Document(i, value, origin(i))
            else:
                stats["empty"] += 1
            i += step

    def __repr__(self) -> str:
        mode = ", streaming" if self.streaming else ""
        return f"HuggingFaceSource({self.config.path!r}, split={self.config.split!r}{mode})"


# ---------------------------------------------------------------------------------------------------------
# The order and the split among readers
# ---------------------------------------------------------------------------------------------------------


def block_ranges(num_rows: int, shard: Shard, seed: int, epoch: int) -> Iterator[tuple[int, int]]:
    """Row ranges ``[start, stop)`` of a map-style dataset that ``shard`` reads in ``epoch``, in order.

    The blocks of :data:`BLOCK_ROWS` rows, in this epoch's permuted order, make one sequence of rows; reader
    ``r`` of ``R`` takes its ``r``-th of ``R`` consecutive stretches of near-equal length, so the readers
    partition the rows and differ in size by at most one row.
    """
    lo = num_rows * shard.index // shard.count
    hi = num_rows * (shard.index + 1) // shard.count
    if lo >= hi:  # fewer rows than readers
        return
    blocks = math.ceil(num_rows / BLOCK_ROWS)
    order = epoch_permutation(blocks, seed, epoch)
    sizes = np.minimum(BLOCK_ROWS, num_rows - order * BLOCK_ROWS)
    ends = np.cumsum(sizes)
    for j in range(int(np.searchsorted(ends, lo, side="right")), blocks):
        begin = int(ends[j] - sizes[j])
        if begin >= hi:
            break
        start = int(order[j]) * BLOCK_ROWS
        yield start + max(lo, begin) - begin, start + min(hi, int(ends[j])) - begin


def whole_shards(num_shards: int, readers: int) -> bool:
    """Whether each reader streams whole shards of its own: when they divide evenly, or there are at least four
    per reader (then no reader has more than a quarter more than another); else every reader strides rows."""
    return num_shards % readers == 0 or num_shards >= 4 * readers


# ---------------------------------------------------------------------------------------------------------
# Files and the offline mode
# ---------------------------------------------------------------------------------------------------------


def _saved_dataset(path: str) -> bool:
    p = Path(path).expanduser()
    return (p / "dataset_dict.json").is_file() or (
        (p / "state.json").is_file() and (p / "dataset_info.json").is_file()
    )


def _looks_local(path: str) -> bool:
    # a hub name is `name` or `owner/name`; anything else with a slash, or starting like a path, is local
    return path.startswith((".", "/", "~")) or path.count("/") > 1 or os.sep != "/" and os.sep in path


def _data_files_for(config: HuggingFaceSourceConfig) -> dict[str, list[str]] | None:
    """``data_files`` as ``{split: [files]}``: a plain path or list is the split this source reads.

    ``datasets`` files a plain path or list under 'train', whatever split is asked for; naming the split
    here reads the files as the split the configuration says.
    """
    files = config.data_files
    if files is None:
        return None
    if not isinstance(files, dict):
        files = {split_name(config.split): files}
    return {split: [f] if isinstance(f, str) else list(f) for split, f in files.items()}


def _files_base(path: str) -> Path:
    # datasets resolves relative data_files against a local dataset directory, else the working directory
    p = Path(path).expanduser()
    return p if path not in FILE_BUILDERS and p.is_dir() else Path.cwd()


def _check_files(data_files: dict[str, list[str]], base: Path) -> None:
    issues = []
    for split, files in data_files.items():
        if not files:
            issues.append(ConfigIssue(f"data_files.{split}", "no files given"))
        for f in files:
            if "://" in f:  # a URL: datasets reaches it or says why not
                continue
            p = Path(f).expanduser()
            p = p if p.is_absolute() else base / p
            if glob.has_magic(f):
                if not glob.glob(str(p), recursive=True):
                    issues.append(
                        ConfigIssue("data_files", f"no file matches {f!r} (split {split!r}, in {base})")
                    )
            elif not p.is_file():
                issues.append(ConfigIssue("data_files", f"no such file: {str(p)!r} (split {split!r})"))
    if issues:
        raise ConfigError(issues)


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """``datasets`` and ``huggingface_hub`` in their offline mode: a request for the hub fails at once.

    Their switches are module constants read from the environment when they are imported, so they are set
    here for the time the dataset is opened, and restored after.
    """
    import datasets.config as dc
    import huggingface_hub.constants as hc

    # HF_DATASETS_OFFLINE is what datasets < 3 reads
    names = [
        (m, n)
        for m, n in ((dc, "HF_HUB_OFFLINE"), (dc, "HF_DATASETS_OFFLINE"), (hc, "HF_HUB_OFFLINE"))
        if hasattr(m, n)
    ]
    saved = [getattr(m, n) for m, n in names]
    for m, n in names:
        setattr(m, n, True)
    try:
        yield
    finally:
        for (m, n), value in zip(names, saved):
            setattr(m, n, value)
