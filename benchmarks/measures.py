"""The measurements behind ``benchmarks/run.py``; each runs in a fresh process and prints one JSON object.

    .venv/bin/python benchmarks/measures.py tokenizer '{"tokenizer": "cl100k"}'
    .venv/bin/python benchmarks/measures.py pipeline '{"preset": "ul2", "tokenizer": "cl100k", "sequence_length": 2048, "workers": 1}'
    .venv/bin/python benchmarks/measures.py objectives '{}'
    .venv/bin/python benchmarks/measures.py agent '{}'

A fresh process per measurement keeps them apart: the main process's peak RSS is that run's alone, and workers
are forked from a process that has done nothing else. Rates are wall-clock rates; "one core" measurements pin
themselves to one CPU first.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("ul2", "birdie")
TOKENIZERS = {
    "cl100k": {"name": "tiktoken", "encoding": "cl100k_base"},
    "bytes": {"name": "bytes"},
}
#: the sequence length the presets are written for; shorter runs scale the presets' `length` ranges
PRESET_LENGTH = 2048
CORE_NAMES = ("next_token_prediction", "prefix_lm")


def one_core() -> None:
    """Pin this process to one CPU, so that "one core" means one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


# -- configs ------------------------------------------------------------------------------------------------


def preset_config(preset: str, tokenizer: str, sequence_length: int, workers: int) -> Any:
    """``configs/<preset>.yaml`` as a benchmark runs it: batch 8, the given tokenizer, length and workers.

    The agent is the static one (throughput does not depend on it, and the rewards plugin may be missing);
    the corpus is the embedded one, repeated so that epochs do not matter. Bare objective names that another
    plugin also registers (``infilling`` is in text and dna) are qualified as ``text.<name>``. Below 2048
    positions the presets' ``length`` ranges are scaled by ``sequence_length / 2048``, so that every
    configuration still fits a row.
    """
    import yaml

    from birdie_core.config import load_config
    from birdie_core.registry import default_registry

    registry = default_registry()
    data = yaml.safe_load((ROOT / "configs" / f"{preset}.yaml").read_text(encoding="utf-8"))
    data["tokenizer"] = dict(TOKENIZERS[tokenizer])
    data["batch_size"] = 8
    data["sequence_length"] = sequence_length
    data["data"] = {
        "train": {"name": "embedded", "repeat": 50},
        "validation": {"name": "embedded", "split": "validation"},
    }
    data["curriculum"] = {
        "agent": {"name": "static"},
        "steps_between_evaluations": 1_000_000,
        "num_steps": 1_000_000,
    }
    data["workers"] = {"num_workers": workers}
    scale = sequence_length / PRESET_LENGTH
    for entry in data["objectives"]:
        name = entry["name"]
        if "." not in name and name not in CORE_NAMES:
            entry["name"] = f"text.{name}"
        if scale < 1 and entry.get("length"):
            lo, hi = entry["length"]
            entry["length"] = [max(8, int(lo * scale)), max(8, int(hi * scale))]
    return load_config(data, registry)


def corpus_texts() -> list[str]:
    """The documents of the embedded corpus's train split: the text every pipeline run reads."""
    from birdie_core.builtins.sources import EmbeddedSource

    return [d.text for d in EmbeddedSource().documents()]


def build_tokenizer(name: str) -> Any:
    from birdie_core.registry import default_registry

    registry = default_registry()
    spec = TOKENIZERS[name]
    cls = registry.resolve("tokenizer", spec["name"]).obj
    return cls(cls.Config(**spec), ["<|gen|>"])


# -- memory -------------------------------------------------------------------------------------------------


def memory(pid: int | str = "self") -> dict[str, float]:
    """Peak and current RSS (VmHWM, VmRSS) and the unique set size (private pages) of a process, in MB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out["peak_rss_mb" if key == "VmHWM" else "rss_mb"] = int(value.split()[0]) / 1024
        private = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Private_Clean", "Private_Dirty"):
                private += int(value.split()[0])
        out["uss_mb"] = private / 1024
    except OSError:  # not Linux, or the process is gone
        pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# -- the measurements ---------------------------------------------------------------------------------------


def bare_encoder(name: str) -> tuple[Any, str]:
    """The bare library's encode for tokenizer ``name`` (a function of a text to its token count), named."""
    tok = build_tokenizer(name)
    if name == "bytes":
        return (lambda text: len(text.encode("utf-8", "surrogatepass"))), "str.encode('utf-8')"
    enc = tok.encoding
    return (lambda text: len(enc.encode_ordinary(text))), f"tiktoken {enc.name} Encoding.encode_ordinary"


def tokens_per_second(fn: Any, texts: list[str], seconds: float, repeat: int) -> float:
    """The best rate of ``repeat`` windows of ``seconds``, each encoding the texts over and over."""
    best = 0.0
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            for text in texts:
                n += fn(text)
        best = max(best, n / elapsed)
    return best


def tokenizer(spec: dict[str, Any]) -> dict[str, Any]:
    """Tokens per second of the bare library and of Birdie's adapter over the corpus, on one core."""
    one_core()
    name = spec["tokenizer"]
    seconds, repeat = float(spec.get("seconds", 1.0)), int(spec.get("repeat", 3))
    texts = corpus_texts()
    bare, library = bare_encoder(name)
    tok = build_tokenizer(name)
    adapter = lambda text: tok.encode(text).shape[0]
    out: dict[str, Any] = {"tokenizer": name, "library": library, "documents": len(texts)}
    out["corpus_tokens"] = sum(adapter(t) for t in texts)
    out["corpus_characters"] = sum(len(t) for t in texts)
    out["bare_tokens_per_s"] = tokens_per_second(bare, texts, seconds, repeat)
    out["adapter_tokens_per_s"] = tokens_per_second(adapter, texts, seconds, repeat)
    return out


def pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """Throughput of ``Birdie.get_next_training_sample`` for one preset, tokenizer, length and worker count.

    The measuring time is split into ``windows`` (2) back-to-back windows and the best one is kept, as
    ``timeit`` does: on a shared machine other load only ever slows a window down.
    """
    from birdie_core.curriculum.birdie import Birdie

    workers = int(spec["workers"])
    seconds = float(spec.get("seconds", 3.0))
    cfg = preset_config(spec["preset"], spec["tokenizer"], int(spec["sequence_length"]), workers)
    positions_per_batch = cfg.batch_size * cfg.sequence_length
    t0 = time.perf_counter()
    birdie = Birdie(cfg)
    birdie.get_next_training_sample()
    first_batch = time.perf_counter() - t0
    # warm up: past the batches prefetched while the first one was built, so the window sees steady state
    warmup_end = time.perf_counter() + float(spec.get("warmup", 0.5))
    while time.perf_counter() < warmup_end:
        birdie.get_next_training_sample()
    pids = birdie.worker_pids()
    count = int(spec.get("windows", 2))
    windows = [window(birdie, pids, seconds / count) for _ in range(count)]
    best = max(windows, key=lambda w: w["consumed"] / w["seconds"])
    elapsed, batches = best["seconds"], best["batches"]
    worker_memory = [memory(pid) for pid in pids]
    t1 = time.perf_counter()
    birdie.close()
    close = time.perf_counter() - t1
    return {
        **{k: spec[k] for k in ("preset", "tokenizer", "sequence_length", "workers")},
        "objectives": len(cfg.objectives),
        "seconds": elapsed,
        "batches": batches,
        "document_tokens_per_s": best["consumed"] / elapsed,
        "non_pad_positions_per_s": best["positions"] / elapsed,
        "batches_per_s": batches / elapsed,
        "packing_efficiency": best["positions"] / (batches * positions_per_batch),
        "first_batch_s": first_batch,
        "close_s": close,
        "main_cpu_share": best["main_cpu"] / elapsed,
        "worker_cpu_share": [c / elapsed for c in best["worker_cpu"]],
        "windows": [{k: w[k] for k in ("seconds", "batches", "consumed")} for w in windows],
        "main_memory": memory(),
        "worker_memory": worker_memory,
    }


def window(birdie: Any, pids: list[int], seconds: float) -> dict[str, Any]:
    """Batches, document tokens and non-pad positions taken in one timed window, and the CPU time spent."""
    import numpy as np

    cpu0 = [cpu_seconds(pid) for pid in pids]
    main_cpu0 = time.process_time()
    consumed = positions = batches = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or batches < 3:
        birdie.get_next_training_sample()
        info = birdie.last_batch_info
        consumed += int(np.sum(info.arm_consumed))
        positions += int(np.sum(info.arm_positions))
        batches += 1
    return {
        "seconds": elapsed,
        "batches": batches,
        "consumed": consumed,
        "positions": positions,
        "main_cpu": time.process_time() - main_cpu0,
        "worker_cpu": [cpu_seconds(pid) - c for pid, c in zip(pids, cpu0)],
    }


def objectives(spec: dict[str, Any]) -> dict[str, Any]:
    """Examples per second of each objective on one core (the text plugin's own benchmark, shortened)."""
    one_core()
    path = ROOT / "plugins" / "birdie_objectives_text" / "benchmarks" / "objectives_speed.py"
    try:
        module_spec = importlib.util.spec_from_file_location("objectives_speed", path)
        bench = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(bench)  # type: ignore[union-attr]
    except (ImportError, OSError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    from birdie_core.builtins.tokenizers import ByteTokenizer

    specials = [bench.START, *dict.fromkeys(s for _, o in bench.CONFIGS for s in o.special_tokens())]
    tok = ByteTokenizer(None, specials)
    docs = bench.documents(tok)
    rows = []
    for name, objective in bench.CONFIGS:
        runs = [bench.measure(objective, tok, docs, float(spec.get("seconds", 0.4))) for _ in range(2)]
        rate, length, consumed, made = max(runs, key=lambda r: r[0])
        rows.append(
            {
                "objective": name,
                "examples_per_s": rate,
                "positions": length,
                "consumed": consumed,
                "made": made,
            }
        )
    return {"document_tokens": bench.DOC_TOKENS, "budget": bench.BUDGET, "tokenizer": "bytes", "rows": rows}


def agent(spec: dict[str, Any]) -> dict[str, Any]:
    """Seconds of one ``birdie`` agent decision (birdie-rewards' own benchmark); n/a without the plugin."""
    try:
        from birdie_rewards.benchmark import time_decision
    except ImportError as exc:
        return {"error": f"birdie-rewards is not installed ({exc})"}
    arms, evaluations = int(spec.get("arms", 96)), int(spec.get("evaluations", 40))
    parts = time_decision(arms, evaluations, repeats=int(spec.get("repeats", 2)))
    decision = [v for k, v in parts.items() if k.strip().startswith("decision")]
    wall = [v for k, v in parts.items() if k.strip().startswith("decision") and "cpu" not in k.lower()]
    return {
        "arms": arms,
        "evaluations": evaluations,
        "decision_s": (wall or decision or [float("nan")])[0],
        "parts_s": {k.strip(): v for k, v in parts.items()},
    }


MEASURES = {"tokenizer": tokenizer, "pipeline": pipeline, "objectives": objectives, "agent": agent}


def main() -> None:
    kind, spec = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    result = MEASURES[kind](spec)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
