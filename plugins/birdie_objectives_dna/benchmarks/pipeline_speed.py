"""Bases per second through the whole DNA pipeline (FASTA → tokenize → objective → pack) on one worker.

    .venv/bin/python plugins/birdie_objectives_dna/benchmarks/pipeline_speed.py [--seconds 5]

Runs in-process (``workers: 0``, i.e. one worker) with the core and this plugin only, and reports:

1. the `birdie_dna` preset (configs/birdie_dna.yaml: every DNA objective class, 21 configurations) — the
   headline number;
2. each objective alone, with the preset's first configuration of that class;
3. the parts: reading FASTA (a generated 64 Mb gzip genome) and the tokenizer.

"Bases" are document bases consumed by examples (``PipelineStats.consumed``), so padding, markers and the
second copy of a copied base are not counted.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
from birdie_objectives_dna.source import windows
from birdie_objectives_dna.tokenizer import NucleotideTokenizer

from birdie_core import Pipeline, load_config, load_registry

ROOT = Path(__file__).resolve().parents[3]
PRESET = ROOT / "configs" / "birdie_dna.yaml"


def run_pipeline(cfg, registry, seconds: float) -> tuple[float, float, int]:
    """(bases/s, batch positions/s, batches) of a pipeline built from ``cfg``."""
    pipe = Pipeline.from_config(cfg, registry)
    pipe.next_batch()  # warm-up: opens the source, first document
    consumed0, batches, positions = int(pipe.stats.consumed.sum()), 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = pipe.next_batch()
        batches += 1
        positions += int((batch.segment_ids > 0).sum())
    elapsed = time.perf_counter() - start
    pipe.close()
    return (int(pipe.stats.consumed.sum()) - consumed0) / elapsed, positions / elapsed, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = parser.parse_args()
    registry = load_registry(allow=["dna"])
    cfg = load_config(PRESET, registry=registry)
    print(
        f"pipeline: {PRESET.relative_to(ROOT)}  batch {cfg.batch_size}x{cfg.sequence_length}, "
        f"{len(cfg.objectives)} configurations, 1 worker (in-process)"
    )
    bases, positions, batches = run_pipeline(cfg, registry, args.seconds)
    print(
        f"  whole preset          {bases / 1e6:6.2f} M bases/s   ({positions / 1e6:.2f} M positions/s, "
        f"{batches / args.seconds:.0f} batches/s)"
    )

    seen: set[str] = set()
    for entry in cfg.objectives:
        if entry.name in seen:
            continue
        seen.add(entry.name)
        single = cfg.model_copy(update={"objectives": (entry,)})
        bases, positions, _ = run_pipeline(single, registry, args.seconds / 3)
        print(f"  {entry.id:<22}{bases / 1e6:6.2f} M bases/s   ({positions / 1e6:.2f} M positions/s)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.fa.gz"
        rng = np.random.default_rng(0)
        seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 64_000_000)].tobytes()
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(b">chr1\n")
            for i in range(0, len(seq), 60):
                f.write(seq[i : i + 60] + b"\n")
        t = time.perf_counter()
        n = sum(len(w.data) for w in windows(str(path), 1024))
        print(
            f"  fasta source (gzip)   {n / (time.perf_counter() - t) / 1e6:6.1f} M bases/s   (64 Mb, 60 columns)"
        )
    tok = NucleotideTokenizer(None, ["<|gen|>"])
    text = seq[:16_000_000].decode()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        tok.encode(text)
        best = min(best, time.perf_counter() - t)
    print(f"  nucleotide tokenizer  {len(text) / best / 1e6:6.1f} M bases/s   (best of 5, 16 Mb)")


if __name__ == "__main__":
    main()
