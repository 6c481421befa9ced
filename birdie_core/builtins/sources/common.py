"""What every built-in source shares: its counters, and field selection in records."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from birdie_core.interfaces import Document


def new_stats() -> dict[str, int]:
    return {"documents": 0, "empty": 0, "invalid_utf8": 0}


def emit(stats: dict[str, int], index: int, text: str, origin: str) -> Iterator[Document]:
    """The document, counted in ``stats``; nothing for an empty text, which is counted as ``empty``."""
    if text:
        stats["documents"] += 1
        yield Document(index, text, origin)
    else:
        stats["empty"] += 1


# ---------------------------------------------------------------------------------------------------------
# Field selection (shared by the JSON-lines, callable and Hugging Face sources)
# ---------------------------------------------------------------------------------------------------------


class FieldError(ValueError):
    """A dotted field selector does not lead to a string in a record."""


_MISSING = object()


def validate_selector(v: str) -> str:
    if not v or any(not part for part in v.split(".")):
        raise ValueError(f"{v!r} is not a field selector: use names separated by dots, e.g. 'entry.text'")
    return v


def select_field(record: Any, selector: str) -> str:
    """The string at ``selector`` in ``record``: ``"entry.text"`` is ``record["entry"]["text"]``.

    A part that is an integer indexes a list (``"messages.0.content"``). Raises :class:`FieldError` with a
    message saying which part is missing or what type was found instead of a string.
    """
    value: Any = record
    walked: list[str] = []
    for part in selector.split("."):
        found: Any = _MISSING
        if isinstance(value, Mapping):
            found = value.get(part, _MISSING)
        elif isinstance(value, (list, tuple)) and part.lstrip("-").isdigit():
            i = int(part)
            found = value[i] if -len(value) <= i < len(value) else _MISSING
        if found is _MISSING:
            where = f"in {'.'.join(walked)!r}" if walked else "at the top level"
            if isinstance(value, Mapping):
                keys = ", ".join(map(str, list(value)[:20])) or "none"
                close = difflib.get_close_matches(part, [str(k) for k in value], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise FieldError(f"no field {part!r} {where} (keys: {keys}){hint}")
            raise FieldError(f"cannot select {part!r} {where}: found {type_name(value)}, not an object")
        value = found
        walked.append(part)
    if not isinstance(value, str):
        raise FieldError(f"field {selector!r} is {type_name(value)}, not a string")
    return value


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), f"a {type(value).__name__}")
