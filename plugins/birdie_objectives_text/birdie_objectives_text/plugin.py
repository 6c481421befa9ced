"""Hook implementations of the `text` plugin (entry point `text` in the group `birdie`).

Registered names are qualified by the namespace: `text.<name>`.
"""

from __future__ import annotations
