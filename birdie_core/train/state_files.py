"""State files that load without running code: JSON, with a small tagged encoding for what JSON lacks.

A checkpoint comes from a run directory, and a run directory is untrusted input (docs/training.md, "Trust"):
unpickling one of its files could run any code its author chose. So Birdie's own state and the trainer's are
written as JSON. Plain JSON values stay as they are; everything else a ``state_dict()`` commonly holds is an
object tagged with the key ``"$birdie"``:

=================  ===============================================================================
tag                value
=================  ===============================================================================
``float``          a NaN or infinity: ``{"value": "nan" | "inf" | "-inf"}``
``tuple``          ``{"items": [...]}``
``dict``           a dict whose keys are not all strings: ``{"items": [[key, value], ...]}``
``ordered_dict``   an OrderedDict, with torch's ``_metadata`` when it has one
``bytes``          ``{"data": base64}``
``ndarray``        a numpy array of numbers or booleans: ``{"dtype": "<f4", "shape": [...], "data": base64}``
``numpy_scalar``   a numpy number: ``{"dtype": "<f8", "data": base64}``
``tensor``         a strided torch tensor, read back on the CPU: ``{"dtype": "float32", "shape": [...],
                   "data": base64}`` (bytes in little-endian order)
=================  ===============================================================================

Anything else (sets, objects, numpy object arrays, subclasses of these types) is refused when saving, with the
place in the state where it was found: loading must give back exactly what was saved, or fail.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from birdie_core.errors import CheckpointError

__all__ = ["decode", "encode", "read_state", "write_state"]

_TAG = "$birdie"
_FORMAT = "birdie-state"
_VERSION = 1
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
#: numpy kinds whose bytes mean the same on every machine: bool, signed, unsigned, float, complex
_NUMPY_KINDS = frozenset("biufc")
_TORCH_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
        torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    )
}  # fmt: skip
_HOLDS = (
    "None, bool, int, float, str, bytes, list, tuple, dict, OrderedDict, numpy arrays and scalars of numbers "
    "or booleans, and strided torch tensors"
)


# -- files ----------------------------------------------------------------------------------------------


def write_state(path: str | os.PathLike[str], state: Any) -> None:
    """Write ``state`` to ``path`` as a state file, or raise a :class:`CheckpointError` naming the value
    (and its place in ``state``) that a state file cannot hold; nothing is written then."""
    document = {"format": _FORMAT, "version": _VERSION, "state": encode(state)}
    text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    Path(path).write_text(text + "\n", encoding="ascii")


def read_state(path: str | os.PathLike[str]) -> Any:
    """The state a :func:`write_state` wrote to ``path``; a :class:`CheckpointError` naming the file and the
    place in it when it is not such a file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        document = json.loads(raw, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{path} is not a Birdie state file: {_first_line(exc)}") from None
    header = {"format", "version", "state"}
    if not isinstance(document, dict) or set(document) != header or document["format"] != _FORMAT:
        raise CheckpointError(f"{path} is not a Birdie state file (no format {_FORMAT!r} header)")
    if document["version"] != _VERSION:
        raise CheckpointError(
            f"{path} has state file version {document['version']!r}; this Birdie reads version {_VERSION}"
        )
    try:
        return decode(document["state"])
    except _Invalid as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: the state is nested too deeply to be one Birdie wrote") from None


# -- encoding -------------------------------------------------------------------------------------------


def encode(value: Any, where: str = "state") -> Any:
    """``value`` as JSON-ready data (see the module docstring); ``where`` names it in error messages."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return {_TAG: "float", "value": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if kind is list:
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if kind is tuple:
        return {_TAG: "tuple", "items": [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if kind is dict:
        if all(type(k) is str for k in value) and _TAG not in value:
            return {k: encode(v, f"{where}.{k}") for k, v in value.items()}
        return {_TAG: "dict", "items": _items(value, where)}
    if kind is OrderedDict:
        out: dict[str, Any] = {_TAG: "ordered_dict", "items": _items(value, where)}
        metadata = getattr(value, "_metadata", None)  # torch's module state dicts carry layout versions here
        if metadata is not None:
            out["metadata"] = encode(metadata, f"{where}._metadata")
        return out
    if kind is bytes:
        return {_TAG: "bytes", "data": _b64(value)}
    if kind is np.ndarray:
        _check_numpy_dtype(value.dtype, where)
        return {
            _TAG: "ndarray",
            "dtype": value.dtype.str,
            "shape": list(value.shape),
            "data": _b64(np.ascontiguousarray(value).tobytes()),
        }
    if isinstance(value, np.generic) and kind is value.dtype.type:
        _check_numpy_dtype(value.dtype, where)
        return {_TAG: "numpy_scalar", "dtype": value.dtype.str, "data": _b64(value.tobytes())}
    if kind is torch.Tensor:
        return _encode_tensor(value, where)
    raise CheckpointError(
        f"cannot save {where}: it is a {kind.__module__}.{kind.__qualname__}, which a state file cannot hold "
        f"(it holds {_HOLDS}); have state_dict() return one of those"
    )


def _items(mapping: dict[Any, Any], where: str) -> list[list[Any]]:
    return [[encode(k, f"{where} key {k!r}"), encode(v, f"{where}[{k!r}]")] for k, v in mapping.items()]


def _check_numpy_dtype(dtype: np.dtype, where: str) -> None:
    if dtype.kind not in _NUMPY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(
            f"cannot save {where}: a numpy {dtype} array or scalar; a state file holds numbers and booleans only"
        )


def _encode_tensor(tensor: torch.Tensor, where: str) -> dict[str, Any]:
    name = str(tensor.dtype).removeprefix("torch.")
    if name not in _TORCH_DTYPES or tensor.layout is not torch.strided or tensor.is_quantized:
        raise CheckpointError(
            f"cannot save {where}: a {tensor.layout} tensor of {tensor.dtype}; a state file holds strided "
            f"tensors of {', '.join(_TORCH_DTYPES)}"
        )
    _check_little_endian()
    flat = tensor.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    return {
        _TAG: "tensor",
        "dtype": name,
        "shape": list(tensor.shape),
        "data": _b64(flat.view(torch.uint8).numpy().tobytes()),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_little_endian() -> None:
    # torch exposes a tensor's bytes in the machine's order, and the format promises little-endian ones
    if sys.byteorder != "little":
        raise CheckpointError("torch tensors in state files are only supported on little-endian machines")


# -- decoding -------------------------------------------------------------------------------------------


class _Invalid(ValueError):
    """A state file's content is not what :func:`encode` writes (turned into a CheckpointError with its file)."""


def decode(data: Any, where: str = "state") -> Any:
    """The value :func:`encode` turned into ``data``; a ``ValueError`` naming the place of anything else."""
    if data is None or type(data) in (bool, int, str, float):
        return data
    if type(data) is list:
        return [decode(v, f"{where}[{i}]") for i, v in enumerate(data)]
    if type(data) is not dict:
        raise _Invalid(f"{where}: unexpected {type(data).__name__}")
    if _TAG not in data:
        return {k: decode(v, f"{where}.{k}") for k, v in data.items()}
    tag = data[_TAG]
    fields = _FIELDS.get(tag) if type(tag) is str else None
    if fields is None:
        raise _Invalid(f"{where}: unknown tag {tag!r}")
    required, optional = fields
    if not required <= set(data) <= required | optional | {_TAG}:
        raise _Invalid(f"{where}: a {tag!r} value needs the fields {sorted(required)}, got {sorted(data)}")
    if tag == "float":
        if data["value"] not in _NON_FINITE:
            raise _Invalid(f"{where}: {data['value']!r} is not nan, inf or -inf")
        return _NON_FINITE[data["value"]]
    if tag == "tuple":
        return tuple(decode(_list(data["items"], where), where))
    if tag in ("dict", "ordered_dict"):
        out: dict[Any, Any] = {} if tag == "dict" else OrderedDict()
        for i, pair in enumerate(_list(data["items"], where)):
            if type(pair) is not list or len(pair) != 2:
                raise _Invalid(f"{where}.items[{i}]: expected a [key, value] pair")
            key = decode(pair[0], f"{where} key {i}")
            try:
                hash(key)
            except TypeError:
                raise _Invalid(f"{where} key {i}: a {type(key).__name__} cannot be a key") from None
            out[key] = decode(pair[1], f"{where}[{key!r}]")
        if "metadata" in data:
            out._metadata = decode(data["metadata"], f"{where}._metadata")  # type: ignore[attr-defined]
        return out
    if tag == "bytes":
        return _unb64(data["data"], where)
    if tag in ("ndarray", "numpy_scalar"):
        dtype = _numpy_dtype(data["dtype"], where)
        raw = _unb64(data["data"], where)
        if tag == "numpy_scalar":
            if len(raw) != dtype.itemsize:
                raise _Invalid(f"{where}: {len(raw)} bytes for one {dtype}")
            return np.frombuffer(raw, dtype=dtype)[0]
        shape = _shape(data["shape"], where)
        if len(raw) != math.prod(shape) * dtype.itemsize:
            raise _Invalid(f"{where}: {len(raw)} bytes for a {dtype} array of shape {tuple(shape)}")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return _decode_tensor(data, where)


def _decode_tensor(data: dict[str, Any], where: str) -> torch.Tensor:
    dtype = _TORCH_DTYPES.get(data["dtype"]) if type(data["dtype"]) is str else None
    if dtype is None:
        raise _Invalid(f"{where}: {data['dtype']!r} is not a tensor dtype a state file holds")
    shape = _shape(data["shape"], where)
    raw = _unb64(data["data"], where)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(raw) != math.prod(shape) * itemsize:
        raise _Invalid(f"{where}: {len(raw)} bytes for a {data['dtype']} tensor of shape {tuple(shape)}")
    _check_little_endian()
    if not raw:  # frombuffer refuses an empty buffer
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()


#: the fields of each tagged value: (required, optional)
_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "float": (frozenset({"value"}), frozenset()),
    "tuple": (frozenset({"items"}), frozenset()),
    "dict": (frozenset({"items"}), frozenset()),
    "ordered_dict": (frozenset({"items"}), frozenset({"metadata"})),
    "bytes": (frozenset({"data"}), frozenset()),
    "ndarray": (frozenset({"dtype", "shape", "data"}), frozenset()),
    "numpy_scalar": (frozenset({"dtype", "data"}), frozenset()),
    "tensor": (frozenset({"dtype", "shape", "data"}), frozenset()),
}


def _list(value: Any, where: str) -> list[Any]:
    if type(value) is not list:
        raise _Invalid(f"{where}: expected a list of items, got {type(value).__name__}")
    return value


def _shape(value: Any, where: str) -> list[int]:
    if type(value) is not list or not all(type(n) is int and n >= 0 for n in value):
        raise _Invalid(f"{where}: {value!r} is not a shape")
    return value


def _numpy_dtype(value: Any, where: str) -> np.dtype:
    try:
        dtype = np.dtype(value) if type(value) is str else None
    except TypeError:
        dtype = None
    if (
        dtype is None
        or dtype.kind not in _NUMPY_KINDS
        or dtype.fields is not None
        or dtype.subdtype is not None
    ):
        raise _Invalid(f"{where}: {value!r} is not a numpy dtype of numbers or booleans")
    return dtype


def _unb64(value: Any, where: str) -> bytes:
    try:
        if type(value) is not str:
            raise ValueError
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise _Invalid(f"{where}: the data is not base64") from None


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # json would keep the last silently; a file Birdie wrote never repeats a key
            raise ValueError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    # encode() writes non-finite floats as tagged values, so a bare NaN or Infinity was not written by it
    raise ValueError(f"{name} is not JSON")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
