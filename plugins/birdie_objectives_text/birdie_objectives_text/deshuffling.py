"""``deshuffling``: a slice of text with some of its characters (or tokens) permuted → the original."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from birdie_core import (
    TOKEN_DTYPE,
    ConfigFloat,
    Example,
    Objective,
    ObjectiveConfig,
    ObjectiveContext,
    Tokenizer,
)
from birdie_core.tools import check_length_allows, copy_length, room

__all__ = ["Deshuffling", "DeshufflingConfig", "permute_fraction"]

MIN_TOKENS = 4
#: re-encoding attempts when shuffled characters tokenize longer than the budget allows
MAX_FIT_ATTEMPTS = 6
#: most leading tokens kept as they are when a slice starts inside a character or a word
MAX_HEAD_TOKENS = 8
#: tokens decoded to judge whether a slice starts cleanly: enough to complete a 4-byte character
_START_WINDOW = 4
_REPLACEMENT = "\ufffd"


def permute_fraction(values: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``values`` in which ``round(len * fraction)`` (at least 2) randomly chosen positions
    exchange their values by a uniform random permutation; the other positions keep theirs."""
    n = values.shape[0]
    if n < 2:
        return values.copy()
    if fraction >= 1.0:
        return rng.permutation(values)
    m = min(max(round(n * fraction), 2), n)
    chosen = rng.choice(n, m, replace=False)
    out = values.copy()
    out[chosen] = values[rng.permutation(chosen)]
    return out


def _shuffle_characters(text: str, fraction: float, rng: np.random.Generator) -> str:
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return permute_fraction(codes, fraction, rng).tobytes().decode("utf-32-le", "surrogatepass")


class DeshufflingConfig(ObjectiveConfig):
    """Parameters of ``deshuffling``: the share of units permuted, and what a unit is."""

    fraction: ConfigFloat = Field(
        0.5, gt=0.0, le=1.0, description="Share of the units that are permuted (paper: 0.5 or 1.0)."
    )
    unit: Literal["characters", "tokens"] = Field(
        "characters", description="What is shuffled: decoded characters (default) or token ids."
    )

    _length_allows = field_validator("length")(check_length_allows(MIN_TOKENS, "deshuffling"))


class Deshuffling(Objective[DeshufflingConfig]):
    """Input: a slice of the text with a ``fraction`` of its units permuted among themselves. Target: the
    slice as it was (the document's own tokens).

    ``unit: characters`` (default, as the original project does for text): the consumed tokens are decoded,
    ``round(characters * fraction)`` characters are permuted, and the result is encoded again. A shuffled
    text usually tokenizes into more tokens than the original; when input and target would then overflow
    the budget, fewer document tokens are taken (in proportion to the overflow, with a 1/16 margin) and the
    slice is shuffled again (both sides shrink together, so the input is always a shuffle of exactly the
    target's text; at most 6 tries, then no example). A slice is never cut inside a character: when its
    decoded text ends in a partial character and the document goes on, up to three tokens are left for the
    next example. A slice may start inside a character or a word that an earlier example (of any objective)
    cut, where its first tokens decoded alone are not the text they stand for (U+FFFD for the tail of a
    character, WordPiece's ``##ing``): those tokens (up to eight) start the input as they are, and the
    shuffled text follows them.

    ``unit: tokens`` (the paper's description): the same on token ids, so the input is a permutation of the
    target and both have the same length.

    Every token is paid for twice, so at most ``(budget - markers + 1) // 2`` tokens are consumed. Fewer than
    4 usable tokens (or 2 characters) make no example.
    """

    Config = DeshufflingConfig
    target_shares = "permutation"  # the input holds the target's units, in another order
    MIN_TOKENS: ClassVar[int] = MIN_TOKENS
    min_document_tokens = MIN_TOKENS

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        n = copy_length(self, tokens, budget, ctx, MIN_TOKENS)
        if n < MIN_TOKENS:
            return None, tokens
        fraction = self.config.fraction
        if self.config.unit == "tokens":
            span = tokens[:n]
            return self.make_example(permute_fraction(span, fraction, ctx.rng), span, ctx, n), tokens[n:]
        return self._build_characters(tokens, n, room(self, budget), fraction, ctx)

    def _build_characters(
        self, tokens: np.ndarray, n: int, limit: int, fraction: float, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        tok = ctx.tokenizer
        head = _unclean_head(tokens[:n], tok)
        for _ in range(MAX_FIT_ATTEMPTS):
            if n < MIN_TOKENS or n <= head:
                break
            text = tok.decode(tokens[head:n])
            if text.endswith(_REPLACEMENT) and n < tokens.shape[0]:
                n, text = _whole_characters(tokens, head, n, text, tok.decode)
            if len(text) < 2:
                break
            shuffled = np.concatenate(
                [tokens[:head], tok.encode(_shuffle_characters(text, fraction, ctx.rng))]
            ).astype(TOKEN_DTYPE, copy=False)
            if 1 <= shuffled.shape[0] and shuffled.shape[0] + n <= limit:
                return self.make_example(shuffled, tokens[:n], ctx, consumed=n), tokens[n:]
            # too long once re-encoded: take fewer document tokens, in proportion to the overflow and 1/16
            # below it (aiming at the limit itself failed again about half the time: a shuffle of the shorter
            # text tokenizes a little differently, and every retry costs another encode)
            n = min(n - 1, n * (limit - limit // 16) // (shuffled.shape[0] + n))
        return None, tokens


def _unclean_head(tokens: np.ndarray, tok: Tokenizer) -> int:
    """How many leading tokens do not decode, alone, to the text they stand for in the document: 0 for a
    slice that starts cleanly.

    Token ``k`` starts cleanly when the text of the few tokens from it on encodes back to it first. The tail
    of a cut character (U+FFFD) does not, nor does a piece that continues a word (WordPiece's ``##ing``).
    A piece that merely lacks its word's leading space (a SentencePiece piece inside a word) does not
    either, and stays unshuffled: a little less shuffling, no wrong text. When none of the first
    :data:`MAX_HEAD_TOKENS` starts cleanly (a tokenizer whose tokens never encode back alone), none is kept
    and the whole slice is shuffled as decoded.
    """
    for k in range(min(MAX_HEAD_TOKENS, tokens.shape[0])):
        again = np.asarray(tok.encode(tok.decode(tokens[k : k + _START_WINDOW])))
        if again.shape[0] and again[0] == tokens[k]:
            return k
    return 0


def _whole_characters(
    tokens: np.ndarray, head: int, n: int, text: str, decode: Callable[[np.ndarray], str]
) -> tuple[int, str]:
    """Step back up to three tokens so the slice does not end inside a multi-token character; ``text`` is
    the decoded ``tokens[head:n]``."""
    for m in range(n - 1, max(n - 4, MIN_TOKENS - 1, head), -1):
        shorter = decode(tokens[head:m])
        if not shorter.endswith(_REPLACEMENT):
            return m, shorter
    return n, text
