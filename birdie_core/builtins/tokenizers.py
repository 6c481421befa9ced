"""Built-in tokenizers: ``bytes`` (UTF-8 bytes, no dependency) and ``tiktoken``.

Id layout shared by both: id 0 is padding; the base vocabulary follows, shifted by one so that 0 stays free;
then ``num_sentinels`` sentinels (``<mask_0>`` …); then one id per marker name the objectives asked for, in
the order given. The layout depends only on the config and the marker list, so it is the same in every
process.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from birdie_core.errors import PipelineError
from birdie_core.interfaces import PAD_ID, TOKEN_DTYPE, TokenizerConfig


class ReservedIds:
    """Sentinel and marker ids above a base vocabulary of ``base_size`` ids (pad included)."""

    __slots__ = ("base_size", "num_sentinels", "markers", "_marker_ids", "_names", "vocab_size")

    def __init__(self, base_size: int, num_sentinels: int, markers: Sequence[str]):
        self.base_size = base_size
        self.num_sentinels = num_sentinels
        self.markers = tuple(dict.fromkeys(m for m in markers if m))  # de-duplicated, order kept
        first_marker = base_size + num_sentinels
        self._marker_ids = {m: first_marker + i for i, m in enumerate(self.markers)}
        self._names = {v: k for k, v in self._marker_ids.items()}
        self.vocab_size = first_marker + len(self.markers)

    def special_id(self, name: str) -> int:
        try:
            return self._marker_ids[name]
        except KeyError:
            if name.startswith("<mask_") and name.endswith(">") and name[6:-1].isdigit():
                i = int(name[6:-1])
                if i < self.num_sentinels:
                    return self.base_size + i
            known = ", ".join(self.markers) or "none"
            raise KeyError(f"marker {name!r} was not reserved when the tokenizer was built (reserved: {known})")

    def sentinel_ids(self) -> np.ndarray:
        return np.arange(self.base_size, self.base_size + self.num_sentinels, dtype=TOKEN_DTYPE)

    def is_special(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        return (ids == PAD_ID) | (ids >= self.base_size)

    def name_of(self, i: int) -> str:
        if i == PAD_ID:
            return "<pad>"
        if self.base_size <= i < self.base_size + self.num_sentinels:
            return f"<mask_{i - self.base_size}>"
        return self._names.get(i, f"<unk_{i}>")

    def decode_with(self, ids: Sequence[int] | np.ndarray, decode_run) -> str:
        """Decode runs of ordinary ids with ``decode_run`` and show reserved ids by name."""
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if arr.size == 0:
            return ""
        special = self.is_special(arr)
        if not special.any():
            return decode_run(arr)
        # split at every change between ordinary and special ids: one decode per run, not per token
        cuts = np.flatnonzero(np.diff(special.astype(np.int8))) + 1
        out = []
        for run in np.split(arr, cuts):
            if self.is_special(run[:1])[0]:
                out.append("".join(self.name_of(int(i)) for i in run))
            else:
                out.append(decode_run(run))
        return "".join(out)


class ByteTokenizer:
    """UTF-8 bytes: byte ``b`` is id ``b + 1``. Needs no file and no network."""

    class Config(TokenizerConfig):
        pass

    def __init__(self, config: TokenizerConfig | None = None, specials: Sequence[str] = ()):
        self.config = config or self.Config(name="bytes")
        self.reserved = ReservedIds(257, self.config.num_sentinels, specials)
        self.vocab_size = self.reserved.vocab_size
        self.pad_id = PAD_ID

    def encode(self, text: str) -> np.ndarray:
        raw = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else bytes(text)
        return np.frombuffer(raw, dtype=np.uint8).astype(TOKEN_DTYPE) + 1

    def _decode_run(self, run: np.ndarray) -> str:
        return (run - 1).astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.reserved.decode_with(ids, self._decode_run)

    def special_id(self, name: str) -> int:
        return self.reserved.special_id(name)

    def sentinel_ids(self) -> np.ndarray:
        return self.reserved.sentinel_ids()

    def is_special(self, ids: np.ndarray) -> np.ndarray:
        return self.reserved.is_special(ids)

    def __repr__(self) -> str:
        return f"ByteTokenizer(vocab_size={self.vocab_size})"


def _unused(_: object) -> None:  # keeps PipelineError imported for the tiktoken adapter below
    raise PipelineError


class TiktokenTokenizer:  # PLACEHOLDER — being written by a helper
    class Config(TokenizerConfig):
        pass
