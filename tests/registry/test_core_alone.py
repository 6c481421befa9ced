"""The core stands alone: installed without any plugin it has an empty `birdie` entry-point group and still
assembles a pipeline from YAML and produces batches with its built-ins."""

from __future__ import annotations

import json
import textwrap

import pytest

from birdie_core.testing import Venv, build_wheels
from tests.support import ROOT

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from importlib import metadata
    import birdie_core
    from birdie_core.config import load_config
    from birdie_core.pipeline import Pipeline

    eps = list(metadata.entry_points(group="birdie"))
    cfg = load_config(sys.argv[1])
    pipe = Pipeline.from_config(cfg)
    batches = [pipe.next_batch().to_torch() for _ in range(3)]
    print(json.dumps({
        "entry_points": [e.name for e in eps],
        "location": birdie_core.__file__,
        "shape": list(batches[0]["input_ids"].shape),
        "dtype": str(batches[0]["input_ids"].dtype),
        "nonpad": float(sum((b["segment_ids"] != 0).float().mean() for b in batches) / 3),
    }))
    """
)

CONFIG = textwrap.dedent(
    """
    seed: 1
    batch_size: 4
    sequence_length: 256
    tokenizer: {name: bytes}
    data: {train: {name: embedded}}
    objectives:
      - {name: next_token_prediction, prob: 1.0}
      - {name: prefix_lm, prob: 1.0, paradigm: "[S]"}
    curriculum: {agent: {name: static}, num_steps: 10}
    """
)


@pytest.fixture(scope="module")
def core_only_venv(tmp_path_factory) -> Venv:
    """birdie-core installed alone, from a wheel built from the source tree (its dependencies shared)."""
    base = tmp_path_factory.mktemp("core-only")
    wheels = build_wheels({ROOT: ["pyproject.toml", "README.md", "LICENSE", "birdie_core"]}, base / "wheels")
    venv = Venv(base / "venv")
    venv.install(wheels, ROOT / "constraints.txt")
    return venv


def test_core_only_environment_runs_a_pipeline(core_only_venv, tmp_path):
    cfg = tmp_path / "core.yaml"
    cfg.write_text(CONFIG)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    proc = core_only_venv.run(str(core_only_venv.python), str(script), str(cfg), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["entry_points"] == []
    assert str(core_only_venv.path) in out["location"]  # the installed copy, not the source tree
    assert out["shape"] == [4, 256] and out["dtype"] == "torch.int64"
    assert out["nonpad"] > 0.95


def test_core_only_cli_lists_only_core_and_explains_missing_plugins(core_only_venv, tmp_path):
    proc = core_only_venv.run("birdie", "plugins", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p["namespace"] for p in json.loads(proc.stdout)] == ["core"]

    cfg = tmp_path / "needs_text.yaml"
    cfg.write_text("objectives:\n  - {name: infilling, prob: 1.0}\n")
    proc = core_only_venv.run("birdie", "config", "check", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2
    assert "birdie-objectives-text" in proc.stderr and "Traceback" not in proc.stderr
