"""Throw-away virtual environments with packages installed for real, from wheels: what a user's install gives.

Proves what an editable development install hides: a module or data file missing from a wheel, a dependency
left out of the metadata, an entry point that only the source tree has.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class Venv:
    """A fresh virtual environment without even pip in it; the test process's pip installs into it.

    ``pip --python`` (pip 22.3 or later in the test environment) spares bootstrapping pip into every
    environment. :meth:`run` hides the caller's ``BIRDIE_*`` switches and ``PYTHONPATH``, so only what was
    installed here is seen.
    """

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
        """Run ``pip args`` against this environment; fails the test with pip's output when pip fails."""
        cmd = [sys.executable, "-m", "pip", "--python", str(self.python), "--disable-pip-version-check", *args]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    def install(self, wheels: Sequence[Path], constraints: Path, *, shared_dependencies: bool = True) -> None:
        """Install ``wheels`` and their third-party dependencies, pinned by ``constraints``.

        With ``shared_dependencies`` the dependencies come from :func:`dependency_cache` through a ``.pth``
        file: installing and deleting torch in every environment costs minutes. Either way ``pip check``
        must find every requirement met.
        """
        if shared_dependencies:
            ours = {_normalized(w.name.split("-")[0]) for w in wheels}
            third_party = [r for w in wheels for r in requirements_of(w) if _normalized(r) not in ours]
            deps = dependency_cache(third_party, constraints)
            (self.site_packages / "_birdie_test_dependencies.pth").write_text(f"{deps}\n")
            self.pip("install", "--quiet", "--no-deps", "--no-index", *map(str, wheels))
        else:
            self.pip("install", "--quiet", "--no-compile", "-c", str(constraints), *map(str, wheels))
        assert "No broken requirements" in self.pip("check")

    def run(self, *args: str, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command (``"birdie"``, or ``str(venv.python)`` and a script) with this environment first."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONPATH", None)
        return subprocess.run(
            list(args), check=False, capture_output=True, text=True, timeout=timeout, env=env, **kw
        )


def build_wheels(projects: Mapping[Path, Sequence[str]], directory: Path) -> list[Path]:
    """Build a wheel of each project (its folder, and the files and folders of it the wheel is made from).

    Built from clean copies, so no ``build/`` or ``*.egg-info`` leftover of the source tree slips into a wheel;
    without build isolation, so the test environment's setuptools is used and nothing is downloaded.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests", ".hypothesis")
    with tempfile.TemporaryDirectory(prefix="birdie-wheel-src-") as copies:
        sources = []
        for project, parts in projects.items():
            copy = Path(copies) / project.name
            copy.mkdir()
            for part in parts:
                if (project / part).is_dir():
                    shutil.copytree(project / part, copy / part, ignore=ignore)
                else:
                    shutil.copy2(project / part, copy / part)
            sources.append(str(copy))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
               "--disable-pip-version-check", "-q", "-w", str(directory), *sources]  # fmt: skip
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sorted(directory.glob("*.whl"))


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


def dependency_cache(requirements: Sequence[str], constraints: Path) -> Path:
    """A directory holding ``requirements`` (installed with ``-c constraints``), built once and reused.

    Kept per (Python, requirements, constraints) under ``~/.cache/birdie-tests``; a fresh environment sees it
    through a ``.pth`` file. Built under a temporary name and renamed when complete, so concurrent test runs
    never see half a cache.
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
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--target", str(building), "-c", str(constraints), *requirements]  # fmt: skip
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


def _normalized(requirement: str) -> str:
    """The project name a requirement or wheel file name starts with, as pip compares names."""
    name = re.match(r"[A-Za-z0-9._-]*", requirement)
    return re.sub(r"[-_.]+", "-", name.group(0) if name else "").lower()
