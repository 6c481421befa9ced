"""Shared by the DNA plugin's tests: sample sequences, a tokenizer factory, throw-away virtual environments."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from birdie_objectives_dna.genomes import genome_path
from birdie_objectives_dna.tokenizer import NucleotideTokenizer

ROOT = Path(__file__).resolve().parents[3]  # the repository
PLUGIN = Path(__file__).resolve().parents[1]


def lambda_sequence() -> str:
    with gzip.open(genome_path("lambda"), "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">"))


LAMBDA = lambda_sequence()


def _sample_sequences() -> tuple[str, ...]:
    """Real DNA of varied length, plus the cases DNA objectives must survive: N runs, soft-masking,
    ambiguity codes, repeats, too-short documents."""
    rng = np.random.default_rng(0)
    real = [LAMBDA[i : i + n] for i, n in ((0, 300), (5000, 1500), (20000, 4000), (40000, 64), (30000, 17))]
    with_n = LAMBDA[1000:1400] + "N" * 30 + LAMBDA[1400:1700] + "N" + LAMBDA[1700:1800] + "NNNNN"
    n_start = "N" * 50 + LAMBDA[3000:3600]
    soft = LAMBDA[6000:6200] + LAMBDA[6200:6500].lower() + LAMBDA[6500:6700]
    iupac = LAMBDA[7000:7300] + "RYKMSWBDHV" + LAMBDA[7300:7500]
    scattered = "".join(c if rng.random() > 0.05 else "N" for c in LAMBDA[9000:10000])
    repeat = "ACGT" * 200
    homopolymer = "A" * 300
    return (
        "",
        "A",
        "ACGTN",
        "NNNNNNNNNNNNNNNNNNNN",
        *real,
        with_n,
        n_start,
        soft,
        iupac,
        scattered,
        repeat,
        homopolymer,
    )


SAMPLE_SEQUENCES: tuple[str, ...] = _sample_sequences()


def nucleotide(specials: Sequence[str] = ("<|start|>",), keep_soft_mask: bool = False) -> NucleotideTokenizer:
    return NucleotideTokenizer(
        NucleotideTokenizer.Config(name="nucleotide", keep_soft_mask=keep_soft_mask), list(specials)
    )


def write_fasta(path: Path, records: Sequence[tuple[str, str]], width: int = 60, eol: str = "\n") -> Path:
    """Write ``(header, sequence)`` records (gzip when the name ends in .gz)."""
    lines = []
    for header, seq in records:
        lines.append(">" + header)
        lines += [seq[i : i + width] for i in range(0, len(seq), width)] if width else [seq]
    data = (eol.join(lines) + eol).encode()
    path.write_bytes(gzip.compress(data, 1) if path.name.endswith(".gz") else data)
    return path


class Venv:
    """A fresh virtual environment without even pip in it; packages are installed for real, from wheels, by
    the test process's pip (``pip --python``). The pattern of the repository's ``tests/conftest.py``."""

    def __init__(self, path: Path):
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        self.python = path / "bin" / "python"
        self.bin = path / "bin"
        purelib = subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        )
        self.site_packages = Path(purelib.stdout.strip())

    def pip(self, *args: str, timeout: float = 900) -> str:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(self.python),
            "--disable-pip-version-check",
            *args,
        ]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def run(self, *args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
        return subprocess.run(
            list(args), check=False, capture_output=True, text=True, timeout=timeout, env=env, **kw
        )


def requirements_of(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel, without extras."""
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]


def dependency_cache(requirements: list[str], constraints: Path) -> Path:
    """A directory holding ``requirements`` (installed with ``-c constraints``), built once and reused.

    Installing torch into every throw-away environment takes about a minute, and deleting it as long again;
    the third-party dependencies are therefore installed once per (Python, requirements, constraints) under
    ``~/.cache/birdie-tests`` and a fresh environment sees them through a ``.pth`` file. Built under a
    temporary name and renamed when complete, so concurrent test runs never see half a cache.
    """
    key = hashlib.sha256(
        "\n".join([sys.version, *sorted(requirements), constraints.read_text()]).encode()
    ).hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "birdie-tests"
    final = root / f"deps-py{sys.version_info[0]}{sys.version_info[1]}-{key}"
    if (final / ".complete").exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=final.name + ".building-", dir=root))
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(building),
        "-c",
        str(constraints),
        *requirements,
    ]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise AssertionError(proc.stdout + proc.stderr)
    (building / ".complete").write_text("\n".join(requirements))
    try:
        building.rename(final)
    except OSError:  # another run finished first: use its copy
        shutil.rmtree(building, ignore_errors=True)
    return final
