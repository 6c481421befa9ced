"""Hook implementations: everything Birdie needs to find the objective."""

from __future__ import annotations

from birdie_core import Register, hookimpl
from birdie_reversal.objective import Reverse


@hookimpl
def birdie_register_objectives(register: Register) -> None:
    register("reverse", Reverse)
