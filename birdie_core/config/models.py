"""The validated pipeline configuration: frozen pydantic models, one per section.

These models hold a config that :func:`~birdie_core.config.load_config` has already checked: every component
entry is an instance of its plugin's ``Config`` with its qualified name, and every objective has its id. They
do no registry look-up of their own, so there is exactly one validation path; building one directly from
dicts is refused with a pointer to ``load_config``.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from birdie_core.config.issues import describe
from birdie_core.interfaces import (
    AgentConfig,
    ComponentConfig,
    ConfigFloat,
    ConfigInt,
    ObjectiveConfig,
    PackerConfig,
    RewardConfig,
    SourceConfig,
    TokenizerConfig,
)
from birdie_core.train.config import TrainConfig

__all__ = [
    "DEFAULT_VALIDATION_HOLDOUT",
    "MAX_PREFETCH_FACTOR",
    "MAX_WORKERS",
    "CurriculumConfig",
    "DataConfig",
    "DomainConfig",
    "PipelineConfig",
    "WorkersConfig",
]

#: Worker processes per training process: more than one process's share of a large machine's cores, and a
#: typo such as 10000 is refused before it forks that many processes.
MAX_WORKERS = 128
#: Batches each worker prepares ahead: beyond a few, prefetching only holds memory.
MAX_PREFETCH_FACTOR = 64
#: Share of the training documents held out for validation when a config names no validation source.
DEFAULT_VALIDATION_HOLDOUT = 0.01


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _built(value: Any) -> Any:
    """Before-validator of a component field: only entries already built by ``load_config`` are accepted."""
    if isinstance(value, (ComponentConfig, DomainConfig)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_built(v) for v in value)
    raise ValueError(
        f"got {describe(value)}: component entries are resolved through the plugin registry, so build a "
        "pipeline config with birdie_core.load_config(...) (it takes the same dict)"
    )


class DomainConfig(_Section):
    """One source of a list of sources (a data domain): its id, its weight and the source itself.

    Written flat, as the source's entry with ``id`` and ``weight`` beside its keys
    (``{name: files, id: code, weight: 3, paths: [...]}``); :func:`~birdie_core.config.load_config` builds it.
    """

    id: str = Field(min_length=1, description="The domain's name: unique in its list, used in metrics.")
    weight: ConfigFloat = Field(
        1.0, gt=0.0, description="Share of the documents drawn from this domain (unnormalised)."
    )
    source: SerializeAsAny[SourceConfig]

    _check_built = field_validator("source", mode="before")(_built)

    @field_validator("id")
    @classmethod
    def _id_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a domain id must not be blank")
        return value

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        # the resolved config is written the way a user writes a domain: one flat entry
        nested = handler(self)
        return {**{k: nested[k] for k in ("id", "weight") if k in nested}, **nested.get("source", {})}


#: What ``data.train`` and ``data.validation`` hold: one source, or a list of domains.
Sources = SerializeAsAny[SourceConfig] | tuple[DomainConfig, ...]


class DataConfig(_Section):
    """Where documents come from: per split one source, or a list of sources mixed by weight (domains)."""

    train: Sources = Field(
        description="The source of training documents, or a list of them with an id and a weight each (data "
        "domains, mixed by weight)."
    )
    validation: Sources | None = Field(
        None,
        description="The source of validation documents, or a list of them whose ids name training domains. "
        "Null or left out: validation_holdout of the training documents are held out (left out without a "
        "train source of its own: with {name: embedded}, the embedded corpus's validation split).",
    )
    validation_holdout: ConfigFloat | None = Field(
        None,
        ge=0.0,
        lt=1.0,
        description="Share of the training documents held out for validation when there is no validation "
        f"source (chosen by a hash of each document's index; default {DEFAULT_VALIDATION_HOLDOUT}); 0 "
        "validates on training documents. Resolved to 0 when there is a validation source.",
    )

    _check_built = field_validator("train", "validation", mode="before")(_built)

    @field_validator("validation_holdout")
    @classmethod
    def _holdout_needs_no_source(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value and info.data.get("validation") is not None:
            raise ValueError(
                "a hold-out applies only without a validation source: remove data.validation_holdout, or set "
                "data.validation to null to hold out training documents instead"
            )
        return value

    @model_validator(mode="after")
    def _resolve(self) -> DataConfig:
        # written out here, so that the resolved config states what validation reads
        holdout = self.validation_holdout
        if holdout is None:
            holdout = DEFAULT_VALIDATION_HOLDOUT if self.validation is None else 0.0
        object.__setattr__(self, "validation_holdout", float(holdout))
        validation = self.validation
        if validation is not None:
            # evaluations compare losses across runs and seeds: by default they read their documents in the
            # source's order, whatever the seed
            object.__setattr__(self, "validation", _map_sources(validation, _unshuffled))
        return self

    def domains(self, split: Literal["train", "validation"]) -> tuple[DomainConfig, ...]:
        """The sources of ``split`` as domains (a single source is one domain with the split's name as id);
        empty when ``split`` has no source."""
        sources = getattr(self, split)
        if sources is None:
            return ()
        if isinstance(sources, tuple):
            return sources
        return (DomainConfig(id=split, weight=1.0, source=sources),)

    def seeded(self, seed: int) -> DataConfig:
        """This section with every source's ``shuffle_seed`` left null set to ``seed``."""

        def fill(src: SourceConfig) -> SourceConfig:
            return src if src.shuffle_seed is not None else src.model_copy(update={"shuffle_seed": seed})

        return self.model_copy(
            update={
                "train": _map_sources(self.train, fill),
                "validation": None if self.validation is None else _map_sources(self.validation, fill),
            }
        )


def _unshuffled(src: SourceConfig) -> SourceConfig:
    if "shuffle_buffer" in src.model_fields_set:
        return src
    return src.model_copy(update={"shuffle_buffer": 0})


def _map_sources(sources: Any, fn: Any) -> Any:
    if isinstance(sources, tuple):
        return tuple(d.model_copy(update={"source": fn(d.source)}) for d in sources)
    return fn(sources)


class CurriculumConfig(_Section):
    """How the mixture of objectives changes during training."""

    agent: SerializeAsAny[AgentConfig] = Field(description="The agent that proposes each next mixture.")
    reward: SerializeAsAny[RewardConfig] | None = Field(
        None, description="The reward function the agent learns from (null: none)."
    )
    steps_between_evaluations: Annotated[int, Field(ge=1)] | tuple[Annotated[int, Field(ge=0)], ...] = Field(
        100,
        description="Evaluate every N steps, or at exactly these steps (a strictly increasing list).",
    )
    num_steps: ConfigInt = Field(1000, ge=1, description="Training steps the curriculum plans for.")
    mixture_unit: Literal["tokens", "examples"] = Field(
        "tokens",
        description=(
            "What a mixture share means: of the positions in the batches (tokens; draws are reweighted by each "
            "objective's running mean example length) or of the examples drawn."
        ),
    )
    num_validation_batches: ConfigInt = Field(
        1, ge=1, description="Fixed validation batches per objective configuration, built once."
    )

    _check_built = field_validator("agent", "reward", mode="before")(_built)

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
            f"must be an integer >= 1 or a strictly increasing list of steps, got {describe(value)}"
        )


class WorkersConfig(_Section):
    """Data-loading worker processes (per training process)."""

    num_workers: ConfigInt = Field(
        0, ge=0, le=MAX_WORKERS, description="Worker processes; 0 builds batches in-process."
    )
    prefetch_factor: ConfigInt = Field(
        2, ge=1, le=MAX_PREFETCH_FACTOR, description="Batches each worker prepares ahead."
    )


class PipelineConfig(_Section):
    """A validated pipeline configuration. Build it with :func:`~birdie_core.config.load_config`.

    Every component config carries its qualified registry name; every objective has a unique ``id``.
    """

    seed: ConfigInt = Field(0, ge=0, description="Seed of every random choice the pipeline makes.")
    batch_size: ConfigInt = Field(8, ge=1, description="Rows per batch.")
    sequence_length: ConfigInt = Field(512, ge=16, description="Positions per row.")
    start_generating_paradigm: str = Field(
        "<|gen|>",
        min_length=1,
        description="Name of the start-of-generation marker between prefix and target.",
    )
    tokenizer: SerializeAsAny[TokenizerConfig]
    data: DataConfig
    objectives: tuple[SerializeAsAny[ObjectiveConfig], ...] = Field(
        min_length=1, description="The objective configurations: the arms of the curriculum."
    )
    packer: SerializeAsAny[PackerConfig]
    curriculum: CurriculumConfig
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    train: TrainConfig | None = Field(None, description="The reference trainer (null: not used).")

    _check_built = field_validator("tokenizer", "objectives", "packer", mode="before")(_built)

    @model_validator(mode="after")
    def _seed_sources(self) -> PipelineConfig:
        # every source sees the seed it shuffles with, and the resolved config says which it is
        object.__setattr__(self, "data", self.data.seeded(self.seed))
        return self

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
