"""Plugin discovery and the immutable registry built from it.

Loading is explicit: nothing is discovered at import time. :func:`load_registry` builds a plugin manager
(:func:`get_plugin_manager`), asks every plugin's registration hooks for what it provides, qualifies each name
with the plugin's namespace (its entry-point name; ``core`` for the built-ins) and freezes the result.

Switches (environment variables, or the matching keyword arguments):

``BIRDIE_DISABLE_PLUGIN_AUTOLOAD=1``  load no entry point; only the built-ins.
``BIRDIE_PLUGINS=text,rewards``       load only these entry points (allow-list).
``BIRDIE_BLOCK_PLUGINS=dna``          never load these entry points.
``BIRDIE_TRACE_HOOKS=1``              print every hook call to stderr.

A plugin that fails to load registers nothing, so a config naming one of its components by its bare name
would only get "unknown". To say which plugin it belongs to, the registry reads the failed plugin's module
source, without importing it, for the ``register("name", ...)`` calls of its registration hooks
(:func:`declared_names`); when that cannot tell (a name built at run time, hooks in another module), an unknown
bare name lists the plugins that failed to load as ones that may provide it.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from types import MappingProxyType, ModuleType
from typing import Any, Generic, Literal, TypeVar, overload

import pluggy

from birdie_core import hookspecs
from birdie_core.errors import PluginError
from birdie_core.kinds import (
    COMPONENT_KINDS,
    AgentClass,
    KindName,
    ObjectiveClass,
    PackerClass,
    RewardFnFactory,
    SourceFactory,
    TokenizerFactory,
)

ENTRY_POINT_GROUP = "birdie"
CORE_NAMESPACE = "core"
#: Modules holding the built-ins; registered by module, exactly like a plugin, under the ``core`` namespace.
DEFAULT_PLUGINS: tuple[str, ...] = ("birdie_core.builtins",)

#: First-party distributions, so an entry whose plugin is not installed can say what to install.
KNOWN_DISTRIBUTIONS: Mapping[str, str] = MappingProxyType(
    {
        "text": "birdie-objectives-text",
        "dna": "birdie-objectives-dna",
        "rewards": "birdie-rewards",
    }
)
#: Bare names the first-party plugins provide, per kind. Only used for "install X" hints.
KNOWN_NAMES: Mapping[KindName, Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "objective": {
            "infilling": ("text", "dna"),
            "copying": ("text",),
            "deshuffling": ("text", "dna"),
            "autoencoding": ("text", "dna"),
            "selective_copying": ("text", "dna"),
            "reverse_complement": ("dna",),
        },
        "tokenizer": {"nucleotide": ("dna",)},
        "source": {"fasta": ("dna",)},
        "agent": {"birdie": ("rewards",), "exp3": ("rewards",)},
        "reward": {
            "birdie": ("rewards",),
            "relative_improvement": ("rewards",),
            "learning_progress": ("rewards",),
        },
    }
)


T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Entry(Generic[T_co]):
    """One registered component; :meth:`Registry.resolve` types ``obj`` by kind (see birdie_core.kinds)."""

    kind: KindName
    namespace: str
    name: str
    obj: T_co  # the registered class: its constructor is COMPONENT_KINDS[kind].constructor
    distribution: str | None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class PluginInfo:
    """What ``birdie plugins`` shows for one plugin."""

    namespace: str
    module: str
    distribution: str | None
    version: str | None
    registered: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hooks: tuple[str, ...] = ()
    error: str | None = None  # set when the plugin failed to load; it is then absent from the registry
    #: for a plugin that failed to load: the bare names its module's source registers, per kind, read without
    #: importing it (:func:`declared_names`); None when the source could not be found or read
    declared: Mapping[str, tuple[str, ...]] | None = None
    #: whether ``declared`` is every name the plugin registers (False: some are built at run time, or its
    #: hooks live elsewhere)
    declared_complete: bool = False

    @property
    def error_summary(self) -> str:
        """The last line of the error: the exception, without its traceback."""
        return self.error.splitlines()[-1] if self.error else ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "namespace": self.namespace,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "registered": {k: list(v) for k, v in self.registered.items()},
            "hooks": list(self.hooks),
            "error": self.error,
        }
        if self.error:
            declared = self.declared
            out["declared"] = None if declared is None else {k: list(v) for k, v in declared.items()}
        return out


class UnknownNameError(PluginError, LookupError):
    """A name that no loaded plugin registered (with suggestions and install hints)."""


class Registry:
    """Immutable view of everything the loaded plugins registered."""

    def __init__(
        self,
        entries: Iterable[Entry],
        plugins: Iterable[PluginInfo],
        manager: pluggy.PluginManager | None = None,
    ):
        by_kind: dict[str, dict[str, Entry]] = {k: {} for k in COMPONENT_KINDS}
        for e in entries:
            by_kind[e.kind][e.qualified_name] = e
        self._entries = MappingProxyType({k: MappingProxyType(v) for k, v in by_kind.items()})
        self.plugins: tuple[PluginInfo, ...] = tuple(plugins)
        self.manager = manager

    # -- queries -----------------------------------------------------------------------------------------
    def names(self, kind: KindName) -> list[str]:
        """Qualified names of one kind, sorted."""
        return sorted(self._entries[kind])

    def entries(self, kind: KindName) -> list[Entry[Any]]:
        return [self._entries[kind][n] for n in self.names(kind)]

    def broken(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]

    @overload
    def find(self, kind: Literal["objective"], name: str) -> Entry[ObjectiveClass] | None: ...
    @overload
    def find(self, kind: Literal["packer"], name: str) -> Entry[PackerClass] | None: ...
    @overload
    def find(self, kind: Literal["agent"], name: str) -> Entry[AgentClass] | None: ...
    @overload
    def find(self, kind: Literal["reward"], name: str) -> Entry[RewardFnFactory] | None: ...
    @overload
    def find(self, kind: Literal["tokenizer"], name: str) -> Entry[TokenizerFactory] | None: ...
    @overload
    def find(self, kind: Literal["source"], name: str) -> Entry[SourceFactory] | None: ...
    @overload
    def find(self, kind: KindName, name: str) -> Entry[Any] | None: ...

    def find(self, kind: KindName, name: str) -> Entry[Any] | None:
        """The entry for a qualified or unambiguous bare name, else None (ambiguity raises)."""
        table = self._entries[kind]
        if name in table:
            return table[name]
        if "." in name:
            return None
        hits = [e for e in table.values() if e.name == name]
        if len(hits) > 1:
            options = ", ".join(sorted(e.qualified_name for e in hits))
            raise UnknownNameError(f"{kind} name {name!r} is ambiguous: write one of {options}")
        return hits[0] if hits else None

    @overload
    def resolve(self, kind: Literal["objective"], name: str) -> Entry[ObjectiveClass]: ...
    @overload
    def resolve(self, kind: Literal["packer"], name: str) -> Entry[PackerClass]: ...
    @overload
    def resolve(self, kind: Literal["agent"], name: str) -> Entry[AgentClass]: ...
    @overload
    def resolve(self, kind: Literal["reward"], name: str) -> Entry[RewardFnFactory]: ...
    @overload
    def resolve(self, kind: Literal["tokenizer"], name: str) -> Entry[TokenizerFactory]: ...
    @overload
    def resolve(self, kind: Literal["source"], name: str) -> Entry[SourceFactory]: ...
    @overload
    def resolve(self, kind: KindName, name: str) -> Entry[Any]: ...

    def resolve(self, kind: KindName, name: str) -> Entry[Any]:
        """Like :meth:`find`, but an unknown name raises with suggestions and install hints."""
        entry = self.find(kind, name)
        if entry is None:
            raise UnknownNameError(self.explain_unknown(kind, name))
        return entry

    def explain_unknown(self, kind: KindName, name: str) -> str:
        """A message for an unknown name: the plugin that failed, the distribution to install, or a guess.

        A bare name is matched to a plugin that failed to load by the names its source registers
        (:attr:`PluginInfo.declared`) or, for the first-party plugins, by :data:`KNOWN_NAMES`; when neither
        tells, the plugins that failed to load are listed as ones that may provide it."""
        namespace, _, bare = name.rpartition(".")
        failed = self.broken()
        for p in failed:
            if p.namespace == namespace or (
                not namespace
                and (_known_namespaces(kind, bare, p.namespace) or bare in (p.declared or {}).get(kind, ()))
            ):
                return (
                    f"unknown {kind} {name!r}: plugin {p.namespace!r} from {p.distribution or p.module} "
                    f"failed to load: {p.error_summary}"
                )
        message = self._explain_not_installed(kind, name, namespace, bare)
        maybe = [p for p in failed if not (namespace or p.declared_complete or p.namespace == CORE_NAMESPACE)]
        if maybe:
            listed = "; ".join(
                f"plugin {p.namespace!r} from {p.distribution or p.module} ({p.error_summary})" for p in maybe
            )
            which = "a plugin that" if len(maybe) == 1 else "one of the plugins that"
            message += f". It may be provided by {which} failed to load: {listed}"
        return message

    def _explain_not_installed(self, kind: KindName, name: str, namespace: str, bare: str) -> str:
        wanted = [namespace] if namespace else list(KNOWN_NAMES.get(kind, {}).get(bare, ()))
        dists = [KNOWN_DISTRIBUTIONS[n] for n in wanted if n in KNOWN_DISTRIBUTIONS and not self._has_namespace(n)]
        if dists:
            return f"unknown {kind} {name!r}: it is provided by {' or '.join(dists)}; pip install {dists[0]}"
        known = self.names(kind) + sorted({e.name for e in self._entries[kind].values()})
        guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        have = ", ".join(self.names(kind)) or "none"
        return f"unknown {kind} {name!r}{hint} (installed: {have})"

    def _has_namespace(self, namespace: str) -> bool:
        return any(p.namespace == namespace and not p.error for p in self.plugins)

    # -- observer hooks (once per evaluation, never per sample) -------------------------------------------
    def notify_mixture_update(self, step: int, mixture: dict[str, float], record: dict[str, Any]) -> None:
        if self.manager is not None:
            self.manager.hook.birdie_on_mixture_update(step=step, mixture=mixture, record=record)

    def notify_evaluation(self, step: int, losses: dict[str, float]) -> None:
        if self.manager is not None:
            self.manager.hook.birdie_on_evaluation(step=step, losses=losses)


def _known_namespaces(kind: KindName, bare: str, namespace: str) -> tuple[str, ...]:
    return tuple(n for n in KNOWN_NAMES.get(kind, {}).get(bare, ()) if n == namespace)


def _csv_env(var: str) -> set[str] | None:
    raw = os.environ.get(var, "").strip()
    return {p.strip() for p in raw.split(",") if p.strip()} if raw else None


def _env_flag(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}


def get_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager that knows Birdie's hook specifications and nothing else."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if _env_flag("BIRDIE_TRACE_HOOKS"):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        pm.enable_tracing()
    return pm


@dataclass
class _Candidate:
    namespace: str
    module_name: str
    distribution: str | None
    version: str | None
    load: Any  # callable returning the module
    error: str | None = None


def _entry_point_candidates(allow: set[str] | None, block: set[str] | None) -> list[_Candidate]:
    by_name: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        by_name.setdefault(ep.name, []).append(ep)
    out = []
    for name in sorted(by_name):
        if (allow is not None and name not in allow) or (block and name in block):
            continue
        eps = by_name[name]
        dists = sorted({_dist_name(ep) or ep.value for ep in eps})
        first = eps[0]
        cand = _Candidate(name, first.value, _dist_name(first), _dist_version(first), first.load)
        if len(dists) > 1:
            cand.error = (
                f"entry-point name {name!r} in group {ENTRY_POINT_GROUP!r} is claimed by several "
                f"distributions: {', '.join(dists)}; uninstall all but one"
            )
        out.append(cand)
    return out


def _dist_name(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else None


def _dist_version(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else None


def _core_version() -> str | None:
    try:
        return metadata.version("birdie-core")
    except metadata.PackageNotFoundError:
        return None


def load_registry(
    *,
    autoload: bool | None = None,
    allow: Iterable[str] | None = None,
    block: Iterable[str] | None = None,
    extra_plugins: Mapping[str, ModuleType | object] | None = None,
) -> Registry:
    """Discover plugins and build an immutable :class:`Registry`.

    ``autoload``, ``allow`` and ``block`` override the environment switches. ``extra_plugins`` maps a
    namespace to a plugin object (a module or any object with hook implementations): the way tests and
    notebooks add a plugin without packaging it.
    """
    if autoload is None:
        autoload = not _env_flag("BIRDIE_DISABLE_PLUGIN_AUTOLOAD")
    allow_set = set(allow) if allow is not None else _csv_env("BIRDIE_PLUGINS")
    block_set = set(block) if block is not None else (_csv_env("BIRDIE_BLOCK_PLUGINS") or set())

    pm = get_plugin_manager()
    candidates = [
        _Candidate(CORE_NAMESPACE, m, "birdie-core", _core_version(), lambda m=m: importlib.import_module(m))
        for m in DEFAULT_PLUGINS
    ]
    if autoload:
        candidates += _entry_point_candidates(allow_set, block_set)
    for ns, obj in (extra_plugins or {}).items():
        candidates.append(_Candidate(ns, getattr(obj, "__name__", repr(obj)), None, None, lambda o=obj: o))

    entries: dict[tuple[str, str], Entry] = {}
    infos: list[PluginInfo] = []
    for cand in candidates:
        info = _load_one(pm, cand, entries)
        infos.append(info)
    return Registry(entries.values(), infos, pm)


def _load_one(pm: pluggy.PluginManager, cand: _Candidate, entries: dict[tuple[str, str], Entry]) -> PluginInfo:
    def failed(msg: str) -> PluginInfo:
        declared, complete = declared_names(cand.module_name)
        return PluginInfo(
            cand.namespace,
            cand.module_name,
            cand.distribution,
            cand.version,
            error=msg,
            declared=declared,
            declared_complete=complete,
        )

    if cand.error:
        return failed(cand.error)
    if "." in cand.namespace or not cand.namespace:
        return failed(f"invalid namespace {cand.namespace!r}: an entry-point name must not contain a dot")
    try:
        plugin = cand.load()
        pm.register(plugin, name=f"{cand.namespace}:{cand.module_name}")
    except Exception as exc:  # a broken plugin must not break the others
        return failed("".join(traceback.format_exception_only(type(exc), exc)).strip())
    unknown = [
        impl.function.__name__
        for caller in pm.get_hookcallers(plugin) or []
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin and not caller.has_spec()
    ]
    if unknown:
        pm.unregister(plugin)
        return failed(f"implements unknown hook(s) {', '.join(sorted(unknown))} (misspelt?)")

    mine: dict[tuple[str, str], Entry] = {}
    registered: dict[str, list[str]] = {}
    hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [])
    trace = pm.trace.root.get("hook")
    try:
        for kind in COMPONENT_KINDS.values():
            if kind.hook not in hooks:
                continue

            def register(name: str, obj: Any, _kind: KindName = kind.name) -> None:
                _check_registration(_kind, name, obj)
                key = (_kind, f"{cand.namespace}.{name}")
                if key in mine or key in entries:
                    other = (mine.get(key) or entries[key]).distribution
                    raise PluginError(
                        f"{_kind} {key[1]!r} is registered twice (by {other or '?'} and "
                        f"{cand.distribution or cand.module_name})"
                    )
                mine[key] = Entry(_kind, cand.namespace, name, obj, cand.distribution)
                registered.setdefault(_kind, []).append(f"{cand.namespace}.{name}")

            # called per plugin, not through pm.hook, so that every registration is attributed to the plugin
            # that made it; pluggy's tracer (BIRDIE_TRACE_HOOKS) is told about the call all the same
            trace(f"{kind.hook} [{cand.namespace}]", {"register": "<callback>"})
            for impl in getattr(pm.hook, kind.hook).get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(register=register)
    except Exception as exc:
        pm.unregister(plugin)
        return failed("".join(traceback.format_exception_only(type(exc), exc)).strip())
    entries.update(mine)
    return PluginInfo(
        cand.namespace,
        cand.module_name,
        cand.distribution,
        cand.version,
        {k: tuple(v) for k, v in registered.items()},
        tuple(hooks),
    )


def declared_names(module: str) -> tuple[dict[str, tuple[str, ...]] | None, bool]:
    """The bare names a plugin module registers, per kind, read from its source without importing it.

    Returns ``(names, complete)``: ``names`` is None when the module's source cannot be found or parsed;
    ``complete`` is False when a registration hook calls ``register`` with a name that is not a string literal,
    or when the module has no registration hook at all (its hooks are imported from elsewhere). Only the
    module itself is read: neither it nor its package's ``__init__`` is executed.
    """
    source = _module_source(module)
    if source is None:
        return None, False
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None, False
    names: dict[str, list[str]] = {}
    complete, hooks = True, 0
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        kind = next((k for k in COMPONENT_KINDS.values() if k.hook == node.name), None)
        if kind is None:
            continue
        hooks += 1
        for call in ast.walk(node):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                continue
            if call.func.id != "register":
                continue
            by_keyword = (k.value for k in call.keywords if k.arg == "name")
            given = call.args[0] if call.args else next(by_keyword, None)
            if isinstance(given, ast.Constant) and isinstance(given.value, str):
                names.setdefault(kind.name, []).append(given.value)
            else:
                complete = False
    return {k: tuple(dict.fromkeys(v)) for k, v in names.items()}, complete and hooks > 0


def _module_source(module: str) -> str | None:
    """The source of ``module`` (dotted), found through the import system's finders without executing any of
    its packages; None when it is not a plain ``.py`` file that can be read."""
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: found, never imported
        for part in parts[1:]:
            if spec is None or spec.submodule_search_locations is None:
                return None
            spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
        origin = spec.origin if spec is not None else None
        if not origin or not origin.endswith(".py"):
            return None
        with open(origin, encoding="utf-8") as f:
            return f.read()
    except (ImportError, ValueError, OSError, UnicodeDecodeError):
        return None


def _check_registration(kind: KindName, name: str, obj: Any) -> None:
    from pydantic import BaseModel

    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"{kind} name {name!r} must be an identifier (letters, digits, underscores)")
    config = getattr(obj, "Config", None)
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        raise PluginError(f"{kind} {name!r}: {obj!r} needs a nested pydantic `Config` model")
    spec = COMPONENT_KINDS[kind]
    if spec.subclass_required and not (isinstance(obj, type) and issubclass(obj, spec.interface)):
        raise PluginError(f"{kind} {name!r}: {obj!r} must subclass birdie_core.{spec.interface.__name__}")


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The registry of this process, loaded on first use with the environment's switches."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_registry()
    return _DEFAULT
