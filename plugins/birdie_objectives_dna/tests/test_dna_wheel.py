"""Installed for real: wheels of birdie-core and birdie-objectives-dna in a fresh virtual environment with
nothing else. The genomes must come from the installed wheel, and a config needing birdie-rewards must say so."""

from __future__ import annotations

import json
import os
import textwrap
import zipfile
from pathlib import Path

import pytest

from birdie_core.testing import Venv, build_wheels

from .support import PLUGIN, ROOT

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import itertools, json, sys
    from importlib import metadata
    import numpy as np
    import birdie_core, birdie_objectives_dna
    from birdie_core.config import load_config
    from birdie_core.pipeline import Pipeline

    cfg = load_config(sys.argv[1])
    pipe = Pipeline.from_config(cfg)
    batches = [pipe.next_batch() for _ in range(3)]
    for b in batches:  # (birdie_core.testing needs pytest, which this environment has not got)
        valid = b.segment_ids > 0
        assert (b.label_ids[valid][:-1] != -100).any() and (b.input_ids[~valid] == 0).all()
    docs = list(itertools.islice(pipe.source.documents(), 3))
    print(json.dumps({
        "entry_points": sorted(e.name for e in metadata.entry_points(group="birdie")),
        "distributions": sorted(d.metadata["Name"] for d in metadata.distributions()
                                if d.metadata["Name"].startswith("birdie")),
        "core": birdie_core.__file__,
        "dna": birdie_objectives_dna.__file__,
        "genome_files": pipe.source.files,
        "origins": [d.origin for d in docs],
        "tokenizer": type(pipe.tokenizer).__name__,
        "shape": list(batches[0].input_ids.shape),
        "nonpad": float(np.mean([b.efficiency for b in batches])),
        "arms_used": int((pipe.stats.examples > 0).sum()),
    }))
    """
)


@pytest.fixture(scope="module")
def dna_venv(tmp_path_factory) -> Venv:
    """birdie-core and birdie-objectives-dna installed from wheels into an empty virtual environment.

    Their third-party dependencies (torch, numpy, …: what the wheels' metadata asks for, pinned by
    constraints.txt) come from a cache built once (:func:`birdie_core.testing.dependency_cache`) through a
    ``.pth`` file; ``pip check`` proves the wheels' requirements are met. ``BIRDIE_DNA_FULL_INSTALL=1``
    installs the dependencies into the environment itself instead (about a minute more, and as long again to
    delete).
    """
    base = tmp_path_factory.mktemp("dna-wheel")
    projects = {
        ROOT: ["pyproject.toml", "README.md", "LICENSE", "birdie_core"],
        PLUGIN: ["pyproject.toml", "README.md", "LICENSE", "birdie_objectives_dna"],
    }
    wheels = build_wheels(projects, base / "wheels")
    (dna_wheel,) = [w for w in wheels if w.name.startswith("birdie_objectives_dna-")]
    names = zipfile.ZipFile(dna_wheel).namelist()
    for f in ("lambda.fasta.gz", "t7.fasta.gz", "README.md"):
        assert f"birdie_objectives_dna/genomes/{f}" in names, f"{f} is not in the wheel"
    assert not any("/tests/" in n for n in names)
    venv = Venv(base / "venv")
    full_install = os.environ.get("BIRDIE_DNA_FULL_INSTALL") == "1"
    venv.install(wheels, ROOT / "constraints.txt", shared_dependencies=not full_install)
    return venv


def test_plugins_lists_core_and_dna_only(dna_venv, tmp_path):
    proc = dna_venv.run("birdie", "plugins", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["namespace"]: p for p in json.loads(proc.stdout)}
    assert sorted(plugins) == ["core", "dna"]
    dna = plugins["dna"]
    assert dna["distribution"] == "birdie-objectives-dna" and dna["error"] is None
    assert dna["registered"] == {
        "objective": [
            "dna.infilling",
            "dna.autoencoding",
            "dna.reverse_complement",
            "dna.selective_copying",
            "dna.deshuffling",
        ],
        "tokenizer": ["dna.nucleotide"],
        "source": ["dna.fasta"],
    }


def test_birdie_dna_preset_runs_on_the_genomes_inside_the_wheel(dna_venv, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    proc = dna_venv.run(
        str(dna_venv.python), str(script), str(ROOT / "configs" / "birdie_dna.yaml"), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    venv = str(dna_venv.path)
    assert out["entry_points"] == ["dna"]
    assert out["distributions"] == ["birdie-core", "birdie-objectives-dna"]
    assert out["core"].startswith(venv) and out["dna"].startswith(
        venv
    )  # installed copies, not the source tree
    assert [Path(f).name for f in out["genome_files"]] == ["lambda.fasta.gz", "t7.fasta.gz"]
    assert all(f.startswith(venv) and "site-packages" in f for f in out["genome_files"])
    assert all(o.startswith(venv) and "NC_001416.1:" in o for o in out["origins"])
    assert out["tokenizer"] == "NucleotideTokenizer" and out["shape"] == [8, 1024]
    assert out["nonpad"] > 0.95 and out["arms_used"] >= 10


def test_config_check_names_the_distributions_to_install(dna_venv, tmp_path):
    ok = dna_venv.run("birdie", "config", "check", str(ROOT / "configs" / "birdie_dna.yaml"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    proc = dna_venv.run("birdie", "config", "check", str(ROOT / "configs" / "dna.yaml"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "birdie-rewards" in proc.stderr and "curriculum.agent" in proc.stderr
    assert "Traceback" not in proc.stderr
    preview = dna_venv.run("birdie", "preview", str(ROOT / "configs" / "birdie_dna.yaml"), cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    for name in ("infilling", "autoencoding", "reverse_complement", "selective_copying", "deshuffling"):
        assert f"(dna.{name}, document" in preview.stdout
