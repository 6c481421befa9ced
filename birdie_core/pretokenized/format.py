"""The on-disk format of pre-tokenized data, and reading it back safely.

A directory written by ``birdie tokenize`` holds, per shard ``i``:

- ``tokens_0000i.bin``: the token ids of its documents, one after another, little-endian ``uint16`` when every
  id of the tokenizer's base vocabulary fits (fewer than 65,536) and ``uint32`` otherwise;
- ``offsets_0000i.npy``: ``int64``, one entry more than the shard has documents; document ``j`` is
  ``tokens[offsets[j]:offsets[j + 1]]``;

and one ``header.json``, written last (a directory without it is an unfinished write, refused): the format
and its version, the element type, the tokenizer that wrote the ids (its registered name and config, its
sizes and a fingerprint of its vocabulary), the source the documents came from, the counts, and each shard's
file names, sizes and SHA-256.

The ids are what the tokenizer's ``encode`` gives: ids of its base vocabulary, never a reserved one (pad,
sentinel, marker). Which markers a tokenizer reserves depends on the objectives configured, so nothing here
depends on the marker list: the data can be trained on with any set of objectives.

Everything read from a directory is untrusted: the header is validated field by field, file names must be the
ones the format uses (no path leaves the directory), offsets are checked to be increasing and to end exactly
at the end of their token file, and sizes are compared with the header's when opened. The SHA-256 of every
file is compared only on request (it reads the whole data set); token ids beyond the vocabulary are caught
when the documents holding them are read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.interfaces import Tokenizer

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEADER_NAME",
    "PROBE_TEXTS",
    "Header",
    "OpenShard",
    "PretokenizedData",
    "ShardEntry",
    "TokenizerEntry",
    "describe_tokenizer",
    "is_format_file",
    "offsets_name",
    "sha256_of",
    "storage_dtype",
    "token_bound",
    "tokenizer_fingerprint",
    "tokens_name",
    "unknown_special_ids",
]

FORMAT_NAME = "birdie-pretokenized"
FORMAT_VERSION = 1
HEADER_NAME = "header.json"
#: a header lists a few hundred bytes per shard: anything this large is not one
MAX_HEADER_BYTES = 64 * 1024 * 1024
_FINGERPRINT_VERSION = 1
_TOKENS_RE = re.compile(r"tokens_(\d{5,})\.bin")
_OFFSETS_RE = re.compile(r"offsets_(\d{5,})\.npy")
_SHA256_RE = r"^[0-9a-f]{64}$"

#: Texts whose ids make up a tokenizer's fingerprint: ASCII, whitespace of every kind, accented Latin, other
#: scripts, emoji and combining marks, code, and look-alikes of special tokens (which ``encode`` must treat
#: as ordinary text). Changing them changes every fingerprint: add a new fingerprint version instead.
PROBE_TEXTS: tuple[str, ...] = (
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "  two leading spaces, three trailing   ",
    "tabs\tand\nnew\r\nlines\n\n\nand a form feed\x0c.",
    "Numbers: 0 7 42 123456789 3.14159 -1e-9 1,000,000",
    "naïve café, déjà vu — Straße, ÆØÅ æøå, ½ ¼ °C",
    "Ελληνικά, русский язык, עברית, العربية, हिन्दी",
    "中文字符，日本語のテキスト、한국어 문장",
    "emoji 👩\u200d💻🚀✨ and a combining accent: e\u0301",
    "def f(x):\n    return {'a': x ** 2}  # code\n",
    "<|endoftext|> <mask_0> [S] [R] [X] <pad> </s> <s> <unk> <extra_id_0>",
    "\u00a0no-break\u2003em space\u200bzero width",
)


# ---------------------------------------------------------------------------------------------------------
# The tokenizer's identity
# ---------------------------------------------------------------------------------------------------------


def token_bound(tokenizer: Tokenizer) -> int:
    """One more than the largest id ``encode`` can give: the base vocabulary's size.

    The Tokenizer protocol has no vocabulary accessor; tokenizers with the core's reserved-id layout know
    their base size (``reserved.base_size``), which, unlike ``vocab_size``, does not grow with the markers
    the objectives reserve. Any other tokenizer: ``vocab_size``.
    """
    reserved = getattr(tokenizer, "reserved", None)
    base = getattr(reserved, "base_size", None)
    return int(base) if isinstance(base, (int, np.integer)) and base > 0 else int(tokenizer.vocab_size)


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """SHA-256 over what decides the ids in a data file: the base vocabulary's size, the pad id, and the ids
    ``encode`` gives each of :data:`PROBE_TEXTS`.

    Sentinel and marker ids are left out on purpose: they are reserved above (or beside) the base vocabulary
    and never come out of ``encode``, and which markers exist depends on the objectives configured. Two
    tokenizers with the same fingerprint give the same ids for these texts; a different vocabulary, a
    different id shift or a different pre-tokenizer almost surely changes at least one of them.
    """
    payload = {
        "fingerprint": _FINGERPRINT_VERSION,
        "base_size": token_bound(tokenizer),
        "pad_id": int(tokenizer.pad_id),
        "probes": [np.asarray(tokenizer.encode(t), dtype=np.int64).tolist() for t in PROBE_TEXTS],
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def _special_ids_in_base(tokenizer: Tokenizer, bound: int) -> list[int]:
    """Ids below ``bound`` that ``tokenizer`` treats as reserved (its pad id; a Hugging Face vocabulary's own
    sentinels or marker tokens): ids the data must not hold as ordinary text."""
    mask = np.asarray(tokenizer.is_special(np.arange(bound, dtype=np.int64)), dtype=bool)
    return np.flatnonzero(mask).tolist()


def describe_tokenizer(tokenizer: Tokenizer, config: Any = None) -> dict[str, Any]:
    """The header's ``tokenizer`` entry: registered name and config (plain data), sizes, fingerprint."""
    bound = token_bound(tokenizer)
    cfg = config.model_dump(mode="json") if isinstance(config, BaseModel) else {}
    return {
        "name": str(cfg.get("name", type(tokenizer).__name__)),
        "config": cfg,
        "description": repr(tokenizer),
        "vocab_size": int(tokenizer.vocab_size),
        "base_size": bound,
        "pad_id": int(tokenizer.pad_id),
        "special_ids": _special_ids_in_base(tokenizer, bound),
        "fingerprint": tokenizer_fingerprint(tokenizer),
    }


def storage_dtype(bound: int) -> Literal["uint16", "uint32"]:
    """``uint16`` when every id below ``bound`` fits in it, else ``uint32``."""
    return "uint16" if bound <= 1 << 16 else "uint32"


def is_format_file(name: str) -> bool:
    """Whether a file name is one this format writes (the header or a shard's file)."""
    return name == HEADER_NAME or bool(_TOKENS_RE.fullmatch(name) or _OFFSETS_RE.fullmatch(name))


def tokens_name(i: int) -> str:
    return f"tokens_{i:05d}.bin"


def offsets_name(i: int) -> str:
    return f"offsets_{i:05d}.npy"


# ---------------------------------------------------------------------------------------------------------
# The header (validated: it comes from disk)
# ---------------------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class TokenizerEntry(_Strict):
    """The tokenizer that wrote the ids."""

    name: str
    config: dict[str, Any]
    description: str
    vocab_size: int = Field(ge=1)
    base_size: int = Field(ge=1, le=2**31)
    pad_id: int = Field(ge=0)
    special_ids: list[int]
    fingerprint: str = Field(pattern=_SHA256_RE)


class ShardEntry(_Strict):
    """One shard: its two files, what they hold, how large they are and their SHA-256."""

    tokens: str
    offsets: str
    documents: int = Field(ge=0)
    num_tokens: int = Field(ge=0)
    tokens_bytes: int = Field(ge=0)
    offsets_bytes: int = Field(ge=0)
    tokens_sha256: str = Field(pattern=_SHA256_RE)
    offsets_sha256: str = Field(pattern=_SHA256_RE)


class Header(_Strict):
    """What ``header.json`` holds (see the module docstring)."""

    format: Literal["birdie-pretokenized"]
    version: Literal[1]
    dtype: Literal["uint16", "uint32"]
    byte_order: Literal["little"]
    tokenizer: TokenizerEntry
    source: dict[str, Any]
    documents: int = Field(ge=0)
    tokens: int = Field(ge=0)
    shards: list[ShardEntry]
    created_by: str

    @model_validator(mode="after")
    def _consistent(self) -> Header:
        itemsize = np.dtype(self.dtype).itemsize
        if self.dtype == "uint16" and self.tokenizer.base_size > 1 << 16:
            raise ValueError(f"a base vocabulary of {self.tokenizer.base_size} ids does not fit uint16")
        for i, s in enumerate(self.shards):
            if (s.tokens, s.offsets) != (tokens_name(i), offsets_name(i)):
                raise ValueError(
                    f"shard {i} must use the files {tokens_name(i)!r} and {offsets_name(i)!r}, "
                    f"not {s.tokens!r} and {s.offsets!r}"
                )
            if s.tokens_bytes != s.num_tokens * itemsize:
                raise ValueError(
                    f"shard {i}: {s.num_tokens} tokens of {self.dtype} take {s.num_tokens * itemsize} bytes, "
                    f"not tokens_bytes={s.tokens_bytes}"
                )
        if sum(s.documents for s in self.shards) != self.documents:
            raise ValueError(
                f"the shards hold {sum(s.documents for s in self.shards)} documents, not {self.documents}"
            )
        if sum(s.num_tokens for s in self.shards) != self.tokens:
            raise ValueError(
                f"the shards hold {sum(s.num_tokens for s in self.shards)} tokens, not {self.tokens}"
            )
        return self


# ---------------------------------------------------------------------------------------------------------
# Opening a directory
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenShard:
    """One shard, memory-mapped: ``raw`` in the stored dtype, ``ids`` the same bytes as the pipeline reads
    them (``int32`` without a copy for ``uint32`` files: every id is below 2**31), ``offsets`` int64."""

    path: str  # of the token file, for messages
    raw: np.ndarray
    ids: np.ndarray
    offsets: np.ndarray
    start: int  # global number of the shard's first document


class PretokenizedData:
    """A validated, memory-mapped pre-tokenized directory (see the module docstring).

    Problems are :class:`~birdie_core.errors.ConfigError` at ``config_path`` (the source's ``path``), naming
    the file and what is wrong with it.
    """

    def __init__(self, directory: str | os.PathLike[str], *, verify: bool = False, config_path: str = "path"):
        self.directory = Path(directory)
        self._where = config_path
        self.header = self._read_header()
        self.dtype = np.dtype(self.header.dtype).newbyteorder("<")
        self.bound = self.header.tokenizer.base_size
        self.shards: list[OpenShard] = []
        start = 0
        for i, entry in enumerate(self.header.shards):
            self.shards.append(self._open_shard(i, entry, start, verify))
            start += entry.documents
        #: global number of the first document of each shard, and the total at the end
        self.starts = np.array([s.start for s in self.shards] + [start], dtype=np.int64)

    @property
    def num_documents(self) -> int:
        return self.header.documents

    def _fail(self, message: str) -> ConfigError:
        return ConfigError(ConfigIssue(self._where, message))

    def _read_header(self) -> Header:
        directory = self.directory
        if not directory.is_dir():
            what = "is not a directory" if directory.exists() else "does not exist"
            raise self._fail(
                f"{directory} {what}; write pre-tokenized data with `birdie tokenize CONFIG --output {directory}`"
            )
        path = directory / HEADER_NAME
        if not path.is_file():
            leftovers = any(_TOKENS_RE.fullmatch(p.name) for p in directory.iterdir())
            why = (
                "`birdie tokenize` did not finish writing it (the header is written last); run it again with "
                "--overwrite"
                if leftovers
                else f"it is not pre-tokenized data (write it with `birdie tokenize CONFIG --output {directory}`)"
            )
            raise self._fail(f"{directory} has no {HEADER_NAME}: {why}")
        size = path.stat().st_size
        if size > MAX_HEADER_BYTES:
            raise self._fail(f"{path} is {size} bytes, too large to be a header")
        try:
            data = json.loads(path.read_bytes())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise self._fail(f"{path} is not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise self._fail(f"{path} does not hold a JSON object")
        if data.get("format") != FORMAT_NAME:
            raise self._fail(f"{path} is not a Birdie pre-tokenized header (format {data.get('format')!r})")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise self._fail(
                f"{path} has format version {version!r}; this Birdie reads version {FORMAT_VERSION} "
                "(re-run `birdie tokenize`, or upgrade birdie-core)"
            )
        try:
            return Header.model_validate(data)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}" for err in e.errors()[:8]
            )
            raise self._fail(f"{path} is damaged: {problems}") from None

    def _open_shard(self, i: int, entry: ShardEntry, start: int, verify: bool) -> OpenShard:
        tokens_path = self.directory / entry.tokens
        offsets_path = self.directory / entry.offsets
        for path, expected, digest in (
            (tokens_path, entry.tokens_bytes, entry.tokens_sha256),
            (offsets_path, entry.offsets_bytes, entry.offsets_sha256),
        ):
            if not path.is_file():
                raise self._fail(f"{path} is missing (listed in {HEADER_NAME} as shard {i})")
            size = path.stat().st_size
            if size != expected:
                how = "truncated" if size < expected else "longer than written"
                raise self._fail(
                    f"{path} is {size} bytes, the header says {expected}: the file is {how}; "
                    "re-run `birdie tokenize`"
                )
            if verify and _sha256(path) != digest:
                raise self._fail(f"{path}: its SHA-256 differs from the header's: the file is corrupt")
        offsets = self._load_offsets(offsets_path, entry)
        raw = self._map_tokens(tokens_path, entry.num_tokens)
        ids = raw.view("<i4") if self.dtype.itemsize == 4 else raw
        return OpenShard(str(tokens_path), raw, ids, offsets, start)

    def _load_offsets(self, path: Path, entry: ShardEntry) -> np.ndarray:
        try:
            offsets = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise self._fail(f"{path} is not a readable .npy array ({e})") from None
        if not isinstance(offsets, np.ndarray) or offsets.dtype != np.dtype("<i8") or offsets.ndim != 1:
            raise self._fail(
                f"{path} must hold a 1-d little-endian int64 array, not {offsets.dtype} {offsets.shape}"
            )
        if offsets.shape[0] != entry.documents + 1:
            raise self._fail(
                f"{path} holds {offsets.shape[0]} offsets for {entry.documents} documents (expected "
                f"{entry.documents + 1})"
            )
        if offsets[0] != 0 or offsets[-1] != entry.num_tokens:
            raise self._fail(
                f"{path} must run from 0 to the {entry.num_tokens} tokens of its shard, not from "
                f"{int(offsets[0])} to {int(offsets[-1])}"
            )
        steps = np.diff(offsets)
        if steps.size and int(steps.min()) < 0:
            bad = int(np.argmax(steps < 0))
            raise self._fail(
                f"{path}: offsets decrease at document {bad} ({int(offsets[bad])} → {int(offsets[bad + 1])})"
            )
        # a plain array, not np.memmap: slicing a memmap subclass costs several times a plain view
        return np.asarray(offsets)

    def _map_tokens(self, path: Path, count: int) -> np.ndarray:
        if count == 0:  # mmap refuses an empty file
            return np.zeros(0, dtype=self.dtype)
        try:
            mapped = np.memmap(path, dtype=self.dtype, mode="r", shape=(count,))
        except (ValueError, OSError) as e:
            raise self._fail(f"cannot map {path} ({e})") from None
        return np.asarray(mapped)

    def __repr__(self) -> str:
        h = self.header
        return f"PretokenizedData({str(self.directory)!r}, {h.documents} documents, {h.tokens} tokens, {len(h.shards)} shards)"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, read in blocks (for the header and ``verify``)."""
    return _sha256(Path(path))


def unknown_special_ids(header: Header, tokenizer: Tokenizer) -> Sequence[int]:
    """Ids the configured ``tokenizer`` reserves inside the base vocabulary that the writing tokenizer did not:
    the data may hold them as ordinary text (a marker that reuses a vocabulary's own token)."""
    written = set(header.tokenizer.special_ids)
    return [i for i in _special_ids_in_base(tokenizer, header.tokenizer.base_size) if i not in written]
