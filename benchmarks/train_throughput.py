"""Tokens per second of `birdie train`'s training step, per setting; prints JSON.

    .venv/bin/python benchmarks/train_throughput.py [--seconds 10] [--precision no,bf16] [--compile off,on]
        [--accumulation 1,4] [--width W --depth D --heads H --seq-len L --batch-size B] [--threads N]

It times :func:`birdie_core.train.loop.train_step` — the step `birdie train` runs: forward, backward, clipping,
AdamW and the schedule under accelerate, with ``train.precision``, ``train.compile`` and
``train.gradient_accumulation_steps`` — on batches Birdie made before the clock starts (the core's next-token
and prefix-LM objectives over the embedded corpus, byte tokenizer), so the data pipeline is not measured. On whatever device
is present: a GPU when torch sees one, else the CPU (``fp16`` is measured on GPUs only). Each setting gets a
fresh model; the first steps (torch.compile's compilation among them) are timed apart as ``warmup_s``.

``tokens_per_s`` counts non-padding positions, ``positions_per_s`` every position of the rows; one step is
``accumulation`` batches. Defaults: a 0.8M-parameter model on 8 × 256 rows on a CPU; on a GPU a GPT-2-small
shape (width 768, 12 blocks, 12 heads) on 8 × 1024 rows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from typing import Any

import torch

from birdie_core.curriculum.birdie import Birdie
from birdie_core.pipeline.build import Components
from birdie_core.train import loop
from birdie_core.train.config import TrainConfig

OBJECTIVES = [
    {"name": "next_token_prediction", "id": "next_token"},
    {"name": "prefix_lm", "id": "prefix_lm", "paradigm": "[S]"},
]


def pipeline(seq_len: int, batch_size: int) -> dict[str, Any]:
    return {
        "seed": 0,
        "batch_size": batch_size,
        "sequence_length": seq_len,
        "tokenizer": {"name": "bytes", "num_sentinels": 16},
        "objectives": OBJECTIVES,
        "curriculum": {"agent": {"name": "static"}, "num_steps": 1000},
        "workers": {"num_workers": 0},
    }


def draw_batches(cfg: dict[str, Any], n: int) -> tuple[list[dict[str, torch.Tensor]], int]:
    components = Components.resolve(cfg)
    with Birdie(components) as birdie:
        return [birdie.get_next_training_sample() for _ in range(n)], birdie.tokenizer.vocab_size


def measure(
    cfg: dict[str, Any],
    train_cfg: dict[str, Any],
    batches: list[dict[str, torch.Tensor]],
    vocab_size: int,
    seconds: float,
    warmup_steps: int,
) -> dict[str, Any]:
    from accelerate import Accelerator

    tcfg = TrainConfig.model_validate(train_cfg)
    components = Components.resolve({**cfg, "train": train_cfg})
    loop._reset_accelerate_settings()
    accelerator = Accelerator(
        cpu=not loop._has_accelerator(),
        step_scheduler_with_optimizer=False,
        gradient_accumulation_steps=tcfg.gradient_accumulation_steps,
        mixed_precision=tcfg.precision,
    )
    torch.manual_seed(0)
    model: torch.nn.Module = loop.build_model(components.config, tcfg, vocab_size)
    optimizer = loop.build_optimizer(model, tcfg.optimizer)
    scheduler = loop.build_scheduler(optimizer, tcfg.optimizer, 10**6)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    if tcfg.compile:
        torch._dynamo.reset()
        model = torch.compile(model)
    model.train()
    source = itertools.cycle(batches)

    def sync() -> None:
        if accelerator.device.type == "cuda":
            torch.cuda.synchronize()

    started = time.perf_counter()
    for _ in range(warmup_steps):
        loss, _ = loop.train_step(accelerator, model, optimizer, scheduler, lambda: next(source), tcfg)
    float(loss)
    sync()
    warmup = time.perf_counter() - started
    steps, tokens, positions, losses = 0, 0, 0, []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or steps < 3:
        loss, n = loop.train_step(accelerator, model, optimizer, scheduler, lambda: next(source), tcfg)
        steps += 1
        tokens += int(n)
        positions += tcfg.gradient_accumulation_steps * batches[0]["input_ids"].numel()
        losses.append(float(loss))
    sync()
    elapsed = time.perf_counter() - started
    return {
        "precision": tcfg.precision,
        "compile": tcfg.compile,
        "accumulation": tcfg.gradient_accumulation_steps,
        "device": accelerator.device.type,
        "steps": steps,
        "seconds": round(elapsed, 3),
        "warmup_s": round(warmup, 3),
        "tokens_per_s": round(tokens / elapsed, 1),
        "positions_per_s": round(positions / elapsed, 1),
        "step_ms": round(1000 * elapsed / steps, 2),
        "last_loss": round(losses[-1], 4),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if accelerator.device.type == "cuda"
        else None,
    }


def main(argv: list[str] | None = None) -> None:
    gpu = loop._has_accelerator() and not os.environ.get("ACCELERATE_USE_CPU")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per setting")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--precision", default="no,bf16,fp16" if gpu else "no,bf16")
    parser.add_argument("--compile", default="off,on")
    parser.add_argument("--accumulation", default="1,4")
    parser.add_argument("--width", type=int, default=768 if gpu else 128)
    parser.add_argument("--depth", type=int, default=12 if gpu else 2)
    parser.add_argument("--heads", type=int, default=12 if gpu else 4)
    parser.add_argument("--seq-len", type=int, default=1024 if gpu else 256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg = pipeline(args.seq_len, args.batch_size)
    batches, vocab_size = draw_batches(cfg, 16)
    model = {"width": args.width, "depth": args.depth, "heads": args.heads, "dropout": 0.0}
    results = []
    # accumulation is measured in float32 without compile: it changes how often the optimizer runs, not the
    # kernels
    settings = [(p, c, 1) for p in args.precision.split(",") for c in args.compile.split(",")]
    settings += [("no", "off", int(a)) for a in args.accumulation.split(",") if int(a) != 1]
    for precision, compiled, accumulation in settings:
        if precision == "fp16" and not gpu:
            continue
        train_cfg = {
            "model": model,
            "precision": precision,
            "compile": compiled == "on",
            "gradient_accumulation_steps": accumulation,
        }
        result = measure(cfg, train_cfg, batches, vocab_size, args.seconds, args.warmup_steps)
        print(json.dumps(result), file=sys.stderr, flush=True)
        results.append(result)
    params = sum(
        p.numel()
        for p in loop.build_model(
            Components.resolve(cfg).config, TrainConfig.model_validate({"model": model}), vocab_size
        ).parameters()
    )
    report = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "load_average": os.getloadavg()[0],
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "model": {**model, "parameters": params, "seq_len": args.seq_len, "batch_size": args.batch_size},
        "results": results,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
