"""The pipeline never hangs: failing, killed and abandoned workers, and sources with nothing in them.

Every test runs under a SIGALRM limit (``time_limit``) and checks its own, tighter deadline, so a regression
fails instead of hanging the suite.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import PipelineError
from tests.support import alive, make_config, make_registry, subprocess_env

pytestmark = pytest.mark.usefixtures("time_limit")


@pytest.fixture(scope="module")
def registry():
    return make_registry()


def wait_gone(pids, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def drain_until_error(birdie, seconds):
    """Ask for batches until one raises; returns (exception, seconds it took)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        try:
            birdie.get_next_training_sample()
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc, time.monotonic() - t0
    pytest.fail(f"no error within {seconds} s")


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_source_that_yields_nothing_is_a_clear_error(registry, num_workers):
    with Birdie(make_config(texts=(), num_workers=num_workers), registry=registry) as b:
        exc, took = drain_until_error(b, 10)
    assert isinstance(exc, PipelineError) and "yielded no documents" in str(exc)
    assert took < 10


def test_an_empty_validation_source_is_a_clear_error(registry):
    cfg = make_config()
    cfg["data"]["validation"]["texts"] = []
    with (
        Birdie(cfg, registry=registry) as b,
        pytest.raises(PipelineError, match="validation batches of objective 'ntp'.*yielded no documents"),
    ):
        b.measure_validation_losses()


def test_a_worker_that_raises_surfaces_with_its_traceback(registry):
    cfg = make_config(num_workers=2, source="failing", fail_at=9)
    b = Birdie(cfg, registry=registry)
    try:
        exc, took = drain_until_error(b, 10)
        pids = [p for p in b.worker_pids()]
        assert pids == []  # the loader stopped its workers before raising
        with pytest.raises(PipelineError, match="failed earlier"):
            b.get_next_training_sample()
    finally:
        b.close()
    assert took < 10
    message = str(exc)
    assert isinstance(exc, PipelineError)
    assert "the test source broke at document" in message and "DataLoader worker process" in message
    assert "Traceback" in message and "support.py" in message and "raise RuntimeError" in message


def test_a_killed_worker_is_an_error_within_seconds(registry):
    b = Birdie(make_config(num_workers=2), registry=registry)
    try:
        b.get_next_training_sample()
        pids = b.worker_pids()
        assert len(pids) == 2
        os.kill(pids[0], signal.SIGKILL)
        t0 = time.monotonic()
        try:
            exc, _ = drain_until_error(b, 10)
        except RuntimeError as signalled:  # torch's SIGCHLD handler may raise between two calls
            exc = signalled
        took = time.monotonic() - t0
    finally:
        b.close()
    assert took < 10, took
    assert "exited unexpectedly" in str(exc) or "killed by signal" in str(exc), exc
    assert wait_gone(pids, 5)


def test_close_stops_every_worker(registry):
    b = Birdie(make_config(num_workers=2), registry=registry)
    b.get_next_training_sample()
    pids = b.worker_pids()
    assert len(pids) == 2
    t0 = time.monotonic()
    b.close()
    b.close()  # idempotent
    assert wait_gone(pids, 5) and time.monotonic() - t0 < 5


def test_leaving_a_with_block_by_an_exception_stops_every_worker(registry):
    with pytest.raises(KeyboardInterrupt), Birdie(make_config(num_workers=2), registry=registry) as b:
        b.get_next_training_sample()
        pids = b.worker_pids()
        raise KeyboardInterrupt
    assert len(pids) == 2 and wait_gone(pids, 5)


def test_garbage_collection_stops_every_worker(registry):
    b = Birdie(make_config(num_workers=2), registry=registry)
    b.get_next_training_sample()
    pids = b.worker_pids()
    assert len(pids) == 2
    del b
    gc.collect()
    assert wait_gone(pids, 5)


CTRL_C_SCRIPT = """
import faulthandler, json, signal, sys
faulthandler.register(signal.SIGUSR2, all_threads=True)  # the test asks for the stacks if it does not exit
from tests.support import make_config, make_registry
from birdie_core.curriculum.birdie import Birdie
birdie = Birdie(make_config(num_workers=2), registry=make_registry())   # no `with`, no close()
birdie.get_next_training_sample()
print(json.dumps(birdie.worker_pids()), flush=True)
while True:
    birdie.get_next_training_sample()
"""


def hang_report(proc, pids):
    """What a hung child was doing: its Python stacks (faulthandler), py-spy's view if installed, the processes."""
    parts = [f"load average {os.getloadavg()}"]
    for pid in [proc.pid, *pids]:
        try:
            with open(f"/proc/{pid}/stat") as f:
                parts.append(f"pid {pid}: {f.read()[:120]}")
            with open(f"/proc/{pid}/wchan") as f:
                parts.append(f"  wchan {f.read()}")
        except OSError as e:
            parts.append(f"pid {pid}: {e}")
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if os.path.exists(spy):
        for pid in [proc.pid, *pids]:
            out = subprocess.run([spy, "dump", "--native", "--pid", str(pid)], capture_output=True, text=True)
            parts.append(f"py-spy {pid}:\n{out.stdout}{out.stderr}")
    os.kill(proc.pid, signal.SIGUSR2)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    _, err = proc.communicate()
    parts.append("stderr:\n" + err)
    return "\n".join(parts)


def test_ctrl_c_stops_the_training_process_and_every_worker(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        line = proc.stdout.readline()
        pids = json.loads(line)
        assert len(pids) == 2, proc.stderr.read() if not line else line
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        t0 = time.monotonic()
        # the interpreter's own teardown with torch loaded takes about a second alone, longer on a busy machine
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("the training process did not exit within 15 s of Ctrl-C:\n" + hang_report(proc, pids))
        assert "KeyboardInterrupt" in proc.stderr.read()
        assert wait_gone(pids, 15 - (time.monotonic() - t0))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
