"""Where components sit in a pipeline config, and what each slot holds when the config leaves it out.

Defaults are written as a user would write them and resolved through the registry in use, like any entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from birdie_core.config.yaml_lines import ConfigPath
from birdie_core.kinds import KindName

__all__ = [
    "DEFAULT_AGENT",
    "DEFAULT_OBJECTIVES",
    "DEFAULT_PACKER",
    "DEFAULT_TOKENIZER",
    "DEFAULT_TRAIN_SOURCE",
    "DEFAULT_VALIDATION_SOURCE",
    "SECTIONS",
    "SLOTS",
    "Slot",
]

DEFAULT_TOKENIZER: Mapping[str, Any] = {"name": "bytes"}
DEFAULT_TRAIN_SOURCE: Mapping[str, Any] = {"name": "embedded"}
#: The validation default only beside the embedded train source: any other train source left without a
#: validation source holds out some of its own documents (``data.validation_holdout``), never this corpus.
DEFAULT_VALIDATION_SOURCE: Mapping[str, Any] = {"name": "embedded", "split": "validation"}
DEFAULT_OBJECTIVES: tuple[Mapping[str, Any], ...] = ({"name": "next_token_prediction"},)
DEFAULT_PACKER: Mapping[str, Any] = {"name": "best_fit"}
DEFAULT_AGENT: Mapping[str, Any] = {"name": "static"}


@dataclass(frozen=True)
class Slot:
    """One component slot other than ``objectives`` (a list of its own)."""

    path: ConfigPath
    kind: KindName
    default: Mapping[str, Any] | None  # None: the slot stays empty when left out
    nullable: bool  # whether a user may write null


SLOTS: tuple[Slot, ...] = (
    Slot(("tokenizer",), "tokenizer", DEFAULT_TOKENIZER, False),
    Slot(("data", "train"), "source", DEFAULT_TRAIN_SOURCE, False),
    Slot(("data", "validation"), "source", None, True),  # its default depends on data.train: see load.py
    Slot(("packer",), "packer", DEFAULT_PACKER, False),
    Slot(("curriculum", "agent"), "agent", DEFAULT_AGENT, False),
    Slot(("curriculum", "reward"), "reward", None, True),
)
#: Sub-mappings where a YAML ``key:`` with no value means ``{}``.
SECTIONS = ("data", "curriculum", "workers")
