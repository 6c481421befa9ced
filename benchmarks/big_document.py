"""20-MB documents in the stream: batches per second in-process and with 2 workers, and snapshot bytes.

A worker's state is snapshotted with every batch it hands over; it names the current document by its place
in the stream, so its size does not grow with the document. Run: ``.venv/bin/python benchmarks/big_document.py``.
"""

from __future__ import annotations

import pickle
import sys
import time
from pathlib import Path

from birdie_core.curriculum.birdie import Birdie
from birdie_core.registry import load_registry

SECONDS = 4.0


def config(path: Path, num_workers: int) -> dict:
    return {
        "batch_size": 8,
        "sequence_length": 512,
        "data": {"train": {"name": "files", "paths": [str(path / "*.txt")], "unit": "file"}, "validation": None},
        "objectives": [{"name": "next_token_prediction"}, {"name": "prefix_lm", "paradigm": "[S]"}],
        "workers": {"num_workers": num_workers},
    }


def measure(path: Path, num_workers: int) -> tuple[float, int]:
    with Birdie(config(path, num_workers), registry=load_registry(autoload=False)) as birdie:
        for _ in range(4):  # start the workers, read into the big document
            birdie.get_next_training_sample()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < SECONDS:
            birdie.get_next_training_sample()
            n += 1
        rate = n / (time.perf_counter() - start)
        loader = birdie.state_dict()["ranks"][0]["loader"]
        per_worker = len(pickle.dumps(loader)) // max(1, num_workers)
    return rate, per_worker


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/birdie-big-document")
    directory.mkdir(parents=True, exist_ok=True)
    words = "the quick brown fox jumps over the lazy dog while the cat watches from the wall. "
    for name in ("a.txt", "b.txt"):  # one document per worker (unit: file), each 20 MB
        if not (directory / name).exists():
            (directory / name).write_text(words * (20_000_000 // len(words)), encoding="utf-8")
    print("documents: 2 × 20 MB (the bytes tokenizer: 20 M tokens each)")
    for workers in (0, 2):
        rate, size = measure(directory, workers)
        print(f"{workers} workers: {rate:7.1f} batches/s, state {size:,} bytes per worker")


if __name__ == "__main__":
    main()
