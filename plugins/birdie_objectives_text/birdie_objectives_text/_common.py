"""What the text objectives share: the core's budget arithmetic and config field types."""

from __future__ import annotations

from birdie_core.tools.objectives import IntRange, MarkerName, check_length_allows, fit_length, room

__all__ = ["IntRange", "MarkerName", "check_length_allows", "fit_length", "room"]
