"""The names of a new plugin, derived once from what a user types.

``sentperm``, ``birdie-sentperm`` and ``birdie_sentperm`` all name the same plugin: the distribution
``birdie-sentperm`` (what ``pip install`` takes), the import package ``birdie_sentperm`` and the namespace
``sentperm``, which is the entry-point name and prefixes every component it registers
(``sentperm.rotation``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from birdie_core.errors import BirdieError
from birdie_core.registry import CORE_NAMESPACE, KNOWN_DISTRIBUTIONS

#: lowercase words of letters and digits joined by single hyphens or underscores, starting with a letter
_NAME = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_PREFIXES = ("birdie-", "birdie_")


class ScaffoldError(BirdieError, ValueError):
    """A new project cannot be written: its name is not usable, or its directory is taken."""


@dataclass(frozen=True)
class PluginNames:
    """Every name a plugin's files use, consistent with one another."""

    namespace: str  # the entry-point name: sentperm (components are sentperm.<name>)
    distribution: str  # birdie-sentperm
    package: str  # birdie_sentperm


def plugin_names(name: str) -> PluginNames:
    """The names of the plugin ``name`` (``sentperm`` or ``birdie-sentperm``), or :class:`ScaffoldError`."""
    given = name.strip()
    lowered = given.lower()
    bare = next((lowered[len(p) :] for p in _PREFIXES if lowered.startswith(p)), lowered)
    if not bare or lowered == "birdie":
        raise ScaffoldError(f"{name!r} names no plugin: give a name such as 'sentperm' or 'birdie-sentperm'")
    if not _NAME.fullmatch(bare):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lowercase letters, digits and single hyphens or underscores "
            "between words, starting with a letter (e.g. 'sentperm' or 'birdie-sent-perm')"
        )
    if given != lowered:
        raise ScaffoldError(f"invalid plugin name {name!r}: use lowercase letters ({lowered!r})")
    namespace = bare.replace("-", "_")
    if namespace == CORE_NAMESPACE or namespace in KNOWN_DISTRIBUTIONS:
        owner = KNOWN_DISTRIBUTIONS.get(namespace, "birdie-core")
        raise ScaffoldError(
            f"the namespace {namespace!r} belongs to {owner}: choose another name for your plugin"
        )
    return PluginNames(
        namespace=namespace,
        distribution="birdie-" + namespace.replace("_", "-"),
        package="birdie_" + namespace,
    )
