"""Tiny configs for the `birdie train` tests: models and runs small enough for seconds on a 2-core CPU."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from birdie_core.hookspecs import hookimpl
from birdie_core.interfaces import Example, Objective, ObjectiveConfig
from birdie_core.registry import load_registry

#: a fast birdie agent: a small reward model trained briefly on few candidates
FAST_BIRDIE_AGENT = {
    "name": "birdie",
    "warmup_steps": 0,
    "width": 16,
    "layers": 1,
    "heads": 2,
    "train_steps": 30,
    "num_candidates": 128,
}


def tiny_config(output: Path, **changes: Any) -> dict[str, Any]:
    """Two core objectives over the embedded corpus, a 2-block width-32 model; ``changes`` merge in deeply."""
    cfg: dict[str, Any] = {
        "seed": 3,
        "batch_size": 4,
        "sequence_length": 64,
        "tokenizer": {"name": "bytes", "num_sentinels": 8},
        "objectives": [
            {"name": "next_token_prediction", "id": "ntp"},
            {"name": "prefix_lm", "id": "plm", "paradigm": "[S]"},
        ],
        "curriculum": {
            "agent": dict(FAST_BIRDIE_AGENT),
            "reward": {"name": "birdie"},
            "steps_between_evaluations": 3,
            "num_steps": 12,
        },
        "workers": {"num_workers": 0},
        "train": {
            "model": {"width": 32, "depth": 2, "heads": 2, "dropout": 0.1},
            "optimizer": {"lr": 3e-3, "warmup_steps": 2},
            "output": str(output),
            "checkpoint_every": 4,
            "log_every": 5,
            "num_threads": 1,
        },
    }
    return _merge(cfg, changes)


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def losses(run_dir: Path) -> list[tuple[int, float, float]]:
    """``(step, loss, lr)`` of every line of train.jsonl."""
    lines = (run_dir / "train.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"], r["lr"]) for r in map(json.loads, lines)]


def evaluations(run_dir: Path) -> list[tuple[int, dict[str, float], dict[str, float]]]:
    """``(step, losses, mixture)`` of every line of metrics.jsonl."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["losses"], r["mixture"]) for r in map(json.loads, lines)]


class RandomTargets(Objective):
    """An unlearnable objective: a few document tokens in, uniformly random bytes out."""

    class Config(ObjectiveConfig):
        pass

    def build(self, tokens: np.ndarray, budget: int, ctx: Any) -> tuple[Example | None, np.ndarray]:
        room = budget - self.overhead
        n = min(tokens.shape[0], room // 2, 48)
        if n < 4:
            return None, tokens
        target = ctx.rng.integers(1, 257, size=n).astype(np.int32)  # byte ids: b + 1
        return self.make_example(tokens[:n], target, ctx, consumed=n), tokens[n:]


class NoisePlugin:
    @hookimpl
    def birdie_register_objectives(self, register):
        register("random_targets", RandomTargets)


def registry_with_noise():
    return load_registry(autoload=True, extra_plugins={"noise": NoisePlugin()})
