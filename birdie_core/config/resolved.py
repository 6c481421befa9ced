"""The fully resolved configuration every run saves: qualified names, derived ids, every default written out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from birdie_core.config.models import PipelineConfig

__all__ = ["RESOLVED_CONFIG_NAME", "resolved_config", "save_resolved_config"]

RESOLVED_CONFIG_NAME = "config.resolved.yaml"


def resolved_config(cfg: PipelineConfig) -> dict[str, Any]:
    """``cfg`` as plain JSON-able data: qualified names, derived ids and every default written out.

    :func:`load_config` of the result gives back an equal config (Python objects kept beside a config
    from the flat form are not part of it).
    """
    return cfg.model_dump(mode="json")


def save_resolved_config(cfg: PipelineConfig, run_dir: str | os.PathLike[str]) -> Path:
    """Write ``run_dir/config.resolved.yaml`` (creating ``run_dir``) and return its path."""
    directory = Path(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RESOLVED_CONFIG_NAME
    text = (
        "# The fully resolved Birdie configuration of this run: qualified names, derived objective ids and\n"
        "# every default written out. `birdie_core.load_config(<this file>)` rebuilds it.\n"
        + yaml.safe_dump(resolved_config(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a file
    return path
