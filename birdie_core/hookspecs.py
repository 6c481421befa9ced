"""The whole plugin contract of Birdie.

A plugin is a module (named by an entry point in the group ``birdie``) holding functions marked with
:data:`hookimpl` whose names are the hooks below. Registration hooks receive a ``register`` callback and
return nothing: the host decides how names are qualified, stored and checked for conflicts.

No hook runs per sample: registration happens once when the registry is built, and the observer hooks run
once per evaluation.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import pluggy

PROJECT = "birdie"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The callback every registration hook receives.

    ``register(name, cls)`` adds ``cls`` under ``"<namespace>.<name>"``, where the namespace is the plugin's
    entry-point name (``core`` for the built-ins). ``name`` must be a plain identifier without a dot.
    """

    def __call__(self, name: str, cls: Any) -> None: ...


@hookspec
def birdie_register_objectives(register: Register) -> None:
    """Register :class:`birdie_core.Objective` subclasses, e.g. ``register("infilling", SpanCorruption)``."""


@hookspec
def birdie_register_packers(register: Register) -> None:
    """Register :class:`birdie_core.Packer` subclasses."""


@hookspec
def birdie_register_reward_fns(register: Register) -> None:
    """Register reward functions: classes with a ``Config`` model whose instances follow
    :class:`birdie_core.RewardFn`."""


@hookspec
def birdie_register_agents(register: Register) -> None:
    """Register :class:`birdie_core.Agent` subclasses."""


@hookspec
def birdie_register_tokenizers(register: Register) -> None:
    """Register tokenizer classes: a ``Config`` model and ``__init__(config, specials)`` building a
    :class:`birdie_core.Tokenizer`."""


@hookspec
def birdie_register_sources(register: Register) -> None:
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


#: The registration hooks and the registry kind each one fills.
REGISTRATION_HOOKS: dict[str, str] = {
    "birdie_register_objectives": "objective",
    "birdie_register_packers": "packer",
    "birdie_register_reward_fns": "reward",
    "birdie_register_agents": "agent",
    "birdie_register_tokenizers": "tokenizer",
    "birdie_register_sources": "source",
}

HookCaller = Callable[..., Any]
