"""`birdie train` and `birdie plot` as commands: clean errors, PNGs redrawn, `python -m`, and two processes
under torchrun (a real 2-process gloo group on CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import BIRDIE, ROOT, clean_env, losses, tiny_config


def run(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    env = clean_env()
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        list(args), check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )


def write_config(tmp_path: Path, run_dir: Path) -> Path:
    cfg = tiny_config(run_dir, curriculum={"reward": None})
    cfg["curriculum"]["agent"] = {"name": "static"}  # these tests need no plugin
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_then_refuse_the_existing_run_then_redraw_its_plots(tmp_path):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path, run_dir)
    first = run(BIRDIE, "train", str(config), "--max-steps", "3")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Run directory: {run_dir}" in first.stdout and "plots: " in first.stdout
    assert "step 3/3" in first.stdout and "eval  step 0" in first.stdout
    assert [s for s, _, _ in losses(run_dir)] == [0, 1, 2]

    again = run(BIRDIE, "train", str(config))
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert f"error: the run directory {run_dir} already exists" in again.stderr

    pngs = sorted(run_dir.glob("*.png"))
    assert [p.name for p in pngs] == ["mixture.png", "train_loss.png", "validation_loss.png"]
    for p in pngs:
        p.unlink()
    plot = run(BIRDIE, "plot", str(run_dir))
    assert plot.returncode == 0, plot.stderr
    assert sorted(Path(line).name for line in plot.stdout.split()) == [p.name for p in pngs]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)

    missing = run(BIRDIE, "plot", str(tmp_path / "nowhere"))
    assert (
        missing.returncode == 1 and "Traceback" not in missing.stderr and "does not exist" in missing.stderr
    )


def test_resume_with_a_damaged_checkpoint_is_one_clean_message(tmp_path):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path, run_dir)
    assert run(BIRDIE, "train", str(config), "--max-steps", "2").returncode == 0
    (run_dir / "checkpoints" / "step_0000002" / "model.safetensors").write_bytes(b"\0" * 10)
    proc = run(BIRDIE, "train", str(config), "--resume", str(run_dir))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "cannot resume from" in proc.stderr and "damaged or incomplete" in proc.stderr


def test_python_dash_m_runs_the_cli_for_launchers():
    proc = run(sys.executable, "-m", "birdie_core.cli", "train", "--help")
    assert proc.returncode == 0 and "--resume RUN_DIR" in proc.stdout and "--max-steps" in proc.stdout


@pytest.mark.slow
def test_two_processes_under_torchrun_train_the_quickstart_and_resume(tmp_path):
    out = tmp_path / "run"

    def torchrun(*args: str) -> subprocess.CompletedProcess:
        proc = run(
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            "--max_restarts", "0", "-m", "birdie_core.cli", "train", "configs/quickstart.yaml", *args,
            timeout=240,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc

    first = torchrun("--max-steps", "12", "--output", str(out))
    assert "on 2 × cpu (MULTI_CPU)" in first.stdout
    assert first.stdout.count("eval  step 0") == 1  # printed by the main process only
    second = torchrun("--max-steps", "20", "--resume", str(out))
    assert "resumed" in second.stdout and "(step 12 of 500)" in second.stdout
    assert [s for s, _, _ in losses(out)] == list(range(20))
    tokens = [json.loads(line)["tokens"] for line in (out / "train.jsonl").read_text().splitlines()]
    assert min(tokens) > 8 * 256  # summed over both ranks: more than one rank's 8 x 256 positions
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0]
    ckpt = out / "checkpoints" / "step_0000020"
    assert {
        "random_states_0.pkl",
        "random_states_1.pkl",
        "birdie_state.json",
        "trainer_state_0.json",
        "trainer_state_1.json",
        "manifest.json",
    } <= {p.name for p in ckpt.iterdir()}
    assert {p.name for p in out.glob("*.png")} == {"mixture.png", "validation_loss.png", "train_loss.png"}
