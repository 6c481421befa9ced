"""The pipelines of ``configs/`` shipped inside the wheel, so that ``birdie preview ul2`` works after a plain
``pip install`` with no checkout at hand.

The YAML files here are copies of ``configs/*.yaml``, which stay the source the README and ``make demo``
point at; a test keeps the two equal. Presets hold no paths to data files, and ``train.output`` is relative
to the working directory, so a preset behaves as the same file in a checkout would.
"""

from __future__ import annotations

from pathlib import Path

from birdie_core.errors import ConfigError

__all__ = ["config_file_or_preset", "preset_names", "preset_path"]

_HERE = Path(__file__).resolve().parent


def preset_names() -> list[str]:
    """The names of the shipped presets, sorted (``quickstart``, ``ul2``, ...)."""
    return sorted(p.stem for p in _HERE.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The file of the preset ``name``; :class:`ConfigError` listing the presets when there is none."""
    if name not in preset_names():
        raise ConfigError(f"there is no preset {name!r}; the presets are: {', '.join(preset_names())}")
    return _HERE / f"{name}.yaml"


def config_file_or_preset(argument: str) -> str:
    """What a command's FILE argument names: the file when it exists, else the preset of that name.

    A file always wins, so a local file called ``ul2`` is never shadowed by the preset. Neither a file nor a
    preset is a :class:`ConfigError` that lists the presets.
    """
    if Path(argument).exists():
        return argument
    if argument in preset_names():
        return str(_HERE / f"{argument}.yaml")
    raise ConfigError(
        f"{argument}: no such file, and no preset of that name; the presets are: {', '.join(preset_names())}"
    )
