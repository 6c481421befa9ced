"""Checking what a config file is refused for, the way a user would meet it: from YAML, with paths and lines."""

from __future__ import annotations

import tempfile
from pathlib import Path

from birdie_core.config import load_config
from birdie_core.errors import ConfigError
from birdie_core.registry import Registry

__all__ = ["config_issues"]


def config_issues(yaml_text: str, registry: Registry) -> dict[str, str]:
    """Every problem :func:`~birdie_core.load_config` finds in ``yaml_text``, as ``{path: message}``.

    The text is loaded from a real file, so messages carry its lines as a user's would. A text that loads
    without a problem fails the calling test.
    """
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.yaml"
        path.write_text(yaml_text, encoding="utf-8")
        try:
            load_config(path, registry)
        except ConfigError as exc:
            return {issue.path: issue.message for issue in exc.issues}
    raise AssertionError(f"the config loaded without a problem:\n{yaml_text}")
