"""A run directory is untrusted input: --overwrite deletes only what `birdie train` made, resume loads nothing
it cannot check and unpickles nothing, and the state files round-trip exactly (docs/training.md, "Trust")."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from birdie_core.errors import CheckpointError, RunDirectoryError
from birdie_core.testing import time_limit
from birdie_core.train import runs
from birdie_core.train.loop import train
from birdie_core.train.state_files import read_state, write_state
from tests.support import BIRDIE, ROOT, clean_env, evaluations, losses, tiny_config

#: one `birdie train` process on a shared 2-core machine takes 5-20 s here; past this it is stuck
PROCESS_LIMIT_S = 180
#: an in-process run of a few steps of the tiny config
RUN_LIMIT_S = 180


def quiet(_: str) -> None:
    pass


def static_config(run_dir: Path, **changes) -> dict:
    """The tiny config with the static agent: these tests need no plugin."""
    cfg = tiny_config(run_dir, curriculum={"reward": None}, **changes)
    cfg["curriculum"]["agent"] = {"name": "static"}
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    env = clean_env()
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [BIRDIE, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=PROCESS_LIMIT_S,
        env=env,
        cwd=ROOT,
    )


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


def run_id(run_dir: Path) -> str:
    return runs.read_run_marker(run_dir)["run_id"]


# ---------------------------------------------------------------------------------------------------------
# --overwrite deletes only what `birdie train` made
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "contents",
    [
        # the two directories main deleted before: one marker-like name was enough
        {"src/model.py": "import torch\n", "NOTES.md": "# my notes\n", "checkpoints/": None},
        {"metrics.jsonl": '{"epoch": 1, "acc": 0.9}\n', "results.csv": "epoch,acc\n1,0.9\n"},
    ],
    ids=["source-tree-with-checkpoints", "foreign-metrics"],
)
def test_overwrite_refuses_a_directory_birdie_did_not_make(tmp_path, contents):
    target = tmp_path / "work"
    for name, text in contents.items():
        path = target / name
        if text is None:
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    before = files_of(target)
    config = write_config(tmp_path / "c.yaml", static_config(target))
    proc = cli("train", str(config), "--overwrite", "--max-steps", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "does not look like a Birdie run directory" in proc.stderr
    assert f"has no {runs.RUN_MARKER}" in proc.stderr  # the reason, not just the refusal
    assert files_of(target) == before and (target / "checkpoints").is_dir() == ("checkpoints/" in contents)
    # without --overwrite the refusal says the same reason, and does not suggest --overwrite
    plain = cli("train", str(config), "--max-steps", "1")
    assert (
        plain.returncode == 1 and "is not a Birdie run" in plain.stderr and "--overwrite" not in plain.stderr
    )
    assert files_of(target) == before


def test_overwrite_deletes_a_run_it_made_and_nothing_added_to_it(tmp_path):
    run = tmp_path / "run"
    with time_limit(RUN_LIMIT_S, "the first run"):
        train(static_config(run), max_steps=2, echo=quiet)
    marker = json.loads((run / runs.RUN_MARKER).read_text())
    assert marker["format"] == "birdie-run-directory" and marker["birdie_version"]
    first = marker["run_id"]

    (run / "NOTES.md").write_text("what I learned from this run")
    with pytest.raises(RunDirectoryError, match=r"it holds NOTES\.md, which `birdie train` does not write"):
        train(static_config(run), max_steps=2, overwrite=True, echo=quiet)
    assert (run / "NOTES.md").read_text() == "what I learned from this run"
    (run / "NOTES.md").unlink()

    (run / runs.RUN_MARKER).write_text('{"format": "something else"}')  # a marker must be Birdie's
    with pytest.raises(RunDirectoryError, match=f"its {runs.RUN_MARKER} is not a Birdie run marker"):
        train(static_config(run), max_steps=2, overwrite=True, echo=quiet)
    (run / runs.RUN_MARKER).write_text(json.dumps(marker))

    with time_limit(RUN_LIMIT_S, "the overwriting run"):
        result = train(static_config(run), max_steps=3, overwrite=True, echo=quiet)
    assert result.steps_done == 3 and [s for s, _, _ in losses(run)] == [0, 1, 2]
    assert run_id(run) != first  # a new run, with its own identity
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_0000003"]


# ---------------------------------------------------------------------------------------------------------
# Symbolic links
# ---------------------------------------------------------------------------------------------------------


def test_a_symlinked_run_directory_is_used_through_the_link_and_overwrite_keeps_the_link(tmp_path):
    real, link = tmp_path / "scratch" / "run", tmp_path / "run"
    with time_limit(RUN_LIMIT_S, "the first run"):
        train(static_config(real), max_steps=1, echo=quiet)
    first = run_id(real)
    link.symlink_to(real, target_is_directory=True)
    config = write_config(tmp_path / "c.yaml", static_config(link))

    again = cli("train", str(config), "--overwrite", "--max-steps", "2")
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stdout + again.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()  # main raised OSError from rmtree here
    assert run_id(real) != first and [s for s, _, _ in losses(real)] == [0, 1]

    resumed = cli("train", str(config), "--resume", str(link), "--max-steps", "3")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [s for s, _, _ in losses(real)] == [0, 1, 2]

    # a link inside a run directory is not Birdie's: --overwrite refuses, and nothing behind it is touched
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")
    (real / "data").symlink_to(precious, target_is_directory=True)
    refused = cli("train", str(config), "--overwrite", "--max-steps", "1")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "data (a symbolic link)" in refused.stderr
    assert (precious / "data.txt").read_text() == "keep me" and (real / "train.jsonl").is_file()


def test_a_symlink_that_points_nowhere_is_a_clear_error(tmp_path):
    link = tmp_path / "run"
    link.symlink_to(tmp_path / "gone", target_is_directory=True)
    config = write_config(tmp_path / "c.yaml", static_config(link))
    for extra in ([], ["--overwrite"]):
        proc = cli("train", str(config), "--max-steps", "1", *extra)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "is a symbolic link to" in proc.stderr and "which does not exist" in proc.stderr
        assert not (tmp_path / "gone").exists()


# ---------------------------------------------------------------------------------------------------------
# Resume unpickles nothing and checks every file first
# ---------------------------------------------------------------------------------------------------------


class CreatesAFile:
    """Unpickling this opens ``path`` for writing (creating it): any code could stand in its place."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> Path:
    """A run stopped at step 2, with its checkpoint there (copy it before changing it)."""
    run = tmp_path_factory.mktemp("saved") / "run"
    with time_limit(RUN_LIMIT_S, "the saved run"):
        train(static_config(run, workers={"num_workers": 1}), max_steps=2, echo=quiet)
    return run


def copy_of(saved_run: Path, tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "run"
    shutil.copytree(saved_run, run, symlinks=True)
    # the resolved config names the run's output, and Birdie writes it again at every start: give the copy
    # its own, so that "nothing changed" below means nothing at all
    resolved = run / "config.resolved.yaml"
    resolved.write_text(resolved.read_text().replace(str(saved_run), str(run)))
    return run, run / "checkpoints" / "step_0000002"


def resume_fails(run: Path, match: str) -> CheckpointError:
    before = files_of(run)
    with time_limit(RUN_LIMIT_S, "the resume"), pytest.raises(CheckpointError, match=match) as info:
        train(static_config(run, workers={"num_workers": 1}), resume=run, echo=quiet)
    assert files_of(run) == before  # nothing in the run directory changed
    return info.value


def test_a_checkpoint_holds_json_states_and_a_manifest_of_every_file(saved_run):
    ckpt = saved_run / "checkpoints" / "step_0000002"
    names = {p.name for p in ckpt.iterdir()}
    assert {runs.MANIFEST, runs.BIRDIE_STATE, runs.trainer_state_name(0), "model.safetensors"} <= names
    assert not [n for n in names if n.startswith("custom_checkpoint")]
    manifest = json.loads((ckpt / runs.MANIFEST).read_text())
    assert set(manifest["files"]) == names - {runs.MANIFEST}
    assert all(entry["size"] == (ckpt / n).stat().st_size for n, entry in manifest["files"].items())
    trainer = read_state(ckpt / runs.trainer_state_name(0))
    assert trainer["step"] == 2 and trainer["rng"].dtype == torch.uint8 and not trainer["finished"]
    assert read_state(ckpt / runs.BIRDIE_STATE)["ranks"][0]["consumed"] == 2


def test_a_planted_pickle_is_never_unpickled(tmp_path, saved_run):
    run, ckpt = copy_of(saved_run, tmp_path)
    config = write_config(tmp_path / "c.yaml", static_config(run, workers={"num_workers": 1}))
    # the payload works: unpickling it the way accelerate's load_custom_state does creates the file
    proof = tmp_path / "proof"
    torch.save({"birdie": CreatesAFile(proof)}, tmp_path / "payload.pkl")
    torch.load(tmp_path / "payload.pkl", weights_only=False)["birdie"].close()
    assert proof.exists()

    created = tmp_path / "created-by-the-pickle"
    torch.save({"birdie": CreatesAFile(created)}, ckpt / "custom_checkpoint_0.pkl")
    proc = cli("train", str(config), "--resume", str(run))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "custom_checkpoint_0.pkl is not listed in its manifest.json" in proc.stderr
    assert not created.exists()

    # an author who also rewrites the manifest gets no further: no file of a checkpoint is unpickled
    # with weights_only=False, whatever the manifest lists
    runs.write_manifest(ckpt)
    resume_fails(run, r"cannot resume from .*step_0000002")
    assert not created.exists()


def test_resume_refuses_a_run_directory_with_links_inside(tmp_path, saved_run):
    """A resumed run writes plugins.json, the logs and the plots: through a planted link it would overwrite
    whatever the link names."""
    run, _ = copy_of(saved_run, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (run / "plugins.json").unlink()
    (run / "plugins.json").symlink_to(victim)
    with pytest.raises(RunDirectoryError, match=r"holds symbolic links \(plugins\.json\)"):
        train(static_config(run, workers={"num_workers": 1}), resume=run, echo=quiet)
    assert victim.read_text() == "mine"


def test_a_hostile_resolved_config_in_a_run_directory_is_refused_in_bounded_time(tmp_path, saved_run):
    run, _ = copy_of(saved_run, tmp_path)
    laughs = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    (run / "config.resolved.yaml").write_text("\n".join(laughs) + "\n")  # 9^10 values once expanded
    with time_limit(60, "reading the resolved config"), pytest.raises(RunDirectoryError, match="alias"):
        train(static_config(run, workers={"num_workers": 1}), resume=run, echo=quiet)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (
            "truncate random_states_0.pkl",
            r"random_states_0\.pkl has \d+ bytes where its manifest\.json says \d+",
        ),
        ("edit model.safetensors", r"model\.safetensors does not match its sha256 in manifest\.json"),
        ("delete optimizer.bin", r"optimizer\.bin is missing"),
        ("truncate birdie_state.json", r"birdie_state\.json has \d+ bytes where"),
        ("delete manifest.json", r"it has no manifest\.json"),
    ],
)
def test_a_damaged_checkpoint_is_an_error_naming_the_file(tmp_path, saved_run, damage, match):
    run, ckpt = copy_of(saved_run, tmp_path)
    action, name = damage.split()
    path = ckpt / name
    if action == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif action == "edit":  # same size, one byte changed: only the hash can tell
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.unlink()
    error = resume_fails(run, match)
    assert str(error).startswith(f"cannot resume from {ckpt}")


def test_files_that_match_a_rewritten_manifest_are_still_checked_before_use(tmp_path, saved_run):
    """The manifest catches damage, not a deliberate author: each file is also checked as it is read."""
    run, ckpt = copy_of(saved_run, tmp_path)
    (ckpt / "random_states_0.pkl").write_bytes(b"not a pickle at all")  # accelerate would skip it silently
    runs.write_manifest(ckpt)
    resume_fails(run, r"random_states_0\.pkl cannot be loaded as RNG states")

    run, ckpt = copy_of(saved_run, tmp_path / "again")
    state = json.loads((ckpt / runs.BIRDIE_STATE).read_text())
    state["state"]["agent"] = {"$birdie": "pickle", "data": "gASV"}
    (ckpt / runs.BIRDIE_STATE).write_text(json.dumps(state))
    runs.write_manifest(ckpt)
    resume_fails(run, r"birdie_state\.json: state\.agent: unknown tag 'pickle'")


# ---------------------------------------------------------------------------------------------------------
# Resume stays exact
# ---------------------------------------------------------------------------------------------------------


def test_a_resumed_birdie_train_continues_exactly(tmp_path):
    """Real processes, dropout on, one worker, the learning `birdie` agent (its reward model travels in
    birdie_state.json): the split run's losses and evaluations equal the whole run's, bit for bit."""
    pytest.importorskip("birdie_rewards")
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    changes = {"workers": {"num_workers": 1}, "curriculum": {"num_steps": 10}}
    whole_cfg = write_config(tmp_path / "whole.yaml", tiny_config(whole, **changes))
    halves_cfg = write_config(tmp_path / "halves.yaml", tiny_config(halves, **changes))
    for args in (
        [str(whole_cfg)],
        [str(halves_cfg), "--max-steps", "5"],
        [str(halves_cfg), "--resume", str(halves)],
    ):
        proc = cli("train", *args)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        if "--max-steps" in args:
            marked = run_id(halves)
    assert "resumed" in proc.stdout and "(step 5 of 10)" in proc.stdout
    assert losses(halves) == losses(whole) and evaluations(halves) == evaluations(whole)
    assert len({loss for _, loss, _ in losses(whole)}) == 10  # the curve moves: nothing trivially equal
    assert run_id(halves) == marked  # the resumed run kept its identity


# ---------------------------------------------------------------------------------------------------------
# The state file format
# ---------------------------------------------------------------------------------------------------------


def test_state_files_round_trip_every_type_they_hold(tmp_path):
    module_state = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)).state_dict()
    state = {
        "module": module_state,
        "tensors": [
            torch.randn(3, 2).to(torch.bfloat16),
            torch.tensor(7),
            torch.empty(0, 4),
            torch.arange(9)[::2],
        ],
        "arrays": (
            np.arange(6, dtype=">i4").reshape(2, 3),
            np.array([True, False]),
            np.float64(0.1),
            np.int8(-3),
        ),
        "floats": [math.inf, -math.inf, -0.0, 1e-310, 0.1],
        "int_keys": {0: "rank 0", 1: {"nested": (1, (2,))}},
        "odd_keys": {(1, "a"): None, 2.5: b"\x00\xff", "$birdie": "a key that looks like a tag"},
        "big": 2**130,
        "text": "\ud800 a lone surrogate, é",
    }
    write_state(tmp_path / "s.json", state)
    back = read_state(tmp_path / "s.json")
    assert type(back["module"]) is OrderedDict and back["module"]._metadata == module_state._metadata
    assert all(torch.equal(back["module"][k], v) for k, v in module_state.items())
    for a, b in zip(state["tensors"], back["tensors"]):
        assert a.dtype == b.dtype and torch.equal(a, b)
    for a, b in zip(state["arrays"], back["arrays"]):
        assert type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    assert math.copysign(1, back["floats"][2]) == -1 and back["floats"] == state["floats"]
    for key in ("int_keys", "odd_keys", "big", "text"):
        assert back[key] == state[key]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ({"agent": {"seen": {1, 2}}}, r"cannot save state\.agent\.seen: it is a builtins\.set"),
        ({"a": [np.array(["text"])]}, r"cannot save state\.a\[0\]: a numpy <U4 array"),
        ({"p": torch.nn.Parameter(torch.ones(1))}, r"state\.p: it is a torch\.nn\.parameter\.Parameter"),
        ({"f": lambda: 0}, r"state\.f: it is a builtins\.function"),
    ],
)
def test_saving_what_a_state_file_cannot_hold_is_refused_naming_the_place(tmp_path, value, named):
    with pytest.raises(CheckpointError, match=named):
        write_state(tmp_path / "s.json", value)
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"format": "birdie-state", "version": 1, "state": {"x": NaN}}', "NaN is not JSON"),
        ('{"format": "birdie-state", "version": 1, "state": {"x": 1, "x": 2}}', "the key 'x' appears twice"),
        (
            (
                '{"format": "birdie-state", "version": 1, "state": {"$birdie": "ndarray", "dtype": "O", '
                '"shape": [1], "data": ""}}'
            ),
            "'O' is not a numpy dtype of numbers or booleans",
        ),
        (
            (
                '{"format": "birdie-state", "version": 1, "state": {"$birdie": "tensor", "dtype": "float32", '
                '"shape": [4], "data": "AAAA"}}'
            ),
            "3 bytes for a float32 tensor of shape",
        ),
        ("[" * 100_000 + "]" * 100_000, "is not a Birdie state file"),
    ],
    ids=["nan", "duplicate-key", "object-dtype", "short-data", "deep-nesting"],
)
def test_reading_a_file_encode_did_not_write_is_a_clear_error(tmp_path, text, named):
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(CheckpointError, match=re.escape(str(path))) as info:
        read_state(path)
    assert named in str(info.value)
