"""What a command line owes its users: -h everywhere, NO_COLOR, documented exit codes, `python -m`, and plots
that stay optional (matplotlib is the `plots` extra)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from birdie_core.cli import _add_plugin_commands, cli
from tests.support import clean_env, tiny_config


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_dash_h_is_help_on_every_command_plugins_included():
    _add_plugin_commands()
    commands = _commands(cli)
    assert ("simulate",) in commands  # a plugin's command, which inherits the setting
    runner = CliRunner()
    for path in commands:
        short = runner.invoke(cli, [*path, "-h"])
        assert short.exit_code == 0 and "Usage:" in short.output, (path, short.output)
        assert short.output == runner.invoke(cli, [*path, "--help"]).output


@pytest.mark.parametrize("no_color, coloured", [(None, True), ("1", False)])
def test_no_color_turns_colour_off(no_color, coloured):
    # color=True stands for a terminal; NO_COLOR must win over it
    runner = CliRunner()
    env = {"NO_COLOR": no_color} if no_color else {}
    result = runner.invoke(cli, ["preview", "quickstart", "-n", "1", "--width", "10"], env=env, color=True)
    assert result.exit_code == 0, result.output
    assert ("\x1b[" in result.output) is coloured and "PREFIX │" in result.output


def test_exit_codes_usage_and_config_errors_are_2_runtime_failures_1(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["preview", "--no-such-option", "quickstart"]).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("objectives: [{name: no_such_objective}]\n")
    assert runner.invoke(cli, ["config", "check", str(bad)]).exit_code == 2
    assert runner.invoke(cli, ["plot", str(tmp_path / "no_run")]).exit_code == 1


def test_python_dash_m_birdie_core_is_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "birdie_core", "-h"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert proc.returncode == 0 and "Usage: birdie" in proc.stdout and "preview" in proc.stdout


# matplotlib is hidden in a subprocess: None in sys.modules makes its import fail as if it were not installed
WITHOUT_MATPLOTLIB = textwrap.dedent(
    """
    import sys
    sys.modules["matplotlib"] = None
    from birdie_core.cli import main
    main(sys.argv[1:])
    """
)


def without_matplotlib(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        cwd=cwd,
    )


def test_plot_without_matplotlib_names_the_extra(tmp_path):
    (tmp_path / "run").mkdir()
    proc = without_matplotlib("plot", str(tmp_path / "run"), cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "pip install 'birdie-core[plots]'" in proc.stderr


@pytest.mark.slow
def test_train_without_matplotlib_trains_and_says_once_how_to_get_plots(tmp_path):
    run_dir = tmp_path / "run"
    cfg = tiny_config(run_dir, curriculum={"reward": None})
    cfg["curriculum"]["agent"] = {"name": "static"}  # merging would keep the birdie agent's keys
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = without_matplotlib("train", str(config), "--max-steps", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("birdie-core[plots]") == 1 and "\nplots: " not in proc.stdout
    assert not list(run_dir.glob("*.png")) and "stopped at step 2 of 12" in proc.stdout
