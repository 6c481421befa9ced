"""`birdie train` under a scheduler's signals: finish the step, checkpoint, exit 128 + signal, resume exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support import alive

BIRDIE = [sys.executable, "-m", "birdie_core.cli"]


def config(output: Path) -> dict:
    return {
        "seed": 1,
        "batch_size": 2,
        "sequence_length": 64,
        "objectives": [{"name": "next_token_prediction"}, {"name": "prefix_lm", "paradigm": "[S]"}],
        "curriculum": {"steps_between_evaluations": 50, "num_steps": 100_000},
        "workers": {"num_workers": 2},
        "train": {
            "model": {"width": 16, "depth": 1, "heads": 2},
            "output": str(output),
            "log_every": 1,
            "num_threads": 1,
        },
    }


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_a_stop_signal_checkpoints_and_exits_with_128_plus_its_number(tmp_path, sig):
    run_dir = tmp_path / "run"
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(config(run_dir)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
    env["BIRDIE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = subprocess.Popen(
        [*BIRDIE, "train", str(cfg_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait for a few training steps
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= 3:
                break
        workers = children_of(proc.pid)
        proc.send_signal(sig)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    output = "".join(lines) + rest
    assert proc.returncode == 128 + sig, output
    assert f"{sig.name} received: stopping after step" in output and "Traceback" not in output
    assert f"--resume {run_dir}" in output
    stopped_at = int(output.split(f"{sig.name} received: stopping after step ")[1].split(",")[0])
    assert (run_dir / "checkpoints" / f"step_{stopped_at:07d}").is_dir()
    assert not any(alive(p) for p in workers)
    steps = [json.loads(x)["step"] for x in (run_dir / "train.jsonl").read_text().splitlines()]
    assert steps == list(range(stopped_at))  # every step up to the checkpoint, none after it
    if sig is signal.SIGTERM:  # and the run continues from that checkpoint
        resumed = subprocess.run(
            [*BIRDIE, "train", str(cfg_file), "--resume", str(run_dir), "--max-steps", str(stopped_at + 2)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert f"resumed {run_dir} from step_{stopped_at:07d}" in resumed.stdout
