"""The pipeline configuration: one YAML file (or dict) validated in one place.

:func:`load_config` turns a YAML path or a dict into a frozen :class:`PipelineConfig`. Each component entry
(tokenizer, sources, objectives, packer, agent, reward) is validated by the ``Config`` model its plugin
registered, chosen by the entry's ``name``; bare names are accepted when unambiguous and replaced by the
qualified name (``prefix_lm`` → ``core.prefix_lm``). Every problem is collected and raised at once as one
:class:`~birdie_core.errors.ConfigError`, each with its path (``objectives[2].corruption_rate``), a line and
column when the config came from YAML, and a "did you mean" for misspelt keys and names.

:func:`config_schema` gives the JSON schema of the installed plugins (one discriminated union per component
slot); :func:`resolved_config` / :func:`save_resolved_config` give the fully resolved config that every run
saves and that :func:`load_config` reads back to an equal :class:`PipelineConfig`.

A dict in the original Birdie project's flat form (``num_workers``, ``ds``, a tokenizer object, ...) is
mapped onto the nested form; see :func:`from_original_form`.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import json
import math
import operator
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from birdie_core.compat import FlatFormWarning, from_original_form, is_original_form
from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.interfaces import (
    AgentConfig,
    ComponentConfig,
    ObjectiveConfig,
    PackerConfig,
    RewardConfig,
    SourceConfig,
    TokenizerConfig,
)
from birdie_core.registry import Entry, Registry, UnknownNameError, default_registry
from birdie_core.yaml_lines import ConfigPath, LineMap, load_yaml_with_lines

__all__ = [
    "CurriculumConfig",
    "DataConfig",
    "FlatFormWarning",
    "OptimizerConfig",
    "PipelineConfig",
    "TrainConfig",
    "TrainModelConfig",
    "WorkersConfig",
    "assign_objective_ids",
    "config_schema",
    "format_path",
    "from_original_form",
    "is_original_form",
    "load_config",
    "load_yaml_with_lines",
    "resolved_config",
    "save_resolved_config",
]

RESOLVED_CONFIG_NAME = "config.resolved.yaml"

# Defaults of the component slots, as a user would write them (resolved through the registry in use).
DEFAULT_TOKENIZER: Mapping[str, Any] = {"name": "bytes"}
DEFAULT_TRAIN_SOURCE: Mapping[str, Any] = {"name": "embedded"}
DEFAULT_VALIDATION_SOURCE: Mapping[str, Any] = {"name": "embedded", "split": "validation"}
DEFAULT_OBJECTIVES: tuple[Mapping[str, Any], ...] = ({"name": "next_token_prediction"},)
DEFAULT_PACKER: Mapping[str, Any] = {"name": "best_fit"}
DEFAULT_AGENT: Mapping[str, Any] = {"name": "static"}

#: The base every registered class's ``Config`` must derive from, per registry kind.
CONFIG_BASES: Mapping[str, type[ComponentConfig]] = types.MappingProxyType(
    {
        "tokenizer": TokenizerConfig,
        "source": SourceConfig,
        "objective": ObjectiveConfig,
        "packer": PackerConfig,
        "agent": AgentConfig,
        "reward": RewardConfig,
    }
)

#: Component slots other than ``objectives``: (path, kind, default entry, may be null).
_SLOTS: tuple[tuple[ConfigPath, str, Mapping[str, Any] | None, bool], ...] = (
    (("tokenizer",), "tokenizer", DEFAULT_TOKENIZER, False),
    (("data", "train"), "source", DEFAULT_TRAIN_SOURCE, False),
    (("data", "validation"), "source", DEFAULT_VALIDATION_SOURCE, True),
    (("packer",), "packer", DEFAULT_PACKER, False),
    (("curriculum", "agent"), "agent", DEFAULT_AGENT, False),
    (("curriculum", "reward"), "reward", None, True),
)
_SECTIONS = ("data", "curriculum", "workers")  # sub-mappings where a YAML `key:` with no value means {}


# ---------------------------------------------------------------------------------------------------------
# The validated model
# ---------------------------------------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _default_component(kind: str, raw: Mapping[str, Any]) -> ComponentConfig:
    """Build one component entry through the process's default registry (for direct construction)."""
    checker = _Checker(default_registry(), LineMap())
    built = checker.component(kind, raw, ())
    if built is None:
        raise ConfigError(checker.issues)
    return built


def _component_input(kind: str, value: Any) -> Any:
    """Before-validator of a component field: lets ``PipelineConfig(tokenizer={"name": "bytes"})`` work.

    ``load_config`` always passes built configs with qualified names, which go through unchanged.
    """
    if isinstance(value, Mapping):
        return _default_component(kind, value)
    # only plain identifiers can be bare registry names (stand-ins for failed entries are not)
    if isinstance(value, ComponentConfig) and value.name.isidentifier():
        entry = default_registry().find(kind, value.name)
        if entry is not None and isinstance(value, entry.obj.Config):
            return value.model_copy(update={"name": entry.qualified_name})
    return value


class DataConfig(_Section):
    """Where documents come from: one source per split."""

    train: SerializeAsAny[SourceConfig] = Field(
        default_factory=lambda: _default_component("source", DEFAULT_TRAIN_SOURCE),
        description="The source of training documents.",
    )
    validation: SerializeAsAny[SourceConfig] | None = Field(
        default_factory=lambda: _default_component("source", DEFAULT_VALIDATION_SOURCE),
        description="The source of validation documents (null: none).",
    )

    @field_validator("train", "validation", mode="before")
    @classmethod
    def _build(cls, value: Any) -> Any:
        return _component_input("source", value)


class CurriculumConfig(_Section):
    """How the mixture of objectives changes during training."""

    agent: SerializeAsAny[AgentConfig] = Field(
        default_factory=lambda: _default_component("agent", DEFAULT_AGENT),
        description="The agent that proposes each next mixture.",
    )
    reward: SerializeAsAny[RewardConfig] | None = Field(
        None, description="The reward function the agent learns from (null: none)."
    )
    steps_between_evaluations: Annotated[int, Field(ge=1)] | tuple[Annotated[int, Field(ge=0)], ...] = Field(
        100,
        description="Evaluate every N steps, or at exactly these steps (a strictly increasing list).",
    )
    num_steps: int = Field(1000, ge=1, description="Training steps the curriculum plans for.")
    mixture_unit: Literal["tokens", "examples"] = Field(
        "tokens",
        description=(
            "What a mixture share means: of the positions in the batches (tokens; draws are reweighted by each "
            "objective's running mean example length) or of the examples drawn."
        ),
    )
    num_validation_batches: int = Field(
        1, ge=1, description="Fixed validation batches per objective configuration, built once."
    )

    @field_validator("agent", mode="before")
    @classmethod
    def _build_agent(cls, value: Any) -> Any:
        return _component_input("agent", value)

    @field_validator("reward", mode="before")
    @classmethod
    def _build_reward(cls, value: Any) -> Any:
        return None if value is None else _component_input("reward", value)

    @field_validator("steps_between_evaluations", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        # checked by hand, before the int/list union: pydantic's union errors would name both branches
        def is_int(x: Any) -> bool:
            return isinstance(x, int) and not isinstance(x, bool)

        if is_int(value):
            if value < 1:
                raise ValueError(f"must be >= 1, got {value}")
            return value
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("an evaluation schedule must list at least one step")
            bad = [x for x in value if not is_int(x) or x < 0]
            if bad:
                raise ValueError(f"every step must be an integer >= 0, got {bad[0]!r}")
            for a, b in itertools.pairwise(value):
                if b <= a:
                    raise ValueError(f"the steps must be strictly increasing, but {b} follows {a}")
            return tuple(value)
        raise ValueError(
            f"must be an integer >= 1 or a strictly increasing list of steps, got {_describe(value)}"
        )


class WorkersConfig(_Section):
    """Data-loading worker processes (per training process)."""

    num_workers: int = Field(0, ge=0, description="Worker processes; 0 builds batches in-process.")
    prefetch_factor: int = Field(2, ge=1, description="Batches each worker prepares ahead.")


class TrainModelConfig(_Section):
    """The reference model `birdie train` builds (``birdie_core.model.PrefixLMTransformer``)."""

    name: Literal["prefix_lm_transformer"] = Field(
        "prefix_lm_transformer", description="The model class (the core ships one: the prefix-LM Transformer)."
    )
    width: int = Field(128, ge=1, description="Hidden size.")
    depth: int = Field(2, ge=1, description="Transformer blocks.")
    heads: int = Field(4, ge=1, description="Attention heads; must divide width.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout on attention and MLP outputs.")
    max_length: int | None = Field(
        None,
        ge=1,
        description="Positions the model can embed (default: sequence_length); must be >= sequence_length.",
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TrainModelConfig:
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be a multiple of heads ({self.heads})")
        return self


class OptimizerConfig(_Section):
    """AdamW and its learning-rate schedule, for the reference trainer."""

    lr: float = Field(3e-4, gt=0.0, description="Peak learning rate.")
    weight_decay: float = Field(0.1, ge=0.0, description="AdamW weight decay (not applied to norms and biases).")
    betas: tuple[Annotated[float, Field(ge=0.0, lt=1.0)], Annotated[float, Field(ge=0.0, lt=1.0)]] = (
        0.9,
        0.95,
    )
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up from lr / warmup_steps to lr.")
    schedule: Literal["cosine", "constant"] = Field(
        "cosine", description="After warm-up: cosine decay to min_lr_ratio * lr at the last step, or constant."
    )
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0, description="The cosine schedule's final lr, as a share of lr.")
    grad_clip: float | None = Field(1.0, gt=0.0, description="Clip the gradient norm to this (null: no clipping).")


class TrainConfig(_Section):
    """The reference trainer (`birdie train`; see docs/training.md)."""

    model: TrainModelConfig = Field(default_factory=TrainModelConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    output: str = Field("runs/birdie", min_length=1, description="The run directory.")
    steps: int | None = Field(None, ge=1, description="Training steps (default: curriculum.num_steps).")
    checkpoint_every: int | None = Field(
        None, ge=1, description="Steps between checkpoints (default: only at the end)."
    )
    keep_checkpoints: int = Field(2, ge=1, description="Checkpoints kept in the run directory (the newest).")
    log_every: int = Field(10, ge=1, description="Steps between progress lines.")
    num_threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads per process (null: torch's default). Losses repeat bit for bit only "
        "with the same number.",
    )


class PipelineConfig(_Section):
    """A validated pipeline configuration. Build it with :func:`load_config`.

    Every component config carries its qualified registry name; every objective has a unique ``id``.

    Python objects that cannot be written in YAML (a tokenizer object, ``ds`` / ``text_grabber_fn``
    callables from the original project's flat form) are kept beside the config, never serialised:
    :attr:`tokenizer_object` and :attr:`python_objects`.
    """

    seed: int = Field(0, ge=0, description="Seed of every random choice the pipeline makes.")
    batch_size: int = Field(8, ge=1, description="Rows per batch.")
    sequence_length: int = Field(512, ge=16, description="Positions per row.")
    start_generating_paradigm: str = Field(
        "<|gen|>",
        min_length=1,
        description="Name of the start-of-generation marker between prefix and target.",
    )
    tokenizer: SerializeAsAny[TokenizerConfig] = Field(
        default_factory=lambda: _default_component("tokenizer", DEFAULT_TOKENIZER)
    )
    data: DataConfig = Field(default_factory=DataConfig)
    objectives: tuple[SerializeAsAny[ObjectiveConfig], ...] = Field(
        # defaults are not validated, so the factory gives the ids itself
        default_factory=lambda: tuple(
            assign_objective_ids([_default_component("objective", o) for o in DEFAULT_OBJECTIVES])[0]
        ),
        min_length=1,
        description="The objective configurations: the arms of the curriculum.",
    )
    packer: SerializeAsAny[PackerConfig] = Field(
        default_factory=lambda: _default_component("packer", DEFAULT_PACKER)
    )
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    train: TrainConfig | None = Field(None, description="The reference trainer (null: not used).")

    _tokenizer_object: Any = PrivateAttr(default=None)
    _python_objects: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def tokenizer_object(self) -> Any:
        """A tokenizer object given in the original flat form (``tokenizer`` is then a placeholder)."""
        return self._tokenizer_object

    @property
    def python_objects(self) -> Mapping[str, Any]:
        """Callables from the flat form: ``ds``, ``ds_validation``, ``text_grabber_fn``, ``reward_fn``."""
        return types.MappingProxyType(self._python_objects)

    @field_validator("train")
    @classmethod
    def _model_fits_rows(cls, value: TrainConfig | None, info: ValidationInfo) -> TrainConfig | None:
        seq_len = info.data.get("sequence_length")
        max_length = value.model.max_length if value is not None else None
        if max_length is not None and isinstance(seq_len, int) and max_length < seq_len:
            raise ValueError(
                f"model.max_length ({max_length}) is less than sequence_length ({seq_len}): "
                "the model could not embed the later positions of a row; raise it or leave it out"
            )
        return value

    @field_validator("start_generating_paradigm")
    @classmethod
    def _marker_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the start-of-generation marker must not be blank")
        return value

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _build_tokenizer(cls, value: Any) -> Any:
        return _component_input("tokenizer", value)

    @field_validator("packer", mode="before")
    @classmethod
    def _build_packer(cls, value: Any) -> Any:
        return _component_input("packer", value)

    @field_validator("objectives", mode="before")
    @classmethod
    def _build_objectives(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return tuple(_component_input("objective", v) for v in value)
        return value

    @field_validator("objectives")
    @classmethod
    def _ids(cls, value: tuple[ObjectiveConfig, ...]) -> tuple[ObjectiveConfig, ...]:
        with_ids, problems = assign_objective_ids(value)
        if problems:
            raise ValueError("; ".join(f"objectives[{i}].id: {msg}" for i, msg in problems))
        return tuple(with_ids)

    @model_validator(mode="after")
    def _cross_checks(self) -> PipelineConfig:
        problems = _objective_problems(self.sequence_length, self.objectives, range(len(self.objectives)))
        if problems:
            raise ValueError("; ".join(f"{format_path(p)}: {m}" for p, m in problems))
        return self


# ---------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------


def load_config(
    source: PipelineConfig | Mapping[str, Any] | str | os.PathLike[str],
    registry: Registry | None = None,
) -> PipelineConfig:
    """Validate a pipeline configuration.

    ``source`` is a path to a YAML file, a dict of the same structure (or in the original project's flat
    form, see :func:`from_original_form`), or a :class:`PipelineConfig` (returned as is). ``registry``
    defaults to the process's :func:`~birdie_core.registry.default_registry`.

    Raises :class:`ConfigError` listing every problem found, each with its path and, for YAML, its line.
    """
    if isinstance(source, PipelineConfig):
        return source
    registry = registry if registry is not None else default_registry()
    lines = LineMap()
    if isinstance(source, (str, os.PathLike)):
        data, lines = load_yaml_with_lines(source)
        data = {} if data is None else data
    elif isinstance(source, Mapping):
        data = source
    else:
        raise ConfigError(
            f"a configuration is a YAML path, a dict or a PipelineConfig, not {type(source).__name__}"
        )
    return _Checker(registry, lines).run(data)


class _Checker:
    """Validates one config, collecting every issue instead of stopping at the first."""

    def __init__(self, registry: Registry, lines: LineMap):
        self.registry = registry
        self.lines = lines
        self.issues: list[ConfigIssue] = []

    def add(self, path: ConfigPath, message: str) -> None:
        pos = self.lines.locate(path)
        self.issues.append(
            ConfigIssue(
                format_path(path),
                message,
                pos[0] if pos else None,
                pos[1] if pos else None,
                self.lines.source,
            )
        )

    # -- the whole config ------------------------------------------------------------------------------
    def run(self, data: Any) -> PipelineConfig:
        if not isinstance(data, Mapping):
            self.add((), f"a configuration must be a mapping of keys to values, got {_describe(data)}")
            raise ConfigError(self.issues)
        for path, line, column in self.lines.duplicates:
            message = "key given twice (the later value would win)"
            self.issues.append(ConfigIssue(format_path(path), message, line, column, self.lines.source))
        objects: dict[str, Any] = {}
        if is_original_form(data):
            data, objects = from_original_form(data, self.registry)
        prepared = self._prepare(data)

        cfg: PipelineConfig | None = None
        try:
            cfg = PipelineConfig.model_validate(prepared)
        except ValidationError as exc:
            for err in exc.errors():
                self.add_pydantic(err, (), PipelineConfig, "the configuration")
        if self.issues or cfg is None:
            # file order reads best; issues without a line keep the order they were found in
            self.issues.sort(key=lambda i: (i.line is None, i.line or 0, i.column or 0))
            raise ConfigError(self.issues)
        cfg._tokenizer_object = objects.pop("tokenizer", None)
        cfg._python_objects = objects
        return cfg

    def _prepare(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``data`` with every component entry built (or a stand-in where it failed).

        Stand-ins keep the model pass that follows from reporting a failed entry a second time.
        """
        prepared = dict(data)
        for section in _SECTIONS:
            if section in prepared and prepared[section] is None:
                prepared[section] = {}
            if isinstance(prepared.get(section), Mapping):
                prepared[section] = dict(prepared[section])

        for path, kind, default, nullable in _SLOTS:
            parent: Any = prepared
            for key in path[:-1]:
                parent = parent.setdefault(key, {})
            if not isinstance(parent, dict):
                continue  # the section itself is wrong; the model pass reports it
            key = path[-1]
            if key in parent:
                raw = parent[key]
                if raw is None and nullable:
                    continue
            elif default is None:
                continue
            else:
                raw = default
            built = self.component(kind, raw, path)
            parent[key] = built if built is not None else CONFIG_BASES[kind](name="<invalid>")

        prepared["objectives"] = self._objectives(prepared, data)
        return prepared

    def _objectives(self, prepared: dict[str, Any], data: Mapping[str, Any]) -> tuple[ObjectiveConfig, ...]:
        path: ConfigPath = ("objectives",)
        raw = prepared.get("objectives", DEFAULT_OBJECTIVES)
        stand_in = (ObjectiveConfig(name="<invalid>", id="<invalid>"),)
        if not isinstance(raw, (list, tuple)):
            self.add(path, f"must be a list of objective entries, got {_describe(raw)}")
            return stand_in
        if not raw:
            self.add(path, "needs at least one objective, e.g. [{name: next_token_prediction}]")
            return stand_in
        built = [self.component("objective", entry, path + (i,)) for i, entry in enumerate(raw)]
        good = [(i, c) for i, c in enumerate(built) if c is not None]
        indices = [i for i, _ in good]
        with_ids, id_problems = assign_objective_ids([c for _, c in good], indices)
        for i, message in id_problems:
            self.add(path + (i, "id"), message)
        seq_len = data.get("sequence_length", PipelineConfig.model_fields["sequence_length"].default)
        usable_len = seq_len if isinstance(seq_len, int) and not isinstance(seq_len, bool) else None
        checks = _objective_problems(usable_len, with_ids, indices, complete=len(good) == len(built))
        for p, message in checks:
            self.add(p, message)
        if len(good) < len(built) or id_problems or checks:
            return stand_in
        return tuple(with_ids)

    # -- one component entry ---------------------------------------------------------------------------
    def component(self, kind: str, raw: Any, path: ConfigPath) -> ComponentConfig | None:
        """Build one component entry with its registered ``Config``; None (and issues) when it cannot."""
        if isinstance(raw, ComponentConfig):
            raw = raw.model_dump()  # an already-built config: re-validated so its name gets qualified
        if not isinstance(raw, Mapping):
            self.add(path, f"expected a {kind} entry like {{name: ...}}, got {_describe(raw)}")
            return None
        if "name" not in raw:
            installed = ", ".join(self.registry.names(kind)) or "none"
            self.add(path + ("name",), f"missing 'name': which {kind}? (installed: {installed})")
            return None
        name = raw["name"]
        if not isinstance(name, str) or not name.strip():
            self.add(path + ("name",), f"a {kind} name must be a non-empty string, got {_describe(name)}")
            return None
        try:
            entry = self.registry.find(kind, name)
        except UnknownNameError as exc:  # an ambiguous bare name
            self.add(path + ("name",), str(exc))
            return None
        if entry is None:
            self.add(path + ("name",), self.registry.explain_unknown(kind, name))
            return None
        config_cls = entry.obj.Config
        base = CONFIG_BASES[kind]
        if not (isinstance(config_cls, type) and issubclass(config_cls, base)):
            self.add(
                path,
                f"{kind} {entry.qualified_name!r} from {entry.distribution or entry.namespace} is broken: "
                f"its Config must subclass birdie_core.{base.__name__}",
            )
            return None
        owner = f"{kind} {entry.qualified_name!r}"
        try:
            return config_cls.model_validate({**raw, "name": entry.qualified_name})
        except ValidationError as exc:
            for err in exc.errors():
                self.add_pydantic(err, path, config_cls, owner)
        except Exception as exc:  # noqa: BLE001 - a plugin's buggy validator must not hide every other issue
            self.add(path, f"{owner} failed to validate its entry: {type(exc).__name__}: {exc}")
        return None

    def add_pydantic(
        self, err: Mapping[str, Any], base: ConfigPath, model: type[BaseModel], owner: str
    ) -> None:
        """Record one pydantic error at ``base`` + its location, in words a config author can act on."""
        loc: ConfigPath = tuple(p for p in err["loc"] if isinstance(p, int) or not _is_union_tag(p))
        kind = err["type"]
        if kind == "extra_forbidden":
            where = _model_at(model, loc[:-1])
            allowed = list(where.model_fields) if where is not None else []
            if loc[:-1]:
                place = f"in {format_path(base + loc[:-1])}"
            else:
                place = f"for {owner}" if base else "at the top level"
            self.add(base + loc, _unknown_key(loc[-1], allowed, place))
            return
        if kind == "missing":
            self.add(base + loc, f"missing required key {loc[-1]!r}" if loc else "missing")
            return
        message = str(err["msg"])
        if kind in ("value_error", "assertion_error"):
            message = (
                message.split(", ", 1)[1]
                if message.startswith(("Value error, ", "Assertion failed, "))
                else message
            )
        elif "input" in err and _is_scalar(err["input"]):
            message += f" (got {err['input']!r})"
        self.add(base + loc, message)


def _unknown_key(key: Any, allowed: Sequence[str], place: str) -> str:
    guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if guess:
        return f"unknown key {key!r} {place}; did you mean {guess[0]!r}?"
    if allowed:
        return f"unknown key {key!r} {place} (known keys: {', '.join(allowed)})"
    return f"unknown key {key!r} {place}"


def _model_at(model: type[BaseModel], loc: ConfigPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``loc`` inside ``model`` (to list its keys)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue  # a list item: the item type was already found from the list's annotation
        field = current.model_fields.get(part)
        current = _inner_model(field.annotation) if field is not None else None
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


#: Names pydantic puts in an error location for the branch of a union it tried (not config keys).
_UNION_TAGS = frozenset({"int", "float", "str", "bool", "bytes", "list", "tuple", "dict", "set", "none"})


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in _UNION_TAGS)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _describe(value: Any) -> str:
    if _is_scalar(value):
        return f"{type(value).__name__} {value!r}"
    return f"a {type(value).__name__}"


def format_path(path: ConfigPath) -> str:
    """``("objectives", 2, "corruption_rate")`` → ``"objectives[2].corruption_rate"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------------------------------------------------
# Objective ids and cross-field checks
# ---------------------------------------------------------------------------------------------------------

#: Fields left out when telling same-named objective entries apart: they are not parameters.
_NOT_PARAMETERS = frozenset({"name", "id", "prob"})


def assign_objective_ids(
    configs: Sequence[ObjectiveConfig], indices: Sequence[int] | None = None
) -> tuple[list[ObjectiveConfig], list[tuple[int, str]]]:
    """Give every objective config a unique ``id``; returns ``(configs, problems)``.

    An id the user wrote is kept; a repeated one is a problem reported on the later entry (problems are
    ``(index, message)``, indices taken from ``indices`` — the entries' positions in the config — when
    given). A missing id is derived: the bare name when only one entry has it (the qualified name when
    plugins share the bare name), else the name plus the parameters that differ between the same-named
    entries, e.g. ``infilling(corruption_rate=0.15,mean_span=3)``; a ``#k`` suffix settles what is left.
    """
    index = list(indices) if indices is not None else list(range(len(configs)))
    problems: list[tuple[int, str]] = []
    taken: dict[str, int] = {}
    for pos, cfg in enumerate(configs):
        if cfg.id is None:
            continue
        if cfg.id in taken:
            problems.append(
                (
                    index[pos],
                    f"duplicate objective id {cfg.id!r} (also the id of objectives[{taken[cfg.id]}])",
                )
            )
        else:
            taken[cfg.id] = index[pos]

    pending = [pos for pos, cfg in enumerate(configs) if cfg.id is None]
    by_name: dict[str, list[int]] = {}
    for pos in pending:
        by_name.setdefault(configs[pos].name, []).append(pos)
    names_per_bare: dict[str, set[str]] = {}
    for name in by_name:
        names_per_bare.setdefault(_bare(name), set()).add(name)

    wanted: dict[int, str] = {}
    for name, members in by_name.items():
        base = _bare(name) if len(names_per_bare[_bare(name)]) == 1 else name
        if len(members) == 1:
            wanted[members[0]] = base
            continue
        fields = [f for f in type(configs[members[0]]).model_fields if f not in _NOT_PARAMETERS]
        differing = [f for f in fields if len({_format_value(getattr(configs[m], f)) for m in members}) > 1]
        for m in members:
            params = ",".join(f"{f}={_format_value(getattr(configs[m], f))}" for f in differing)
            wanted[m] = f"{base}({params})" if params else base

    counts: dict[str, int] = {}
    for pos in pending:
        counts[wanted[pos]] = counts.get(wanted[pos], 0) + 1
    out = list(configs)
    used = set(taken)
    for pos in pending:
        candidate = wanted[pos]
        if counts[candidate] > 1 or candidate in used:
            k = 1
            while f"{candidate}#{k}" in used or counts.get(f"{candidate}#{k}", 0):
                k += 1
            candidate = f"{candidate}#{k}"
        used.add(candidate)
        out[pos] = configs[pos].model_copy(update={"id": candidate})
    return out, problems


def _bare(name: str) -> str:
    return name.rpartition(".")[2]


def _format_value(value: Any) -> str:
    """Compact, stable text of a parameter value for derived ids."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)
    return str(value)


def _objective_problems(
    sequence_length: int | None,
    configs: Sequence[ObjectiveConfig],
    indices: Sequence[int],
    *,
    complete: bool = True,
) -> list[tuple[ConfigPath, str]]:
    """Checks that involve several fields: ``(path, message)`` for each problem."""
    problems: list[tuple[ConfigPath, str]] = []
    # with an entry missing (it failed to validate) its prob is unknown, so the sum cannot be judged
    if complete and configs and all(c.prob <= 0 for c in configs):
        problems.append((("objectives",), "every objective has prob 0: at least one needs prob > 0"))
    if sequence_length is not None:
        for i, cfg in zip(indices, configs):
            if cfg.length is not None and cfg.length[1] > sequence_length:
                problems.append(
                    (
                        ("objectives", i, "length"),
                        (
                            f"length max {cfg.length[1]} exceeds sequence_length {sequence_length}: "
                            "such an example could never fit in a row"
                        ),
                    )
                )
    return problems


# ---------------------------------------------------------------------------------------------------------
# JSON schema and the resolved config
# ---------------------------------------------------------------------------------------------------------


def config_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON schema of a pipeline config for the installed plugins (``birdie config schema``).

    Each component slot is a union over the registered classes' ``Config`` schemas, told apart by
    ``name`` (an enum of the qualified name and, when unambiguous, the bare name).
    """
    registry = registry if registry is not None else default_registry()
    unions = {kind: _component_union(registry, kind) for kind in CONFIG_BASES}
    source, objective, reward = unions["source"], unions["objective"], unions["reward"]
    data_schema = create_model(
        "Data",
        __base__=DataConfig,
        train=(source, Field(default=dict(DEFAULT_TRAIN_SOURCE))),
        validation=(source | None, Field(default=dict(DEFAULT_VALIDATION_SOURCE))),
    )
    curriculum_schema = create_model(
        "Curriculum",
        __base__=CurriculumConfig,
        agent=(unions["agent"], Field(default=dict(DEFAULT_AGENT))),
        reward=(reward | None, Field(default=None)),
    )
    pipeline_schema = create_model(
        "BirdiePipelineConfig",
        __base__=PipelineConfig,
        __cls_kwargs__={"title": "Birdie pipeline configuration"},
        tokenizer=(unions["tokenizer"], Field(default=dict(DEFAULT_TOKENIZER))),
        data=(data_schema, Field(default={})),
        objectives=(
            list[objective],  # type: ignore[valid-type]
            Field(default=[dict(o) for o in DEFAULT_OBJECTIVES], min_length=1),
        ),
        packer=(unions["packer"], Field(default=dict(DEFAULT_PACKER))),
        curriculum=(curriculum_schema, Field(default={})),
        workers=(WorkersConfig, Field(default={})),
    )
    schema = pipeline_schema.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _component_union(registry: Registry, kind: str) -> Any:
    variants = [_schema_variant(registry, kind, entry) for entry in registry.entries(kind)]
    if not variants:
        return type(None)  # nothing of this kind installed: the slot can only be null
    union = functools.reduce(operator.or_, variants)
    return Annotated[union, Field(discriminator="name")]


def _schema_variant(registry: Registry, kind: str, entry: Entry) -> type[BaseModel]:
    """A schema-only subclass of ``entry``'s Config whose ``name`` is the literal name(s) it answers to."""
    try:
        bare_ok = registry.find(kind, entry.name) is entry
    except UnknownNameError:
        bare_ok = False
    names = (entry.qualified_name, entry.name) if bare_ok else (entry.qualified_name,)
    class_name = f"{kind.capitalize()}_{entry.namespace}_{entry.name}"
    doc = (entry.obj.__doc__ or entry.obj.Config.__doc__ or "").strip().split("\n\n")[0] or None
    return create_model(
        class_name,
        __base__=entry.obj.Config,
        __doc__=doc,
        __cls_kwargs__={"title": f"{kind} {entry.qualified_name}"},
        name=(Literal[names], Field(description=f"The {kind} to use.")),  # type: ignore[valid-type]
    )


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
        "# every default written out. `birdie_core.config.load_config(<this file>)` rebuilds it.\n"
        + yaml.safe_dump(resolved_config(cfg), sort_keys=False, allow_unicode=True, default_flow_style=False)
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # a reader never sees half a file
    return path
