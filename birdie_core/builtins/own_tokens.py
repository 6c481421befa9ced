"""A pretrained vocabulary's own special tokens in Birdie's id layout: what ``huggingface`` and
``sentencepiece`` share.

Both keep the tokenizer's own ids, so that a model trained with them can continue from its checkpoint. The
roles Birdie needs (a pad id, sentinels, one id per marker) take the vocabulary's own tokens where it has
them, chosen in this order:

- pad: ``pad_token`` in the config; else the token the tokenizer declares as its pad (its padding settings,
  transformers' ``pad_token``, SentencePiece's ``pad_id()``); else a special token named like a pad
  (``<pad>``, ``[PAD]``, ``<|pad|>``, …); else a new id above the vocabulary;
- sentinels: the special tokens matching ``sentinel_pattern`` (T5's ``<extra_id_N>``), ordered by N; when
  the config does not set ``num_sentinels``, exactly as many sentinels as the vocabulary has (512 if it has
  none); sentinels beyond them get new ids;
- markers: ``special_tokens[marker]`` in the config; else a special token whose text is the marker's name;
  else a new id.

Those ids must never come out of ``encode``, although the encoder could produce some of them from text (a
piece the text spells out, a user-defined symbol). Each tokenizer first keeps its encoder from producing
them; :class:`ReservedFilter` is the safety net behind that, replacing any that still appear.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.interfaces import TOKEN_DTYPE, ConfigInt, TokenizerConfig
from birdie_core.tools.tokenizers import ReservedIds, ReservedIdsTokenizer

__all__ = [
    "PAD_NAMES",
    "OwnTokens",
    "PretrainedTokenizerConfig",
    "ReservedFilter",
    "find_own_tokens",
    "replace_lone_surrogates",
]

log = logging.getLogger(__name__)

#: sentinels reserved when the config does not say and the vocabulary has none of its own
DEFAULT_SENTINELS = 512
#: special tokens taken as the pad when the tokenizer declares none
PAD_NAMES = ("<pad>", "[PAD]", "<|pad|>", "<PAD>", "<|padding|>", "[pad]")


class PretrainedTokenizerConfig(TokenizerConfig):
    """Parameters of a tokenizer with its own vocabulary file: where it is, and which of its tokens to use."""

    path: str = Field(
        description="Local file (or folder) of the tokenizer; relative to the working directory."
    )
    # None rather than a default count: a resolved config written out and read back must keep meaning "as many
    # as the vocabulary has", which a default of 512 (then set explicitly) would not
    num_sentinels: ConfigInt | None = Field(  # type: ignore[assignment]
        None,
        ge=1,
        le=100_000,
        description="How many sentinel ids (<mask_0>, <mask_1>, ...) to reserve; default: as many as the "
        "vocabulary has sentinel tokens of its own (T5's <extra_id_N>), else 512.",
    )
    special_tokens: dict[str, str] = Field(
        default_factory=dict,
        description="Marker name → a token of this vocabulary to use for that marker (e.g. {'[S2S]': "
        "'<extra_id_99>'}); markers not named here use a token of the same text if the vocabulary has one, "
        "else a new id.",
    )
    sentinel_pattern: str = Field(
        r"<extra_id_(\d+)>",
        description="Regular expression over the vocabulary's special tokens; its first group is the sentinel "
        "index (T5 style). Matching tokens are the first sentinels, in index order.",
    )
    pad_token: str | None = Field(
        None, description="A token of this vocabulary to pad with, instead of the one the tokenizer declares."
    )

    @field_validator("sentinel_pattern")
    @classmethod
    def _pattern_has_a_group(cls, v: str) -> str:
        try:
            groups = re.compile(v).groups
        except re.error as e:
            raise ValueError(f"not a regular expression: {e}") from None
        if groups < 1:
            raise ValueError("the pattern needs a group for the sentinel index, e.g. <extra_id_(\\d+)>")
        return v


@dataclass
class OwnTokens:
    """The vocabulary's own ids for Birdie's roles, as :meth:`ReservedIdsTokenizer.reserve` takes them."""

    num_sentinels: int
    pad_id: int | None
    sentinels: list[int] = field(default_factory=list)
    markers: dict[str, int] = field(default_factory=dict)
    #: how the reused ids are shown when decoded: the tokenizer's own text
    names: dict[int, str] = field(default_factory=dict)

    def reserve_in(
        self, tokenizer: ReservedIdsTokenizer[Any], base_size: int, specials: Sequence[str]
    ) -> None:
        try:
            tokenizer.reserve(
                base_size,
                specials,
                num_sentinels=self.num_sentinels,
                pad_id=self.pad_id,
                own_sentinels=self.sentinels,
                own_markers=self.markers,
                names=self.names,
            )
        except ValueError as e:  # two roles on one token: only the config's choices can cause it
            raise ConfigError(
                ConfigIssue(
                    "tokenizer.special_tokens",
                    f"the pad, sentinel and marker tokens must be different tokens of the vocabulary ({e}); "
                    f"pad: {'new id' if self.pad_id is None else self.names.get(self.pad_id)}, markers: "
                    + ", ".join(f"{m} → {self.names.get(i, i)}" for m, i in self.markers.items()),
                )
            ) from None


def find_own_tokens(
    config: PretrainedTokenizerConfig,
    specials: Sequence[str],
    *,
    own_specials: Mapping[str, int],
    token_id: Callable[[str], int | None],
    declared_pads: Sequence[str],
    origin: str,
) -> OwnTokens:
    """Choose the vocabulary's own pad, sentinel and marker ids (rules in the module docstring).

    ``own_specials`` maps the text of the vocabulary's special tokens (added tokens, control and
    user-defined pieces) to their ids; ``token_id`` looks any token up (None when absent); ``declared_pads``
    are the pad tokens the tokenizer declares (the first one it has is used). Every token the config names
    that the vocabulary lacks is reported at once.
    """
    issues: list[ConfigIssue] = []
    names: dict[int, str] = {}

    def look_up(token: str, path: str, role: str) -> int | None:
        i = token_id(token)
        if i is None:
            issues.append(ConfigIssue(path, f"{token!r} ({role}) is not a token of {origin}"))
        else:
            names[i] = token
        return i

    pad_id: int | None = None
    if config.pad_token is not None:
        pad_id = look_up(config.pad_token, "tokenizer.pad_token", "the pad token")
    else:
        found_pads = [(i, t) for t in declared_pads if (i := token_id(t)) is not None]
        found_pads += [(own_specials[t], t) for t in PAD_NAMES if t in own_specials]
        if found_pads:
            pad_id, names[found_pads[0][0]] = found_pads[0]

    pattern = re.compile(config.sentinel_pattern)
    indexed: dict[int, tuple[int, str]] = {}
    for text, i in own_specials.items():
        m = pattern.fullmatch(text)
        if m is not None and m.group(1) is not None and m.group(1).isdigit() and i != pad_id:
            indexed.setdefault(int(m.group(1)), (i, text))
    found = [indexed[k] for k in sorted(indexed)]
    if config.num_sentinels is not None:
        num_sentinels = config.num_sentinels
    else:
        num_sentinels = len(found) if found else DEFAULT_SENTINELS
    sentinels = [i for i, _ in found[:num_sentinels]]
    names.update((i, text) for i, text in found[:num_sentinels])

    markers: dict[str, int] = {}
    # a token found by its name is reused once; a role the config gives explicitly may clash, and is refused
    taken = {*sentinels, *([] if pad_id is None else [pad_id])}
    for marker in specials:
        if marker in config.special_tokens:
            given = look_up(
                config.special_tokens[marker], f"tokenizer.special_tokens.{marker}", f"for {marker}"
            )
            if given is not None:
                markers[marker] = given
        elif marker in own_specials and own_specials[marker] not in taken:
            markers[marker] = own_specials[marker]
            names[own_specials[marker]] = marker
        if marker in markers:
            taken.add(markers[marker])
    if issues:
        raise ConfigError(issues)
    return OwnTokens(num_sentinels, pad_id, sentinels, markers, names)


class ReservedFilter:
    """The safety net of ``encode``: replaces every reserved id an encoder still produced.

    ``encoder_size`` bounds the ids the encoder can produce, ``producible`` (optional, one flag per id) says
    which of them it can produce at all; ``replacement(i)`` gives the ids put in place of reserved id ``i``
    (spelled out in ordinary tokens, the unknown token, or nothing). Each replaced id
    is counted in ``stats["reserved_replaced"]``; the first one is logged as a warning.
    """

    def __init__(
        self,
        reserved: ReservedIds,
        encoder_size: int,
        replacement: Callable[[int], np.ndarray],
        stats: dict[str, int],
        what: str,
        producible: np.ndarray | None = None,
    ):
        ids = np.arange(encoder_size, dtype=np.int64)
        table = reserved.is_special(ids) | (ids >= reserved.base_size)
        if producible is not None:
            table &= producible
        # appended ids lie above the encoder's ids: when it cannot produce any of its own that were reused,
        # there is nothing to check
        self._table = table if table.any() else None
        self._replacement = replacement
        self._replacements: dict[int, np.ndarray] = {}
        self._stats = stats
        self._stats.setdefault("reserved_replaced", 0)
        self._what = what

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        table = self._table
        if table is None or ids.size == 0:
            return ids
        bad = table[ids]
        if not bad.any():
            return ids
        return self._replace(ids, bad)

    def _replace(self, ids: np.ndarray, bad: np.ndarray) -> np.ndarray:
        where = np.flatnonzero(bad)
        if self._stats["reserved_replaced"] == 0:
            first = int(ids[where[0]])
            log.warning(
                "%s: the text produced reserved id %d, which is replaced (%s); further replacements are "
                "counted in the tokenizer's stats['reserved_replaced']",
                self._what,
                first,
                self._replacement_of(first).tolist() or "dropped",
            )
        self._stats["reserved_replaced"] += int(where.size)
        parts = np.split(ids, np.concatenate([where, where + 1]).reshape(2, -1).T.reshape(-1))
        # parts alternate: ordinary run, one reserved id, ordinary run, ...
        out = [p if k % 2 == 0 else self._replacement_of(int(p[0])) for k, p in enumerate(parts)]
        return np.concatenate(out).astype(TOKEN_DTYPE, copy=False)

    def _replacement_of(self, i: int) -> np.ndarray:
        if i not in self._replacements:
            self._replacements[i] = np.asarray(self._replacement(i), dtype=TOKEN_DTYPE).reshape(-1)
        return self._replacements[i]


def replace_lone_surrogates(text: str) -> tuple[str, int]:
    """``text`` with lone surrogates replaced by U+FFFD (pairs of surrogates joined), and how many.

    A Python string may hold them (e.g. JSON's ``"\\ud800"``), but they have no UTF-8 form, which is what the
    tokenizer libraries take: they refuse such a string.
    """
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return fixed, fixed.count("\ufffd") - text.count("\ufffd")
