"""YAML loading that remembers where every key and list item came from.

Config errors must point at a line, so the loader keeps a map from each config path (``("objectives", 2,
"corruption_rate")``) to the 1-based line and column where that key (or list item) starts. Values are built
by PyYAML's ``SafeLoader`` itself, so tags, anchors, aliases and merge keys behave exactly as in
``yaml.safe_load``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from birdie_core.errors import ConfigError, ConfigIssue

#: A path into a config: mapping keys and list indices, outermost first.
ConfigPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class LineMap(dict[ConfigPath, tuple[int, int]]):
    """``path -> (line, column)`` (both 1-based) for every key and list item of one YAML document.

    ``duplicates`` lists keys written twice in one mapping, ``(path, line, column)`` of the later one:
    PyYAML keeps the last value silently, and a config checker should not.
    """

    def __init__(self, source: str | None = None):
        super().__init__()
        self.source = source
        self.duplicates: list[tuple[ConfigPath, int, int]] = []

    def locate(self, path: ConfigPath) -> tuple[int, int] | None:
        """Position of ``path``, else of the nearest enclosing key or item that has one."""
        for end in range(len(path), -1, -1):
            pos = self.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return None


def load_yaml_with_lines(path: str | os.PathLike[str]) -> tuple[Any, LineMap]:
    """Parse the YAML file at ``path``: its data and a :class:`LineMap` of where each key was written.

    An empty file gives ``None``. An unreadable file or a syntax error raises :class:`ConfigError` carrying
    the file, line and column of the problem.
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            ConfigIssue("", f"cannot read the configuration file: {reason}", source=source)
        ) from None

    loader = yaml.SafeLoader(text)
    lines = LineMap(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        # duplicates are looked for before construction: constructing flattens merge keys (`<<: *base`)
        # into the mapping, after which an intended override would look like a duplicate
        _find_duplicates(loader, node, (), lines, set())
        data = loader.construct_document(node)
        _record_positions(loader, node, (), lines, set())
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_issue(exc, source)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigIssue("", f"invalid YAML: {exc}", source=source)) from None
    finally:
        loader.dispose()
    return data, lines


def _syntax_issue(exc: yaml.MarkedYAMLError, source: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    message = f"invalid YAML: {problem}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    return ConfigIssue("", message, line, column, source)


def _key_of(loader: yaml.SafeLoader, key_node: Node) -> Any:
    # the key as the data holds it (`1:` is the int 1), so paths match what validation sees
    value = loader.construct_object(key_node, deep=True)
    return value if isinstance(value, (str, int)) else str(value)


def _start(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _find_duplicates(
    loader: yaml.SafeLoader, node: Node, path: ConfigPath, out: LineMap, active: set[int]
) -> None:
    if id(node) in active:  # a recursive alias
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = _key_of(loader, key_node)
            if key in seen:
                out.duplicates.append((path + (key,), *_start(key_node)))
            seen.add(key)
            _find_duplicates(loader, value_node, path + (key,), out, active)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicates(loader, item, path + (i,), out, active)
    active.discard(id(node))


def _record_positions(
    loader: yaml.SafeLoader, node: Node, path: ConfigPath, out: LineMap, active: set[int]
) -> None:
    if not path:
        out[()] = _start(node)
    if id(node) in active:
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        # after construction merged keys come first and the mapping's own keys last, so a key that
        # overrides a merged one keeps its own position
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            key = _key_of(loader, key_node)
            out[path + (key,)] = _start(key_node)
            _record_positions(loader, value_node, path + (key,), out, active)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = _start(item)
            _record_positions(loader, item, path + (i,), out, active)
    active.discard(id(node))
