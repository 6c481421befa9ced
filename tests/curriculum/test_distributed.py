"""Two real training processes (torchrun, gloo on CPU) running the Birdie loop with accelerate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import read_json_or_fail, subprocess_env

pytestmark = pytest.mark.slow


def test_two_processes_share_the_mixture_and_read_different_shards(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "--max_restarts",
        "0",
        str(Path(__file__).with_name("distributed_rank.py")),
        str(tmp_path),
    ]
    env = subprocess_env()
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        cmd, capture_output=True, check=False, text=True, timeout=180, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    r0, r1 = (read_json_or_fail(tmp_path / f"rank{r}.json", proc) for r in (0, 1))

    assert r0["world_size"] == r1["world_size"] == 2 and "MULTI_CPU" in r0["distributed_type"]
    assert r0["collective"] == "_Accelerate"
    # the agent decides on rank 0 only; every rank gets the same mixture
    assert r0["agent_calls"] == 4 and r1["agent_calls"] == 0  # evaluations at steps 0, 3, 6, 9
    assert r0["first"]["mixtures"] == r1["first"]["mixtures"]
    assert r0["first"]["mixtures"][:2] == [
        pytest.approx({"ntp": 1 / 3, "plm": 2 / 3}),
        {"ntp": 0.75, "plm": 0.25},
    ]
    # losses are the mean over ranks (rank 0 logs 0 and 1, rank 1 logs 1 and 2)
    assert r0["losses"] == r1["losses"] == [{"ntp": 0.5, "plm": 1.5}] * 4
    # each rank reads its own shards (2 workers each: 4 shards of the 48 documents)
    assert {tuple(s) for s in r0["first"]["shards"]} == {(0, 4), (1, 4)}
    assert {tuple(s) for s in r1["first"]["shards"]} == {(2, 4), (3, 4)}
    assert not set(r0["first"]["documents"]) & set(r1["first"]["documents"])
    assert r0["first"]["digests"] != r1["first"]["digests"]
    # accelerator.save_state saved rank 0's Birdie state; it holds every rank's stream position
    for r in (r0, r1):
        assert r["resumed"]["digests"] == r["first"]["digests"][6:]
        assert r["resumed"]["mixtures"] == r["first"]["mixtures"][2:]
        assert r["history_steps"] == [0, 3, 6, 9]
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 3, 6, 9]  # written once, by rank 0
    assert metrics[1]["realised"]["batches"] == 2 * 3  # summed over both ranks
