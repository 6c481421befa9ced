"""The whole plugin contract of Birdie.

A plugin is a module (named by an entry point in the group ``birdie``) holding functions marked with
:data:`hookimpl` whose names are the hooks below. Registration hooks receive a ``register`` callback and
return nothing: the host decides how names are qualified, stored and checked for conflicts.

No hook runs per sample: registration happens once when the registry is built, and the observer hooks run
once per evaluation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:
    from birdie_core.interfaces import Agent, Objective, Packer

PROJECT = "birdie"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


T_contra = TypeVar("T_contra", contravariant=True)


class Register(Protocol[T_contra]):
    """The callback every registration hook receives, typed by what the hook registers.

    ``register(name, cls)`` adds ``cls`` under ``"<namespace>.<name>"``, where the namespace is the plugin's
    entry-point name (``core`` for the built-ins). ``name`` must be a plain identifier without a dot. What each
    kind must be and how it is constructed is in :data:`birdie_core.kinds.COMPONENT_KINDS`.
    """

    def __call__(self, name: str, cls: T_contra, /) -> None: ...


@hookspec
def birdie_register_objectives(register: Register[type[Objective[Any]]]) -> None:
    """Register :class:`birdie_core.Objective` subclasses, e.g. ``register("infilling", SpanCorruption)``."""


@hookspec
def birdie_register_packers(register: Register[type[Packer[Any]]]) -> None:
    """Register :class:`birdie_core.Packer` subclasses."""


@hookspec
def birdie_register_reward_fns(register: Register[type]) -> None:
    """Register reward functions: classes with a ``Config`` model whose instances follow
    :class:`birdie_core.RewardFn`."""


@hookspec
def birdie_register_agents(register: Register[type[Agent[Any]]]) -> None:
    """Register :class:`birdie_core.Agent` subclasses."""


@hookspec
def birdie_register_tokenizers(register: Register[type]) -> None:
    """Register tokenizer classes: a ``Config`` model and ``__init__(config, specials)`` building a
    :class:`birdie_core.Tokenizer`."""


@hookspec
def birdie_register_sources(register: Register[type]) -> None:
    """Register source classes: a ``Config`` model and ``__init__(config)`` building a
    :class:`birdie_core.Source`."""


@hookspec
def birdie_register_commands(cli: Any) -> None:
    """Add subcommands to the ``birdie`` command line. ``cli`` is the root :class:`click.Group`."""


@hookspec
def birdie_on_mixture_update(step: int, mixture: dict[str, float], record: dict[str, Any]) -> None:
    """Observe a new mixture after an evaluation (logging, dashboards). Runs once per evaluation."""


@hookspec
def birdie_on_evaluation(step: int, losses: dict[str, float]) -> None:
    """Observe the validation losses of one evaluation. Runs once per evaluation."""
