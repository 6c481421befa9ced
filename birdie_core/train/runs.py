"""The run directory of `birdie train`: what it holds, when it may be (re)used, and its checkpoints.

::

    RUN_DIR/
      birdie_run.json         the marker: `birdie train` made this directory (its id, when, which Birdie version)
      config.resolved.yaml    the fully resolved config (written by Birdie)
      plugins.json            the plugins the run used (written by Birdie)
      metrics.jsonl           one record per evaluation: losses, rewards, the new mixture (written by Birdie)
      train.jsonl             one record per training step: loss, learning rate, tokens, tokens/s
      tasks.jsonl             one record per evaluation task (train.evals) per evaluation: step, key, value, ...
      checkpoints/step_0000100/   model.safetensors, optimizer.bin, scheduler.bin, random_states_<rank>.pkl
                                  (accelerate's save_state; it loads them with torch's weights_only=True),
                                  birdie_state.json (Birdie's state), trainer_state_<rank>.json (the loop's),
                                  manifest.json (written last: every other file, its size and sha256)
      mixture.png  validation_loss.png  train_loss.png      (``birdie plot RUN_DIR`` redraws them)
      trackers/               the experiment trackers' files (train.trackers: TensorBoard's event files, ...)

A run directory is untrusted input (docs/training.md, "Trust"): ``--overwrite`` deletes only a directory that
carries the marker and holds nothing but what `birdie train` writes, and a checkpoint is loaded only after
every one of its files matches its manifest. A checkpoint is written under ``step_N.partial``, its manifest
last, and renamed when every rank has finished, so a directory named ``step_N`` was written completely.

A run directory may be a symbolic link: the run lives in the directory it points to (``--overwrite`` empties
that directory and keeps the link). Inside a run directory Birdie makes no links, so a link there is foreign.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from birdie_core import __version__
from birdie_core.config import RESOLVED_CONFIG_NAME, PipelineConfig, load_config, resolved_config
from birdie_core.config.yaml_lines import load_yaml_with_lines
from birdie_core.curriculum.metrics import METRICS_NAME
from birdie_core.errors import CheckpointError, ConfigError, RunDirectoryError

__all__ = [
    "BIRDIE_STATE",
    "CHECKPOINTS",
    "MANIFEST",
    "RUN_MARKER",
    "TASKS_LOG",
    "TRAIN_LOG",
    "check_new_run_dir",
    "check_same_config",
    "checkpoint_path",
    "checkpoints",
    "create_run_dir",
    "delete_run_dir",
    "finish_checkpoint",
    "is_run_dir",
    "latest_checkpoint",
    "partial_path",
    "read_run_marker",
    "read_train_log",
    "trainer_state_name",
    "truncate_logs",
    "verify_checkpoint",
    "write_manifest",
]

TRAIN_LOG = "train.jsonl"
#: the results of train.evals, one line per task per evaluation (birdie_core.train.evaluation writes it)
TASKS_LOG = "tasks.jsonl"
CHECKPOINTS = "checkpoints"
RUN_MARKER = "birdie_run.json"
MANIFEST = "manifest.json"
#: Birdie's state in a checkpoint (rank 0 writes it; it holds every rank's stream position)
BIRDIE_STATE = "birdie_state.json"
_PREFIX = "step_"
_PARTIAL = ".partial"
_MARKER_FORMAT = "birdie-run-directory"
_MANIFEST_FORMAT = "birdie-checkpoint-manifest"
#: a manifest lists a few files; one this large was not written by Birdie, and is not read into memory
_MANIFEST_MAX_BYTES = 16 * 2**20
#: what `birdie train` writes at the top of a run directory (and the temporary files it renames into place)
_BIRDIE_WRITES = frozenset(
    [RUN_MARKER, RESOLVED_CONFIG_NAME, "plugins.json", METRICS_NAME, TRAIN_LOG, TASKS_LOG]
    + ["mixture.png", "validation_loss.png", "train_loss.png"]
)
#: the experiment trackers' directory (train.trackers): what is inside is theirs, and not looked at
TRACKERS = "trackers"
_BIRDIE_ENTRIES = _BIRDIE_WRITES | {name + ".tmp" for name in _BIRDIE_WRITES} | {CHECKPOINTS, TRACKERS}
#: train keys a resumed run may change: where the run lives and what watches it
_MAY_CHANGE_ON_RESUME = frozenset({"output", "trackers", "tracker_project"})
_CHECKPOINT_NAME = re.compile(rf"{_PREFIX}\d+(?:{re.escape(_PARTIAL)})?")


def trainer_state_name(rank: int | str) -> str:
    """The file of the training loop's state (step, tokens, torch RNG) of process ``rank`` in a checkpoint
    (``"*"``: the glob of them all)."""
    return f"trainer_state_{rank}.json"


# -- the run directory and its marker -------------------------------------------------------------------


def create_run_dir(path: Path) -> dict[str, Any]:
    """Make ``path`` (which is absent or empty) a run directory: create it and write its marker."""
    marker = {
        "format": _MARKER_FORMAT,
        "version": 1,
        "run_id": uuid.uuid4().hex,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "birdie_version": __version__,
    }
    try:
        path.mkdir(parents=True, exist_ok=True)
        tmp = path / (RUN_MARKER + ".tmp")
        tmp.write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path / RUN_MARKER)
    except OSError as exc:
        raise RunDirectoryError(f"cannot create the run directory {path}: {exc.strerror or exc}") from None
    return marker


def read_run_marker(path: Path) -> dict[str, Any]:
    """The marker of the run directory ``path``, or a :class:`RunDirectoryError` saying why it has none."""
    why, marker = _marker_problem(path)
    if why is not None:
        raise RunDirectoryError(f"{path} is not a run directory that `birdie train` made: {why}")
    assert marker is not None
    return marker


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` is a directory `birdie train` made that holds nothing else (so --overwrite may empty it)."""
    return _link_problem(path) is None and path.is_dir() and _foreign(path) is None


def check_new_run_dir(path: Path, *, overwrite: bool) -> bool:
    """Whether a new run may use ``path``; True when an old run there must be deleted first (--overwrite).

    Nothing is changed here: every rank asks, then one deletes.
    """
    link = _link_problem(path)
    if link is not None:
        raise RunDirectoryError(link)
    if not path.exists():
        return False
    if not path.is_dir():
        raise RunDirectoryError(f"the run directory {path} exists and is not a directory")
    if not _entries(path):
        return False
    foreign = _foreign(path)
    if foreign is not None and not overwrite:
        raise RunDirectoryError(
            f"the run directory {path} already exists and is not a Birdie run: {foreign}. Choose another --output"
        )
    if not overwrite:
        raise RunDirectoryError(
            f"the run directory {path} already exists: continue it with --resume {path}, start again with "
            "--overwrite (deletes it), or choose another with --output DIR"
        )
    if foreign is not None:
        raise RunDirectoryError(
            f"{path} is not empty and does not look like a Birdie run directory: {foreign}. --overwrite deletes "
            "only a directory that `birdie train` made and that holds nothing else; choose another --output"
        )
    return True


def delete_run_dir(path: Path) -> None:
    """Delete what `birdie train` wrote in ``path`` (checked again here: the directory may have changed since
    :func:`check_new_run_dir`). The directory itself stays, and so does a link that names it; the marker
    goes last, so that an interrupted deletion leaves a directory --overwrite still accepts."""
    foreign = _foreign(path)
    if foreign is not None:
        raise RunDirectoryError(f"--overwrite will not delete {path}: {foreign}")
    for entry in sorted(_entries(path), key=lambda p: p.name == RUN_MARKER):
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as exc:
            raise RunDirectoryError(
                f"--overwrite could not delete {entry}: {exc.strerror or exc}; the run directory {path} is "
                "left partly deleted"
            ) from None


def _link_problem(path: Path) -> str | None:
    """Why the link ``path`` cannot name a run directory (it points nowhere, or in a circle); None otherwise."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return (
            f"the run directory {path} is a symbolic link to {os.readlink(path)}, which does not exist: create "
            "that directory or remove the link"
        )
    except (OSError, RuntimeError) as exc:  # a loop is RuntimeError before Python 3.13, OSError after
        return f"the run directory {path} is a symbolic link that cannot be followed ({exc})"
    if not target.is_dir():
        return f"the run directory {path} is a symbolic link to {target}, which is not a directory"
    return None


def _entries(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError as exc:
        raise RunDirectoryError(f"cannot read the run directory {path}: {exc.strerror or exc}") from None


def _marker_problem(path: Path) -> tuple[str | None, dict[str, Any] | None]:
    marker = path / RUN_MARKER
    missing = (
        f"it has no {RUN_MARKER}, the marker `birdie train` writes into every run directory it makes (a run "
        "made before Birdie wrote markers has none either: delete such a run yourself)"
    )
    if marker.is_symlink():
        return f"its {RUN_MARKER} is a symbolic link, not the file Birdie writes", None
    if not marker.exists():
        return missing, None
    if not marker.is_file():
        return f"its {RUN_MARKER} is not a file", None
    try:
        if marker.stat().st_size > 2**16:
            raise ValueError("far larger than a marker")
        data = json.loads(marker.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        return f"its {RUN_MARKER} cannot be read as a Birdie run marker ({exc})", None
    if not (
        isinstance(data, dict)
        and data.get("format") == _MARKER_FORMAT
        and isinstance(data.get("run_id"), str)
        and isinstance(data.get("birdie_version"), str)
    ):
        return (
            f"its {RUN_MARKER} is not a Birdie run marker (no format {_MARKER_FORMAT!r}, run_id, birdie_version)",
            None,
        )
    return None, data


def _links_inside(path: Path) -> list[str]:
    """The symbolic links at the top of the run directory ``path`` and in its ``checkpoints/``."""
    links = [entry.name for entry in sorted(_entries(path)) if entry.is_symlink()]
    root = path / CHECKPOINTS
    if root.is_dir() and not root.is_symlink():
        links += [f"{CHECKPOINTS}/{sub.name}" for sub in sorted(_entries(root)) if sub.is_symlink()]
    return links


def _foreign(path: Path) -> str | None:
    """Why ``path`` is not a run directory that --overwrite may empty; None when it is one."""
    why, _ = _marker_problem(path)
    if why is not None:
        return why
    strange = []
    for entry in sorted(_entries(path)):
        if entry.is_symlink():
            strange.append(f"{entry.name} (a symbolic link)")
        elif entry.name not in _BIRDIE_ENTRIES:
            strange.append(entry.name + ("/" if entry.is_dir() else ""))
        elif entry.name == CHECKPOINTS:
            if not entry.is_dir():
                strange.append(f"{CHECKPOINTS} (not a directory)")
                continue
            for sub in sorted(_entries(entry)):
                if sub.is_symlink() or not sub.is_dir() or not _CHECKPOINT_NAME.fullmatch(sub.name):
                    strange.append(f"{CHECKPOINTS}/{sub.name}")
        elif entry.name == TRACKERS:
            if not entry.is_dir():
                strange.append(f"{TRACKERS} (not a directory)")
        elif entry.is_dir():
            strange.append(f"{entry.name}/ (a directory)")
    if strange:
        shown = ", ".join(strange[:6]) + (f" and {len(strange) - 6} more" if len(strange) > 6 else "")
        return f"it holds {shown}, which `birdie train` does not write"
    return None


def check_same_config(cfg: PipelineConfig, run_dir: Path) -> None:
    """A resumed run must use the config it started with (only ``train.output`` and the trackers may differ)."""
    saved_path = run_dir / RESOLVED_CONFIG_NAME
    if not saved_path.is_file():
        raise RunDirectoryError(f"{run_dir} has no {RESOLVED_CONFIG_NAME}: it is not a Birdie run directory")
    try:  # bounded like any config file: a run directory is untrusted input too
        saved, _ = load_yaml_with_lines(saved_path)
    except ConfigError as exc:
        raise RunDirectoryError(f"cannot resume: {saved_path} cannot be read: {exc}") from None
    if not isinstance(saved, dict):
        raise RunDirectoryError(f"cannot resume: {saved_path} does not hold a config (a YAML mapping)")
    here = resolved_config(cfg)
    try:
        # validated again, so that settings added by a later version of Birdie (or a plugin) take their
        # defaults in the saved config too: a run started before they existed resumes
        saved = resolved_config(load_config(saved))
    except ConfigError:
        pass  # compared as written: the differences below say what no longer validates
    for d in (saved, here):
        if isinstance(d.get("train"), dict):
            d["train"] = {k: v for k, v in d["train"].items() if k not in _MAY_CHANGE_ON_RESUME}
    differences = _differences(saved, here)
    if differences:
        shown = "; ".join(differences[:8]) + (
            f"; … ({len(differences)} in all)" if len(differences) > 8 else ""
        )
        raise RunDirectoryError(
            f"the config differs from the one {run_dir} was started with ({saved_path}): {shown}. "
            "A resumed run must use the same config; start a new run to change it"
        )


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out: list[str] = []
        for key in list(dict.fromkeys([*a, *b])):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(f"{sub}: {'added' if key not in a else 'removed'}")
            else:
                out += _differences(a[key], b[key], sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: was {a!r}, now {b!r}"]


# -- checkpoints ----------------------------------------------------------------------------------------


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return run_dir / CHECKPOINTS / f"{_PREFIX}{step:07d}"


def partial_path(final: Path) -> Path:
    return final.with_name(final.name + _PARTIAL)


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """The complete checkpoints of ``run_dir``, oldest first, as ``(step, path)``."""
    root = run_dir / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        digits = p.name[len(_PREFIX) :]
        if p.is_dir() and p.name.startswith(_PREFIX) and digits.isdigit():
            found.append((int(digits), p))
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint, or a :class:`CheckpointError` saying why there is none."""
    if not run_dir.is_dir():
        raise RunDirectoryError(f"cannot resume: the run directory {run_dir} does not exist")
    why, _ = _marker_problem(run_dir)
    if why is not None:
        raise RunDirectoryError(
            f"cannot resume: {run_dir} is not a run directory that `birdie train` made: {why}"
        )
    links = _links_inside(run_dir)
    if links:
        raise RunDirectoryError(
            f"cannot resume: {run_dir} holds symbolic links ({', '.join(links)}), which `birdie train` never "
            "makes; a resumed run would read and write through them. Remove them, or start again with "
            "--overwrite"
        )
    if not (run_dir / RESOLVED_CONFIG_NAME).is_file():
        raise RunDirectoryError(
            f"cannot resume: {run_dir} is not a Birdie run directory (no {RESOLVED_CONFIG_NAME})"
        )
    found = checkpoints(run_dir)
    if not found:
        raise CheckpointError(
            f"cannot resume: {run_dir / CHECKPOINTS} holds no complete checkpoint (the run stopped before "
            "its first one); start it again with --overwrite"
        )
    return found[-1][1]


def finish_checkpoint(partial: Path, final: Path, keep: int) -> None:
    """Write the manifest of a checkpoint every rank has finished writing, rename it into place and delete all
    but the newest ``keep`` (main rank)."""
    write_manifest(partial)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    for _, old in checkpoints(final.parent.parent)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def write_manifest(checkpoint: Path) -> None:
    """List every file of ``checkpoint`` with its size and sha256 in its manifest; call it after every other
    file is written, since the manifest vouches for exactly the files present now."""
    files = {}
    for name, path in _checkpoint_files(checkpoint).items():
        size, digest = _size_and_sha256(path)
        files[name] = {"size": size, "sha256": digest}
    manifest = {"format": _MANIFEST_FORMAT, "version": 1, "birdie_version": __version__, "files": files}
    (checkpoint / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def verify_checkpoint(checkpoint: Path) -> None:
    """Check every file of ``checkpoint`` against its manifest before anything is loaded from it.

    A :class:`CheckpointError` names each file that is missing, truncated, edited, or not listed (a file
    Birdie did not write there, such as a planted ``custom_checkpoint_0.pkl``). The manifest tells damage
    from an intact checkpoint; it cannot tell who wrote the checkpoint, which is why nothing in it is loaded
    in a way that can run code (docs/training.md, "Trust").
    """
    head = f"cannot resume from {checkpoint}"
    for link in (checkpoint.parent, checkpoint):
        if link.is_symlink():
            raise CheckpointError(
                f"{head}: {link} is a symbolic link, which Birdie never makes; it is not followed"
            )
    listed = _read_manifest(checkpoint, head)
    try:
        present = _checkpoint_files(checkpoint)
    except CheckpointError as exc:
        raise CheckpointError(f"{head}: {exc}") from None
    except OSError as exc:
        raise CheckpointError(
            f"{head}: cannot list {exc.filename or checkpoint}: {exc.strerror or exc}"
        ) from None
    problems = [f"{name} is missing" for name in sorted(set(listed) - set(present))]
    problems += [
        f"{name} is not listed in its {MANIFEST} (Birdie did not write it)"
        for name in sorted(set(present) - set(listed))
    ]
    for name in sorted(set(listed) & set(present)):
        expected = listed[name]
        try:
            size = present[name].stat().st_size
            if size != expected["size"]:
                problems.append(f"{name} has {size} bytes where its {MANIFEST} says {expected['size']}")
            elif _size_and_sha256(present[name])[1] != expected["sha256"]:
                problems.append(f"{name} does not match its sha256 in {MANIFEST} (edited or damaged)")
        except OSError as exc:
            problems.append(f"{name} cannot be read ({exc.strerror or exc})")
    if problems:
        raise CheckpointError(
            f"{head}: it is damaged or incomplete, or was altered: {'; '.join(problems)}. Nothing was loaded "
            "from it; delete it to resume from an earlier checkpoint, or start again with --overwrite"
        )


def _read_manifest(checkpoint: Path, head: str) -> dict[str, dict[str, Any]]:
    path = checkpoint / MANIFEST
    if path.is_symlink() or not path.is_file():
        raise CheckpointError(
            f"{head}: it has no {MANIFEST} (the list of its files with their sha256 that Birdie writes last), "
            "so its files cannot be checked and nothing is loaded from it. A checkpoint written before Birdie "
            "wrote manifests has none: start such a run again with --overwrite"
        )
    try:
        if path.stat().st_size > _MANIFEST_MAX_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes, far more than a manifest")
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{head}: its {MANIFEST} cannot be read ({exc})") from None
    files = data.get("files") if isinstance(data, dict) and data.get("format") == _MANIFEST_FORMAT else None
    valid = isinstance(files, dict) and all(
        isinstance(entry, dict)
        and type(entry.get("size")) is int
        and isinstance(entry.get("sha256"), str)
        and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]) is not None
        for entry in files.values()
    )
    if not valid:
        raise CheckpointError(
            f"{head}: its {MANIFEST} is not a Birdie checkpoint manifest (format {_MANIFEST_FORMAT!r}, a size "
            "and a sha256 for each file)"
        )
    return files  # type: ignore[return-value]


def _checkpoint_files(checkpoint: Path) -> dict[str, Path]:
    """Every file under ``checkpoint`` but the manifest, by its path relative to it ('/'-separated)."""
    found: dict[str, Path] = {}
    pending = [checkpoint]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                path = Path(entry.path)
                name = path.relative_to(checkpoint).as_posix()
                if entry.is_symlink():
                    raise CheckpointError(
                        f"{name} is a symbolic link, which Birdie never writes into a checkpoint"
                    )
                if entry.is_dir():
                    pending.append(path)
                elif entry.is_file():
                    if name != MANIFEST:
                        found[name] = path
                else:
                    raise CheckpointError(f"{name} is neither a file nor a directory")
    return found


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# -- logs -----------------------------------------------------------------------------------------------


def read_train_log(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``run_dir/train.jsonl`` (one per step), in order; empty when there is none."""
    path = Path(run_dir) / TRAIN_LOG
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_logs(run_dir: Path, step: int, evaluations: int) -> None:
    """Forget what an interrupted run logged after its checkpoint: steps >= ``step``, evaluations past the
    first ``evaluations`` (and the task results of the evaluations forgotten). The resumed run logs them
    again, exactly as they were."""
    _keep_lines(run_dir / TRAIN_LOG, lambda i, rec: rec.get("step", 0) < step)
    _keep_lines(run_dir / METRICS_NAME, lambda i, rec: i < evaluations)
    kept = _last_step(run_dir / METRICS_NAME)  # an evaluation's tasks are logged right after its record
    _keep_lines(run_dir / TASKS_LOG, lambda i, rec: kept is not None and rec.get("step", 0) <= kept)


def _last_step(path: Path) -> int | None:
    if not path.is_file():
        return None
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return int(json.loads(lines[-1])["step"]) if lines else None


def _keep_lines(path: Path, keep: Any) -> None:
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = []
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the interruption
            break
        if not keep(i, record):
            break
        kept.append(line)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(tmp, path)
