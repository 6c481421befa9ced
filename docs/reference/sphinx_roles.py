"""A griffe extension for the reference pages: Birdie's docstrings are written for Sphinx, mkdocstrings reads Markdown.

Attributes are documented the Sphinx way, by ``#:`` comments on the lines above them, and config fields by
pydantic's ``Field(description=...)``; griffe reads only docstrings, so the comment or the description becomes
the attribute's docstring here.

``:class:`Objective``` (and ``:meth:``, ``:func:``, ``:data:``, ``:attr:``, ``:mod:``) becomes inline code that
links to the object's entry when the reference documents it (an optional cross-reference: a name the reference
leaves out stays plain code instead of failing ``mkdocs build --strict``); reStructuredText's ``::`` at the end
of a paragraph (an announced code block) becomes ``:``. The docstrings stay readable in ``help()`` and in
an editor, and the site shows links instead of raw roles.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|data|attr|mod|obj|exc):`~?([^`]+)`")
_LITERAL_BLOCK = re.compile(r"(\S)::$", re.MULTILINE)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None:
            return
        obj.docstring.value = _rewrite(obj.docstring.value, obj)

    def on_attribute_instance(
        self, *, node: ast.AST | griffe.ObjectNode, attr: griffe.Attribute, **kwargs: Any
    ) -> None:
        if attr.docstring is not None or attr.lineno is None or attr.filepath is None:
            return
        description = _field_description(node)
        if description:
            attr.docstring = griffe.Docstring(_rewrite(description, attr), lineno=attr.lineno, parent=attr)
            return
        lines = _source_lines(attr)
        comment: list[str] = []
        i = attr.lineno - 2  # the line above the assignment, 0-based
        while i >= 0 and lines[i].strip().startswith("#:"):
            comment.insert(0, lines[i].strip()[2:].strip())
            i -= 1
        if comment:
            text = _rewrite(" ".join(comment), attr)
            attr.docstring = griffe.Docstring(text, lineno=i + 2, parent=attr)


def _field_description(node: ast.AST | griffe.ObjectNode) -> str | None:
    """The ``description`` of a pydantic ``Field(...)`` assigned to the attribute, if it is a literal."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or not isinstance(node.value, ast.Call):
        return None
    call = node.value
    if getattr(call.func, "id", getattr(call.func, "attr", None)) != "Field":
        return None
    for keyword in call.keywords:
        if keyword.arg == "description":
            try:
                value = ast.literal_eval(keyword.value)
            except ValueError:
                return None
            return value if isinstance(value, str) else None
    return None


def _source_lines(obj: griffe.Object) -> list[str]:
    path = obj.filepath
    assert not isinstance(path, list)
    try:
        return obj.lines_collection[path]
    except KeyError:
        return path.read_text(encoding="utf-8").splitlines()


def _rewrite(text: str, obj: griffe.Object) -> str:
    def link(match: re.Match[str]) -> str:
        target = match.group(1)
        shown = target.rsplit(".", 1)[-1] if match.group(0).count("~") else target
        path = _resolve(target, obj)
        code = f"<code>{shown}</code>"
        return f'<autoref identifier="{path}" optional>{code}</autoref>' if path else code

    return _LITERAL_BLOCK.sub(r"\1:", _ROLE.sub(link, text))


def _resolve(target: str, obj: griffe.Object) -> str | None:
    """The documented path a role points to, or None: only objects of ``birdie_core`` become links."""
    name = target.strip()
    candidates: list[str] = []
    if name.startswith("birdie_core."):
        candidates.append(name)
    else:
        scope: griffe.Object | None = obj if obj.is_class or obj.is_module else obj.parent
        while scope is not None:
            candidates.append(f"{scope.path}.{name}")
            scope = scope.parent
    for path in candidates:
        try:
            found = obj.modules_collection.get_member(path)
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        if found is None:
            continue
        try:
            return str(found.final_target.path) if found.is_alias else str(found.path)
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
    return None
