"""The one table of component kinds: what a plugin can register, and how each kind is built.

The registry (which hook fills which kind, which base class a registered class must have), the configuration
(which ``Config`` base validates an entry of each kind) and the plugin documentation all read this table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol

from birdie_core.interfaces import (
    Agent,
    AgentConfig,
    ComponentConfig,
    Objective,
    ObjectiveConfig,
    Packer,
    PackerConfig,
    RewardConfig,
    RewardFn,
    Source,
    SourceConfig,
    Tokenizer,
    TokenizerConfig,
)

__all__ = [
    "COMPONENT_KINDS",
    "AgentClass",
    "ComponentKind",
    "KindName",
    "ObjectiveClass",
    "PackerClass",
    "RewardFnFactory",
    "SourceFactory",
    "TokenizerFactory",
    "kind_of_hook",
]

KindName = Literal["objective", "packer", "reward", "agent", "tokenizer", "source"]

# What a registered component is, per kind, for type checkers (the constructor column of the table below).
ObjectiveClass = type[Objective[Any]]
PackerClass = type[Packer[Any]]
AgentClass = type[Agent[Any]]


class RewardFnFactory(Protocol):
    """A registered reward-function class: its ``Config`` model, and ``cls(config)`` gives the function."""

    Config: type[RewardConfig]

    def __call__(self, config: Any, /) -> RewardFn: ...


class TokenizerFactory(Protocol):
    """A registered tokenizer class: its ``Config`` model, and ``cls(config, specials)`` gives the tokenizer."""

    Config: type[TokenizerConfig]

    def __call__(self, config: Any, specials: Sequence[str], /) -> Tokenizer: ...


class SourceFactory(Protocol):
    """A registered source class: its ``Config`` model, and ``cls(config)`` gives the source."""

    Config: type[SourceConfig]

    def __call__(self, config: Any, /) -> Source: ...


@dataclass(frozen=True)
class ComponentKind:
    """One kind of component a plugin can register."""

    name: KindName
    hook: str  # the registration hook in birdie_core.hookspecs
    interface: type  # what an instance is: an ABC the registered class must subclass, or a Protocol
    subclass_required: bool  # True for the ABCs; a Protocol is checked by use, not by inheritance
    config_base: type[ComponentConfig]  # the registered class's nested ``Config`` must subclass it
    constructor: str  # how the pipeline builds one, as a call signature


COMPONENT_KINDS: Mapping[KindName, ComponentKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            ComponentKind(
                "objective", "birdie_register_objectives", Objective, True, ObjectiveConfig, "cls(config)"
            ),
            ComponentKind(
                "packer",
                "birdie_register_packers",
                Packer,
                True,
                PackerConfig,
                "cls(config, batch_size, sequence_length, num_arms)",
            ),
            ComponentKind("reward", "birdie_register_reward_fns", RewardFn, False, RewardConfig, "cls(config)"),
            ComponentKind(
                "agent",
                "birdie_register_agents",
                Agent,
                True,
                AgentConfig,
                "cls(config, arms, initial, *, seed, num_steps)",
            ),
            ComponentKind(
                "tokenizer",
                "birdie_register_tokenizers",
                Tokenizer,
                False,
                TokenizerConfig,
                "cls(config, specials)",
            ),
            ComponentKind("source", "birdie_register_sources", Source, False, SourceConfig, "cls(config)"),
        )
    }
)


def kind_of_hook(hook: str) -> ComponentKind | None:
    """The kind a registration hook fills (None for hooks that register no component)."""
    for kind in COMPONENT_KINDS.values():
        if kind.hook == hook:
            return kind
    return None
