"""Whether the ``plots`` extra is installed: matplotlib is optional, so a training machine need not carry it.

The callers of :func:`birdie_core.train.plots.plot_run` ask here first instead of catching its ImportError,
which could as well come from a broken install of something else.
"""

from __future__ import annotations

import importlib.util
import sys

from birdie_core.errors import TrainError

__all__ = ["PLOTS_INSTALL", "plots_available", "require_plots"]

PLOTS_INSTALL = "pip install 'birdie-core[plots]'"


def plots_available() -> bool:
    """True when matplotlib can be imported (checked without importing it: that takes a second)."""
    if "matplotlib" in sys.modules:  # imported already, or blocked with None (find_spec may raise on either)
        return sys.modules["matplotlib"] is not None
    return importlib.util.find_spec("matplotlib") is not None


def require_plots() -> None:
    """Raise :class:`TrainError` saying which extra to install when matplotlib is missing."""
    if not plots_available():
        raise TrainError(f"plots need matplotlib, which is not installed: {PLOTS_INSTALL}")
