"""`train.trackers`: accelerate's experiment trackers, logged to from `birdie train` and read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from birdie_core.config import load_config
from birdie_core.config.preflight import check_config
from birdie_core.errors import ConfigError
from birdie_core.train import trackers
from birdie_core.train.config import TRACKER_NAMES
from birdie_core.train.loop import train
from tests.support import clean_env, evaluations, losses, tiny_config


def quiet(_: str) -> None:
    pass


def test_the_tracker_names_are_accelerates():
    from accelerate.utils import LoggerType

    assert set(TRACKER_NAMES) == {t.value for t in LoggerType} - {"all"}


def test_an_unknown_tracker_is_a_config_error_naming_the_field_and_the_choices(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tiny_config(tmp_path / "run", train={"trackers": ["tensorbord"]}))
    text = str(info.value)
    assert "train.trackers[0]" in text and "'tensorboard'" in text and "'wandb'" in text, text


def test_a_missing_tracker_package_fails_before_anything_is_written_and_names_the_extra(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(trackers, "missing_trackers", lambda names: [n for n in names if n == "wandb"])
    cfg = tiny_config(tmp_path / "run", train={"trackers": ["tensorboard", "wandb"]})
    with pytest.raises(ConfigError) as info:
        train(cfg, echo=quiet)
    [issue] = info.value.issues
    assert issue.path == "train.trackers[1]"
    assert "the wandb tracker needs the wandb package" in issue.message
    assert "pip install 'birdie-core[trackers]'" in issue.message
    assert not (tmp_path / "run").exists()
    # `birdie config check` says the same
    with pytest.raises(ConfigError, match=r"train\.trackers\[1\].*pip install 'birdie-core\[trackers\]'"):
        check_config(cfg)


def test_flatten_gives_scalars_only():
    flat = trackers.flatten({"a": {"b": 1, "c": None, "d": [1, {"e": 2}]}, "f": "x", "g": True})
    assert flat == {"a.b": 1, "a.c": "null", "a.d": '[1, {"e": 2}]', "f": "x", "g": True}


def _scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_every_step_and_every_evaluation(tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    said: list[str] = []
    train(tiny_config(run, train={"trackers": ["tensorboard"]}), echo=said.append, progress="lines")
    assert f"logging to tensorboard in {run / 'trackers'}" in said
    scalars = _scalars(run / "trackers" / "birdie")
    steps = losses(run)
    assert [s for s, _ in scalars["train/loss"]] == [s for s, _, _ in steps] == list(range(12))
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([loss for _, loss, _ in steps])
    assert [s for s, _ in scalars["train/lr"]] == list(range(12))
    tokens_seen = [v for _, v in scalars["train/tokens_seen"]]
    assert tokens_seen == sorted(tokens_seen) and tokens_seen[-1] == 12 * 4 * 64  # rows of plain text: no pad
    evals = evaluations(run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [s for s, _ in scalars["eval/loss_mean"]] == [s for s, _, _ in evals] == [0, 3, 6, 9, 12]
    for tag, key in (("eval/loss/ntp", "losses"), ("mixture/plm", "mixture")):
        assert [v for _, v in scalars[tag]] == pytest.approx(
            [r[key][tag.rpartition("/")[2]] for r in records]
        )
    # rewards and realised shares exist from the second evaluation on
    assert [s for s, _ in scalars["reward/ntp"]] == [3, 6, 9, 12]
    assert [v for _, v in scalars["realised/ntp"]] == pytest.approx(
        [r["realised"]["example_share"]["ntp"] for r in records[1:]]
    )
    # the resolved config went in as hyperparameters
    hparams = next((run / "trackers" / "birdie").glob("*/hparams.yml"))
    assert yaml.safe_load(hparams.read_text())["train.optimizer.lr"] == pytest.approx(3e-3)


def test_a_run_with_trackers_may_be_overwritten_and_resumed_with_other_trackers(tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    train(tiny_config(run, train={"trackers": ["tensorboard"]}), max_steps=4, echo=quiet)
    # adding or dropping a tracker is no change of the run
    result = train(tiny_config(run), resume=run, echo=quiet)
    assert result.finished
    train(tiny_config(run, train={"trackers": ["tensorboard"]}), max_steps=2, overwrite=True, echo=quiet)
    assert [s for s, _, _ in losses(run)] == [0, 1]


WANDB_RUN = """
import sys
from birdie_core.train.loop import train
from tests.support import tiny_config
train(tiny_config(sys.argv[1], train={"trackers": ["wandb"]}), max_steps=4, echo=lambda _: None)
"""


@pytest.mark.slow
def test_wandb_offline_keeps_the_history(tmp_path):
    """In a subprocess: W&B starts a service process and patches the environment of the one it runs in."""
    pytest.importorskip("wandb")
    run = tmp_path / "run"
    env = clean_env() | {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_CONSOLE": "off",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("WANDB_DIR", None)  # the run directory's trackers/ is the default
    proc = subprocess.run(
        [sys.executable, "-c", WANDB_RUN, str(run)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [offline] = list((run / "trackers" / "wandb").glob("offline-run-*"))
    [data] = list(offline.glob("run-*.wandb"))
    history = _wandb_history(data.read_bytes())
    # W&B merges what is logged at one step into one row: the evaluations are in the rows of steps 0 and 3
    assert [h["_step"] for h in history] == [0, 1, 2, 3]
    assert [h["train/loss"] for h in history] == pytest.approx([loss for _, loss, _ in losses(run)])
    assert [h["_step"] for h in history if "eval/loss_mean" in h] == [0, 3]
    assert "reward/ntp" in history[3] and "realised/plm" in history[3]
    assert not os.path.exists(tmp_path / "wandb")  # nothing in the working directory


def _wandb_history(data: bytes) -> list[dict[str, object]]:
    """The history rows of a W&B run file: records in 32 KiB blocks, each with a 7-byte header (checksum,
    length, FULL/FIRST/MIDDLE/LAST), after a 7-byte file header; every record a protobuf ``Record``."""
    import struct

    from wandb.proto import wandb_internal_pb2

    block, pos, pending, rows = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind not in (1, 4):
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(pending)
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows
