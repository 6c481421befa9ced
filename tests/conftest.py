"""Shared fixtures: paths, and throw-away virtual environments holding only what a test installs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


class Venv:
    """A fresh virtual environment; packages are installed for real with pip (no editable installs)."""

    def __init__(self, path: Path):
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        self.python = path / "bin" / "python"
        self.bin = path / "bin"

    def pip_install(self, *args: str) -> None:
        cmd = [str(self.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "-c", str(ROOT / "constraints.txt"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def run(self, *args: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIRDIE_")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, env=env, **kw)


@pytest.fixture(scope="session")
def core_only_venv(tmp_path_factory) -> Venv:
    """birdie-core installed alone (from a built wheel, not the source tree)."""
    venv = Venv(tmp_path_factory.mktemp("core-only") / "venv")
    venv.pip_install(str(ROOT))
    return venv
