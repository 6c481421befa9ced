"""Birdie core: interfaces, plugin registry, configuration, pipeline and command line.

The public API is the list in ``__all__``. Heavier pieces (configuration, pipeline) are imported on first use,
so ``import birdie_core`` stays cheap for plugins that only need the interfaces.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from birdie_core.errors import BirdieError, ConfigError, ConfigIssue, PipelineError, PluginError
from birdie_core.hookspecs import Register, hookimpl, hookspec
from birdie_core.interfaces import (
    IGNORE_INDEX,
    PAD_ID,
    TOKEN_DTYPE,
    WHOLE_SPLIT,
    Agent,
    AgentConfig,
    Arm,
    ComponentConfig,
    Decision,
    Document,
    Example,
    Objective,
    ObjectiveConfig,
    ObjectiveContext,
    PackedBatch,
    Packer,
    PackerConfig,
    RewardConfig,
    RewardFn,
    Shard,
    Source,
    SourceConfig,
    Tokenizer,
    TokenizerConfig,
    normalise,
)
from birdie_core.registry import Registry, default_registry, get_plugin_manager, load_registry

__version__ = "0.1.0"

_LAZY = {
    "load_config": "birdie_core.config",
    "PipelineConfig": "birdie_core.config",
    "Pipeline": "birdie_core.pipeline",
    "Birdie": "birdie_core.curriculum.birdie",
    "EvaluationError": "birdie_core.curriculum.birdie",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'birdie_core' has no attribute {name!r}")


__all__ = [
    "IGNORE_INDEX",
    "PAD_ID",
    "Agent",
    "AgentConfig",
    "Arm",
    "Birdie",
    "BirdieError",
    "ComponentConfig",
    "ConfigError",
    "ConfigIssue",
    "Decision",
    "Document",
    "EvaluationError",
    "Example",
    "Objective",
    "ObjectiveConfig",
    "ObjectiveContext",
    "PackedBatch",
    "Packer",
    "PackerConfig",
    "Pipeline",
    "PipelineConfig",
    "PipelineError",
    "PluginError",
    "Registry",
    "RewardConfig",
    "RewardFn",
    "Shard",
    "Source",
    "SourceConfig",
    "Tokenizer",
    "TokenizerConfig",
    "__version__",
    "default_registry",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "load_config",
    "load_registry",
    "normalise",
]
