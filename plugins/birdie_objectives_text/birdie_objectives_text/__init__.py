"""Text objectives for Birdie: infilling, copying, deshuffling, autoencoding, selective copying; UL2 and Birdie presets.

``next_token_prediction`` and ``prefix_lm`` are the core's (``core.next_token_prediction``, ``core.prefix_lm``).
What the text and DNA objectives share (span noise, infilling, autoencoding and selective copying written once,
budget arithmetic) is the core's public :mod:`birdie_core.tools`.
"""

from birdie_objectives_text.autoencoding import Autoencoding
from birdie_objectives_text.copying import Copying
from birdie_objectives_text.deshuffling import Deshuffling
from birdie_objectives_text.infilling import SpanCorruption
from birdie_objectives_text.selective_copying import SelectiveCopying

__version__ = "0.1.0"

__all__ = ["Autoencoding", "Copying", "Deshuffling", "SelectiveCopying", "SpanCorruption", "__version__"]
