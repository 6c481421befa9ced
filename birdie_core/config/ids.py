"""Objective ids: every objective configuration gets a unique key for mixtures, metrics and checkpoints.

An id the user wrote is kept; a missing one is derived from the name and, when several entries share a name,
from the parameters that tell them apart (``infilling(corruption_rate=0.15,mean_span=3)``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from birdie_core.interfaces import ObjectiveConfig

__all__ = ["assign_objective_ids"]

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
