"""Collecting configuration problems: every one at once, each with its path, line and a hint.

A :class:`IssueCollector` gathers :class:`~birdie_core.errors.ConfigIssue` records instead of stopping at
the first problem, turns pydantic's errors into sentences a config author can act on (unknown keys get a
"did you mean"), and raises them together as one :class:`~birdie_core.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from birdie_core.config.yaml_lines import ConfigPath, LineMap, format_path
from birdie_core.errors import ConfigError, ConfigIssue

__all__ = ["IssueCollector", "describe", "format_path", "parse_path"]


class IssueCollector:
    """The problems found in one configuration, located through its :class:`LineMap` when it has one."""

    def __init__(self, lines: LineMap | None = None):
        self.lines = lines if lines is not None else LineMap()
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

    def add_duplicate_keys(self) -> None:
        """One issue per key written twice in a YAML mapping (PyYAML keeps the later value silently)."""
        for path, line, column in self.lines.duplicates:
            message = "key given twice (the later value would win)"
            self.issues.append(ConfigIssue(format_path(path), message, line, column, self.lines.source))

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

    def raise_if_any(self) -> None:
        """Raise every issue found so far as one :class:`ConfigError`, in file order."""
        if self.issues:
            # file order reads best; issues without a line keep the order they were found in
            self.issues.sort(key=lambda i: (i.line is None, i.line or 0, i.column or 0))
            raise ConfigError(self.issues)


def parse_path(text: str) -> ConfigPath:
    """``"objectives[2].corruption_rate"`` → ``("objectives", 2, "corruption_rate")``: the inverse of
    :func:`format_path`, to locate an issue that a component raised with a written path."""
    return tuple(int(index) if index else key for key, index in _PATH_PART.findall(text))


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def describe(value: Any) -> str:
    """A value as a config error shows it: ``int 3``, ``str 'x'``, ``a list``."""
    if _is_scalar(value):
        return f"{type(value).__name__} {value!r}"
    return f"a {type(value).__name__}"


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
