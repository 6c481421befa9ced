"""The ``huggingface`` tokenizer: a local ``tokenizer.json`` (or a folder saved by transformers), own ids kept.

Ids are the tokenizer's own, so continued pre-training of an existing model works. The pad, the sentinels
and the markers reuse the tokenizer's own tokens where it has them (see :mod:`birdie_core.builtins.own_tokens`
for the rules) and are appended above its vocabulary otherwise: ``vocab_size`` is the size the model's
embedding needs and ``appended`` how many embeddings to add to an existing model.

Nothing is downloaded: ``path`` must be local. ``tokenizers`` is imported only when such a tokenizer is
built (``pip install 'birdie-core[hf]'``); transformers only for a folder without ``tokenizer.json``.

How ``encode`` keeps to "look-alikes are ordinary text": it encodes with its own copy of the tokenizer,
with ``add_special_tokens=False`` (no BOS/EOS from the post-processor), ``encode_special_tokens=True`` (the
text ``<pad>`` is not matched as the added token ``<pad>``), no truncation and no padding. In that copy the
reserved added tokens are made special, so non-special ones are not matched either, and every special or
reserved token that is also an entry of the model's own vocabulary (a Unigram piece such as T5's
``<extra_id_0>``, a WordPiece or WordLevel entry, a BPE entry no merge involves) is renamed to a string no
text contains, so that the model spells the text out in ordinary tokens instead. Ids are unchanged, and the
original tokenizer decodes. What can still produce a reserved id (an ordinary token of the model given a
role in the config, such as ``pad_token: "!"``) is replaced by the tokenizer's unknown token, or dropped
when it has none, and counted in ``stats["reserved_replaced"]``
(:class:`~birdie_core.builtins.own_tokens.ReservedFilter`).
"""

from __future__ import annotations

import json
import os
import re
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

if TYPE_CHECKING:  # imported lazily: importing birdie_core must not import tokenizers
    import tokenizers

__all__ = ["HuggingFaceTokenizer", "HuggingFaceTokenizerConfig", "load_tokenizer_files"]

_PATH = "tokenizer.path"
#: what a name of the Hugging Face Hub looks like ("gpt2", "meta-llama/Llama-3-8B")
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


class HuggingFaceTokenizerConfig(PretrainedTokenizerConfig):
    """Parameters of the ``huggingface`` tokenizer: a local tokenizer and which of its tokens to use."""

    path: str = Field(
        description="A local tokenizer.json, or a folder saved by transformers' save_pretrained (with a "
        "tokenizer.json; other folders need transformers). Relative to the working directory; never a Hub "
        "name: nothing is downloaded."
    )


def _import_tokenizers() -> ModuleType:
    try:
        import tokenizers
    except ImportError:
        raise ConfigError(
            ConfigIssue(
                "tokenizer",
                "the huggingface tokenizer needs the `tokenizers` package, which is not installed: "
                "pip install 'birdie-core[hf]'",
            )
        ) from None
    if not hasattr(tokenizers.Tokenizer, "encode_special_tokens"):
        raise ConfigError(
            ConfigIssue(
                "tokenizer",
                f"tokenizers {tokenizers.__version__} is too old for Birdie (it cannot encode special-token "
                "look-alikes as text): pip install 'birdie-core[hf]' installs a recent one",
            )
        )
    return tokenizers


def _missing_path_message(path: str) -> str:
    hub_like = _HUB_NAME.fullmatch(path) is not None and not path.endswith((".json", "/"))
    name = path if hub_like else "NAME"
    where = "" if os.path.isabs(path) else f" (relative to {os.getcwd()})"
    head = (
        f"{path!r} is not a local file or folder{where}; it looks like a Hugging Face Hub name, but"
        if hub_like
        else f"tokenizer file or folder {path!r} does not exist{where};"
    )
    return (
        f"{head} Birdie never downloads a tokenizer (it must run without network access). Get its files on a "
        f"machine with internet access with one of\n"
        f"    hf download {name} tokenizer.json tokenizer_config.json --local-dir DIR\n"
        f'    python -c "from transformers import AutoTokenizer; '
        f"AutoTokenizer.from_pretrained('{name}').save_pretrained('DIR')\"\n"
        f"    (older huggingface_hub versions call the first `huggingface-cli download`)\n"
        f"    then set tokenizer.path: DIR (the folder, or DIR/tokenizer.json)."
    )


def _declared_pad_in(folder: str) -> str | None:
    """The pad token a transformers folder declares (tokenizer_config.json, then special_tokens_map.json)."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            continue
        try:
            with open(file, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(ConfigIssue(_PATH, f"{file}: not a readable JSON file ({e})")) from None
        pad = data.get("pad_token") if isinstance(data, dict) else None
        if isinstance(pad, dict):  # an AddedToken written out: {"content": "<pad>", ...}
            pad = pad.get("content")
        if isinstance(pad, str):
            return pad
    return None


def _backend_of(obj: Any, tokenizers: ModuleType) -> tuple[tokenizers.Tokenizer, str | None]:
    """The ``tokenizers.Tokenizer`` behind a transformers tokenizer, and the pad token it declares."""
    for attr in ("backend_tokenizer", "_tokenizer"):
        backend = getattr(obj, attr, None)
        if isinstance(backend, tokenizers.Tokenizer):
            pad = getattr(obj, "pad_token", None)
            return backend, None if pad is None else str(pad)
    raise ConfigError(
        ConfigIssue(
            "tokenizer",
            f"a {type(obj).__name__} is neither a tokenizers.Tokenizer nor a fast transformers tokenizer "
            "(one with a backend_tokenizer); load the fast version (AutoTokenizer.from_pretrained(..., "
            "use_fast=True)), or wrap a SentencePiece model with the sentencepiece tokenizer",
        )
    )


def load_tokenizer_files(path: str) -> tuple[tokenizers.Tokenizer, str | None, str]:
    """The tokenizer at ``path``, the pad token its transformers config declares (if any), and a description
    of where it came from. Never touches the network; every problem is a :class:`ConfigError`."""
    tokenizers = _import_tokenizers()
    if not os.path.exists(path):
        raise ConfigError(ConfigIssue(_PATH, _missing_path_message(path)))
    if os.path.isdir(path):
        file = os.path.join(path, "tokenizer.json")
        if not os.path.isfile(file):
            return _load_with_transformers(path, tokenizers)
        folder = path
    else:
        file, folder = path, os.path.dirname(path) or "."
    try:
        backend = tokenizers.Tokenizer.from_file(file)
    except Exception as e:  # noqa: BLE001 - the library raises a bare Exception for any bad file
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(ConfigIssue(_PATH, f"{file}: not a valid tokenizer.json ({reason})")) from None
    return backend, _declared_pad_in(folder), file


def _load_with_transformers(
    folder: str, tokenizers: ModuleType
) -> tuple[tokenizers.Tokenizer, str | None, str]:
    if not os.path.isfile(os.path.join(folder, "tokenizer_config.json")):
        raise ConfigError(
            ConfigIssue(_PATH, f"{folder} has neither a tokenizer.json nor a tokenizer_config.json")
        )
    try:
        import transformers
    except ImportError:
        raise ConfigError(
            ConfigIssue(
                _PATH,
                f"{folder} has no tokenizer.json; loading its other files needs transformers (pip install "
                "transformers), or save the tokenizer with a fast transformers tokenizer, which writes "
                "tokenizer.json",
            )
        ) from None
    try:
        obj = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - whatever transformers raises for a folder it cannot load
        raise ConfigError(
            ConfigIssue(
                _PATH, f"transformers could not load the tokenizer in {folder} ({type(e).__name__}: {e})"
            )
        ) from None
    backend, pad = _backend_of(obj, tokenizers)
    return tokenizers.Tokenizer.from_str(backend.to_str()), pad, f"{folder} (loaded by transformers)"


# ---------------------------------------------------------------------------------------------------------
# The encoder: a copy of the tokenizer that cannot produce a special or reserved token from text
# ---------------------------------------------------------------------------------------------------------


def _hidden_name(i: int) -> str:
    # NUL characters and a name no document has: no text is split or normalised into this piece
    return f"\x00birdie-hidden-{i}\x00"


def _hide_pieces(model: dict[str, Any], hidden: set[str]) -> dict[str, str]:
    """Rename the entries of the model's vocabulary in ``hidden`` (in place); returns old → new text.

    Single characters are kept: the model needs them for ordinary text, and renamed they would be lost
    without a trace (the filter counts what they produce instead)."""
    renamed: dict[str, str] = {}
    kind = model.get("type")
    if kind == "Unigram":
        for i, entry in enumerate(model.get("vocab") or []):
            if entry[0] in hidden and len(entry[0]) > 1:
                renamed[entry[0]] = entry[0] = _hidden_name(i)
    elif kind in ("BPE", "WordPiece", "WordLevel") and isinstance(model.get("vocab"), dict):
        vocab: dict[str, int] = model["vocab"]
        targets = {t for t in hidden & vocab.keys() if len(t) > 1}
        if kind == "BPE" and targets:
            # an entry a merge makes or uses is reachable from ordinary text: renaming it would break merges
            for merge in model.get("merges") or []:
                a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
                targets.difference_update((a, b, a + b))
        for text in targets:
            i = vocab.pop(text)
            renamed[text] = _hidden_name(i)
            vocab[renamed[text]] = i
        if model.get("unk_token") in renamed:
            model["unk_token"] = renamed[model["unk_token"]]
    return renamed


def _unknown_id(model: dict[str, Any], backend: tokenizers.Tokenizer) -> int | None:
    if model.get("type") == "Unigram":
        unk = model.get("unk_id")
        return unk if isinstance(unk, int) else None
    unk_token = model.get("unk_token")
    return backend.token_to_id(unk_token) if isinstance(unk_token, str) else None


# ---------------------------------------------------------------------------------------------------------
# The tokenizer
# ---------------------------------------------------------------------------------------------------------


class HuggingFaceTokenizer(ReservedIdsTokenizer[HuggingFaceTokenizerConfig]):
    """A Hugging Face ``tokenizers`` tokenizer with its own ids (module docstring: how specials are chosen).

    ``appended`` says how many ids were added above the tokenizer's vocabulary (embeddings a model must
    add); ``stats`` counts lone surrogates replaced by U+FFFD and reserved ids replaced in ``encode``.
    """

    Config = HuggingFaceTokenizerConfig

    def __init__(self, config: HuggingFaceTokenizerConfig, specials: Sequence[str] = ()):
        backend, declared_pad, origin = load_tokenizer_files(config.path)
        self._setup(config, backend, specials, declared_pad, origin)

    @classmethod
    def from_object(
        cls, obj: Any, specials: Sequence[str] = (), config: HuggingFaceTokenizerConfig | None = None
    ) -> HuggingFaceTokenizer:
        """Wrap a ``tokenizers.Tokenizer`` or a fast transformers tokenizer (its pad token is used). The object
        is copied, never changed; ``config`` (optional) chooses tokens as in a file's config, its ``path``
        is not read."""
        tokenizers = _import_tokenizers()
        if isinstance(obj, tokenizers.Tokenizer):
            backend, declared_pad, what = obj, None, "a tokenizers.Tokenizer"
        else:
            backend, declared_pad = _backend_of(obj, tokenizers)
            what = f"a transformers {type(obj).__name__}"
        if config is None:
            config = HuggingFaceTokenizerConfig(name="huggingface", path=f"<{what} given directly>")
        self = cls.__new__(cls)
        copy = tokenizers.Tokenizer.from_str(backend.to_str())
        self._setup(config, copy, specials, declared_pad, f"{what} given directly")
        return self

    def _setup(
        self,
        config: HuggingFaceTokenizerConfig,
        backend: tokenizers.Tokenizer,
        specials: Sequence[str],
        declared_pad: str | None,
        origin: str,
    ) -> None:
        tokenizers = _import_tokenizers()
        self.config = config
        #: the tokenizer as loaded: it decodes; encoding uses the copy made below
        self.backend = backend
        #: where the tokenizer came from, for logs and reports
        self.vocab_origin = origin
        self._declared_pad = declared_pad
        self.stats: dict[str, int] = {"surrogates_replaced": 0, "reserved_replaced": 0}

        # ids may have holes (an added token far above the model's vocabulary): the base is max id + 1
        base_size = max(backend.get_vocab(with_added_tokens=True).values(), default=-1) + 1
        added = backend.get_added_tokens_decoder()
        by_text = {t.content: i for i, t in sorted(added.items())}
        padding = backend.padding
        own = find_own_tokens(
            config,
            specials,
            own_specials=by_text,
            token_id=backend.token_to_id,
            declared_pads=[p for p in (declared_pad, (padding or {}).get("pad_token")) if p],
            origin=origin,
        )
        own.reserve_in(self, base_size, specials)
        #: ids appended above the tokenizer's vocabulary: embeddings a model of this tokenizer must add
        self.appended = self.reserved.appended

        reused = np.flatnonzero(self.reserved.is_special(np.arange(base_size))).tolist()
        reused_added = set(reused) & added.keys()
        # an ordinary token given a role (pad_token: "!") stays in the model: the filter below catches it
        hidden = {t.content for i, t in added.items() if t.special or i in reused_added}
        data = json.loads(backend.to_str())
        model = data.get("model") or {}
        unk = _unknown_id(model, backend)
        renamed = _hide_pieces(model, hidden)
        to_mark = {i for i in reused_added if not added[i].special}
        has_limits = data.get("truncation") is not None or data.get("padding") is not None
        if renamed or to_mark or has_limits:
            for token in data.get("added_tokens") or []:
                token["content"] = renamed.get(token["content"], token["content"])
                if token.get("id") in to_mark:
                    token["special"] = True
            data["truncation"] = data["padding"] = None
            encoder = tokenizers.Tokenizer.from_str(json.dumps(data))
        else:
            encoder = backend  # nothing to change: one tokenizer encodes and decodes
        encoder.encode_special_tokens = True
        self._encoder = encoder

        keep_unk = unk is not None and not self.reserved.is_special(np.asarray([unk]))[0]
        replacement = np.asarray([unk] if keep_unk else [], dtype=TOKEN_DTYPE)
        self._filter = ReservedFilter(
            self.reserved, base_size, lambda _i: replacement, self.stats, f"huggingface tokenizer ({origin})"
        )

    # -- encoding ---------------------------------------------------------------------------------------
    def encode(self, text: str) -> np.ndarray:
        try:
            ids = self._encoder.encode(text, add_special_tokens=False).ids
        except TypeError:  # the library refuses a str with lone surrogates: replace them, as `bytes` does
            if not isinstance(text, str):
                raise
            ids = self._encoder.encode(self._fix_surrogates(text), add_special_tokens=False).ids
        return self._filter(np.array(ids, dtype=TOKEN_DTYPE))

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """``[encode(t) for t in texts]``, in one call of the library (its threads; no offsets computed)."""
        texts = list(texts)
        try:
            encodings = self._encoder.encode_batch_fast(texts, add_special_tokens=False)
        except TypeError:
            texts = [self._fix_surrogates(t) if isinstance(t, str) else t for t in texts]
            encodings = self._encoder.encode_batch_fast(texts, add_special_tokens=False)
        check = self._filter
        return [check(np.array(e.ids, dtype=TOKEN_DTYPE)) for e in encodings]

    def _fix_surrogates(self, text: str) -> str:
        fixed, n = replace_lone_surrogates(text)
        self.stats["surrogates_replaced"] += n
        return fixed

    def decode_run(self, run: np.ndarray) -> str:
        return str(self.backend.decode(run.tolist(), skip_special_tokens=False))

    def base_token_texts(self) -> list[str]:
        # one id at a time through the tokenizer's own decoder (byte-level BPE, Metaspace's "▁", WordPiece's
        # "##" all handled as decode does); decode_batch would be faster, but starting the library's thread
        # pool makes every later fork of the process (DataLoader workers) warn
        decode = self.backend.decode
        return [str(decode([i], skip_special_tokens=False)) for i in range(self.reserved.base_size)]

    # -- worker processes: the tokenizer's JSON travels, never its path -----------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "markers": self.reserved.markers,
            "tokenizer": self.backend.to_str(),
            "declared_pad": self._declared_pad,
            "origin": self.vocab_origin,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        tokenizers = _import_tokenizers()
        backend = tokenizers.Tokenizer.from_str(state["tokenizer"])
        self._setup(state["config"], backend, state["markers"], state["declared_pad"], state["origin"])

    def __repr__(self) -> str:
        return (
            f"HuggingFaceTokenizer({self.vocab_origin!r}, vocab_size={self.vocab_size}, "
            f"appended={self.appended})"
        )
