"""Pre-tokenized data: documents stored as token ids in memory-mappable shards.

``birdie tokenize CONFIG --output DIR`` (:func:`tokenize_split`) writes a config's source; the ``tokenized``
source reads it back without a tokenizer. :mod:`.format` describes the files and checks them when opened.
"""

from __future__ import annotations

from birdie_core.pretokenized.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HEADER_NAME,
    PROBE_TEXTS,
    Header,
    PretokenizedData,
    describe_tokenizer,
    token_bound,
    tokenizer_fingerprint,
)
from birdie_core.pretokenized.progress import Progress
from birdie_core.pretokenized.writer import DEFAULT_SHARD_TOKENS, TokenizeResult, tokenize_split

__all__ = [
    "DEFAULT_SHARD_TOKENS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADER_NAME",
    "PROBE_TEXTS",
    "Header",
    "PretokenizedData",
    "Progress",
    "TokenizeResult",
    "describe_tokenizer",
    "token_bound",
    "tokenize_split",
    "tokenizer_fingerprint",
]
