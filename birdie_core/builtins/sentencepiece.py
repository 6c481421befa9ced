"""The ``sentencepiece`` tokenizer: a local SentencePiece ``.model`` file, own ids kept.

Ids are the model's own piece ids. The pad is the model's ``pad_id()`` when it has one; sentinels and
markers reuse its pieces (``<extra_id_N>``, a piece named like the marker, or ``special_tokens`` in the
config) and are appended above its pieces otherwise (rules: :mod:`birdie_core.builtins.own_tokens`).
``sentencepiece`` is imported only when such a tokenizer is built (``pip install 'birdie-core[sentencepiece]'``).

SentencePiece never produces a control piece (``<pad>``, ``<s>``, a control ``<extra_id_N>``) from text, but
it matches a user-defined piece wherever its text occurs. A reserved id produced that way (the text
``<extra_id_0>`` where ``<extra_id_0>`` is a user-defined sentinel) is spelled out: replaced by the pieces
of its characters, or their UTF-8 byte pieces (``<0xNN>``) when the model has byte fallback, or the unknown
piece when neither exists; counted in ``stats["reserved_replaced"]``. The text thus stays ordinary text
and decodes back to itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from birdie_core.builtins.own_tokens import (
    PretrainedTokenizerConfig,
    ReservedFilter,
    find_own_tokens,
    replace_lone_surrogates,
)
from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.interfaces import TOKEN_DTYPE
from birdie_core.tools.tokenizers import ReservedIdsTokenizer

if TYPE_CHECKING:  # imported lazily: importing birdie_core must not import sentencepiece
    import sentencepiece

__all__ = ["SentencePieceTokenizer", "SentencePieceTokenizerConfig"]

_PATH = "tokenizer.path"


class SentencePieceTokenizerConfig(PretrainedTokenizerConfig):
    """Parameters of the ``sentencepiece`` tokenizer: a local model file and which of its pieces to use."""

    path: str = Field(
        description="A local SentencePiece model file (.model; in a transformers folder often spiece.model "
        "or tokenizer.model). Relative to the working directory; nothing is downloaded."
    )


def _import_sentencepiece() -> ModuleType:
    try:
        import sentencepiece
    except ImportError:
        raise ConfigError(
            ConfigIssue(
                "tokenizer",
                "the sentencepiece tokenizer needs the `sentencepiece` package, which is not installed: "
                "pip install 'birdie-core[sentencepiece]'",
            )
        ) from None
    return sentencepiece


def _load_model(path: str) -> sentencepiece.SentencePieceProcessor:
    spm = _import_sentencepiece()
    if not os.path.isfile(path):
        where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
        what = "is a folder, not a .model file" if os.path.isdir(path) else "does not exist"
        raise ConfigError(
            ConfigIssue(
                _PATH,
                f"SentencePiece model {path!r} {what}{where}. Birdie reads a local .model file and never "
                "downloads one; a model's files on the Hugging Face Hub usually include it (spiece.model or "
                "tokenizer.model): download it on a machine with internet access and set tokenizer.path to "
                "the local copy.",
            )
        )
    try:
        return spm.SentencePieceProcessor(model_file=path)
    except Exception as e:  # noqa: BLE001 - RuntimeError or OSError, depending on what is wrong with the file
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(ConfigIssue(_PATH, f"{path}: not a valid SentencePiece model ({reason})")) from None


class SentencePieceTokenizer(ReservedIdsTokenizer[SentencePieceTokenizerConfig]):
    """A SentencePiece model with its own ids (module docstring: how specials are chosen and kept out of
    ``encode``). ``appended`` says how many ids were added above the model's pieces; ``stats`` counts lone
    surrogates replaced by U+FFFD and reserved ids spelled out."""

    Config = SentencePieceTokenizerConfig

    def __init__(self, config: SentencePieceTokenizerConfig, specials: Sequence[str] = ()):
        self._setup(config, _load_model(config.path), specials, config.path)

    @classmethod
    def from_object(
        cls, obj: Any, specials: Sequence[str] = (), config: SentencePieceTokenizerConfig | None = None
    ) -> SentencePieceTokenizer:
        """Wrap a ``sentencepiece.SentencePieceProcessor`` (copied, never changed; its encode options such as
        added BOS/EOS are not carried over). ``config`` (optional) chooses pieces as in a file's config."""
        spm = _import_sentencepiece()
        if not isinstance(obj, spm.SentencePieceProcessor):
            raise ConfigError(
                ConfigIssue(
                    "tokenizer",
                    f"a {type(obj).__name__} is not a sentencepiece.SentencePieceProcessor; for a Hugging Face "
                    "tokenizer use the huggingface tokenizer",
                )
            )
        if config is None:
            config = SentencePieceTokenizerConfig(
                name="sentencepiece", path="<a SentencePieceProcessor given directly>"
            )
        self = cls.__new__(cls)
        copy = spm.SentencePieceProcessor(model_proto=obj.serialized_model_proto())
        self._setup(config, copy, specials, "a SentencePieceProcessor given directly")
        return self

    def _setup(
        self,
        config: SentencePieceTokenizerConfig,
        sp: sentencepiece.SentencePieceProcessor,
        specials: Sequence[str],
        origin: str,
    ) -> None:
        self.config = config
        #: the SentencePiece model; used with its defaults (no BOS/EOS, no sampling)
        self.processor = sp
        #: where the model came from, for logs and reports
        self.vocab_origin = origin
        self.stats: dict[str, int] = {"surrogates_replaced": 0, "reserved_replaced": 0}
        # sentencepiece >= 0.2.1 writes ids straight into an array: no Python list of ints on the way
        self._out_type: Any = "numpy" if hasattr(sp, "EncodeAsNumpy") else int

        size = int(sp.get_piece_size())
        self._pieces: list[str] = list(sp.id_to_piece(list(range(size))))
        control = np.array([sp.is_control(i) or sp.is_unused(i) for i in range(size)], dtype=bool)
        self._ordinary = ~control
        self._ordinary[sp.unk_id()] = False
        by_text = {
            p: i
            for i, p in enumerate(self._pieces)
            if not (sp.is_unknown(i) or sp.is_byte(i) or sp.is_unused(i))
        }
        own = find_own_tokens(
            config,
            specials,
            own_specials=by_text,
            token_id=self._piece_id,
            declared_pads=[self._pieces[sp.pad_id()]] if sp.pad_id() >= 0 else [],
            origin=origin,
        )
        own.reserve_in(self, size, specials)
        #: ids appended above the model's pieces: embeddings a model of this tokenizer must add
        self.appended = self.reserved.appended
        # control pieces never come out of SentencePiece's encoder: a reserved control piece (T5's <pad>)
        # costs encode nothing
        self._filter = ReservedFilter(
            self.reserved,
            size,
            self._spelled_out,
            self.stats,
            f"sentencepiece tokenizer ({origin})",
            producible=~control,
        )

    def _piece_id(self, piece: str) -> int | None:
        # piece_to_id answers the unknown id for a piece the model lacks: only an exact match counts
        i = int(self.processor.piece_to_id(piece))
        return i if 0 <= i < len(self._pieces) and self._pieces[i] == piece else None

    def _usable(self, i: int | None) -> bool:
        return i is not None and bool(self._ordinary[i]) and not self.reserved.is_special(np.asarray([i]))[0]

    def _spelled_out(self, i: int) -> np.ndarray:
        """Ordinary pieces for the text of reserved piece ``i``: one per character, else its UTF-8 bytes."""
        out: list[int] = []
        unk = int(self.processor.unk_id())
        for ch in self._pieces[i]:
            one = self._piece_id(ch)
            if self._usable(one):
                out.append(one)  # type: ignore[arg-type]
                continue
            raw = [self._piece_id(f"<0x{b:02X}>") for b in ch.encode("utf-8")]
            if all(self._usable(b) for b in raw):
                out.extend(raw)  # type: ignore[arg-type]
            elif 0 <= unk < len(self._pieces) and not self.reserved.is_special(np.asarray([unk]))[0]:
                out.append(unk)
        return np.asarray(out, dtype=TOKEN_DTYPE)

    # -- encoding ---------------------------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        try:
            ids = self.processor.encode(text, out_type=self._out_type)
        except (RuntimeError, TypeError, UnicodeEncodeError):  # lone surrogates: replaced, as `bytes` does
            if not isinstance(text, str):
                raise
            ids = self.processor.encode(self._fix_surrogates(text), out_type=self._out_type)
        return self._filter(np.array(ids, dtype=TOKEN_DTYPE))  # a copy: numpy output is read-only

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """``[encode(t) for t in texts]``, in one call of the library (its threads)."""
        texts = list(texts)
        try:
            batch = self.processor.encode(texts, out_type=self._out_type)
        except (RuntimeError, TypeError, UnicodeEncodeError):
            texts = [self._fix_surrogates(t) if isinstance(t, str) else t for t in texts]
            batch = self.processor.encode(texts, out_type=self._out_type)
        check = self._filter
        return [check(np.array(ids, dtype=TOKEN_DTYPE)) for ids in batch]

    def _fix_surrogates(self, text: str) -> str:
        fixed, n = replace_lone_surrogates(text)
        self.stats["surrogates_replaced"] += n
        return fixed

    def decode_run(self, run: np.ndarray) -> str:
        return str(self.processor.decode(run.tolist()))

    def base_token_texts(self) -> list[str]:
        # the whole vocabulary in one call of the library, each piece decoded alone (as decode_run does)
        return [str(t) for t in self.processor.decode([[i] for i in range(len(self._pieces))])]

    # -- worker processes: the model's bytes travel, never its path ----------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "markers": self.reserved.markers,
            "model": self.processor.serialized_model_proto(),
            "origin": self.vocab_origin,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        spm = _import_sentencepiece()
        sp = spm.SentencePieceProcessor(model_proto=state["model"])
        self._setup(state["config"], sp, state["markers"], state["origin"])

    def __repr__(self) -> str:
        return (
            f"SentencePieceTokenizer({self.vocab_origin!r}, vocab_size={self.vocab_size}, "
            f"appended={self.appended})"
        )
