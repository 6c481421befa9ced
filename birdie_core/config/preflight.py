"""What a run would hit before its first batch, found without running: the checks of ``birdie config check``.

Validation (:func:`~birdie_core.config.read_config`) judges a config by itself. A run goes further before its
first batch: it builds its components through the one construction path
(:meth:`~birdie_core.pipeline.Components.resolve`, the sources, the tokenizer, the agent and its reward
function), which opens data files and vocabularies and imports optional packages, and it holds batches of
``batch_size × sequence_length`` positions in memory. :func:`check_config` does the same, collecting every
problem with its config path and line instead of stopping at the first, and raises them as one
:class:`~birdie_core.errors.ConfigError`.

Building a ``callable`` source imports the module it names, as the run would: a config file names code.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, TypeVar

from birdie_core.config.issues import IssueCollector, format_path, parse_path
from birdie_core.config.load import ConfigSource, read_config_with_lines
from birdie_core.config.models import PipelineConfig
from birdie_core.config.yaml_lines import ConfigPath, LineMap
from birdie_core.errors import BirdieError, ConfigError, ConfigIssue
from birdie_core.kinds import KindName
from birdie_core.registry import Registry, default_registry

if TYPE_CHECKING:
    from birdie_core.pipeline.build import Components, Split

__all__ = [
    "BYTES_PER_POSITION",
    "available_memory",
    "batches_held",
    "check_config",
    "memory_problems",
    "missing_package_message",
]

#: Memory one position of a batch takes: the packer's five int32 arrays (input, label, attention, segment,
#: position) and the five int64 tensors the training process hands to the model.
BYTES_PER_POSITION = 5 * 4 + 5 * 8

T = TypeVar("T")


def check_config(source: ConfigSource, registry: Registry | None = None) -> Components:
    """Validate ``source``, then build what a run builds before its first batch; every problem at once.

    Reports, each with its config path (and file and line for YAML): data files and glob patterns that match
    nothing, vocabularies that cannot be read, modules of `callable` sources that cannot be found (looked up,
    never imported), missing packages (with the extra that installs them),
    anything else a component refuses when built, an agent without the reward it needs, and batches larger
    than this machine's available memory (see :func:`memory_problems`). Validation problems are raised
    first, alone: nothing can be built from an invalid config. Returns the resolved components.
    """
    # the pipeline depends on the config package, not the other way round: imported when needed
    from birdie_core.pipeline.build import Components

    registry = registry if registry is not None else default_registry()
    loaded, lines = read_config_with_lines(source, registry)
    cfg = loaded.config
    components = Components.resolve(loaded, registry)
    issues = IssueCollector(lines)
    build = _Builder(issues, registry)

    for split in ("train", "validation"):
        several = isinstance(getattr(cfg.data, split), tuple)
        for i, domain in enumerate(cfg.data.domains(split)):
            where: ConfigPath = ("data", split, i) if several else ("data", split)
            build(where, "source", domain.source.name, functools.partial(_check_source, components, split, i))
    objectives = build(("objectives",), "objective", None, components.objectives)
    tokenizer = None
    if objectives is not None:
        tokenizer = build(
            ("tokenizer",), "tokenizer", cfg.tokenizer.name, lambda: components.tokenizer(objectives)
        )
    agent = build(("curriculum", "agent"), "agent", cfg.curriculum.agent.name, components.agent)
    if agent is not None:
        reward = cfg.curriculum.reward
        build(
            ("curriculum", "reward"),
            "reward",
            reward.name if reward is not None else None,
            lambda: components.reward_fn(agent),
        )
    from birdie_core.train.trackers import tracker_problems

    for path, message in tracker_problems(cfg.train):
        issues.add(path, message)
    memory = memory_problems(cfg, lines)
    for path, message in memory:
        issues.add(path, message)
    if not memory and tokenizer is not None:  # the packer allocates its batch: only once it is known to fit
        build(("packer",), "packer", cfg.packer.name, lambda: components.packer(tokenizer))
    issues.raise_if_any()
    return components


def _check_source(components: Components, split: Split, index: int) -> None:
    """Build source ``index`` of ``split`` (the source itself, or one domain of a list), except a
    ``callable`` one naming its functions by module: those are only looked up.

    Building it would import the module, running its top-level code; a check must not run the user's code.
    """
    from birdie_core.builtins.sources import CallableSource

    src_cfg = components.config.data.domains(split)[index].source
    objects = components.objects
    # the same choice as Components.source: functions given beside the config are used, not the modules
    given = objects.ds_validation if src_cfg.split == "validation" else None
    if isinstance(src_cfg, CallableSource.Config) and given is None and objects.ds is None:
        CallableSource.find_modules(src_cfg)  # the paths are completed by the builder
    else:
        components.domain_source(split, index)


class _Builder:
    """Builds one component, turning whatever it raises into issues at its place in the config."""

    def __init__(self, issues: IssueCollector, registry: Registry):
        self.issues = issues
        self.registry = registry

    def __call__(
        self, where: ConfigPath, kind: KindName, name: str | None, make: Callable[[], T]
    ) -> T | None:
        try:
            return make()
        except ConfigError as exc:
            for issue in exc.issues:
                self._add_issue(where, issue)
        except ModuleNotFoundError as exc:
            entry = self.registry.find(kind, name) if name is not None else None
            dist = entry.distribution if entry is not None else None
            self.issues.add(where, missing_package_message(exc, dist))
        except BirdieError as exc:
            self.issues.add(where, str(exc))
        # a component's own bug (or a MemoryError) must not hide the other problems; the issue names its place
        except Exception as exc:  # noqa: BLE001
            self.issues.add(where, f"building the {kind} failed: {type(exc).__name__}: {exc}")
        return None

    def _add_issue(self, where: ConfigPath, issue: ConfigIssue) -> None:
        if issue.line is not None or issue.source is not None:
            self.issues.issues.append(issue)  # already located, in the config or in a file of its own
            return
        prefix = format_path(where)
        path = parse_path(issue.path)
        # sources come back with their full path (Components adds it); other components name their own keys
        if not (issue.path == prefix or issue.path.startswith((prefix + ".", prefix + "["))):
            path = where + path
        self.issues.add(path, issue.message)


# ---------------------------------------------------------------------------------------------------------
# Missing packages
# ---------------------------------------------------------------------------------------------------------


def missing_package_message(exc: ModuleNotFoundError, distribution: str | None) -> str:
    """What to install when building a component of ``distribution`` raised ``exc``.

    The extra is looked up in the distribution's metadata: an optional dependency named like the missing
    module (``datasets``, ``sentencepiece``) gives ``pip install 'dist[extra]'``.
    """
    module = (exc.name or str(exc)).split(".")[0]
    extra = _extra_providing(distribution, module) if distribution else None
    if extra is not None:
        how = f"pip install '{distribution}[{extra}]'"
    else:
        how = f"pip install {module} (or the package that provides the module {module!r})"
    owner = f" ({distribution})" if distribution else ""
    return f"needs the Python module {module!r}, which is not installed{owner}: {how}"


_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def _extra_providing(distribution: str, module: str) -> str | None:
    try:
        requirements = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        name = _REQUIREMENT_NAME.match(spec)
        extra = _EXTRA_MARKER.search(marker)
        if name and extra and _normalise(name.group(1)) == _normalise(module):
            return extra.group(1)
    return None


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------------------


def batches_held(cfg: PipelineConfig) -> int:
    """Batches a run holds at once: the one in use, each worker's prefetched batches and the one it is
    building, and the fixed validation batches (``num_validation_batches`` per objective configuration)."""
    workers = cfg.workers.num_workers * (cfg.workers.prefetch_factor + 1)
    return 1 + workers + cfg.curriculum.num_validation_batches * len(cfg.objectives)


def memory_problems(
    cfg: PipelineConfig, lines: LineMap | None = None, available: int | None = None
) -> list[tuple[ConfigPath, str]]:
    """``(path, message)`` when the batches a run holds (:func:`batches_held`, :data:`BYTES_PER_POSITION`
    each position) need more than ``available`` bytes (default: :func:`available_memory`; no check when
    unknown). The path is the first of the fields to lower that the file sets, for its line."""
    available = available if available is not None else available_memory()
    if available is None:
        return []
    positions = cfg.batch_size * cfg.sequence_length
    one_batch = positions * BYTES_PER_POSITION
    held = batches_held(cfg)
    product = (
        f"batch_size × sequence_length = {cfg.batch_size:,} × {cfg.sequence_length:,} = {positions:,} "
        "positions"
    )
    room = f"the {_bytes(available)} of memory available on this machine"
    if one_batch > available:
        fields: tuple[ConfigPath, ...] = (("batch_size",), ("sequence_length",))
        message = (
            f"{product}: one batch needs {_bytes(one_batch)} ({BYTES_PER_POSITION} bytes per position), more "
            f"than {room}; lower batch_size or sequence_length"
        )
    elif one_batch * held > available:
        fields = (
            ("batch_size",),
            ("sequence_length",),
            ("workers", "num_workers"),
            ("workers", "prefetch_factor"),
        )
        w = cfg.workers
        message = (
            f"{product}: {held:,} batches held at once (1 in use, num_workers × (prefetch_factor + 1) = "
            f"{w.num_workers} × {w.prefetch_factor + 1} in the workers, num_validation_batches × "
            f"objectives = {cfg.curriculum.num_validation_batches} × {len(cfg.objectives)} for validation) need "
            f"{_bytes(one_batch * held)}, more than {room}; lower batch_size, sequence_length, "
            "workers.num_workers or workers.prefetch_factor"
        )
    else:
        return []
    written = [f for f in fields if lines is not None and f in lines]
    return [(written[0] if written else fields[0], message)]


def available_memory() -> int | None:
    """Bytes this process may still take: the machine's available memory, or less under a container's
    (cgroup) limit; None where neither can be read."""
    found: list[int] = []
    meminfo = _read("/proc/meminfo")
    match = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo or "", re.MULTILINE)
    if match:
        found.append(int(match.group(1)) * 1024)
    else:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):  # not every system names these
            pass
    for directory, limit_name, usage_name, cache_name in (
        ("/sys/fs/cgroup", "memory.max", "memory.current", "inactive_file"),  # cgroup v2
        ("/sys/fs/cgroup/memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
    ):
        limit, usage = _read_int(f"{directory}/{limit_name}"), _read_int(f"{directory}/{usage_name}")
        if limit is None or usage is None:
            continue  # no such cgroup, or no limit ("max")
        # usage counts the page cache, which the kernel gives back under pressure: like the kubelet's
        # "working set", leave out the inactive part of it
        stat = re.search(rf"^{cache_name} (\d+)$", _read(f"{directory}/memory.stat") or "", re.MULTILINE)
        cache = int(stat.group(1)) if stat else 0
        # cgroup v1 writes "no limit" as a number near 2**63, which the min() below passes over
        found.append(max(0, limit - max(0, usage - cache)))
        break
    return min(found) if found else None


def _read_int(path: str) -> int | None:
    text = (_read(path) or "").strip()
    return int(text) if text.isdigit() else None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    units = ("KiB", "MiB", "GiB", "TiB", "PiB")
    value = n / 1024
    for unit in units[:-1]:
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} {units[-1]}"
