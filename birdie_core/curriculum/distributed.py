"""The few collective operations the curriculum needs across training processes (ranks).

Validation losses are averaged over ranks, the realised shares summed, the agent's decision broadcast from
rank 0, and ``state_dict`` gathers every rank's stream position. With an ``accelerate.Accelerator`` the
operations go through accelerate (any backend it supports); without one, through ``torch.distributed`` when a
process group is initialised; otherwise there is one process and every operation is the identity.

On a CPU-only machine ``torchrun --nproc_per_node 2 train.py`` gives a real 2-process gloo group (and
``accelerate.Accelerator(cpu=True)`` uses it); ``accelerate launch --cpu --num_processes 2`` runs one process.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["Collective", "collective_for"]


class Collective:
    """One process (or ranks that are not connected): every operation is local."""

    def __init__(self, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} out of range for world size {world_size}")
        self.rank = rank
        self.world_size = world_size

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def connected(self) -> bool:
        """Whether the ranks really communicate (False: each rank acts alone)."""
        return False

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Element-wise mean over ranks."""
        return np.asarray(values, dtype=np.float64)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum over ranks."""
        return np.asarray(values, dtype=np.float64)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        return obj

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        return [obj]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, world_size={self.world_size})"


class _TorchDistributed(Collective):
    """An initialised ``torch.distributed`` process group."""

    @property
    def connected(self) -> bool:
        return True

    def _device(self) -> torch.device:
        import torch.distributed as dist

        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def _reduce(self, values: np.ndarray) -> np.ndarray:
        import torch.distributed as dist

        t = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().numpy()

    def mean(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(values) / self.world_size

    def sum(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(values)

    def broadcast(self, obj: Any) -> Any:
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


class _Accelerate(Collective):
    """Through an ``accelerate.Accelerator`` (whatever backend it runs on)."""

    def __init__(self, accelerator: Any):
        super().__init__(accelerator.process_index, accelerator.num_processes)
        self.accelerator = accelerator

    @property
    def connected(self) -> bool:
        return True

    def _reduce(self, values: np.ndarray, how: str) -> np.ndarray:
        device = self.accelerator.device
        # float64 keeps token counts exact; MPS and XLA have no float64 collectives
        dtype = np.float32 if device.type in ("mps", "xla") else np.float64
        t = torch.as_tensor(np.asarray(values, dtype=dtype), device=device)
        return self.accelerator.reduce(t, reduction=how).cpu().numpy().astype(np.float64)

    def mean(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(values, "mean")

    def sum(self, values: np.ndarray) -> np.ndarray:
        return self._reduce(values, "sum")

    def broadcast(self, obj: Any) -> Any:
        from accelerate.utils import broadcast_object_list

        box = [obj]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        from accelerate.utils import gather_object

        return list(gather_object([obj]))


def collective_for(
    accelerator: Any = None, rank: int | None = None, world_size: int | None = None
) -> Collective:
    """The collective for this process.

    ``accelerator`` wins; else an initialised ``torch.distributed`` group; else one process. ``rank`` and
    ``world_size`` given without either make an unconnected rank: it reads its own shard but shares nothing
    (for tests, or ranks that coordinate by other means).
    """
    if accelerator is not None and accelerator.num_processes > 1:
        return _Accelerate(accelerator)
    if accelerator is None and rank is None and world_size is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return _TorchDistributed(dist.get_rank(), dist.get_world_size())
    return Collective(rank or 0, world_size or 1)
