"""The pipeline configuration: one YAML file (or dict) validated in one place.

One module per concept: :mod:`.models` (the validated sections), :mod:`.load` (the one validation path),
:mod:`.issues` (collecting every problem with its path and line), :mod:`.ids` (objective ids), :mod:`.slots`
(where components sit and their defaults), :mod:`.schema` (the JSON schema), :mod:`.resolved` (what a run
saves), :mod:`.original` (the original project's flat form), :mod:`.yaml_lines` (YAML with positions, bounded
against hostile files) and :mod:`.preflight` (what a run would hit before its first batch).
The trainer's own section lives with the trainer (:mod:`birdie_core.train.config`).
"""

from birdie_core.config.ids import assign_objective_ids
from birdie_core.config.issues import IssueCollector, format_path
from birdie_core.config.load import (
    ConfigSource,
    LoadedConfig,
    load_config,
    read_config,
    read_config_with_lines,
)
from birdie_core.config.models import CurriculumConfig, DataConfig, PipelineConfig, WorkersConfig
from birdie_core.config.original import FlatFormWarning, PythonObjects, from_original_form, is_original_form
from birdie_core.config.preflight import check_config, memory_problems
from birdie_core.config.resolved import RESOLVED_CONFIG_NAME, resolved_config, save_resolved_config
from birdie_core.config.schema import config_schema
from birdie_core.config.yaml_lines import (
    MAX_ALIAS_VALUES,
    MAX_CONFIG_BYTES,
    MAX_NESTING,
    ConfigPath,
    LineMap,
    load_yaml_with_lines,
)
from birdie_core.train.config import OptimizerConfig, TrainConfig, TrainModelConfig

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_CONFIG_BYTES",
    "MAX_NESTING",
    "RESOLVED_CONFIG_NAME",
    "ConfigPath",
    "ConfigSource",
    "CurriculumConfig",
    "DataConfig",
    "FlatFormWarning",
    "IssueCollector",
    "LineMap",
    "LoadedConfig",
    "OptimizerConfig",
    "PipelineConfig",
    "PythonObjects",
    "TrainConfig",
    "TrainModelConfig",
    "WorkersConfig",
    "assign_objective_ids",
    "check_config",
    "config_schema",
    "format_path",
    "from_original_form",
    "is_original_form",
    "load_config",
    "load_yaml_with_lines",
    "memory_problems",
    "read_config",
    "read_config_with_lines",
    "resolved_config",
    "save_resolved_config",
]
