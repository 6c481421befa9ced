"""The public tools for plugin authors (birdie_core.tools)."""
