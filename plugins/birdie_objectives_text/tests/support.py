"""Helpers shared by the text plugin's tests: tokenizers (bytes, and a tiny offline tiktoken), contexts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tiktoken

from birdie_core.builtins.tokenizers import ByteTokenizer, TiktokenTokenizer
from birdie_core.interfaces import ObjectiveContext, Tokenizer

START = "<|start|>"

# A tiny but real byte-level BPE built in memory (never downloaded): the 256 bytes plus a few merges, so
# re-encoding shuffled text really changes the number of tokens.
_MERGES = [b"th", b"he", b"the", b" the", b"in", b"ing", b"  ", b"    ", b"e ", b" a", b"on", b"er"]
TINY_RANKS = {bytes([b]): b for b in range(256)} | {m: 256 + i for i, m in enumerate(_MERGES)}


def tiny_encoding() -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name="birdie_text_tiny",
        pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""",
        mergeable_ranks=TINY_RANKS,
        special_tokens={"<|endoftext|>": 300},
    )


def make_tokenizer(kind: str, specials: Sequence[str]) -> Tokenizer:
    specials = list(dict.fromkeys([START, *specials]))
    if kind == "bytes":
        return ByteTokenizer(None, specials)
    return TiktokenTokenizer.from_encoding(tiny_encoding(), specials=specials, num_sentinels=64)


def context(tokenizer: Tokenizer, seed: int) -> ObjectiveContext:
    return ObjectiveContext(tokenizer, np.random.default_rng(seed), tokenizer.special_id(START))

