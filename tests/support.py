"""What the core's tests share: paths, subprocesses, a test plugin and Birdie configs, tiny trainer configs.

Import as ``from tests.support import ...``, in test modules and in the scripts tests run in subprocesses
(:func:`subprocess_env` puts the repository on their ``PYTHONPATH``). What a plugin's tests need as well
(a time limit, the embedded corpus, throw-away virtual environments) is in :mod:`birdie_core.testing`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import Field

from birdie_core.hookspecs import hookimpl
from birdie_core.interfaces import (
    Agent,
    AgentConfig,
    Decision,
    Document,
    Example,
    Objective,
    ObjectiveConfig,
    RewardConfig,
    SourceConfig,
)
from birdie_core.registry import load_registry
from birdie_core.testing import CORPUS, InMemorySource

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
#: the installed `birdie` console script of the environment running the tests
BIRDIE = shutil.which("birdie", path=str(Path(sys.executable).parent)) or "birdie"


# ---------------------------------------------------------------------------------------------------------
# Subprocesses
# ---------------------------------------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """This process's environment without the ``BIRDIE_*`` switches a developer's shell may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}


def subprocess_env() -> dict[str, str]:
    """For a Python subprocess that imports ``tests.support``: no plugin autoloading, only what it registers."""
    env = clean_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["BIRDIE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def read_json_or_fail(path, proc):
    """The JSON a subprocess wrote, or a failure showing its output."""
    if not Path(path).exists():
        pytest.fail(f"{path} was not written:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return json.loads(Path(path).read_text())


# ---------------------------------------------------------------------------------------------------------
# A test plugin and small configs for the Birdie API
# ---------------------------------------------------------------------------------------------------------

#: documents long enough for every objective at the small sequence lengths used here
TEXTS = tuple(f"[doc {i:03d}] " + CORPUS[i % len(CORPUS)][:1500] for i in range(48))


class ScriptedAgent(Agent):
    """Decision ``i`` is ``mixtures[i % len(mixtures)]``; counts its calls (to see which rank decides)."""

    needs_reward = False

    class Config(AgentConfig):
        mixtures: list[list[float]] = Field(default_factory=list)

    def __init__(self, config, arms, initial, *, seed=0, num_steps=0):
        super().__init__(config, arms, initial, seed=seed, num_steps=num_steps)
        self.calls = 0
        self.seen: list[tuple[int, list[float], list[float] | None]] = []

    def decide(self, step, losses, rewards):
        mixtures = self.config.mixtures or [self.initial.tolist()]
        m = np.asarray(mixtures[self.calls % len(mixtures)], dtype=np.float64)
        self.seen.append((step, losses.tolist(), None if rewards is None else rewards.tolist()))
        self.calls += 1
        return Decision(
            step=step, mixture=m / m.sum(), explored=self.calls % 2 == 0, info={"call": self.calls}
        )

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = int(state["calls"])


class GreedyAgent(ScriptedAgent):
    """Learns from rewards: puts weight on the arms whose reward is highest (softmax of rewards)."""

    needs_reward = True

    class Config(AgentConfig):
        pass

    def decide(self, step, losses, rewards):
        self.seen.append((step, losses.tolist(), None if rewards is None else rewards.tolist()))
        self.calls += 1
        w = np.exp(10 * np.asarray(rewards))
        return Decision(step=step, mixture=w / w.sum())


class Improvement:
    """Reward: the fall of each arm's loss since the previous evaluation."""

    class Config(RewardConfig):
        pass

    def __init__(self, config=None):
        self.config = config

    def __call__(self, previous, current, *, history=(), classes=None):
        return np.asarray(previous) - np.asarray(current)


class FailingSource:
    """Yields ``texts`` but raises at document ``fail_at`` (to test a worker that raises)."""

    class Config(SourceConfig):
        texts: tuple[str, ...] = ()
        fail_at: int = 5

    def __init__(self, config):
        self.config = config

    def documents(self, shard, epoch) -> Iterator[Document]:
        for i in range(shard.index, len(self.config.texts), shard.count):
            if i >= self.config.fail_at:
                raise RuntimeError(f"the test source broke at document {i}")
            yield Document(i, self.config.texts[i], f"failing[{i}]")


class JitterySource(InMemorySource):
    """Like the memory source, but sleeps a random (unseeded) time per document: worker timing varies."""

    class Config(SourceConfig):
        texts: tuple[str, ...] = ()

    def documents(self, shard, epoch) -> Iterator[Document]:
        for doc in super().documents(shard, epoch):
            time.sleep(int.from_bytes(os.urandom(1), "little") / 255 * 0.004)
            yield doc


class MemoryPlugin:
    """Only the in-memory source, as ``test.memory``."""

    @hookimpl
    def birdie_register_sources(self, register):
        register("memory", InMemorySource)


def memory_registry():
    """The core's built-ins and the in-memory source; no plugin autoloaded."""
    return load_registry(autoload=False, extra_plugins={"test": MemoryPlugin()})


class HelperPlugin:
    @hookimpl
    def birdie_register_sources(self, register):
        register("memory", InMemorySource)
        register("failing", FailingSource)
        register("jittery", JitterySource)

    @hookimpl
    def birdie_register_agents(self, register):
        register("scripted", ScriptedAgent)
        register("greedy", GreedyAgent)

    @hookimpl
    def birdie_register_reward_fns(self, register):
        register("improvement", Improvement)


def make_registry():
    return load_registry(autoload=False, extra_plugins={"test": HelperPlugin()})


def make_config(
    *,
    texts=TEXTS,
    num_workers=0,
    prefetch_factor=2,
    seed=0,
    batch_size=2,
    sequence_length=128,
    agent=None,
    reward=None,
    every=4,
    source="memory",
    validation=True,
    **source_extra,
):
    """A small nested-form config dict: two objectives (next-token, prefix-LM) over in-memory documents."""
    train = {"name": source, "texts": list(texts), **source_extra}
    val = {"name": "memory", "split": "validation", "texts": list(CORPUS[50:56])} if validation else None
    return {
        "seed": seed,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "data": {"train": train, "validation": val},
        "objectives": [
            {"name": "next_token_prediction", "id": "ntp", "prob": 1.0},
            {"name": "prefix_lm", "id": "plm", "prob": 1.0, "paradigm": "[S]"},
        ],
        "curriculum": {
            "agent": agent or {"name": "static"},
            "reward": reward,
            "steps_between_evaluations": every,
            "num_steps": 100,
        },
        "workers": {"num_workers": num_workers, "prefetch_factor": prefetch_factor},
    }


def digest(batch) -> str:
    """A short fingerprint of a batch's tensors."""
    h = hashlib.sha256()
    for k in sorted(batch):
        h.update(k.encode())
        h.update(batch[k].numpy().tobytes())
    return h.hexdigest()[:16]


def fake_loss(batch):
    """A deterministic stand-in for model(**batch): depends only on the batch."""
    return batch["input_ids"].float().mean() / 100


def run_loop(birdie, steps, start=0, loss=fake_loss):
    """The README's training loop; returns the digests of the training batches."""
    out = []
    for step in range(start, start + steps):
        if birdie.time_for_eval(step):
            for key, batch in birdie.measure_validation_losses():
                birdie.log_validation_loss(key=key, loss=loss(batch), step_idx=step)
        out.append(digest(birdie.get_next_training_sample()))
    return out


RESUME_AGENT = {"name": "scripted", "mixtures": [[1, 3], [3, 1], [1, 1]]}


# ---------------------------------------------------------------------------------------------------------
# Tiny runs of `birdie train`: models and runs small enough for seconds on a 2-core CPU
# ---------------------------------------------------------------------------------------------------------

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


def unlearnable_config(output: Path) -> dict[str, Any]:
    """Three learnable objectives and ``noise`` (uniformly random targets, from :func:`registry_with_noise`),
    under the birdie agent: the run the unlearnable-objective test and the agent's real-run benchmark share."""
    return tiny_config(
        output,
        sequence_length=128,
        batch_size=8,
        objectives=[
            {"name": "next_token_prediction", "id": "ntp", "paradigm": "[N]"},
            {"name": "prefix_lm", "id": "plm", "paradigm": "[S]"},
            {"name": "text.copying", "id": "copy", "length": [8, 48], "paradigm": "[C]"},
            {"name": "noise.random_targets", "id": "noise", "paradigm": "[?]"},
        ],
        curriculum={
            "agent": {"train_steps": 100, "width": 32, "heads": 4},
            "steps_between_evaluations": 10,
            "num_steps": 200,
        },
        train={
            "model": {"width": 64, "depth": 2, "heads": 4, "dropout": 0.0},
            "checkpoint_every": None,
            "optimizer": {"lr": 5e-4, "warmup_steps": 10},
        },
    )


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
