"""Presets: the pipelines of configs/ ship inside the core package and every FILE argument takes their names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from birdie_core.presets import config_file_or_preset, preset_names, preset_path
from tests.support import BIRDIE, ROOT, clean_env

PACKAGED = ROOT / "birdie_core" / "presets"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIRDIE, *args], check=False, capture_output=True, text=True, timeout=120, env=clean_env(), cwd=cwd
    )


def test_the_packaged_presets_are_exact_copies_of_configs():
    # configs/ is what the README and `make demo` use; the copies are what a wheel user gets
    sources = {p.name: p.read_bytes() for p in (ROOT / "configs").glob("*.yaml")}
    copies = {p.name: p.read_bytes() for p in PACKAGED.glob("*.yaml")}
    assert sorted(copies) == sorted(sources), "copy configs/*.yaml to birdie_core/presets/"
    stale = [name for name in sources if copies[name] != sources[name]]
    assert not stale, f"birdie_core/presets/ is out of date for {stale}: copy them again from configs/"
    assert preset_names() == sorted(Path(n).stem for n in sources)


def test_a_file_wins_over_a_preset_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ul2").write_text("{}\n")
    assert config_file_or_preset("ul2") == "ul2"
    assert Path(config_file_or_preset("quickstart")) == preset_path("quickstart")


def test_config_check_and_preview_take_a_preset_name(tmp_path):
    check = run("config", "check", "quickstart", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "quickstart: OK (8 objective configurations)" in check.stdout
    preview = run("preview", "ul2", "-n", "1", "--width", "20", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert "── x_rate50_span64" in preview.stdout and "packing efficiency" in preview.stdout


def test_a_name_that_is_neither_file_nor_preset_is_a_usage_error_listing_the_presets(tmp_path):
    for command in (["config", "check"], ["preview"], ["train"], ["tokenize", "--output", "out"]):
        proc = run(*command, "quikstart", cwd=tmp_path)
        assert proc.returncode == 2, (command, proc.stderr)
        assert "quikstart: no such file, and no preset of that name" in proc.stderr
        assert "quickstart, ul2, ul2_decoder" in proc.stderr and "Traceback" not in proc.stderr


def test_python_dash_m_birdie_core_takes_presets_too(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "birdie_core", "config", "check", "ul2_decoder"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr


def test_the_python_api_takes_a_preset_name_and_a_file_still_wins(tmp_path, monkeypatch):
    from birdie_core.config import load_config

    monkeypatch.chdir(tmp_path)
    assert load_config("ul2") == load_config(preset_path("ul2"))
    # a local file of that name is the config meant, never shadowed by the preset
    (tmp_path / "ul2").write_text("seed: 7\n")
    assert load_config("ul2").seed == 7
    assert load_config("ul2") != load_config(preset_path("ul2"))


def test_the_python_api_names_the_presets_when_a_name_is_neither(tmp_path, monkeypatch):
    from birdie_core.config import load_config
    from birdie_core.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"quickstrat: no such file, and no preset .*did you mean 'quickstart'"):
        load_config("quickstrat")
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config("missing.yaml")  # a file name: the file's own error
