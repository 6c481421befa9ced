"""Parquet and Arrow IPC files for the ``files`` source: one text column, read a record batch at a time.

A file is split into *parts* the reader can reach directly: the row groups of a Parquet file, the record
batches of an Arrow IPC file (``ARROW1`` magic; Feather version 2 is this format). An Arrow IPC *stream*
can only be read from its start, so it has no parts. Whatever the size of a row group or record batch, at
most :data:`BATCH_ROWS` rows are turned into Python strings at a time; Parquet is read through a buffered
stream, Arrow files are memory-mapped.

The text is chosen by the source's dotted ``field`` selector: a top-level column (also one whose name holds
dots), then fields of struct columns and, with an integer, items of list columns (``messages.0.content``).
The file's schema is checked when the file is opened: a missing column (the columns there are are listed),
a selector that walks into something else than a struct or list, and a column that does not hold strings
are :class:`PipelineError` naming the file. A null text is one too, naming the row, as a JSON ``null`` is
for the JSON-lines reader.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Self

from birdie_core.errors import PipelineError

if TYPE_CHECKING:
    import pyarrow as pa

#: rows turned into Python strings at a time (bounds memory whatever a file's row groups hold)
BATCH_ROWS = 8192

_PARQUET_BUFFER = 1 << 20
_PIP = "pip install 'birdie-core[parquet]'"


def require_pyarrow(path: str) -> None:
    """Raise a :class:`PipelineError` naming ``path`` and the install command when pyarrow is missing."""
    try:
        import pyarrow.ipc
        import pyarrow.parquet  # noqa: F401
    except ImportError as e:
        raise PipelineError(
            f"{path}: reading Parquet and Arrow files needs pyarrow, which is not installed ({e}): {_PIP}"
        ) from None


class TextColumn:
    """The text column of one Parquet or Arrow file (``fmt``: ``parquet`` or ``arrow``), opened.

    ``part_rows[g]`` is the first row of part ``g`` (and ``part_rows[-1]`` the number of rows), or None for
    an Arrow stream. Use as a context manager; :meth:`batches` yields ``(first row, texts)``.
    """

    def __init__(self, path: str, fmt: str, selector: str):
        import pyarrow as pa

        self.path = path
        self.selector = selector
        self._arrow_error = pa.ArrowException
        self._parquet: Any = None
        self._ipc_file: Any = None
        self._stream: Any = None
        self._source: Any = None
        self.part_rows: list[int] | None = None
        try:
            schema = self._open(fmt)
        except self._arrow_error as e:
            self.close()
            kind = "Parquet" if fmt == "parquet" else "Arrow IPC"
            raise PipelineError(f"{path}: not a readable {kind} file ({e})") from None
        except OSError as e:
            self.close()
            raise PipelineError(f"{path}: cannot open ({e.strerror or e})") from e
        try:
            self._root, self._steps = _resolve(schema, selector, path)
        except PipelineError:
            self.close()
            raise
        # Parquet prunes a struct down to the one field selected; a list step needs the whole column
        struct_only = all(kind == "field" for kind, _ in self._steps)
        self._parquet_column = selector if struct_only else self._root

    def _open(self, fmt: str) -> pa.Schema:
        import pyarrow as pa

        if fmt == "parquet":
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetFile(self.path, buffer_size=_PARQUET_BUFFER, pre_buffer=False)
            meta = self._parquet.metadata
            starts = [0]
            for g in range(meta.num_row_groups):
                starts.append(starts[-1] + meta.row_group(g).num_rows)
            self.part_rows = starts
            return self._parquet.schema_arrow
        with open(self.path, "rb") as f:
            head = f.read(6)
        if head.startswith(b"FEA1"):
            raise PipelineError(
                f"{self.path}: a Feather version 1 file, which is not read; rewrite it as version 2: "
                f"pyarrow.feather.write_feather(pyarrow.feather.read_table(old), new)"
            )
        self._source = pa.memory_map(self.path)
        if head == b"ARROW1":
            self._ipc_file = pa.ipc.open_file(self._source)
            starts = [0]
            for b in range(self._ipc_file.num_record_batches):
                # memory-mapped: knowing a batch's length reads its metadata, not its data
                starts.append(starts[-1] + self._ipc_file.get_batch(b).num_rows)
            self.part_rows = starts
            return self._ipc_file.schema
        self._stream = pa.ipc.open_stream(self._source)
        return self._stream.schema

    @property
    def part_count(self) -> int | None:
        return None if self.part_rows is None else len(self.part_rows) - 1

    def batches(self, parts: Iterable[int] | None = None) -> Iterator[tuple[int, list[str]]]:
        """``(first row, texts)`` of the rows of ``parts`` (every part, in order, when None), each part's rows
        in order; a null text is a :class:`PipelineError` naming the row."""
        try:
            for first, batch in self._record_batches(parts):
                for start in range(0, batch.num_rows, BATCH_ROWS):
                    yield first + start, self._texts(batch.slice(start, BATCH_ROWS), first + start)
        except self._arrow_error as e:
            raise PipelineError(f"{self.path}: cannot read the file ({e})") from None
        except OSError as e:
            raise PipelineError(f"{self.path}: read error ({e.strerror or e})") from e

    def _record_batches(self, parts: Iterable[int] | None) -> Iterator[tuple[int, Any]]:
        if self._stream is not None:
            first = 0
            for batch in self._stream:
                yield first, batch
                first += batch.num_rows
            return
        assert self.part_rows is not None
        for g in range(len(self.part_rows) - 1) if parts is None else parts:
            first = self.part_rows[g]
            if self._ipc_file is not None:
                yield first, self._ipc_file.get_batch(g)
                continue
            for batch in self._parquet.iter_batches(
                batch_size=BATCH_ROWS, row_groups=[g], columns=[self._parquet_column], use_threads=False
            ):
                yield first, batch
                first += batch.num_rows

    def _texts(self, batch: Any, first: int) -> list[str]:
        import pyarrow.compute as pc

        # a Parquet batch holds the one column read; an Arrow batch holds them all
        array = batch.column(0) if self._parquet is not None else batch.column(self._root)
        for kind, key in self._steps:
            if kind == "field":
                array = pc.struct_field(array, [key])
                continue
            try:
                array = pc.list_element(array, key)
            except self._arrow_error as e:
                raise PipelineError(
                    f"{self.path} rows {first} to {first + len(array) - 1}: field {self.selector!r}: a list "
                    f"has no item {key} ({e})"
                ) from None
        if array.null_count:
            row = first + int(pc.index(array.is_null(), True).as_py())
            raise PipelineError(f"{self.path} row {row}: field {self.selector!r} is null, not a string")
        texts: list[str] = array.to_pylist()
        return texts

    def close(self) -> None:
        for handle in (self._parquet, self._source):
            if handle is not None:
                handle.close()
        self._parquet = self._ipc_file = self._stream = self._source = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: a step from a column to the text: ("field", name) into a struct, ("item", i) into a list
_Step = tuple[str, Any]


def _resolve(schema: pa.Schema, selector: str, path: str) -> tuple[str, list[_Step]]:
    """The top-level column and the steps from it to the text that ``selector`` names in ``schema``."""
    import pyarrow as pa

    names = list(schema.names)
    if selector in names:
        root, rest = selector, []
    else:
        root, *rest = selector.split(".")
        if root not in names:
            raise PipelineError(
                f"{path}: no column {root!r} (columns: {_listing(names)}){_hint(root, names)}"
            )
    kind = schema.field(root).type
    steps: list[_Step] = []
    walked = root
    for part in rest:
        if pa.types.is_struct(kind):
            fields = [kind.field(i).name for i in range(kind.num_fields)]
            if part not in fields:
                raise PipelineError(
                    f"{path}: no field {part!r} in column {walked!r} (fields: {_listing(fields)})"
                    f"{_hint(part, fields)}"
                )
            steps.append(("field", part))
            kind = kind.field(fields.index(part)).type
        elif _is_list(kind) and part.isdigit():
            steps.append(("item", int(part)))
            kind = kind.value_type
        else:
            what = "a list (select an item with a number)" if _is_list(kind) else str(kind)
            raise PipelineError(f"{path}: cannot select {part!r} in column {walked!r}, which is {what}")
        walked += f".{part}"
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    if not (
        pa.types.is_string(value)
        or pa.types.is_large_string(value)
        or getattr(pa.types, "is_string_view", lambda _: False)(value)
    ):
        raise PipelineError(f"{path}: field {selector!r} is of type {kind}, not a string column")
    return root, steps


def _is_list(kind: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind))


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit]) or "none"
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _hint(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
