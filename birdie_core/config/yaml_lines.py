"""YAML loading that remembers where every key and list item came from, and refuses hostile files.

Config errors must point at a line, so the loader keeps a map from each config path (``("objectives", 2,
"corruption_rate")``) to the 1-based line and column where that key (or list item) starts. Values are built
by PyYAML's ``SafeLoader`` itself, so tags, anchors, aliases and merge keys behave exactly as in
``yaml.safe_load``.

A config file is untrusted input, so loading is bounded before any value is built: a file larger than
:data:`MAX_CONFIG_BYTES`, control characters, aliases that would add more than :data:`MAX_ALIAS_VALUES`
values (a "billion laughs" file), an alias to a node that contains it, and nesting deeper than
:data:`MAX_NESTING` levels are each a :class:`ConfigError` with the line, never a hang or a traceback.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from birdie_core.errors import ConfigError, ConfigIssue

__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_CONFIG_BYTES",
    "MAX_NESTING",
    "ConfigPath",
    "LineMap",
    "format_path",
    "load_yaml_with_lines",
]

#: A path into a config: mapping keys and list indices, outermost first.
ConfigPath = tuple[str | int, ...]

#: Largest config file read. A pipeline config is a few KB; a longer list of data files is a glob pattern.
MAX_CONFIG_BYTES = 1 << 20
#: Values that aliases may add to a document once expanded (each alias counts the values it stands for).
MAX_ALIAS_VALUES = 100_000
#: Deepest nesting of mappings and lists, aliases expanded (a pipeline config nests about five levels).
MAX_NESTING = 64
#: Control characters reported one by one before the rest are summed up.
_MAX_REPORTED_CHARACTERS = 5

_MERGE_TAG = "tag:yaml.org,2002:merge"
# the characters YAML 1.1 forbids in a stream (the same set PyYAML's reader rejects)
_NOT_ALLOWED = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_C0_NAMES = (
    *("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI"),
    *(
        "DLE",
        "DC1",
        "DC2",
        "DC3",
        "DC4",
        "NAK",
        "SYN",
        "ETB",
        "CAN",
        "EM",
        "SUB",
        "ESC",
        "FS",
        "GS",
        "RS",
        "US",
    ),
)


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

    An empty file gives ``None``. An unreadable, oversized or non-UTF-8 file, control characters, a syntax
    error, and aliases or nesting beyond the limits of this module raise :class:`ConfigError` carrying the
    file, line and column of the problem.
    """
    source = os.fspath(path)
    text = _read_text(source)
    _refuse_control_characters(text, source)

    lines = LineMap(source)
    try:
        loader = _BoundedLoader(text)
    except yaml.YAMLError as exc:  # the reader's own checks, should the scan above ever let something by
        raise ConfigError(ConfigIssue("", f"invalid YAML: {exc}", source=source)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None, lines
        # duplicates are looked for before construction: constructing flattens merge keys (`<<: *base`)
        # into the mapping, after which an intended override would look like a duplicate
        _find_duplicates(loader, node, (), lines)
        data = loader.construct_document(node)
        _record_positions(loader, node, (), lines)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_syntax_issue(exc, source)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(ConfigIssue("", f"invalid YAML: {exc}", source=source)) from None
    finally:
        loader.dispose()
    return data, lines


def _read_text(source: str) -> str:
    try:
        with open(source, "rb") as f:
            # read one byte past the limit rather than the whole file: /dev/zero or a 50-GB file stays cheap
            raw = f.read(MAX_CONFIG_BYTES + 1)
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            ConfigIssue("", f"cannot read the configuration file: {reason}", source=source)
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        # a pipe or device has no size to show
        size_text = f"is {size / (1 << 20):.1f} MiB" if size > MAX_CONFIG_BYTES else "holds more than that"
        raise ConfigError(
            ConfigIssue(
                "",
                f"a configuration file may hold at most {_mib(MAX_CONFIG_BYTES)} and this one {size_text} "
                "(a pipeline config is a few KB: name many data files with a glob pattern such as "
                "'data/*.jsonl.gz' instead of listing them)",
                source=source,
            )
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
        byte = raw[exc.start]
        raise ConfigError(
            ConfigIssue(
                "",
                f"not UTF-8 text: byte 0x{byte:02x} cannot be decoded ({exc.reason}); a configuration file "
                "must be UTF-8",
                line,
                column,
                source,
            )
        ) from None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text``."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _refuse_control_characters(text: str, source: str) -> None:
    """Every character YAML forbids, each with its line: PyYAML would name only the first, by offset."""
    issues: list[ConfigIssue] = []
    found = 0
    for match in _NOT_ALLOWED.finditer(text):
        found += 1
        if found > _MAX_REPORTED_CHARACTERS:
            continue
        line, column = _position(text, match.start())
        issues.append(
            ConfigIssue(
                "",
                f"control character {_describe_character(match.group())} is not allowed in a YAML file "
                "(only tab and line breaks are; inside a double-quoted string write it as an escape such "
                "as \\x00). Is this a binary or damaged file?",
                line,
                column,
                source,
            )
        )
    if found > _MAX_REPORTED_CHARACTERS:
        more = found - _MAX_REPORTED_CHARACTERS
        issues.append(
            ConfigIssue("", f"… and {more} more control character{'s' if more > 1 else ''}", source=source)
        )
    if issues:
        raise ConfigError(issues)


def _describe_character(char: str) -> str:
    code = ord(char)
    if code < len(_C0_NAMES):
        return f"U+{code:04X} ({_C0_NAMES[code]})"
    if code == 0x7F:
        return "U+007F (DEL)"
    return f"U+{code:04X}"


class _Refused(ConstructorError):
    """Well-formed YAML that a configuration may not be (too large once expanded, recursive, too deep)."""

    def __init__(self, message: str, mark: yaml.Mark, path: ConfigPath):
        super().__init__(None, None, message, mark)
        self.path = path


class _BoundedLoader(yaml.SafeLoader):
    """``SafeLoader`` that measures each node while composing it and stops a document that grows too big.

    Composing is cheap even for a billion-laughs file (an alias reuses its node); what explodes is every
    walk over the expanded document afterwards. So each node's expanded size and depth are computed once,
    from its children's, and each alias adds the size of the node it names to a running total that is
    checked at that alias, before anything walks the document.
    """

    def __init__(self, text: str):
        super().__init__(text)
        self._size: dict[int, int] = {}  # id(node) -> values in it, aliases expanded
        self._depth: dict[int, int] = {}  # id(node) -> nesting levels, aliases expanded
        self._alias_values = 0
        self._level = 0
        self._path: ConfigPath = ()  # where the node being composed sits, for the messages
        self._open_anchors: set[str] = set()  # anchors whose node is still being composed

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # PyYAML passes the key node for a mapping value, the position for a list item, None for a key
        if isinstance(index, ScalarNode):
            path = self._path + (index.value,)
        elif isinstance(index, int):
            path = self._path + (index,)
        else:
            path = self._path
        event = self.peek_event()
        if self.check_event(AliasEvent):
            if event.anchor in self._open_anchors:
                raise _Refused(
                    f"alias *{event.anchor} refers to a node that contains it: a configuration cannot hold "
                    "a recursive structure",
                    event.start_mark,
                    path,
                )
            node = super().compose_node(parent, index)  # an undefined alias raises here
            self._alias_values += self._size[id(node)]
            if self._alias_values > MAX_ALIAS_VALUES:
                raise _Refused(
                    f"aliases expand this document beyond {MAX_ALIAS_VALUES:,} values (alias *{event.anchor} "
                    f"stands for {self._size[id(node)]:,}); a configuration that large is refused, since "
                    "expanding it would take unbounded time and memory",
                    event.start_mark,
                    path,
                )
            return node
        if self._level >= MAX_NESTING:
            raise self._too_deep(event.start_mark, path)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.add(anchor)
        outer, self._path = self._path, path
        self._level += 1
        node = super().compose_node(parent, index)
        self._level -= 1
        self._path = outer
        if anchor is not None:
            self._open_anchors.discard(anchor)
        if node is not None:  # never None here: a node event was peeked above (the stubs allow it)
            self._measure(node, path)
        return node

    def _measure(self, node: Node, path: ConfigPath) -> None:
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        self._size[id(node)] = 1 + sum(self._size[id(c)] for c in children)
        depth = 1 + max((self._depth[id(c)] for c in children), default=0)
        if depth > MAX_NESTING:  # deep through aliases: each part shallow, the whole too deep to walk
            raise self._too_deep(node.start_mark, path)
        self._depth[id(node)] = depth

    @staticmethod
    def _too_deep(mark: yaml.Mark, path: ConfigPath) -> _Refused:
        return _Refused(f"nested more than {MAX_NESTING} levels deep (aliases expanded)", mark, path)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            # PyYAML's own conversions raise these unmarked: a date like 2001-13-45, an int of 5,000 digits
            raise ConstructorError(
                None, None, f"cannot read the value {_short(node.value)}: {exc}", node.start_mark
            ) from None


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else f"of this {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "…"


def _syntax_issue(exc: yaml.MarkedYAMLError, source: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    message = problem if isinstance(exc, _Refused) else f"invalid YAML: {problem}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    path = format_path(exc.path) if isinstance(exc, _Refused) else ""
    return ConfigIssue(path, message, line, column, source)


def format_path(path: ConfigPath) -> str:
    """``("objectives", 2, "corruption_rate")`` → ``"objectives[2].corruption_rate"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _key_of(loader: yaml.SafeLoader, key_node: Node) -> Any:
    # the key as the data holds it (`1:` is the int 1), so paths match what validation sees
    value = loader.construct_object(key_node, deep=True)
    return value if isinstance(value, (str, int)) else str(value)


def _start(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


# Both walks below go through aliases, once per use: the loader has bounded how many values and levels
# that can reach, and refused recursive aliases, so they need no memo and no cycle guard.


def _find_duplicates(loader: yaml.SafeLoader, node: Node, path: ConfigPath, out: LineMap) -> None:
    if isinstance(node, MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue
            key = _key_of(loader, key_node)
            if key in seen:
                out.duplicates.append((path + (key,), *_start(key_node)))
            seen.add(key)
            _find_duplicates(loader, value_node, path + (key,), out)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _find_duplicates(loader, item, path + (i,), out)


def _record_positions(loader: yaml.SafeLoader, node: Node, path: ConfigPath, out: LineMap) -> None:
    if not path:
        out[()] = _start(node)
    if isinstance(node, MappingNode):
        # after construction merged keys come first and the mapping's own keys last, so a key that
        # overrides a merged one keeps its own position
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                continue
            key = _key_of(loader, key_node)
            out[path + (key,)] = _start(key_node)
            _record_positions(loader, value_node, path + (key,), out)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = _start(item)
            _record_positions(loader, item, path + (i,), out)
