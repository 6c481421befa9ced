"""Birdie core: interfaces, plugin registry, configuration, pipeline and command line.

The public API is the list in ``__all__``; every name is a plain re-export except ``Birdie`` and
``EvaluationError``, which need torch: importing torch takes about 2.5 s here against 0.5 s for everything else,
and plugins, ``birdie plugins`` and ``birdie config check`` import ``birdie_core`` without needing it. Those two
are imported on first use (type checkers see the real classes).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from birdie_core.config import LoadedConfig, PipelineConfig, PythonObjects, load_config, read_config
from birdie_core.errors import (
    BirdieError,
    ConfigError,
    ConfigIssue,
    InvalidLossError,
    NoUsableDocumentsError,
    PipelineError,
    PluginError,
)
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
    ConfigFloat,
    ConfigInt,
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
from birdie_core.kinds import COMPONENT_KINDS, ComponentKind
from birdie_core.pipeline import Components, Pipeline, preview
from birdie_core.registry import Registry, default_registry, get_plugin_manager, load_registry

if TYPE_CHECKING:
    from birdie_core.curriculum.birdie import Birdie, EvaluationError

__version__ = "0.1.0"

_NEEDS_TORCH = {
    "Birdie": "birdie_core.curriculum.birdie",
    "EvaluationError": "birdie_core.curriculum.birdie",
}


def __getattr__(name: str) -> Any:
    if name in _NEEDS_TORCH:
        return getattr(import_module(_NEEDS_TORCH[name]), name)
    raise AttributeError(f"module 'birdie_core' has no attribute {name!r}")


__all__ = [
    "COMPONENT_KINDS",
    "IGNORE_INDEX",
    "PAD_ID",
    "TOKEN_DTYPE",
    "WHOLE_SPLIT",
    "Agent",
    "AgentConfig",
    "Arm",
    "Birdie",
    "BirdieError",
    "ComponentConfig",
    "ComponentKind",
    "Components",
    "ConfigError",
    "ConfigFloat",
    "ConfigInt",
    "ConfigIssue",
    "Decision",
    "Document",
    "EvaluationError",
    "Example",
    "InvalidLossError",
    "LoadedConfig",
    "NoUsableDocumentsError",
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
    "PythonObjects",
    "Register",
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
    "preview",
    "read_config",
]
