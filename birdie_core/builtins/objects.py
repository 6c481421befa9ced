"""Tokenizer objects given through the Python API (``Birdie({"tokenizer": obj, ...})``), wrapped and checked.

:func:`wrap_tokenizer_object` turns the object into a Birdie tokenizer, keeping the object's own ids:

- a tiktoken ``Encoding`` → :class:`~birdie_core.builtins.tokenizers.TiktokenTokenizer`;
- a ``tokenizers.Tokenizer`` or a fast transformers tokenizer →
  :class:`~birdie_core.builtins.huggingface.HuggingFaceTokenizer`;
- a slow (Python) transformers tokenizer → :class:`SlowTransformersTokenizer`, which encodes without the
  tokenizer's BOS/EOS;
- a ``sentencepiece.SentencePieceProcessor`` →
  :class:`~birdie_core.builtins.sentencepiece.SentencePieceTokenizer`;
- any other object with ``encode(str) -> list[int]`` and ``decode(list[int]) -> str`` →
  :class:`ObjectTokenizer`.

The type is recognised without importing the optional packages: an object of one of their classes can only
exist once its package is imported, so a package missing from ``sys.modules`` rules its types out.

:func:`check_tokenizer_object` runs once, when the pipeline's components are resolved in the training process
(``Birdie(...)``, ``Pipeline.from_config``, ``birdie train``), so that a broken object fails there with a
:class:`~birdie_core.errors.ConfigError` rather than in a worker at the first batch:

- **ids**: a sample text must encode to a non-empty sequence of ints inside the vocabulary, and decode to a
  ``str``;
- **round trip**: a decode that does not give the sample back is logged as a warning naming the first
  difference, not refused: lossy tokenizers are common and legitimate (WordPiece lower-cases, unknown
  characters become ``[UNK]``);
- **pickling**: with ``num_workers > 0`` on a platform whose workers cannot be forked, the object travels to
  them pickled, so one that cannot be pickled is refused with the ways to pass it instead. Forked workers
  inherit the object, so there nothing is required.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import sys
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from birdie_core.config.original import describe_type, tokenizer_object_problem
from birdie_core.errors import BirdieError, ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import TOKEN_DTYPE, Tokenizer, TokenizerConfig
from birdie_core.tools.tokenizers import ReservedIdsTokenizer

__all__ = [
    "SAMPLE_TEXT",
    "ObjectTokenizer",
    "ObjectTokenizerConfig",
    "SlowTransformersTokenizer",
    "check_tokenizer_object",
    "tokenizer_object_kind",
    "wrap_tokenizer_object",
]

log = logging.getLogger(__name__)

#: What :func:`check_tokenizer_object` encodes: digits, accents and CJK find the common ways a tokenizer fails.
SAMPLE_TEXT = "Birdie checks tokenizers: 123 äöü 漢字."

_PATH = "tokenizer"
_BY_NAME = (
    "configure the tokenizer by name instead, e.g. `tokenizer: {name: huggingface, path: tokenizer.json}` "
    "or `tokenizer: {name: sentencepiece, path: spm.model}`"
)

TokenizerObjectKind = Literal["tiktoken", "huggingface", "transformers_slow", "sentencepiece", "object"]


def _imported_class(module: str, name: str) -> type | None:
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) else None


def tokenizer_object_kind(obj: Any) -> TokenizerObjectKind:
    """Which adapter wraps ``obj``; ``"object"`` for anything that is not a known tokenizer type."""
    checks: tuple[tuple[TokenizerObjectKind, str, str], ...] = (
        ("tiktoken", "tiktoken", "Encoding"),
        ("huggingface", "tokenizers", "Tokenizer"),
        ("huggingface", "transformers.tokenization_utils_base", "PreTrainedTokenizerBase"),
        ("sentencepiece", "sentencepiece", "SentencePieceProcessor"),
    )
    for kind, module, name in checks:
        cls = _imported_class(module, name)
        if cls is not None and isinstance(obj, cls):
            # a transformers tokenizer is fast when a tokenizers.Tokenizer does its work
            if module.startswith("transformers") and not getattr(obj, "is_fast", False):
                return "transformers_slow"
            return kind
    return "object"


def wrap_tokenizer_object(
    obj: Any, specials: Sequence[str] = (), num_sentinels: int | None = None
) -> Tokenizer:
    """A Birdie tokenizer over ``obj`` (see the module docstring), with one id per name in ``specials``
    reserved. The object's own ids are kept (tiktoken's move up by one, as in the ``tiktoken`` tokenizer).

    ``num_sentinels``: how many sentinels to reserve; None leaves it to the adapter (a Hugging Face or
    SentencePiece vocabulary with sentinel tokens of its own uses exactly those, the others reserve 512).
    """
    kind = tokenizer_object_kind(obj)
    if kind == "tiktoken":
        from birdie_core.builtins.tokenizers import TiktokenTokenizer

        if num_sentinels is None:
            return TiktokenTokenizer.from_encoding(obj, specials)
        return TiktokenTokenizer.from_encoding(obj, specials, num_sentinels)
    if kind == "huggingface":
        from birdie_core.builtins.huggingface import HuggingFaceTokenizer

        hf_config = None
        if num_sentinels is not None:  # its path is never read: the object is the tokenizer
            hf_config = HuggingFaceTokenizer.Config(
                name="huggingface", path=_given_path(obj), num_sentinels=num_sentinels
            )
        return HuggingFaceTokenizer.from_object(obj, specials, hf_config)
    if kind == "sentencepiece":
        from birdie_core.builtins.sentencepiece import SentencePieceTokenizer

        sp_config = None
        if num_sentinels is not None:
            sp_config = SentencePieceTokenizer.Config(
                name="sentencepiece", path=_given_path(obj), num_sentinels=num_sentinels
            )
        return SentencePieceTokenizer.from_object(obj, specials, sp_config)
    config = ObjectTokenizerConfig(name="object")
    if num_sentinels is not None:
        config = ObjectTokenizerConfig(name="object", num_sentinels=num_sentinels)
    cls = SlowTransformersTokenizer if kind == "transformers_slow" else ObjectTokenizer
    return cls(obj, specials, config)


def _given_path(obj: Any) -> str:
    return f"<{describe_type(obj)} given directly>"


# ---------------------------------------------------------------------------------------------------------
# Any object with encode / decode
# ---------------------------------------------------------------------------------------------------------

#: Where an object may say how many ids it has (attributes or no-argument methods); the largest is used.
VOCAB_SIZE_ATTRIBUTES = ("vocab_size", "n_vocab", "get_vocab_size")
#: Where an object may name its own pad id (a negative value or None means it has none).
PAD_ID_ATTRIBUTES = ("pad_token_id", "pad_id")


class ObjectTokenizerConfig(TokenizerConfig):
    """Parameters of a tokenizer object wrapped by :class:`ObjectTokenizer`: only those every tokenizer has."""


def _int_attribute(obj: Any, name: str) -> int | None:
    """``obj.<name>``, or what it returns when it is a method, when that is an int; else None."""
    value = getattr(obj, name, None)
    if callable(value):
        try:
            value = value()
        except Exception:  # noqa: BLE001 - a method that needs arguments, or a property of another meaning
            return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        return None
    return int(value)


def base_vocab_size(obj: Any) -> int | None:
    """How many ids ``obj`` has: the largest of ``vocab_size``, ``n_vocab``, ``get_vocab_size()`` and
    ``len(obj)`` that it has, or None when it has none of them.

    The largest, because where two differ the larger one counts tokens the other leaves out (a transformers
    tokenizer's ``vocab_size`` omits its added tokens, ``len()`` counts them), and an id at or above the size
    would be refused.
    """
    sizes = [s for s in (_int_attribute(obj, n) for n in VOCAB_SIZE_ATTRIBUTES) if s is not None]
    if hasattr(type(obj), "__len__"):
        with contextlib.suppress(Exception):  # a __len__ that fails does not count ids
            sizes.append(len(obj))
    sizes = [s for s in sizes if s > 0]
    return max(sizes) if sizes else None


def own_pad_id(obj: Any) -> int | None:
    """The pad id ``obj`` names (``pad_token_id``, ``pad_id``), or None when it has none."""
    for name in PAD_ID_ATTRIBUTES:
        pad = _int_attribute(obj, name)
        if pad is not None and pad >= 0:
            return pad
    return None


class ObjectTokenizer(ReservedIdsTokenizer[ObjectTokenizerConfig]):
    """Any object with ``encode(str) -> list[int]`` and ``decode(list[int]) -> str``, its ids unshifted.

    The base vocabulary is :func:`base_vocab_size`; without one a :class:`ConfigError` asks for it, since a
    guessed size that is too small would give reserved ids that collide with the object's own. The pad id is
    the object's own (:func:`own_pad_id`) or one appended above its vocabulary, then the sentinels and
    markers. :meth:`encode` refuses ids outside the base vocabulary (and the object's own pad id), which would
    otherwise reach a model as reserved ids or past its embedding.
    """

    Config = ObjectTokenizerConfig

    def __init__(
        self, obj: Any, specials: Sequence[str] = (), config: ObjectTokenizerConfig | None = None
    ) -> None:
        problem = tokenizer_object_problem(obj)
        if problem is not None:
            raise ConfigError(ConfigIssue(_PATH, problem))
        size = base_vocab_size(obj)
        if size is None:
            raise ConfigError(
                ConfigIssue(
                    _PATH,
                    f"cannot tell how many ids the tokenizer object ({describe_type(obj)}) has: give it a "
                    "`vocab_size` attribute (every id encode returns must be below it), or " + _BY_NAME,
                )
            )
        pad = own_pad_id(obj)
        if pad is not None and pad >= size:
            raise ConfigError(
                ConfigIssue(
                    _PATH,
                    f"the tokenizer object ({describe_type(obj)}) names pad id {pad}, outside its vocabulary of "
                    f"{size} ids: correct its vocab_size or its pad id",
                )
            )
        self.config = config or ObjectTokenizerConfig(name="object")
        self.obj = obj
        self.base_size = size
        self._own_pad = pad
        self.reserve(size, specials, pad_id=pad)

    @classmethod
    def from_object(
        cls, obj: Any, specials: Sequence[str] = (), config: ObjectTokenizerConfig | None = None
    ) -> ObjectTokenizer:
        """Wrap ``obj`` (the same as the constructor, named like the other adapters' constructors)."""
        return cls(obj, specials, config)

    def _encode_raw(self, text: str) -> Any:
        return self.obj.encode(text)

    def _decode_raw(self, ids: list[int]) -> Any:
        return self.obj.decode(ids)

    def encode(self, text: str) -> np.ndarray:
        raw = self._encode_raw(text)
        try:
            ids = np.asarray(raw)
        except Exception:  # noqa: BLE001 - whatever the object returned, the message below says what it was
            ids = np.asarray(None, dtype=object)
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise PipelineError(
                f"the tokenizer object ({describe_type(self.obj)}) encoded {_excerpt(text)} as "
                f"{_describe_result(raw)}: encode must return a flat sequence of ints"
            )
        if ids.size == 0:
            return np.zeros(0, dtype=TOKEN_DTYPE)
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.base_size:
            bad = low if low < 0 else high
            raise PipelineError(
                f"the tokenizer object ({describe_type(self.obj)}) encoded {_excerpt(text)} with id {bad}, "
                f"outside its vocabulary [0, {self.base_size}): correct its vocab_size, or " + _BY_NAME
            )
        if self._own_pad is not None and bool((ids == self._own_pad).any()):
            raise PipelineError(
                f"the tokenizer object ({describe_type(self.obj)}) encoded {_excerpt(text)} with its own pad id "
                f"{self._own_pad}: padding must never come out of encode"
            )
        return ids.astype(TOKEN_DTYPE, copy=False)

    def decode_run(self, run: np.ndarray) -> str:
        text = self._decode_raw(run.tolist())
        if not isinstance(text, str):
            raise PipelineError(
                f"the tokenizer object ({describe_type(self.obj)}) decoded ids to {_describe_result(text)}: "
                "decode must return a str"
            )
        return text

    def __repr__(self) -> str:
        return f"ObjectTokenizer({describe_type(self.obj)}, vocab_size={self.vocab_size})"


class SlowTransformersTokenizer(ObjectTokenizer):
    """A slow (pure Python) transformers tokenizer, wrapped as any object is, but encoding without its BOS/EOS
    (``add_special_tokens=False``: a document's tokens are only its text's) and decoding every id as it is.

    Its pad token is used (``pad_token_id``), its other special tokens are not reused as sentinels or
    markers; load the fast version of the tokenizer to have them reused too.
    """

    def _encode_raw(self, text: str) -> Any:
        return self.obj.encode(text, add_special_tokens=False)

    def _decode_raw(self, ids: list[int]) -> Any:
        return self.obj.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _excerpt(text: str, limit: int = 40) -> str:
    shown = text if len(text) <= limit else text[:limit] + "…"
    return f"the text {shown!r}"


def _describe_result(value: Any) -> str:
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 60 else shown[:60] + '…'}"


# ---------------------------------------------------------------------------------------------------------
# The check at build time
# ---------------------------------------------------------------------------------------------------------


def check_tokenizer_object(
    obj: Any, tokenizer: Tokenizer, *, num_workers: int = 0, workers_fork: bool = True
) -> None:
    """Check, once, that ``tokenizer`` (the wrapped ``obj``) works and can reach the workers; see the module
    docstring. Raises :class:`ConfigError` (path ``tokenizer``) naming the object's type."""
    what = f"the tokenizer object ({describe_type(obj)})"
    try:
        ids = tokenizer.encode(SAMPLE_TEXT)
    except ConfigError:
        raise
    except BirdieError as exc:  # the wrapper's own check of the ids: its message says what is wrong
        raise ConfigError(ConfigIssue(_PATH, str(exc))) from exc
    except Exception as exc:
        raise ConfigError(
            ConfigIssue(_PATH, f"{what} failed to encode the sample text {SAMPLE_TEXT!r}: {_reason(exc)}")
        ) from exc
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ConfigError(
            ConfigIssue(
                _PATH, f"{what} encoded the sample text as {_describe_result(ids)}, not a sequence of ints"
            )
        )
    if arr.size == 0:
        raise ConfigError(
            ConfigIssue(_PATH, f"{what} encoded the sample text {SAMPLE_TEXT!r} as no ids at all")
        )
    outside = arr[(arr < 0) | (arr >= tokenizer.vocab_size)]
    if outside.size:
        raise ConfigError(
            ConfigIssue(
                _PATH,
                f"{what} encoded the sample text with id {int(outside[0])}, outside its vocabulary "
                f"[0, {tokenizer.vocab_size})",
            )
        )
    reserved = arr[tokenizer.is_special(arr)]
    if reserved.size:
        raise ConfigError(
            ConfigIssue(
                _PATH,
                f"{what} encoded the sample text with id {int(reserved[0])}, which Birdie reserved (pad, "
                "sentinel or marker): ordinary text must never give a reserved id",
            )
        )
    try:
        text = tokenizer.decode(arr)
    except BirdieError as exc:
        raise ConfigError(ConfigIssue(_PATH, str(exc))) from exc
    except Exception as exc:
        raise ConfigError(
            ConfigIssue(_PATH, f"{what} failed to decode the ids of the sample text: {_reason(exc)}")
        ) from exc
    if not isinstance(text, str):
        raise ConfigError(
            ConfigIssue(_PATH, f"{what} decoded the sample text's ids to {_describe_result(text)}, not a str")
        )
    if text != SAMPLE_TEXT:
        log.warning(
            "%s does not decode text back exactly (fine for a lossy tokenizer, e.g. one that lower-cases "
            "or has an unknown token; a model then never sees what it drops): %s",
            what,
            first_difference(SAMPLE_TEXT, text),
        )
    if num_workers > 0 and not workers_fork:
        try:
            pickle.dumps(obj)
        except Exception as exc:
            raise ConfigError(
                ConfigIssue(
                    _PATH,
                    f"{what} cannot be pickled ({_reason(exc)}), and the {num_workers} worker processes "
                    "(workers.num_workers) receive it pickled on this platform: pass a picklable object, or "
                    + _BY_NAME
                    + ", or set workers.num_workers to 0 (num_workers: 0 in the flat form)",
                )
            ) from exc


def first_difference(expected: str, got: str) -> str:
    """Where ``got`` first differs from ``expected``, with a little context either side."""
    i = next((k for k, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    start = max(0, i - 8)
    return (
        f"from character {i}, {expected[start : i + 12]!r} came back as {got[start : i + 12]!r} "
        f"(whole: {got[:80]!r})"
    )


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
