"""Hook implementations of the `rewards` plugin (entry point `rewards` in the group `birdie`).

Registered names are qualified by the namespace: `rewards.<name>`.
"""

from __future__ import annotations
