"""Built-in sources: the embedded corpus, text / JSON-lines files, a Python callable, Hugging Face datasets.

Every source numbers the documents of its split (``Document.index``: a number that stays with its record,
the same in every run, process and epoch; 0, 1, 2, … for most sources) and a reader given a :class:`Shard`
yields only its own documents, so the shards of a split partition it: nothing read twice, nothing lost. Each
document carries its ``origin`` (``data/a.jsonl:12``, ``pydoc_data.topics['if']``) so that any later error
can point at it.

Nothing is dropped silently: what a source skips (empty lines or texts) and what it repairs (bytes that are
not UTF-8) is counted in its ``stats`` dictionary, per process, since the source was built.
"""

from __future__ import annotations

from birdie_core.builtins.sources.callable import CallableSource, CallableSourceConfig
from birdie_core.builtins.sources.common import select_field
from birdie_core.builtins.sources.embedded import EmbeddedSource, EmbeddedSourceConfig
from birdie_core.builtins.sources.files import FileSource, FileSourceConfig
from birdie_core.builtins.sources.huggingface import HuggingFaceSource, HuggingFaceSourceConfig

__all__ = [
    "CallableSource",
    "CallableSourceConfig",
    "EmbeddedSource",
    "EmbeddedSourceConfig",
    "FileSource",
    "FileSourceConfig",
    "HuggingFaceSource",
    "HuggingFaceSourceConfig",
    "select_field",
]
