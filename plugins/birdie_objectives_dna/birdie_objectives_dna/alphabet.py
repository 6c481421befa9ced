"""The nucleotide alphabet: byte classes for reading, complement tables for text and for token ids.

Reading (FASTA source and tokenizer share one table, so they always agree on what a nucleotide is):

============  ================================================  ==========================================
kind          bytes                                             becomes
============  ================================================  ==========================================
base          ``A C G T``                                       itself
soft base     ``a c g t`` (soft-masked: repeats, low complexity)  upper-cased, or its own id (soft mask kept)
N             ``N`` / ``n``                                      N
ambiguity     IUPAC ``R Y K M S W B D H V`` (either case)        N (and counted)
invalid       everything else (``U``, ``-``, ``*``, protein letters, digits, non-ASCII, ...)  an error
============  ================================================  ==========================================

Whitespace (spaces, tabs, ``\\r``, ``\\n``) is layout, not sequence: the FASTA source removes it and the
tokenizer refuses it.

On token ids, :class:`Alphabet` is what the DNA objectives need from any tokenizer with one id per
nucleotide: which ids are N (never a target) and each id's complement (for reverse complements).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from birdie_core.errors import PipelineError

__all__ = [
    "AMBIGUITY_CODES",
    "BYTE_KIND",
    "Alphabet",
    "Kind",
    "describe_invalid",
    "reverse_complement_text",
]

BASES = "ACGT"
AMBIGUITY_CODES = "RYKMSWBDHV"
#: IUPAC complements (case kept); every letter the reader accepts has one
_COMPLEMENT_PAIRS = {"A": "T", "C": "G", "R": "Y", "K": "M", "S": "S", "W": "W", "B": "V", "D": "H", "N": "N"}
_COMPLEMENT: dict[str, str] = {}
for _a, _b in _COMPLEMENT_PAIRS.items():
    for _x, _y in ((_a, _b), (_b, _a)):
        _COMPLEMENT[_x] = _y
        _COMPLEMENT[_x.lower()] = _y.lower()
_TEXT_COMPLEMENT = str.maketrans(_COMPLEMENT)


class Kind:
    """Byte classes of :data:`BYTE_KIND` (uint8). ``>= N`` means "read as N"; ``>= AMBIGUOUS`` is an
    IUPAC ambiguity code; odd kinds are soft-masked (lower-case)."""

    INVALID = 0
    BASE = 1
    SOFT_BASE = 2
    N = 3
    SOFT_N = 4
    AMBIGUOUS = 5
    SOFT_AMBIGUOUS = 6


def _byte_kinds() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for chars, kind in ((BASES, Kind.BASE), ("N", Kind.N), (AMBIGUITY_CODES, Kind.AMBIGUOUS)):
        for c in chars:
            table[ord(c)] = kind
            table[ord(c.lower())] = kind + 1
    return table


#: the class of every byte value (see :class:`Kind`)
BYTE_KIND: np.ndarray = _byte_kinds()
#: bytes that are layout, not sequence
WHITESPACE = b" \t\r\n\v\f"

_PROTEIN_ONLY = set("EFILPQJOXZ*efilpqjoxz")


def describe_invalid(char: str) -> str:
    """Why ``char`` is not a nucleotide, with a hint at the likely mistake."""
    shown = repr(char)
    if char in _PROTEIN_ONLY:
        return (
            f"{shown} is not a nucleotide but an amino-acid letter: this looks like a protein FASTA, and "
            f"the DNA plugin reads nucleotide sequences only"
        )
    if char in "Uu":
        return f"{shown} (uracil) is not read: this looks like RNA; convert U to T first"
    if char in "-.":
        return f"{shown} is an alignment gap, not a nucleotide: remove gaps (unaligned sequences only)"
    if char.isdigit():
        return f"{shown} is a digit: numbered (GenBank-style) sequence lines are not FASTA"
    return (
        f"{shown} is not a nucleotide (expected A, C, G, T, N or an IUPAC ambiguity code "
        f"{', '.join(AMBIGUITY_CODES)}, in either case)"
    )


def reverse_complement_text(text: str) -> str:
    """The reverse complement of a nucleotide string (IUPAC codes complemented, case kept)."""
    return text.translate(_TEXT_COMPLEMENT)[::-1]


# ---------------------------------------------------------------------------------------------------------
# Token ids
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Alphabet:
    """What DNA objectives need to know about a tokenizer's nucleotide ids.

    ``complement[i]`` is the id of the complement of id ``i`` (ids that are not nucleotides map to
    themselves); ``is_n[i]`` is True for the ids read as N. Both cover ids ``0 .. size - 1``.
    """

    complement: np.ndarray  # int32
    is_n: np.ndarray  # bool

    @property
    def size(self) -> int:
        return int(self.complement.shape[0])

    def reverse_complement(self, ids: np.ndarray) -> np.ndarray:
        """Reverse complement of a run of nucleotide ids."""
        return self.complement[np.asarray(ids)[::-1]]

    def n_mask(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask of the positions of ``ids`` that are N (ids outside the table are not)."""
        ids = np.asarray(ids)
        if ids.size and int(ids.max()) >= self.size:  # not expected for document tokens; be safe
            inside = ids < self.size
            out = np.zeros(ids.shape, dtype=bool)
            out[inside] = self.is_n[ids[inside]]
            return out
        return self.is_n[ids]

    @classmethod
    def from_ids(cls, size: int, pairs: Sequence[tuple[int, int]], n_ids: Sequence[int]) -> Alphabet:
        """An alphabet over ids ``0 .. size - 1``: ``pairs`` are complementary ids, ``n_ids`` read as N."""
        complement = np.arange(size, dtype=np.int32)
        for a, b in pairs:
            complement[a], complement[b] = b, a
        is_n = np.zeros(size, dtype=bool)
        is_n[list(n_ids)] = True
        complement.setflags(write=False)
        is_n.setflags(write=False)
        return cls(complement, is_n)

    @staticmethod
    def of(tokenizer: Any) -> Alphabet:
        """The alphabet of ``tokenizer``: its own ``alphabet`` attribute (the ``nucleotide`` tokenizer), or
        one derived by encoding single letters, for any character-level tokenizer such as ``bytes``.

        Raises :class:`PipelineError` for a tokenizer that does not give one id per nucleotide (a BPE
        tokenizer merges bases, so reverse complements and N masks cannot be computed on its ids).
        """
        own = getattr(tokenizer, "alphabet", None)
        if isinstance(own, Alphabet):
            return own
        try:
            return _derived_alphabet(tokenizer)
        except TypeError:  # an unhashable tokenizer: derive it every time (a few encodes)
            return _derive_alphabet(tokenizer)


@functools.lru_cache(maxsize=8)
def _derived_alphabet(tokenizer: Any) -> Alphabet:
    return _derive_alphabet(tokenizer)


def _derive_alphabet(tokenizer: Any) -> Alphabet:
    letters = "".join(_COMPLEMENT)
    ids: dict[str, int] = {}
    for c in letters:
        got = np.asarray(tokenizer.encode(c)).reshape(-1)
        if got.shape[0] != 1:
            break
        ids[c] = int(got[0])
    together = np.asarray(tokenizer.encode(letters)).reshape(-1).tolist()
    if len(ids) != len(letters) or together != [ids[c] for c in letters]:
        raise PipelineError(
            f"the DNA objectives need a tokenizer with one id per nucleotide; {type(tokenizer).__name__} "
            f"does not encode {letters!r} letter by letter. Use tokenizer: {{name: nucleotide}}"
        )
    size = max(int(tokenizer.vocab_size), max(ids.values()) + 1)
    pairs = [(ids[a], ids[b]) for a, b in _COMPLEMENT.items() if a < b or a == b]
    n_like = [ids[c] for c in letters if c.upper() not in BASES]
    return Alphabet.from_ids(size, pairs, n_like)
