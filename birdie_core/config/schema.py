"""The JSON schema of a pipeline config for the installed plugins (``birdie config schema``), for editors."""

from __future__ import annotations

import functools
import operator
import types
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from birdie_core.config.models import (
    CurriculumConfig,
    DataConfig,
    DomainConfig,
    PipelineConfig,
    WorkersConfig,
)
from birdie_core.config.slots import (
    DEFAULT_AGENT,
    DEFAULT_OBJECTIVES,
    DEFAULT_PACKER,
    DEFAULT_TOKENIZER,
    DEFAULT_TRAIN_SOURCE,
)
from birdie_core.kinds import COMPONENT_KINDS, KindName
from birdie_core.registry import Entry, Registry, UnknownNameError, default_registry

__all__ = ["config_schema"]


def config_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON schema of a pipeline config for the installed plugins (``birdie config schema``).

    Each component slot is a union over the registered classes' ``Config`` schemas, told apart by
    ``name`` (an enum of the qualified name and, when unambiguous, the bare name).
    """
    registry = registry if registry is not None else default_registry()
    unions = {kind: _component_union(registry, kind) for kind in COMPONENT_KINDS}
    # plain names, not subscripts, in the field tuples below: mypy reads a string subscript there as a type
    source, objective, reward = unions["source"], unions["objective"], unions["reward"]
    agent, tokenizer, packer = unions["agent"], unions["tokenizer"], unions["packer"]
    # a list of sources (data domains): each entry a source's keys with its id and weight beside them
    domains: Any = types.GenericAlias(list, (_domain_union(registry),))
    data_schema = create_model(
        "Data",
        __base__=DataConfig,
        train=(source | domains, Field(default=dict(DEFAULT_TRAIN_SOURCE))),
        validation=(source | domains | None, Field(default=None)),
    )
    curriculum_schema = create_model(
        "Curriculum",
        __base__=CurriculumConfig,
        agent=(agent, Field(default=dict(DEFAULT_AGENT))),
        reward=(reward | None, Field(default=None)),
    )
    objective_list: Any = types.GenericAlias(list, (objective,))  # list[objective]: a union known at run time
    pipeline_schema = create_model(
        "BirdiePipelineConfig",
        __base__=PipelineConfig,
        __cls_kwargs__={"title": "Birdie pipeline configuration"},
        tokenizer=(tokenizer, Field(default=dict(DEFAULT_TOKENIZER))),
        data=(data_schema, Field(default={})),
        objectives=(
            objective_list,
            Field(default=[dict(o) for o in DEFAULT_OBJECTIVES], min_length=1),
        ),
        packer=(packer, Field(default=dict(DEFAULT_PACKER))),
        curriculum=(curriculum_schema, Field(default={})),
        workers=(WorkersConfig, Field(default={})),
    )
    schema = pipeline_schema.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _component_union(registry: Registry, kind: KindName) -> Any:
    variants = [_schema_variant(registry, kind, entry) for entry in registry.entries(kind)]
    if not variants:
        return type(None)  # nothing of this kind installed: the slot can only be null
    union = functools.reduce(operator.or_, variants)
    return Annotated[union, Field(discriminator="name")]


def _domain_union(registry: Registry) -> Any:
    """Each source's schema variant with a domain's ``id`` and ``weight`` beside its keys."""
    variants = [
        create_model(
            f"Domain_{entry.namespace}_{entry.name}",
            __base__=_schema_variant(registry, "source", entry),
            __cls_kwargs__={"title": f"domain of source {entry.qualified_name}"},
            id=(str, Field(min_length=1, description=DomainConfig.model_fields["id"].description)),
            weight=(float, Field(1.0, gt=0.0, description=DomainConfig.model_fields["weight"].description)),
        )
        for entry in registry.entries("source")
    ]
    if not variants:
        return type(None)
    return Annotated[functools.reduce(operator.or_, variants), Field(discriminator="name")]


def _schema_variant(registry: Registry, kind: KindName, entry: Entry) -> type[BaseModel]:
    """A schema-only subclass of ``entry``'s Config whose ``name`` is the literal name(s) it answers to."""
    try:
        bare_ok = registry.find(kind, entry.name) is entry
    except UnknownNameError:
        bare_ok = False
    names = (entry.qualified_name, entry.name) if bare_ok else (entry.qualified_name,)
    class_name = f"{kind.capitalize()}_{entry.namespace}_{entry.name}"
    doc = (entry.obj.__doc__ or entry.obj.Config.__doc__ or "").strip().split("\n\n")[0] or None
    name_type: Any = Literal[names]  # the literal values are only known at run time
    return create_model(
        class_name,
        __base__=entry.obj.Config,
        __doc__=doc,
        __cls_kwargs__={"title": f"{kind} {entry.qualified_name}"},
        name=(name_type, Field(description=f"The {kind} to use.")),
    )
