"""Hook implementations of the `dna` plugin (entry point `dna` in the group `birdie`).

Registered names are qualified by the namespace: `dna.<name>`.
"""

from __future__ import annotations
