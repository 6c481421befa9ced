"""The `birdie` command line, run as a real installed console script."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support import BIRDIE, ROOT, clean_env


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full_env = clean_env()
    full_env.update(env or {})
    return subprocess.run([BIRDIE, *args], capture_output=True, text=True, timeout=120, env=full_env, cwd=cwd)


def test_plugins_table_lists_every_installed_plugin_with_its_version():
    proc = run("plugins")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    for namespace, dist in [
        ("core", "birdie-core"),
        ("text", "birdie-objectives-text"),
        ("dna", "birdie-objectives-dna"),
        ("rewards", "birdie-rewards"),
        ("reversal", "birdie-reversal"),
    ]:
        assert dist in lines[namespace] and "0.1.0" in lines[namespace]
    assert "reversal.reverse" in lines["reversal"]


def test_plugins_json_and_the_autoload_switch():
    data = json.loads(run("plugins", "--json").stdout)
    core = next(p for p in data if p["namespace"] == "core")
    assert core["distribution"] == "birdie-core"
    assert "core.prefix_lm" in core["registered"]["objective"]
    only_core = json.loads(run("plugins", "--json", env={"BIRDIE_DISABLE_PLUGIN_AUTOLOAD": "1"}).stdout)
    assert [p["namespace"] for p in only_core] == ["core"]


def test_config_check_accepts_the_quickstart():
    proc = run("config", "check", "configs/quickstart.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


def test_config_check_reports_every_problem_at_once_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "seed: 0\n"
        "batch_sise: 8\n"  # unknown key
        "sequence_length: long\n"  # wrong type
        "objectives:\n"
        "  - {name: prefix_lmm, prob: 1.0}\n"  # unknown objective
        "  - {name: next_token_prediction, prob: -1}\n"  # probability < 0
        "  - {name: text.nonexistent_objective}\n"  # a plugin namespace without such a name
        "curriculum: {agent: {name: exp4}}\n"
    )
    proc = run("config", "check", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = proc.stderr
    assert "bad.yaml:2:1: batch_sise" in err and "did you mean 'batch_size'" in err
    assert "bad.yaml:3:" in err and "sequence_length" in err
    assert "bad.yaml:5:" in err and "did you mean 'prefix_lm'" in err
    assert "bad.yaml:6:" in err and "objectives[1].prob" in err
    assert "objectives[2].name" in err
    assert "curriculum.agent.name" in err


def test_yaml_syntax_error_is_one_clean_message_and_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "syntax.yaml"
    bad.write_text("seed: 0\nobjectives: [{name: prefix_lm\n")
    proc = run("config", "check", str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "syntax.yaml:" in proc.stderr and "invalid YAML" in proc.stderr
    debug = run("--debug", "config", "check", str(bad))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_missing_file_is_a_clean_error(tmp_path):
    proc = run("config", "check", str(tmp_path / "nope.yaml"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "nope.yaml" in proc.stderr


def test_config_schema_is_json_with_the_installed_objectives():
    proc = run("config", "schema")
    assert proc.returncode == 0, proc.stderr
    text = json.dumps(json.loads(proc.stdout))
    assert "core.prefix_lm" in text and "reversal.reverse" in text


def test_preview_shows_prefix_and_target_of_every_objective_and_the_efficiency():
    proc = run("preview", "configs/quickstart.yaml", "-n", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    keys = (
        "next_token",
        "prefix_lm",
        "infill_r15_s3",
        "infill_r50_s8",
        "copying",
        "deshuffling",
        "autoencoding",
    )
    for key in (*keys, "selective_copying"):
        assert f"── {key}" in out
    assert out.count("PREFIX │") == 8 and out.count("TARGET │") == 8
    assert "<|PREFIX_LM|>" in out and "<|gen|>" in out
    assert "packing efficiency" in out


@pytest.mark.parametrize("argv", [["--help"], ["config", "--help"], ["--version"]])
def test_help_and_version(argv):
    proc = run(*argv)
    assert proc.returncode == 0 and proc.stdout
