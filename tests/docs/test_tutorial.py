"""The tutorial docs/writing-a-plugin.md works as written against the real API.

Every code block preceded by ``<!-- file: PATH -->`` is one file of the tutorial's plugin: the test writes them
into a folder and does what the tutorial does — imports and builds the objective, registers the plugin, runs
the plugin's own tests (Birdie's conformance suite among them), validates and runs its pipelines, and builds
its wheel.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from birdie_core import ObjectiveContext, Pipeline, load_config, load_registry

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "writing-a-plugin.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```[^\n]*\n(?P<body>.*?)\n```\n", re.DOTALL)
PACKAGE = "birdie_prequel"


def tutorial_files() -> dict[str, str]:
    files = {m["path"]: m["body"] + "\n" for m in FILE_BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))}
    assert len(files) == len(FILE_BLOCK.findall(TUTORIAL.read_text(encoding="utf-8"))), "a file named twice"
    return files


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("birdie-prequel")
    for rel, text in tutorial_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def package(project: Path) -> Iterator[dict[str, ModuleType]]:
    """The tutorial's package, imported from its folder; forgotten again afterwards."""
    sys.path.insert(0, str(project))
    try:
        yield {
            name: importlib.import_module(f"{PACKAGE}.{name}") for name in ("objective", "reward", "plugin")
        }
    finally:
        sys.path.remove(str(project))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_the_tutorial_has_every_file_of_its_layout() -> None:
    files = tutorial_files()
    for rel in (
        "pyproject.toml",
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/objective.py",
        f"{PACKAGE}/reward.py",
        f"{PACKAGE}/plugin.py",
        "tests/test_prequel.py",
        "pipeline.yaml",
    ):
        assert rel in files, f"the tutorial has no block for {rel}"


def test_pyproject_declares_the_entry_point_the_registry_reads(project: Path) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    from birdie_core.registry import ENTRY_POINT_GROUP

    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["entry-points"][ENTRY_POINT_GROUP] == {"prequel": f"{PACKAGE}.plugin"}
    assert any(d.startswith("birdie-core") for d in meta["dependencies"])


def test_the_objective_builds_an_example_from_a_document(package: dict[str, ModuleType]) -> None:
    Prequel = package["objective"].Prequel
    Bytes = load_registry(autoload=False).resolve("tokenizer", "bytes").obj
    tokenizer = Bytes(Bytes.Config(name="bytes"), ["<|start|>", "[P]"])
    ctx = ObjectiveContext(tokenizer, np.random.default_rng(0), tokenizer.special_id("<|start|>"))
    objective = Prequel(Prequel.Config(name="prequel", paradigm="[P]", target_fraction=0.5))
    tokens = tokenizer.encode("Once upon a time there was a plugin.")
    example, rest = objective.build(tokens, 12, ctx)
    assert example is not None and example.length <= 12
    assert example.consumed + rest.shape[0] == tokens.shape[0]
    # the target is the text just before the passage in the prefix
    body = example.prefix[1:-1]
    assert tokenizer.decode(np.concatenate([example.target, body])) == tokenizer.decode(
        tokens[: example.consumed]
    )
    assert objective.build(tokens[:0], 12, ctx)[0] is None


def test_the_plugin_registers_its_components(package: dict[str, ModuleType]) -> None:
    registry = load_registry(autoload=False, extra_plugins={"prequel": package["plugin"]})
    assert registry.resolve("objective", "prequel").obj is package["objective"].Prequel
    reward_cls = registry.resolve("reward", "loss_drop").obj
    assert reward_cls is package["reward"].LossDrop
    reward = reward_cls(reward_cls.Config(name="loss_drop"))  # built as the pipeline builds it: cls(config)
    assert np.allclose(reward(np.array([2.0, 1.0]), np.array([1.5, 1.5]), history=()), [0.5, -0.5])


def test_the_pipeline_runs(project: Path, package: dict[str, ModuleType]) -> None:
    registry = load_registry(autoload=False, extra_plugins={"prequel": package["plugin"]})
    config = load_config(project / "pipeline.yaml", registry)
    batch = Pipeline.from_config(config, registry).next_batch()
    assert batch.input_ids.shape == (config.batch_size, config.sequence_length)


def test_the_rewards_pipeline_validates(project: Path, package: dict[str, ModuleType]) -> None:
    registry = load_registry(extra_plugins={"prequel": package["plugin"]})
    if registry.find("agent", "birdie") is None:
        pytest.skip("birdie-rewards is not installed")
    config = load_config(project / "pipeline-rewards.yaml", registry)
    assert config.curriculum.reward is not None and config.curriculum.reward.name == "prequel.loss_drop"


@pytest.mark.slow
def test_the_plugins_own_tests_pass(project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(project)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Birdie's conformance suite ran on the objective, not only the plugin's own tests
    assert "TestPrequelConformance::test_labels_aligned_once_packed PASSED" in proc.stdout, proc.stdout


@pytest.mark.slow
def test_the_wheel_carries_the_entry_point(project: Path, tmp_path: Path) -> None:
    pytest.importorskip("build", reason="`build` comes with the test extra")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(project)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = tmp_path.glob("birdie_prequel-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        entry_points = zf.read("birdie_prequel-0.1.0.dist-info/entry_points.txt").decode()
        names = zf.namelist()
    assert "[birdie]" in entry_points and "prequel = birdie_prequel.plugin" in entry_points
    assert f"{PACKAGE}/objective.py" in names and not any(n.startswith("tests/") for n in names)
