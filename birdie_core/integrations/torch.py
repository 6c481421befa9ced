"""Birdie as a PyTorch ``IterableDataset``, for training code that wants a dataset or a ``DataLoader``.

Birdie builds whole batches in its own worker processes, so the dataset yields finished batches and must be
read in the training process itself: a ``DataLoader`` over it needs ``batch_size=None`` (no re-batching) and
``num_workers=0`` (a copy of Birdie in a loader worker would neither see the validation losses the
curriculum learns from nor share its stream position). :func:`data_loader` makes that loader.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

if TYPE_CHECKING:
    from birdie_core.curriculum.birdie import Birdie

__all__ = ["BirdieIterableDataset", "data_loader"]


class BirdieIterableDataset(IterableDataset[dict[str, torch.Tensor]]):
    """Yields ``birdie``'s training batches, as ``iter(birdie)`` does (until ``num_steps`` are consumed).

    Every iterator draws from the one stream of ``birdie``: a second pass continues where the first
    stopped, so an epoch-based loop does not replay batches.
    """

    def __init__(self, birdie: Birdie):
        self.birdie = birdie

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if get_worker_info() is not None:
            raise RuntimeError(
                "a Birdie dataset was read in a DataLoader worker process; Birdie has its own workers "
                "(workers.num_workers): use DataLoader(dataset, batch_size=None, num_workers=0), or "
                "birdie_core.integrations.torch.data_loader(birdie)"
            )
        return iter(self.birdie)


def data_loader(birdie: Birdie, **kwargs: object) -> DataLoader[dict[str, torch.Tensor]]:
    """A ``DataLoader`` over ``birdie.as_iterable_dataset()`` with the only settings that work with it.

    ``kwargs`` go to ``DataLoader`` (``pin_memory``, say); ``batch_size`` other than ``None`` and
    ``num_workers`` other than 0 raise ``ValueError``, since Birdie batches and parallelises itself.
    """
    if kwargs.get("batch_size") is not None:
        raise ValueError(
            f"batch_size={kwargs['batch_size']!r}: Birdie's batches are already (batch_size, sequence_length); "
            "set the batch size in the Birdie config and pass batch_size=None"
        )
    if kwargs.get("num_workers", 0) != 0:
        raise ValueError(
            f"num_workers={kwargs['num_workers']!r}: Birdie builds batches in its own worker processes "
            "(workers.num_workers in its config); the DataLoader must use num_workers=0"
        )
    kwargs.update(batch_size=None, num_workers=0)
    return DataLoader(birdie.as_iterable_dataset(), **kwargs)  # type: ignore[arg-type]
