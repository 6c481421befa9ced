"""Plugins use the core only through its public API, and that API is importable and documented.

The first-party plugins and the example plugin are written as an outside author would write one: they may
import ``birdie_core`` (its top level), ``birdie_core.tools``, ``birdie_core.testing`` and other public
modules, never ``birdie_core.builtins`` (the core's own components, found through the registry like any
plugin's) nor anything whose name starts with ``_``.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import birdie_core
import birdie_core.tools

ROOT = Path(__file__).resolve().parents[2]


def plugin_code_dirs() -> list[Path]:
    """Every plugin's package and benchmarks (not its tests): first-party plugins and the example."""
    found = [
        *ROOT.glob("plugins/*/birdie_*"),
        *ROOT.glob("plugins/*/benchmarks"),
        *ROOT.glob("examples/*/birdie_*"),
    ]
    return sorted(p for p in found if p.is_dir() and not p.name.endswith(".egg-info"))


def private_core_imports(source: str) -> Iterator[tuple[int, str]]:
    """``(line, what)`` for each import in ``source`` of a ``birdie_core.builtins`` module, of a core module
    with a ``_``-prefixed component, or of a ``_``-prefixed name from the core."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from birdie_core import builtins` names a module too: check module.name as a whole
            dotted = [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
        else:
            continue
        for name in dotted:
            parts = name.split(".")
            if parts[0] != "birdie_core":
                continue
            if parts[1:2] == ["builtins"] or any(p.startswith("_") for p in parts[1:]):
                yield node.lineno, name


def test_the_checker_flags_builtins_and_private_names_only():
    source = """
from birdie_core.builtins.tokenizers import ReservedIds
import birdie_core.builtins.sources as sources
from birdie_core import builtins
from birdie_core.tools._hidden import helper
from birdie_core import _LAZY
from birdie_core import Objective, hookimpl
from birdie_core.tools import ReservedIdsTokenizer, room
import birdie_core.testing
from birdie_objectives_dna._base import clean_stretch
from . import _private
"""
    assert [line for line, _ in private_core_imports(source)] == [2, 3, 4, 5, 6]


def test_plugins_import_only_the_public_core():
    dirs = plugin_code_dirs()
    names = {d.name for d in dirs}
    expected = {"birdie_objectives_text", "birdie_objectives_dna", "birdie_rewards", "birdie_reversal"}
    assert expected <= names and "benchmarks" in names, f"plugin code not found under {ROOT}: {names}"
    offences = []
    for directory in dirs:
        for path in sorted(directory.rglob("*.py")):
            for line, name in private_core_imports(path.read_text(encoding="utf-8")):
                offences.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    assert not offences, "plugins must import only the core's public API:\n" + "\n".join(offences)


@pytest.mark.parametrize("module", [birdie_core, birdie_core.tools], ids=lambda m: m.__name__)
def test_public_names_are_importable_and_documented(module: ModuleType):
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module.__name__}.__all__ names what it does not have: {missing}"
    # classes and functions carry their own docstring; a constant shows its type's, so it is not checked
    undocumented = [
        name
        for name in module.__all__
        if (inspect.isclass(obj := getattr(module, name)) or inspect.isroutine(obj))
        and not (obj.__doc__ or "").strip()
    ]
    assert not undocumented, f"{module.__name__}: no docstring on {undocumented}"
