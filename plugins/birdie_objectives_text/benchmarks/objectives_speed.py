"""Examples per second of each text objective on one core, for documents of 2,048 tokens.

    taskset -c 0 .venv/bin/python plugins/birdie_objectives_text/benchmarks/objectives_speed.py [--seconds 2] [--repeat 3]

Each objective builds examples from 2,048-token slices of real English (CPython's documentation topics,
byte tokenizer by default) with a budget of 2,048 positions (an empty row at ``sequence_length: 2048``). A
document gives one example (the rest is discarded), so the numbers are per example of about full length.
Timing is wall clock around ``build`` only, after a warm-up, in this one process (``taskset -c 0`` pins it to
one core; nothing here uses BLAS threads). Each objective is measured ``--repeat`` times and the best rate is
shown, as ``timeit`` does, since other load on the machine only ever slows a run down. Not a test: it prints a
table.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pydoc_data.topics import topics

import numpy as np
from birdie_objectives_text import (
    Autoencoding,
    Copying,
    Deshuffling,
    SelectiveCopying,
    SpanCorruption,
)

from birdie_core import load_registry
from birdie_core.tools.bench_objective import measure_objective

DOC_TOKENS = 2048
BUDGET = 2048
START = "<|gen|>"

# the core's own components, found by their registered names like any plugin's
CORE = load_registry(autoload=False)
NextTokenPrediction = CORE.resolve("objective", "core.next_token_prediction").obj
PrefixLM = CORE.resolve("objective", "core.prefix_lm").obj
ByteTokenizer = CORE.resolve("tokenizer", "core.bytes").obj

CONFIGS = [
    ("next_token_prediction (core)", NextTokenPrediction(NextTokenPrediction.Config(name="ntp"))),
    ("prefix_lm 0.75 (core)", PrefixLM(PrefixLM.Config(name="prefix_lm", paradigm="[S]"))),
    ("infilling 0.15 / 3", SpanCorruption(SpanCorruption.Config(name="i", paradigm="[R]"))),
    (
        "infilling 0.5 / 64",
        SpanCorruption(SpanCorruption.Config(name="i", corruption_rate=0.5, mean_span=64)),
    ),
    ("copying", Copying(Copying.Config(name="copying"))),
    ("deshuffling chars 0.5", Deshuffling(Deshuffling.Config(name="d", fraction=0.5))),
    ("deshuffling chars 1.0", Deshuffling(Deshuffling.Config(name="d", fraction=1.0))),
    ("deshuffling tokens 0.5", Deshuffling(Deshuffling.Config(name="d", unit="tokens"))),
    ("autoencoding 0.15 / 3", Autoencoding(Autoencoding.Config(name="a"))),
    (
        "autoencoding 0.85 / 3 shuffled",
        Autoencoding(Autoencoding.Config(name="a", corruption_rate=0.85, shuffle_spans=True)),
    ),
    ("selective_copying 1-4 spans", SelectiveCopying(SelectiveCopying.Config(name="s"))),
]


def documents(tokenizer, count: int = 64) -> list[np.ndarray]:
    """``count`` different 2,048-token documents cut from the corpus."""
    corpus = tokenizer.encode("\n\n".join(topics[k] for k in sorted(topics)))
    starts = np.linspace(0, corpus.shape[0] - DOC_TOKENS, count).astype(int)
    return [corpus[s : s + DOC_TOKENS].copy() for s in starts]


def measure(objective, tokenizer, docs, seconds: float) -> tuple[float, float, float, float]:
    """(examples per second, mean example length, mean tokens consumed, share of builds that made one).

    One build per document (its rest is dropped), timed by the core's measurement (``birdie bench objective``
    uses it too, taking examples until each document is used up)."""
    speed = measure_objective(
        objective, tokenizer, docs, BUDGET, seconds=seconds, whole_documents=False, start_marker=START
    )
    return speed.examples_per_s, speed.mean_length, speed.mean_consumed, speed.examples / max(speed.builds, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per objective and repeat")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per objective; the best is shown")
    args = parser.parse_args()
    specials = [START, *dict.fromkeys(s for _, o in CONFIGS for s in o.special_tokens())]
    tokenizer = ByteTokenizer(None, specials)
    docs = documents(tokenizer)
    print(
        f"{len(docs)} documents of {DOC_TOKENS} tokens (bytes tokenizer), budget {BUDGET} positions, one core"
    )
    print(
        f"{'objective':34} {'examples/s':>11} {'µs/example':>11} {'positions':>10} {'consumed':>9} {'doc tokens/s':>13}"
    )
    for name, objective in CONFIGS:
        runs = [measure(objective, tokenizer, docs, args.seconds) for _ in range(max(1, args.repeat))]
        rate, mean_length, mean_consumed, ok = max(runs, key=lambda r: r[0])
        note = "" if ok == 1.0 else f"  ({ok:.0%} of builds made an example)"
        print(
            f"{name:34} {rate:11,.0f} {1e6 / rate:11.1f} {mean_length:10.0f} {mean_consumed:9.0f} {rate * mean_consumed:13,.0f}{note}"
        )


if __name__ == "__main__":
    main()
