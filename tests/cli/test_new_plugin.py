"""`birdie new plugin NAME` writes a publishable plugin whose tests pass as written, installed for real."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from click.testing import CliRunner

from birdie_core import __version__
from birdie_core.cli import cli
from birdie_core.scaffold import plugin_names
from birdie_core.testing import Venv, build_wheels, dependency_cache
from tests.support import ROOT

TREE = {
    ".gitignore",
    "LICENSE",
    "MANIFEST.in",
    "README.md",
    "pyproject.toml",
    "examples/pipeline.yaml",
    "src/birdie_sentperm/__init__.py",
    "src/birdie_sentperm/objective.py",
    "src/birdie_sentperm/plugin.py",
    "src/birdie_sentperm/py.typed",
    "src/birdie_sentperm/reward.py",
    "tests/test_objective.py",
    "tests/test_plugin.py",
    "tests/test_reward.py",
}


def new_plugin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["new", "plugin", *args])
    return result.exit_code, result.output


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    code, output = new_plugin("birdie-sentperm", "--directory", str(tmp_path / "plugin"))
    assert code == 0, output
    return tmp_path / "plugin"


def test_writes_the_whole_project_and_every_file_parses(project: Path):
    assert tree(project) == TREE
    for path in project.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    yaml.safe_load((project / "examples" / "pipeline.yaml").read_text())
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "$namespace" not in text and "$package" not in text and "$distribution" not in text, path
    assert (project / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()


def test_pyproject_names_the_plugin_consistently(project: Path):
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    p = meta["project"]
    assert p["name"] == "birdie-sentperm"
    assert p["entry-points"]["birdie"] == {"sentperm": "birdie_sentperm.plugin"}
    assert p["dependencies"] == [f"birdie-core>={__version__},<0.2"]
    assert p["optional-dependencies"]["test"] == [f"birdie-core[testing]>={__version__}"]
    assert p["license"] == "Apache-2.0" and p["license-files"] == ["LICENSE"] and p["readme"] == "README.md"
    assert "Programming Language :: Python :: 3.12" in p["classifiers"]
    assert meta["tool"]["setuptools"]["package-data"] == {"birdie_sentperm": ["py.typed"]}
    plugin = (project / "src" / "birdie_sentperm" / "plugin.py").read_text()
    assert 'register("rotation", Rotation)' in plugin and 'register("relative_drop", RelativeDrop)' in plugin
    readme = (project / "README.md").read_text()
    for needed in ("pip install birdie-sentperm", "python -m pytest", "python -m build", "twine upload"):
        assert needed in readme


def test_shipped_licence_is_the_repositorys():
    shipped = ROOT / "birdie_core" / "scaffold" / "templates" / "LICENSE.txt"
    assert shipped.read_text() == (ROOT / "LICENSE").read_text()


def test_default_directory_is_the_distribution_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    code, output = new_plugin("sentperm")
    assert code == 0, output
    assert tree(tmp_path / "birdie-sentperm") == TREE
    assert "sentperm.rotation" in output and "python -m pytest" in output


@pytest.mark.parametrize("given", ["sentperm", "birdie-sentperm", "birdie_sentperm", " sentperm "])
def test_every_spelling_of_a_name_gives_the_same_names(given: str):
    names = plugin_names(given)
    assert (names.namespace, names.distribution, names.package) == (
        "sentperm",
        "birdie-sentperm",
        "birdie_sentperm",
    )


def test_a_name_of_several_words():
    names = plugin_names("birdie-sent-perm")
    assert (names.namespace, names.distribution, names.package) == (
        "sent_perm",
        "birdie-sent-perm",
        "birdie_sent_perm",
    )
    assert plugin_names("sent_perm") == names


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "names no plugin"),
        ("birdie", "names no plugin"),
        ("birdie-", "names no plugin"),
        ("SentPerm", "lowercase"),
        ("9lives", "starting with a letter"),
        ("sent perm", "invalid plugin name"),
        ("sent--perm", "invalid plugin name"),
        ("sent.perm", "invalid plugin name"),
        ("sent-", "invalid plugin name"),
        ("core", "belongs to birdie-core"),
        ("birdie-text", "belongs to birdie-objectives-text"),
        ("rewards", "belongs to birdie-rewards"),
    ],
)
def test_invalid_names_are_usage_errors(tmp_path: Path, name: str, says: str):
    code, output = new_plugin(name, "--directory", str(tmp_path / "plugin"))
    assert code == 2 and says in output, output
    assert not (tmp_path / "plugin").exists()


def test_a_non_empty_directory_needs_force(tmp_path: Path):
    target = tmp_path / "plugin"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "README.md").write_text("old")
    code, output = new_plugin("sentperm", "-d", str(target))
    assert code == 2 and "--force" in output and "not empty" in output
    assert tree(target) == {"notes.txt", "README.md"}

    code, output = new_plugin("sentperm", "-d", str(target), "--force")
    assert code == 0, output
    assert tree(target) == TREE | {"notes.txt"}
    assert (target / "notes.txt").read_text() == "mine"
    assert "birdie-sentperm" in (target / "README.md").read_text()


def test_an_empty_directory_and_a_file_in_the_way(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    assert new_plugin("sentperm", "-d", str(tmp_path / "empty"))[0] == 0
    (tmp_path / "file").write_text("")
    code, output = new_plugin("sentperm", "-d", str(tmp_path / "file"))
    assert code == 2, output


# ---------------------------------------------------------------------------------------------------------
# installed for real: the generated tests pass, `birdie plugins` lists it, the package type-checks
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Venv, Path]:
    """birdie-core and a new plugin, both from wheels, in a fresh environment with the testing kit's tools."""
    base = tmp_path_factory.mktemp("new-plugin")
    project = base / "birdie-sentperm"
    code, output = new_plugin("sentperm", "-d", str(project))
    assert code == 0, output
    wheels = build_wheels(
        {
            ROOT: ["pyproject.toml", "README.md", "LICENSE", "birdie_core"],
            project: ["pyproject.toml", "README.md", "LICENSE", "src"],
        },
        base / "wheels",
    )
    venv = Venv(base / "venv")
    venv.install(wheels, ROOT / "constraints.txt")
    # what the plugin's `test` extra adds (birdie-core[testing]), shared like the other dependencies
    tools = dependency_cache(["pytest>=8", "hypothesis>=6.100"], ROOT / "constraints.txt")
    (venv.site_packages / "_birdie_test_tools.pth").write_text(f"{tools}\n")
    return venv, project


@pytest.mark.slow
def test_generated_tests_pass_against_the_installed_plugin(installed: tuple[Venv, Path]):
    venv, project = installed
    where = venv.run(
        str(venv.python), "-c", "import birdie_sentperm; print(birdie_sentperm.__file__)", cwd=project
    )
    assert where.returncode == 0 and str(venv.site_packages) in where.stdout, where.stdout + where.stderr
    proc = venv.run(
        str(venv.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary


@pytest.mark.slow
def test_birdie_plugins_lists_the_new_objective_and_reward(installed: tuple[Venv, Path]):
    venv, project = installed
    proc = venv.run("birdie", "plugins", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    plugin = {p["namespace"]: p for p in json.loads(proc.stdout)}["sentperm"]
    assert plugin["distribution"] == "birdie-sentperm" and not plugin.get("error")
    assert plugin["registered"] == {"objective": ["sentperm.rotation"], "reward": ["sentperm.relative_drop"]}
    check = venv.run("birdie", "config", "check", "examples/pipeline.yaml", cwd=project)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_generated_package_type_checks_strictly(installed: tuple[Venv, Path]):
    pytest.importorskip("mypy")
    venv, project = installed
    # the project's own [tool.mypy] (strict), against the installed birdie-core and its dependencies
    cmd = [sys.executable, "-m", "mypy", "--python-executable", str(venv.python), "--no-incremental"]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_installed_core_writes_the_same_project(installed: tuple[Venv, Path], tmp_path: Path):
    venv, project = installed  # the templates travel in the wheel as package data
    proc = venv.run("birdie", "new", "plugin", "sentperm", "-d", str(tmp_path / "again"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert tree(tmp_path / "again") == TREE
    for relative in TREE:
        assert (tmp_path / "again" / relative).read_text() == (project / relative).read_text(), relative
