"""Every distribution is publishable: its licence travels with it, its metadata is complete, its README renders
on PyPI (no link that only resolves in the repository), and the wheels work installed for real."""

from __future__ import annotations

import re

import pytest
import tomllib

from birdie_core.testing import Venv, build_wheels
from tests.support import ROOT

DISTRIBUTIONS = {
    ROOT: "birdie_core",
    ROOT / "plugins" / "birdie_objectives_text": "birdie_objectives_text",
    ROOT / "plugins" / "birdie_objectives_dna": "birdie_objectives_dna",
    ROOT / "plugins" / "birdie_rewards": "birdie_rewards",
    ROOT / "examples" / "third_party_plugin": "birdie_reversal",
}


@pytest.mark.parametrize("project", list(DISTRIBUTIONS), ids=lambda p: p.name)
def test_metadata_licence_and_readme_links(project):
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert (project / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert meta["authors"] == [{"name": "The Birdie authors"}]
    assert set(meta["urls"]) == {"Homepage", "Documentation", "Issues"}
    for needed in ("Intended Audience :: Science/Research", "Programming Language :: Python :: 3.12"):
        assert needed in meta["classifiers"]
    readme = (project / meta["readme"]).read_text()
    # PyPI resolves relative links against pypi.org, where they lead nowhere
    relative = [t for t in re.findall(r"\]\(([^)\s]+)\)", readme) if not re.match(r"https?://|#|mailto:", t)]
    assert not relative, f"{project.name}/README.md: make these links absolute: {relative}"


@pytest.mark.slow
def test_the_wheels_installed_for_real_preview_a_preset_and_plot_names_its_extra(tmp_path):
    projects = {
        p: ["pyproject.toml", "README.md", "LICENSE", package] for p, package in DISTRIBUTIONS.items()
    }
    wheels = build_wheels(projects, tmp_path / "wheels")
    assert len(wheels) == len(DISTRIBUTIONS)
    venv = Venv(tmp_path / "venv")
    venv.install(
        wheels, ROOT / "constraints.txt"
    )  # the shared dependencies have no matplotlib: plots is an extra

    preview = venv.run("birdie", "preview", "quickstart", "-n", "1", "--width", "20", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert "── selective_copying" in preview.stdout and "packing efficiency" in preview.stdout
    check = venv.run(str(venv.python), "-m", "birdie_core", "config", "check", "ul2", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    plot = venv.run("birdie", "plot", str(tmp_path), cwd=tmp_path)
    assert plot.returncode == 1 and "pip install 'birdie-core[plots]'" in plot.stderr
