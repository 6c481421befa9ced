"""The measurements behind ``benchmarks/run.py``; each runs in a fresh process and prints one JSON object.

    .venv/bin/python benchmarks/measures.py tokenizer '{"tokenizer": "cl100k"}'
    .venv/bin/python benchmarks/measures.py tokenizer '{"tokenizer": "hf_bpe", "cache": "/tmp/birdie-bench"}'
    .venv/bin/python benchmarks/measures.py pipeline '{"preset": "ul2", "tokenizer": "cl100k", "sequence_length": 2048, "workers": 1}'
    .venv/bin/python benchmarks/measures.py objectives '{}'
    .venv/bin/python benchmarks/measures.py agent '{}'

A fresh process per measurement keeps them apart: the main process's peak RSS is that run's alone, and workers
are forked from a process that has done nothing else. Rates are wall-clock rates (the tokenizer measure compares
an adapter with its library by CPU time too: ``share``); "one core" measurements pin themselves to one CPU
first.

``hf_bpe`` and ``sentencepiece`` are tokenizers trained here, on the whole embedded corpus, into ``spec["cache"]``
(``run.py`` passes one folder per run; without it each process trains into its own temporary folder). Birdie's
testing kit trains on a slice of the corpus, which caps a BPE at about 5,600 tokens and a unigram model at
about 1,500 pieces: too small to stand for a real tokenizer. Training takes about a second.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("ul2", "birdie")
TOKENIZERS = {
    "cl100k": {"name": "tiktoken", "encoding": "cl100k_base"},
    "bytes": {"name": "bytes"},
    "hf_bpe": {"name": "huggingface"},  # its path: a tokenizer.json trained by `trained_file`
    "sentencepiece": {"name": "sentencepiece"},  # its path: a .model trained by `trained_file`
}
#: byte-level BPE in the GPT-2 style: a small real vocabulary (GPT-2 has 50k); the corpus supports about 9,000
HF_BPE_VOCAB = 8_000
#: SentencePiece unigram (T5 layout): the corpus supports about 4,400 pieces at most
SENTENCEPIECE_VOCAB = 4_000
#: what "one core" also means for the libraries with their own thread pools: their batch calls run serially
SINGLE_THREAD_ENV = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}
#: the sequence length the presets are written for; shorter runs scale the presets' `length` ranges
PRESET_LENGTH = 2048
CORE_NAMES = ("next_token_prediction", "prefix_lm")


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), for the machine line of a result."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def one_core() -> None:
    """Pin this process to one CPU, so that "one core" means one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


# -- configs ------------------------------------------------------------------------------------------------


def preset_config(
    preset: str, tokenizer: str, sequence_length: int, workers: int, cache: str | None = None
) -> Any:
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
    data["tokenizer"] = tokenizer_spec(tokenizer, cache)
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


def build_tokenizer(name: str, cache: str | None = None) -> Any:
    from birdie_core.registry import default_registry

    registry = default_registry()
    spec = tokenizer_spec(name, cache)
    cls = registry.resolve("tokenizer", spec["name"]).obj
    return cls(cls.Config(**spec), ["<|gen|>"])


def tokenizer_spec(name: str, cache: str | None = None) -> dict[str, Any]:
    """The ``tokenizer`` section of a config for tokenizer ``name``; a trained one is trained first."""
    spec = dict(TOKENIZERS[name])
    if name in ("hf_bpe", "sentencepiece"):
        spec["path"] = str(trained_file(name, cache))
    return spec


_own_cache: list[str] = []


def trained_file(name: str, cache: str | None) -> Path:
    """The tokenizer file of ``hf_bpe`` or ``sentencepiece`` in ``cache``, trained there if it is missing."""
    if cache is None:
        if not _own_cache:
            _own_cache.append(tempfile.mkdtemp(prefix="birdie-bench-"))
            atexit.register(shutil.rmtree, _own_cache[0], True)
        cache = _own_cache[0]
    folder = Path(cache)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("hf_bpe.json" if name == "hf_bpe" else "sentencepiece.model")
    if not path.exists():
        # written under another name, then renamed: a run killed mid-training leaves no half file behind
        partial = folder / f"partial-{os.getpid()}-{path.name}"
        (train_hf_bpe if name == "hf_bpe" else train_sentencepiece)(partial)
        partial.replace(path)
    return path


def training_lines() -> list[str]:
    from birdie_core.testing.documents import CORPUS

    return [line for doc in CORPUS for line in doc.splitlines() if line.strip()]


def train_hf_bpe(path: Path) -> None:
    """The testing kit's GPT-2-style recipe (``birdie_core.testing.tokenizers.train_bpe``) on all the corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=HF_BPE_VOCAB,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # the library reads this on every call: training single-threaded makes it the same on every machine,
    # and a forked pipeline worker finds no used thread pool to warn about
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        tok.train_from_iterator(training_lines(), trainer)
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM")
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before
    tok.save(str(path))


def train_sentencepiece(path: Path) -> None:
    """A T5-layout unigram model (``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2), as the testing kit's, on all the corpus."""
    import sentencepiece as spm

    with open(path, "wb") as out:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(training_lines()),
            model_writer=out,
            model_type="unigram",
            vocab_size=SENTENCEPIECE_VOCAB,
            character_coverage=1.0,
            num_threads=1,
            minloglevel=2,
            pad_id=0,
            eos_id=1,
            unk_id=2,
            bos_id=-1,
        )


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


def bare_encoder(name: str, cache: str | None = None) -> tuple[Any, str]:
    """The bare library's encode for tokenizer ``name`` (a function of a text to its token count), named."""
    if name == "bytes":
        return (lambda text: len(text.encode("utf-8", "surrogatepass"))), "str.encode('utf-8')"
    if name == "hf_bpe":
        from tokenizers import Tokenizer

        hf = Tokenizer.from_file(str(trained_file(name, cache)))
        return (lambda text: len(hf.encode(text).ids)), "Tokenizer.encode(text).ids"
    if name == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(trained_file(name, cache)))
        return (lambda text: len(sp.encode(text))), "SentencePieceProcessor.encode(text)"
    enc = build_tokenizer(name, cache).encoding
    return (lambda text: len(enc.encode_ordinary(text))), f"tiktoken {enc.name} Encoding.encode_ordinary"


def trained_model(name: str, cache: str | None) -> dict[str, Any]:
    """What a trained tokenizer is: its library and version, kind and own vocabulary size; {} for the others."""
    if name == "hf_bpe":
        import tokenizers

        size = tokenizers.Tokenizer.from_file(str(trained_file(name, cache))).get_vocab_size()
        return {"model": f"tokenizers {tokenizers.__version__} byte-level BPE", "model_vocab_size": size}
    if name == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(trained_file(name, cache)))
        return {"model": f"sentencepiece {spm.__version__} unigram", "model_vocab_size": sp.get_piece_size()}
    return {}


def bare_batch_encoders(name: str, cache: str | None = None) -> dict[str, Any]:
    """The bare library's batch encodes (a function of a list of texts to its token count), by name."""
    if name == "hf_bpe":
        from tokenizers import Tokenizer

        hf = Tokenizer.from_file(str(trained_file(name, cache)))
        return {
            "encode_batch_fast": lambda texts: sum(len(e.ids) for e in hf.encode_batch_fast(texts)),
            "encode_batch": lambda texts: sum(len(e.ids) for e in hf.encode_batch(texts)),
        }
    if name == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(trained_file(name, cache)))
        return {"encode(texts)": lambda texts: sum(len(ids) for ids in sp.encode(texts))}
    return {}


def tokenizer(spec: dict[str, Any]) -> dict[str, Any]:
    """Tokens per second of the bare library and of Birdie's adapter over the corpus, on one core.

    Tokenizers with a batch encode (``hf_bpe``, ``sentencepiece``) are also measured encoding all documents in
    one call, the library's against the adapter's ``encode_batch``.
    """
    one_core()
    # pinned to one core, a thread pool would only take turns on it: set before the library starts its pool
    os.environ.update(SINGLE_THREAD_ENV)
    name, cache = spec["tokenizer"], spec.get("cache")
    # each rate gets `seconds` × `repeat` of measuring, as when it was the best of `repeat` windows
    seconds = float(spec.get("seconds", 1.0)) * int(spec.get("repeat", 3))
    texts = corpus_texts()
    bare, library = bare_encoder(name, cache)
    tok = build_tokenizer(name, cache)
    adapter = lambda text: tok.encode(text).shape[0]
    out: dict[str, Any] = {"tokenizer": name, "library": library, "documents": len(texts)}
    out["corpus_tokens"] = sum(adapter(t) for t in texts)
    out["corpus_characters"] = sum(len(t) for t in texts)
    out["vocab_size"] = int(tok.vocab_size)  # with the ids Birdie appends (pad, sentinels, markers)
    out.update(trained_model(name, cache))
    runs = {"bare": (bare, texts), "adapter": (adapter, texts)}
    batch = bare_batch_encoders(name, cache)
    if batch:
        adapter_batch = lambda docs: sum(ids.shape[0] for ids in tok.encode_batch(docs))
        # a batch run's items: one list of all the documents, so that a pass is one call
        runs |= {f"batch {k}": (fn, [texts]) for k, fn in batch.items()}
        runs["adapter batch"] = (adapter_batch, [texts])
    # all in one interleaving: per-document and batch rates are then comparable too
    rates = best_rates(runs, seconds)
    out["bare_tokens_per_s"], out["adapter_tokens_per_s"] = rates["bare"]["wall"], rates["adapter"]["wall"]
    out["passes"] = len(rates["bare"]["cpu_passes"])
    if batch:
        main = next(iter(batch))  # the batch encode the adapter's encode_batch calls
        out["threads"] = SINGLE_THREAD_ENV
        out["batch_library"] = main
        out["bare_batch_tokens_per_s"] = {k: rates[f"batch {k}"]["wall"] for k in batch}
        out["adapter_batch_tokens_per_s"] = rates["adapter batch"]["wall"]
        out["adapter_share"] = share(rates, "adapter", "bare")
        out["adapter_share_of_batch"] = share(rates, "adapter", f"batch {main}")
        out["adapter_batch_share"] = share(rates, "adapter batch", f"batch {main}")
    return out


def best_rates(runs: dict[str, tuple[Any, list[Any]]], seconds: float, passes: int = 5) -> dict[str, Any]:
    """The best rate of each run over passes of ``fn`` through its items, per wall-clock second ("wall") and
    per CPU second of this process ("cpu"), and the CPU rate of every pass ("cpu_passes"). One untimed pass
    first warms caches; then the runs take turns, one pass each per round, until each has had ``passes``
    passes and ``seconds`` of measuring.

    Taking turns, the runs see the same machine, and pass ``i`` of two runs can be compared (``share``). Whole
    passes rather than fixed windows, because one batch encode of the corpus takes a good part of a second."""
    for fn, items in runs.values():
        for item in items:
            fn(item)
    out: dict[str, Any] = {key: {"wall": 0.0, "cpu": 0.0, "cpu_passes": []} for key in runs}
    spent, done = dict.fromkeys(runs, 0.0), 0
    while done < passes or min(spent.values()) < seconds:
        # every other round backwards: no run always comes right after the same one
        for key in list(runs) if done % 2 == 0 else reversed(list(runs)):
            fn, items = runs[key]
            t0, c0 = time.perf_counter(), time.process_time()
            n = sum(fn(item) for item in items)
            wall, cpu = time.perf_counter() - t0, max(time.process_time() - c0, 1e-9)
            spent[key] += wall
            out[key]["wall"] = max(out[key]["wall"], n / wall)
            out[key]["cpu"] = max(out[key]["cpu"], n / cpu)
            out[key]["cpu_passes"].append(n / cpu)
        done += 1
    return out


def share(rates: dict[str, Any], of: str, over: str) -> float:
    """Run ``of``'s rate over run ``over``'s: the median over rounds of their passes' CPU rates.

    On a shared machine the best rates of two runs may come from different moments; the passes of one round
    come from the same one, and the median drops the rounds another process disturbed."""
    return statistics.median(a / b for a, b in zip(rates[of]["cpu_passes"], rates[over]["cpu_passes"]))


def pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """Throughput of ``Birdie.get_next_training_sample`` for one preset, tokenizer, length and worker count.

    The measuring time is split into ``windows`` (2) back-to-back windows and the best one is kept, as
    ``timeit`` does: on a shared machine other load only ever slows a window down.
    """
    from birdie_core.curriculum.birdie import Birdie

    workers = int(spec["workers"])
    seconds = float(spec.get("seconds", 3.0))
    cfg = preset_config(
        spec["preset"], spec["tokenizer"], int(spec["sequence_length"]), workers, spec.get("cache")
    )
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
