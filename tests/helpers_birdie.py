"""Small plugins and configs for the Birdie API tests (imported by name from subprocesses too)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest
from pydantic import Field

from birdie_core.hookspecs import hookimpl
from birdie_core.interfaces import Agent, AgentConfig, Decision, Document, RewardConfig, SourceConfig
from birdie_core.registry import load_registry
from birdie_core.testing import InMemorySource

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
CORPUS = tuple(topics[k] for k in sorted(topics))
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


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")])
    env["BIRDIE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


class TimeLimitExceeded(Exception):
    pass


TIME_LIMIT_S = 60


@pytest.fixture
def time_limit(request):
    """Fail (never hang) a test that runs past TIME_LIMIT_S: SIGALRM interrupts whatever blocks."""
    seconds = TIME_LIMIT_S

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(f"{request.node.name} ran past its {seconds} s limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def read_json_or_fail(path, proc):
    """The JSON a subprocess wrote, or a failure showing its output."""
    import json

    if not Path(path).exists():
        pytest.fail(f"{path} was not written:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return json.loads(Path(path).read_text())
