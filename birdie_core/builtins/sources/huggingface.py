"""``huggingface``: a Hugging Face ``datasets`` dataset."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import Field, field_validator

from birdie_core.builtins.sources.common import (
    FieldError,
    emit,
    new_stats,
    select_field,
    validate_selector,
)
from birdie_core.errors import PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, Document, Shard, SourceConfig

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
        return validate_selector(v)


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
        self.stats = new_stats()
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
            yield from emit(self.stats, i, text, origin)

    def __repr__(self) -> str:
        return f"HuggingFaceSource({self.config.path!r}, split={self.config.split!r})"
