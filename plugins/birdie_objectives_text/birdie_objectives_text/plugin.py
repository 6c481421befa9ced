"""Hook implementations of the `text` plugin (entry point `text` in the group `birdie`).

Registered names are qualified by the namespace: `text.<name>`. ``next_token_prediction`` and ``prefix_lm``
come from the core (`core.*`) and are not registered again here.
"""

from __future__ import annotations

from birdie_core import Register, hookimpl
from birdie_objectives_text.autoencoding import Autoencoding
from birdie_objectives_text.copying import Copying
from birdie_objectives_text.deshuffling import Deshuffling
from birdie_objectives_text.infilling import SpanCorruption
from birdie_objectives_text.selective_copying import SelectiveCopying

#: registered name → class
OBJECTIVES = {
    "infilling": SpanCorruption,
    "copying": Copying,
    "deshuffling": Deshuffling,
    "autoencoding": Autoencoding,
    "selective_copying": SelectiveCopying,
}


@hookimpl
def birdie_register_objectives(register: Register) -> None:
    for name, cls in OBJECTIVES.items():
        register(name, cls)
