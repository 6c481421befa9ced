"""What `birdie train` prints: a bar in a terminal, plain lines in a pipe, compact evaluation lines, and
start-up lines instead of seconds of silence."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import yaml

from birdie_core.config import load_config, resolved_config
from birdie_core.train.loop import train
from birdie_core.train.plots import objective_classes
from birdie_core.train.progress import describe_evaluation, progress_mode
from tests.support import ROOT, clean_env, tiny_config

BIRDIE = str(Path(sys.executable).with_name("birdie"))


def _record(keys: list[str], explored: bool = False) -> dict:
    n = len(keys)
    weights = [float(i + 1) for i in range(n)]
    total = sum(weights)
    return {
        "step": 250,
        "losses": {k: 3.0 + i / n for i, k in enumerate(keys)},
        "mixture": {k: w / total for k, w in zip(keys, weights)},
        "explored": explored,
    }


def test_an_evaluation_line_at_83_configurations_is_short_and_grouped_by_class():
    cfg = resolved_config(load_config(ROOT / "configs" / "birdie.yaml"))
    classes = objective_classes(cfg["objectives"])
    assert len(classes) == 83
    record = _record(list(classes), explored=True)
    line = describe_evaluation(record, classes)
    assert len(line) < 200 and "\n" not in line, line
    mean = sum(record["losses"].values()) / 83
    assert line.startswith(f"eval  step 250: validation loss {mean:.3f} (mean of 83); next mixture by class")
    assert "(exploring)" in line
    # the classes' summed shares, largest first: autoencoding holds the last 36 configurations (largest weights)
    shown = line.split(": ", 2)[2].split(", ")
    assert len(shown) == 6 and shown[0].startswith("autoencoding ") and shown[-1].startswith("2 more ")
    print(line)


def test_an_evaluation_line_with_few_configurations_names_each():
    keys = [
        "next_token",
        "prefix_lm",
        "infill_r15_s3",
        "a_configuration_with_a_very_long_name",
        "b",
        "c",
        "d",
    ]
    line = describe_evaluation(_record(keys))
    assert "by class" not in line and "a_configuration_with_a_…" in line
    assert line.endswith("2 more 11%"), line  # next_token (1/28) and prefix_lm (2/28)


def test_auto_is_a_bar_in_a_terminal_and_lines_otherwise(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert progress_mode("auto") == "lines"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert progress_mode("auto") == "bar" and progress_mode("lines") == "lines"
    with pytest.raises(ValueError, match="progress must be one of auto, bar, lines, none"):
        progress_mode("fancy")


def test_in_process_lines_bar_and_none(tmp_path, monkeypatch):
    said: list[str] = []
    train(tiny_config(tmp_path / "a"), echo=said.append, progress="lines")
    assert [line.split()[1] for line in said if line.startswith("step ")] == [
        "1/12",
        "5/12",
        "10/12",
        "12/12",
    ]
    assert said[0] == "building the model and optimizer…" and said[1].startswith("  done in ")
    first = said.index(
        "first evaluation: building the validation batches (1 per objective configuration, kept for every "
        "evaluation)…"
    )
    assert said[first + 1].startswith("  built and measured in ")
    assert said[first + 2].startswith("eval  step 0: validation loss ")
    assert sum(line.startswith("eval  step ") for line in said) == 5

    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdout", terminal)
    said = []
    train(tiny_config(tmp_path / "b"), echo=lambda s: print(s, file=sys.stdout), progress="auto")
    out = terminal.getvalue()
    assert "12/12 [" in out and "step/s" in out and "loss " in out  # tqdm's bar and its postfix
    assert "\nstep  1/12" not in out and "eval  step 12: validation loss" in out

    said = []
    train(tiny_config(tmp_path / "c"), echo=said.append, progress="none")
    assert not any(line.startswith("step ") for line in said)
    assert sum(line.startswith("eval  step ") for line in said) == 5


def _tiny_yaml(tmp_path: Path) -> Path:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tmp_path / "run")))
    return config


@pytest.mark.slow
def test_the_command_shows_a_bar_in_a_terminal_and_plain_lines_in_a_pipe(tmp_path):
    config = _tiny_yaml(tmp_path)
    env = clean_env()
    piped = subprocess.run(
        [BIRDIE, "train", str(config), "--max-steps", "5"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert piped.returncode == 0, piped.stdout + piped.stderr
    lines = piped.stdout.splitlines()
    assert lines[:3] == ["loading torch…", "building the model and optimizer…", lines[2]]
    assert lines[2].startswith("  done in ") and "\r" not in piped.stdout
    assert any(line.startswith("step 5/5  loss ") for line in lines)

    # a pseudo-terminal of 120 columns (tqdm draws nothing in one of zero columns)
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, nothing else
        os.chdir(tmp_path)
        os.execve(BIRDIE, [BIRDIE, "train", str(config), "--overwrite", "--max-steps", "5"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    out = b"".join(chunks).decode()
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert "5/5 [" in out and "step/s" in out and "\r" in out
    assert "step 5/5  loss" not in out and "eval  step 3: validation loss" in out

    # --progress lines (or BIRDIE_PROGRESS) forces plain lines
    forced = subprocess.run(
        [BIRDIE, "train", str(config), "--overwrite", "--max-steps", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env | {"BIRDIE_PROGRESS": "none"},
        cwd=tmp_path,
        check=False,
    )
    assert forced.returncode == 0 and "step 1/1" not in forced.stdout and "eval  step 0" in forced.stdout


def test_an_objective_without_validation_examples_is_left_out_of_the_mean_everywhere():
    from birdie_core.curriculum.metrics import measured_mean
    from birdie_core.train.trackers import evaluation_values

    record = _record(["ntp", "plm", "short_docs_only"])
    record["losses"]["short_docs_only"] = float("nan")  # Birdie's history; metrics.jsonl holds null
    line = describe_evaluation(record)
    assert "validation loss 3.167 (mean of 2, 1 without validation examples)" in line, line
    values = evaluation_values(record)
    assert values["eval/loss_mean"] == pytest.approx(19 / 6) and "eval/loss/short_docs_only" not in values
    assert measured_mean({"a": None, "b": float("nan")}) != measured_mean({"a": None, "b": float("nan")})  # NaN
    assert measured_mean({"a": 1.0, "b": None}) == 1.0
