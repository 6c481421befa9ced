"""Worker processes never outlive the training process, and a dead worker is always a PipelineError, quickly.

Real processes and real signals; every wait is bounded, so a regression fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import PipelineError
from birdie_core.registry import load_registry
from tests.support import alive

CONFIG = {
    "batch_size": 2,
    "sequence_length": 64,
    "objectives": [{"name": "next_token_prediction"}, {"name": "prefix_lm"}],
    "workers": {"num_workers": 2, "prefetch_factor": 2},
}


def seconds_until_gone(pids: list[int], limit: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if not any(alive(p) for p in pids):
            return time.monotonic() - start
        time.sleep(0.05)
    return None


@pytest.fixture(autouse=True)
def hard_limit():
    """Fail a test that runs past 120 s (SIGALRM interrupts whatever blocks)."""

    def on_alarm(signum, frame):
        raise TimeoutError("ran past its 120 s limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_worker_killed_at_any_moment_is_a_pipeline_error_within_seconds():
    registry = load_registry(autoload=False)
    rng = random.Random(0)
    for trial in range(20):
        birdie = Birdie(CONFIG, registry=registry)
        try:
            birdie.get_next_training_sample()
            pids = birdie.worker_pids()
            assert len(pids) == 2
            victim = rng.choice(pids)
            killed_at: list[float] = []

            def kill(victim=victim, delay=rng.uniform(0.0, 0.3), killed_at=killed_at):
                time.sleep(delay)
                os.kill(victim, signal.SIGKILL)
                killed_at.append(time.monotonic())

            killer = threading.Thread(target=kill)
            killer.start()
            error = None
            deadline = time.monotonic() + 30
            while error is None and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.0, 0.05))  # the training process is busy between two calls
                try:
                    birdie.get_next_training_sample()
                except PipelineError as exc:  # anything else (torch's RuntimeError) fails the test
                    error = exc
            killer.join()
            assert error is not None, f"trial {trial}: no error 30 s after the worker was killed"
            took = time.monotonic() - killed_at[0]
            assert took < 10, f"trial {trial}: the error came {took:.1f} s after the kill"
            assert f"(pid {victim}, rank 0) was killed by signal SIGKILL" in str(error)
            # the stream is stopped for good, and says so at once; it has no state to resume from
            start = time.monotonic()
            with pytest.raises(PipelineError, match="failed earlier"):
                birdie.get_next_training_sample()
            with pytest.raises(PipelineError, match="no resumable state"):
                birdie.state_dict()
            assert time.monotonic() - start < 1
        finally:
            birdie.close()
        assert seconds_until_gone(pids, 5) is not None


def test_state_dict_after_close_is_an_error():
    with Birdie(CONFIG, registry=load_registry(autoload=False)) as birdie:
        birdie.get_next_training_sample()
        assert birdie.state_dict()["ranks"][0]["loader"] is not None
    with pytest.raises(PipelineError, match="closed"):
        birdie.state_dict()


TRAINER = textwrap.dedent(
    """
    import json, sys, time
    from birdie_core.curriculum.birdie import Birdie
    from birdie_core.registry import load_registry

    birdie = Birdie(json.loads(sys.argv[1]), registry=load_registry(autoload=False))
    birdie.get_next_training_sample()
    print(json.dumps(birdie.worker_pids()), flush=True)
    if sys.argv[2] == "raise":
        raise RuntimeError("the training loop failed")
    time.sleep(600)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "raise"])
def test_no_worker_outlives_the_training_process(how):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAINER, json.dumps(CONFIG), how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        pids = json.loads(line)
        assert len(pids) == 2
        if how != "raise":  # (a raising trainer may already be gone)
            assert all(alive(p) for p in pids)
            proc.send_signal(getattr(signal, how))
        proc.wait(timeout=30)
        gone = seconds_until_gone(pids, 5)
        assert gone is not None, f"workers {pids} still alive 5 s after the trainer ended ({how})"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
