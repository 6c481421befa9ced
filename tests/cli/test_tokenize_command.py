"""`birdie tokenize`: pre-tokenized shards from a config's source, run as the installed console script."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from birdie_core.pretokenized import HEADER_NAME, Progress
from tests.support import BIRDIE, ROOT, alive, clean_env

QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = clean_env()
    full_env.update(env or {})
    return subprocess.run(
        [BIRDIE, *args], check=False, capture_output=True, text=True, timeout=180, env=full_env, cwd=cwd
    )


def quickstart_reading(tmp_path: Path, train: dict, tokenizer: dict | None = None) -> Path:
    """configs/quickstart.yaml reading ``train``, written next to the test's files."""
    data = yaml.safe_load(QUICKSTART.read_text())
    data["data"]["train"] = train
    if tokenizer is not None:
        data["tokenizer"] = tokenizer
    path = tmp_path / f"reading_{train['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_embedded_corpus_in_two_processes_then_a_preview_from_it(tmp_path):
    out = tmp_path / "embedded"
    proc = run(
        "tokenize", str(QUICKSTART), "--output", str(out), "--processes", "2", "--shard-tokens", "100000"
    )
    assert proc.returncode == 0, proc.stderr
    header = json.loads((out / HEADER_NAME).read_text())
    n, shards = header["documents"], len(header["shards"])
    assert n > 50 and shards >= 4
    assert f"{n:,} documents" in proc.stdout and f"{shards} shards" in proc.stdout and "uint16" in proc.stdout
    # not a terminal: one plain line per shard and a final one, no bar and no control characters
    lines = proc.stderr.splitlines()
    assert next(ln for ln in lines if "wrote tokens_" in ln).startswith(
        "tokenize train: wrote tokens_00000.bin"
    )
    assert f"{n:,}/{n:,} documents" in lines[-1] and "\r" not in proc.stderr and "\x1b" not in proc.stderr

    config = quickstart_reading(tmp_path, {"name": "tokenized", "path": str(out)})
    preview = run("preview", str(config), "--width", "60")
    assert preview.returncode == 0, preview.stderr
    assert preview.stdout.count("PREFIX │") == 8 and "packing efficiency" in preview.stdout


def test_a_pipeline_with_another_tokenizer_is_a_clean_error(tmp_path):
    out = tmp_path / "bytes"
    assert run("tokenize", str(QUICKSTART), "--output", str(out), "--processes", "1").returncode == 0
    config = quickstart_reading(
        tmp_path, {"name": "tokenized", "path": str(out)}, {"name": "tiktoken", "encoding": "cl100k_base"}
    )
    proc = run("preview", str(config))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ByteTokenizer" in proc.stderr and "TiktokenTokenizer" in proc.stderr
    assert "birdie tokenize" in proc.stderr


def test_an_existing_output_is_kept_unless_overwrite_and_foreign_files_always(tmp_path):
    out = tmp_path / "out"
    args = ("tokenize", str(QUICKSTART), "--output", str(out), "--processes", "1", "--split", "validation")
    assert run(*args).returncode == 0
    before = (out / HEADER_NAME).read_bytes()
    again = run(*args)
    assert again.returncode == 1 and "not empty" in again.stderr and "--overwrite" in again.stderr
    assert (out / HEADER_NAME).read_bytes() == before
    assert run(*args, "--overwrite").returncode == 0
    (out / "notes.txt").write_text("mine")
    refused = run(*args, "--overwrite")
    assert refused.returncode == 1 and "notes.txt" in refused.stderr and "Traceback" not in refused.stderr
    assert (out / "notes.txt").read_text() == "mine" and (out / HEADER_NAME).exists()


def test_a_missing_split_or_domain_is_a_clean_error(tmp_path):
    data = yaml.safe_load(QUICKSTART.read_text())
    data["data"] = {"train": {"name": "embedded"}, "validation": None}
    config = tmp_path / "no_validation.yaml"
    config.write_text(yaml.safe_dump(data))
    proc = run("tokenize", str(config), "--output", str(tmp_path / "out"), "--split", "validation")
    assert proc.returncode == 1 and "no 'validation' source" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------
# Stopping
# ---------------------------------------------------------------------------------------------------------

SLOW_SOURCE = """
import time

def documents(split, worker_id, num_workers, rng_seed):
    i = 0
    while True:  # endless, and slow enough to be stopped in the middle
        time.sleep(0.002)
        yield f"document {i}: " + "some words " * 20
        i += 1
"""


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # a thread that ended between listing and reading
            continue
    return found


@pytest.mark.parametrize("stop", ["ctrl-c to the process group", "sigterm to the command"])
def test_stopping_leaves_no_process_and_no_partial_output(tmp_path, stop):
    (tmp_path / "slow_source.py").write_text(SLOW_SOURCE)
    data = {
        "tokenizer": {"name": "bytes"},
        "data": {"train": {"name": "callable", "function": "slow_source:documents"}},
        "objectives": [{"name": "next_token_prediction"}],
    }
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    env = clean_env() | {"PYTHONPATH": str(tmp_path)}
    args = [
        BIRDIE,
        "tokenize",
        str(config),
        "--output",
        str(out),
        "--processes",
        "2",
        "--shard-tokens",
        "2000",
    ]
    with open(tmp_path / "stderr", "w+") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            children: list[int] = []
            while time.monotonic() < deadline and proc.poll() is None:
                children = children_of(proc.pid)
                if len(children) >= 2 and (out / "tokens_00001.bin").exists():
                    break
                time.sleep(0.1)
            assert proc.poll() is None and len(children) >= 2, Path(err.name).read_text()
            if stop.startswith("ctrl-c"):
                os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
            else:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        err.seek(0)
        message = err.read()
    assert code == (130 if stop.startswith("ctrl-c") else 143), message
    assert "interrupted" in message and "Traceback" not in message
    deadline = time.monotonic() + 10
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(c) for c in children)
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------------
# The progress display
# ---------------------------------------------------------------------------------------------------------


def test_on_a_terminal_the_progress_is_one_redrawn_line_coloured_unless_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = io.StringIO()
    progress = Progress("tokenize train", 10, stream=stream, interactive=True, redraw=1e9)
    progress.update(5, 1000)
    progress.note("wrote tokens_00000.bin")
    progress.update(5, 1000)
    progress.close()
    out = stream.getvalue()
    assert out.count("\r\x1b[2K") >= 3 and "\x1b[32m" in out and " 50% " in out and "100%" in out
    assert "tokenize train: wrote tokens_00000.bin\n" in out and out.endswith("\n")
    assert "10/10 documents" in out.splitlines()[-1]

    monkeypatch.setenv("NO_COLOR", "1")
    plain = io.StringIO()
    progress = Progress("tokenize train", 10, stream=plain, interactive=True, redraw=1e9)
    progress.update(3, 10)
    assert "\x1b[32m" not in plain.getvalue() and "█" in plain.getvalue()


def test_elsewhere_the_progress_is_plain_periodic_lines():
    stream = io.StringIO()
    progress = Progress("tokenize train", None, stream=stream, interactive=False, interval=0.0)
    progress.update(2, 2_500_000)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and all(
        ln.startswith("tokenize train: 2 documents · 2.50 M tokens") for ln in lines
    )
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
