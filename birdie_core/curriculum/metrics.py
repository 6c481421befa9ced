"""What a run records: one JSON-lines record per evaluation, and the realised objective shares behind it.

``run_dir/metrics.jsonl`` gets one line per evaluation (written by rank 0)::

    {"evaluation": 3, "step": 150, "effective_batch": 154,
     "mixture": {"ntp": 0.4, ...},            # the new mixture the agent commanded
     "losses": {"ntp": 3.12, ...},            # validation loss per objective (mean over ranks)
     "rewards": {"ntp": 0.21, ...} | null,    # null at the first evaluation, or without a reward function
     "explored": false, "agent": {...},       # the agent's Decision (info: plain JSON values only)
     "realised": {"batches": 50, "tokens": 204800,
                  "token_share": {...}, "example_share": {...},
                  "commanded_share": {...},   # mean mixture the consumed batches were drawn with
                  "example_gap": {...}, "token_gap": {...}, "max_abs_example_gap": 0.03, ...},
     "data": {"documents_read": 812, "documents_too_short": 3, "tail_tokens_dropped": 40,
              "examples": {"ntp": 950, ...}, "positions": {"ntp": 61234, ...},
              "domains": {"web": {"documents": 610, "tokens": 201873, "held_out": 6},   # per training domain
                          "code": {"documents": 202, "tokens": 88120, "held_out": 2}},  # ("train": one source)
              "source": {"documents": 815, "empty": 2, "invalid_utf8": 1},    # since the start, all ranks
              "tokenizer": {"surrogates_replaced": 0}}}                       # (bytes; {} for most)

``domains`` counts, per training domain (the ids of a ``data.train`` list; ``train`` for a single source), the
documents read, the document tokens its documents gave to examples, and the documents passed over because they
are held out for validation. ``Birdie.last_batch_info.tokens_per_domain()`` gives the same tokens per batch.

``commanded_share`` is the draw probability per example; ``example_share`` (examples per objective) is what
the draws gave and tracks it up to sampling noise and redraws (an objective that cannot use a short leftover
hands it to another). ``token_share`` (non-pad positions per objective) weighs each example by its length,
so it differs from the commanded share whenever objectives make examples of different lengths.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["METRICS_NAME", "MetricsLog", "RealisedShares", "by_key", "jsonable", "measured_mean", "read_metrics"]

METRICS_NAME = "metrics.jsonl"


class RealisedShares:
    """Counts of the consumed batches, per arm, since the last :meth:`reset`."""

    def __init__(self, num_arms: int):
        self.num_arms = num_arms
        self.reset()

    def reset(self) -> None:
        self.batches = 0
        self.tokens = np.zeros(self.num_arms, dtype=np.float64)
        self.examples = np.zeros(self.num_arms, dtype=np.float64)
        self.commanded = np.zeros(self.num_arms, dtype=np.float64)  # sum over batches of the mixture used

    def add(self, arm_positions: np.ndarray, segment_arms: np.ndarray, mixture: np.ndarray) -> None:
        self.batches += 1
        self.tokens += arm_positions
        self.examples += np.bincount(segment_arms[segment_arms >= 0], minlength=self.num_arms)
        self.commanded += mixture

    def as_vector(self) -> np.ndarray:
        """Everything in one vector (to sum over ranks)."""
        return np.concatenate([[self.batches], self.tokens, self.examples, self.commanded])

    def from_vector(self, v: np.ndarray) -> RealisedShares:
        out = RealisedShares(self.num_arms)
        n = self.num_arms
        out.batches = round(float(v[0]))
        out.tokens, out.examples, out.commanded = v[1 : 1 + n], v[1 + n : 1 + 2 * n], v[1 + 2 * n :]
        return out

    def summary(self, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """Shares and gaps (realised − commanded) per key; None when no batch was consumed."""
        if self.batches == 0:
            return None
        commanded = self.commanded / self.batches
        token_share = _share(self.tokens)
        example_share = _share(self.examples)
        token_gap = token_share - commanded
        example_gap = example_share - commanded
        return {
            "batches": self.batches,
            "tokens": int(self.tokens.sum()),
            "examples": int(self.examples.sum()),
            "commanded_share": by_key(keys, commanded),
            "token_share": by_key(keys, token_share),
            "example_share": by_key(keys, example_share),
            "token_gap": by_key(keys, token_gap),
            "example_gap": by_key(keys, example_gap),
            "max_abs_token_gap": float(np.abs(token_gap).max()),
            "max_abs_example_gap": float(np.abs(example_gap).max()),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"vector": self.as_vector().tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        other = self.from_vector(np.asarray(state["vector"], dtype=np.float64))
        self.batches, self.tokens, self.examples, self.commanded = (
            other.batches,
            other.tokens,
            other.examples,
            other.commanded,
        )


def _share(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts)


def by_key(keys: tuple[str, ...], values: np.ndarray) -> dict[str, float]:
    return {k: float(v) for k, v in zip(keys, values)}


class MetricsLog:
    """Appends one JSON object per line to ``path`` (nothing is written when ``path`` is None)."""

    def __init__(self, path: str | os.PathLike[str] | None):
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps(jsonable(record), allow_nan=False, separators=(", ", ": "))
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def measured_mean(losses: Mapping[str, float | None]) -> float:
    """The mean of an evaluation's measured losses: an objective without validation examples has NaN (None
    in ``metrics.jsonl``) and is left out; NaN when none was measured."""
    values = [float(v) for v in losses.values() if v is not None and math.isfinite(v)]
    return math.fsum(values) / len(values) if values else math.nan


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl``, in order, as :attr:`birdie_core.Birdie.history` holds them: the
    loss of an objective without a validation loss (null in the file) is NaN."""
    path = Path(run_dir) / METRICS_NAME
    with path.open(encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    for record in records:
        losses = record.get("losses")
        if isinstance(losses, dict):
            record["losses"] = {k: math.nan if v is None else v for k, v in losses.items()}
    return records


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays become numbers and lists; non-finite floats become null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)
