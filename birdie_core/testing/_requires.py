"""The one clear error for a testing kit used without its test tools."""

from __future__ import annotations

import importlib.util

#: what the conformance suites import, by module name
TEST_TOOLS = ("pytest", "hypothesis")


def require_test_tools() -> None:
    """Raise one :class:`ModuleNotFoundError` naming the extra to install when pytest or hypothesis is missing.

    Without it a plugin author meets ``No module named 'pytest'``, installs it, then meets hypothesis.
    """
    missing = [name for name in TEST_TOOLS if not _importable(name)]
    if missing:
        raise ModuleNotFoundError(
            f"the conformance suites of birdie_core.testing need {' and '.join(missing)}, which "
            f"{'are' if len(missing) > 1 else 'is'} not installed: pip install 'birdie-core[testing]'",
            name=missing[0],
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, or one without a spec
        return False
