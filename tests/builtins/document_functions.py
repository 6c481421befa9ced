"""Document functions for the `callable` source tests, which name them by import string."""

from __future__ import annotations

from collections.abc import Iterator

TEXTS = {
    "train": [f"train document {i}: héllo wörld" for i in range(10)],
    "validation": [f"validation document {i}" for i in range(3)],
}


def sharded(split: str, worker_id: int, num_workers: int, rng_seed: int = 0) -> list[str]:
    """The original project's convention: the function returns only this worker's share."""
    return TEXTS[split][worker_id::num_workers]


def unsharded(split: str) -> Iterator[dict]:
    """All documents of the split, as nested records."""
    for i, text in enumerate(TEXTS[split]):
        yield {"id": i, "entry": {"text": text}}


def records(split: str) -> list[dict]:
    return [{"text": t} for t in TEXTS[split]]


def with_empty(split: str) -> list[str]:
    return ["first", "", "third"]


def grab(item: dict) -> str:
    return item["entry"]["text"].upper()


def grab_badly(item: dict) -> int:
    return 42


def numbers(split: str) -> list[int]:
    return [1, 2, 3]


def broken(split: str) -> Iterator[str]:
    yield "fine"
    raise RuntimeError("the disk fell off")


NOT_A_FUNCTION = [1, 2, 3]
