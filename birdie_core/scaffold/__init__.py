"""Starting points for new projects: ``birdie new plugin NAME`` writes a publishable plugin.

:func:`plugin_names` turns what a user types into the names a plugin needs (distribution, import package,
namespace); :func:`write_plugin` writes the project from the templates shipped in this package.
"""

from __future__ import annotations

from birdie_core.scaffold.names import PluginNames, ScaffoldError, plugin_names
from birdie_core.scaffold.plugin import write_plugin

__all__ = ["PluginNames", "ScaffoldError", "plugin_names", "write_plugin"]
