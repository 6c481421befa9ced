"""``nucleotide``: one id per base, with the core's reserved-id layout.

Id layout (the core's reserved-id layout, :mod:`birdie_core.tools.tokenizers`, so every objective and packer
works unchanged):

====================  =====================================================================
id                    meaning
====================  =====================================================================
0                     padding (never a real token)
1 2 3 4 5             A C G T N
6 7 8 9 10            a c g t n — only with ``keep_soft_mask: true``
next ``num_sentinels``  ``<mask_0>``, ``<mask_1>``, … (sentinels of span infilling)
then                  one id per marker the objectives asked for (paradigms, ``<|gen|>``, ``[COPY]`` …)
====================  =====================================================================

Soft-masked (lower-case) bases — repeats and low-complexity regions in Ensembl/UCSC assemblies — are
upper-cased by default: ``acgt`` becomes ``ACGT``, and the mask is gone. With ``keep_soft_mask: true`` they get
ids of their own (6–10), so a model sees the mask and ``decode`` gives the lower case back; reverse
complements keep it (``a`` ↔ ``t``).

IUPAC ambiguity codes (``R Y K M S W B D H V``) are read as ``N`` (soft-masked ones as ``n``) and counted in
:attr:`NucleotideTokenizer.stats` (``ambiguous``); the first time a tokenizer meets them it logs a warning.
Anything else — whitespace, ``U``, gaps, protein letters, non-ASCII — raises :class:`ValueError` naming the
character and its offset in the text. (The FASTA source checks every line before this, and names the file,
record and line.)

Encoding is one table look-up over the bytes of the text: no Python loop per base.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from birdie_core import PAD_ID, TOKEN_DTYPE, TokenizerConfig
from birdie_core.tools import ReservedIdsTokenizer
from birdie_objectives_dna.alphabet import AMBIGUITY_CODES, BYTE_KIND, Alphabet, Kind, describe_invalid

__all__ = ["NucleotideTokenizer", "NucleotideTokenizerConfig"]

log = logging.getLogger(__name__)

_UPPER = "ACGTN"
_LOWER = "acgtn"


def _kind_ids(keep_soft_mask: bool) -> np.ndarray:
    """Token id of each :class:`Kind` (index = kind; INVALID maps to the pad id 0)."""
    n, soft_n = 5, (10 if keep_soft_mask else 5)
    return np.array([PAD_ID, 0, 0, n, soft_n, n, soft_n], dtype=TOKEN_DTYPE)


def _byte_ids(keep_soft_mask: bool) -> np.ndarray:
    """Token id of every byte value; 0 for bytes that are not nucleotides."""
    table = np.zeros(256, dtype=TOKEN_DTYPE)
    kind_ids = _kind_ids(keep_soft_mask)
    for b in range(256):
        table[b] = kind_ids[BYTE_KIND[b]]
    for i, c in enumerate("ACGT"):
        table[ord(c)] = i + 1
        table[ord(c.lower())] = i + (6 if keep_soft_mask else 1)
    table.setflags(write=False)
    return table


class NucleotideTokenizerConfig(TokenizerConfig):
    """Parameters of the ``nucleotide`` tokenizer: whether soft-masked bases keep their own ids."""

    keep_soft_mask: bool = Field(
        False,
        description="Give soft-masked (lower-case) bases ids of their own (6-10) instead of upper-casing "
        "them, so models see the mask and decode() restores the case.",
    )


class NucleotideTokenizer(ReservedIdsTokenizer[NucleotideTokenizerConfig]):
    """One id per nucleotide (A, C, G, T, N; a c g t n with ``keep_soft_mask``) plus reserved specials."""

    Config = NucleotideTokenizerConfig

    def __init__(self, config: NucleotideTokenizerConfig | None = None, specials: Sequence[str] = ()):
        self.config = config or NucleotideTokenizerConfig(name="nucleotide")
        self.keep_soft_mask = self.config.keep_soft_mask
        letters = _UPPER + (_LOWER if self.keep_soft_mask else "")
        self.base_letters = letters  # id i + 1 is letters[i]
        self.reserve(len(letters) + 1, specials)
        self._byte_ids = _byte_ids(self.keep_soft_mask)
        self._chars = np.frombuffer(b"?" + letters.encode("ascii"), dtype=np.uint8)
        #: what this tokenizer has read, per process: bases, IUPAC codes read as N, soft-masked bases
        self.stats: dict[str, int] = {"bases": 0, "ambiguous": 0, "soft_masked": 0}
        self._warned = False
        self.alphabet = self._make_alphabet()

    def _make_alphabet(self) -> Alphabet:
        pairs = [(1, 4), (2, 3)]  # A-T, C-G
        n_ids = [5]
        if self.keep_soft_mask:
            pairs += [(6, 9), (7, 8)]
            n_ids.append(10)
        return Alphabet.from_ids(self.reserved.base_size, pairs, n_ids)

    # -- Tokenizer protocol -------------------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        """int32 ids of a nucleotide string; raises :class:`ValueError` at the first character that is not
        a nucleotide (its offset and a hint are in the message)."""
        try:
            raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
        except UnicodeEncodeError as e:
            raise ValueError(f"offset {e.start}: {describe_invalid(text[e.start])}") from None
        codes = np.frombuffer(raw, dtype=np.uint8)
        kinds = BYTE_KIND[codes]
        if kinds.size and not kinds.all():
            at = int(np.argmin(kinds))
            raise ValueError(f"offset {at}: {describe_invalid(chr(codes[at]))}{_context(raw, at)}")
        self._count(kinds)
        return self._byte_ids[codes]

    def _count(self, kinds: np.ndarray) -> None:
        stats = self.stats
        stats["bases"] += int(kinds.shape[0])
        if int(kinds.max(initial=Kind.BASE)) == Kind.BASE:  # plain upper-case A C G T: nothing to count
            return
        stats["soft_masked"] += int(np.count_nonzero((kinds & 1) == 0))  # soft kinds are the even ones
        ambiguous = int(np.count_nonzero(kinds >= Kind.AMBIGUOUS))
        if ambiguous:
            stats["ambiguous"] += ambiguous
            if not self._warned:
                self._warned = True
                log.warning(
                    "IUPAC ambiguity codes (%s) are read as N; counted in tokenizer.stats['ambiguous']",
                    ", ".join(AMBIGUITY_CODES),
                )

    def decode_run(self, run: np.ndarray) -> str:
        return self._chars[run].tobytes().decode("ascii")

    # pickled as its config and markers (the tables are rebuilt from them) plus what it has counted
    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.config, self.reserved.markers), {"stats": dict(self.stats)}

    def __repr__(self) -> str:
        soft = ", keep_soft_mask=True" if self.keep_soft_mask else ""
        return f"NucleotideTokenizer(vocab_size={self.vocab_size}{soft})"


def _context(raw: bytes, at: int) -> str:
    lo, hi = max(0, at - 10), min(len(raw), at + 11)
    return f" (near {raw[lo:hi].decode('ascii', 'replace')!r})"
