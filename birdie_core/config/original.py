"""Compatibility with the original Birdie project: its flat configuration dict mapped onto ours.

Moving from the original is then a one-line import change: ``Birdie(config)`` accepts the same dict, and
every key that means nothing here is listed in one :class:`FlatFormWarning`.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from birdie_core.interfaces import ComponentConfig
from birdie_core.registry import Registry, UnknownNameError, default_registry

__all__ = [
    "TOKENIZER_PLACEHOLDER",
    "FlatFormWarning",
    "PythonObjects",
    "describe_type",
    "from_original_form",
    "is_original_form",
    "is_tokenizer_object",
    "tokenizer_object_problem",
]


class FlatFormWarning(UserWarning):
    """A config in the original Birdie project's flat form was mapped onto the nested form."""


@dataclass(frozen=True)
class PythonObjects:
    """What a flat-form dict carries that YAML cannot hold, kept beside the config for the build step.

    ``tokenizer``: a tokenizer object, in the flat or the nested form (the config's ``tokenizer`` entry is then
    the placeholder :data:`TOKENIZER_PLACEHOLDER`); ``ds`` /
    ``ds_validation`` / ``text_grabber_fn``: the callables behind the ``callable`` sources; ``reward_fn``: the
    original's reward callable, kept for reference (the curriculum uses registered reward functions).
    """

    tokenizer: Any = None
    ds: Callable[..., Any] | None = None
    ds_validation: Callable[..., Any] | None = None
    text_grabber_fn: Callable[[Any], str] | None = None
    reward_fn: Callable[..., Any] | None = None

    def names(self) -> list[str]:
        """The names of the objects given."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


#: The config's ``tokenizer`` entry when a tokenizer object is given beside it (the object is what is used).
TOKENIZER_PLACEHOLDER: Mapping[str, Any] = {"name": "bytes"}
#: What a config's ``tokenizer`` may hold as data (YAML's types, a built config): anything else is an object.
_CONFIG_DATA = (Mapping, str, bytes, int, float, list, tuple, datetime.date, ComponentConfig)


def is_tokenizer_object(value: Any) -> bool:
    """True when a config's ``tokenizer`` value is a Python object rather than config data (a name, a
    mapping, a ``TokenizerConfig``, or a wrong value of a YAML type that validation reports as such)."""
    return value is not None and not isinstance(value, _CONFIG_DATA)


def describe_type(obj: Any) -> str:
    """The qualified name of ``obj``'s type, for messages: ``tokenizers.Tokenizer``, ``mymodule.CharTok``."""
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def tokenizer_object_problem(obj: Any) -> str | None:
    """Why ``obj`` cannot be a tokenizer object (it lacks ``encode`` or ``decode``), or None."""
    missing = [m for m in ("encode", "decode") if not callable(getattr(obj, m, None))]
    if not missing:
        return None
    return (
        f"the tokenizer given (of type {describe_type(obj)}) has no {' or '.join(missing)} method (a "
        "tokenizer object needs encode(str) -> list[int] and decode(list[int]) -> str, e.g. a tiktoken "
        "Encoding, a tokenizers.Tokenizer, a transformers tokenizer or a SentencePieceProcessor); or configure "
        "the tokenizer by name, e.g. {name: huggingface, path: tokenizer.json}"
    )


#: Keys only the original flat form has (any of them marks a dict as flat).
_FLAT_KEYS = frozenset(
    {
        "num_workers",
        "steps_between_evaluations",
        "num_steps",
        "total_steps",
        "ds",
        "ds_validation",
        "text_grabber_fn",
        "reward_fn",
        "accelerator",
        "move_to_gpu_fn",
    }
)
#: Sections only the nested form has.
_NESTED_KEYS = frozenset({"data", "packer", "curriculum", "workers", "train"})
#: Original keys with no meaning here, and why.
_IGNORED_FLAT_KEYS: Mapping[str, str] = {
    "accelerator": "the trainer (or your script) owns accelerate",
    "move_to_gpu_fn": "batches are CPU tensors; move them yourself",
    "reward_signal_dims": "the agent sizes itself from the objectives",
    "hidden_dims": "configure the agent under curriculum.agent",
    "lr": "configure the agent under curriculum.agent",
    "validation_objectives": "validation uses exactly the training objectives",
    "validation_sequence_length": "validation uses sequence_length",
    "num_validation_batches": "configure evaluation under curriculum",
}
#: Objective names and parameters of the original project that have a different name here.
_ORIGINAL_OBJECTIVE_NAMES: Mapping[str, str] = {"prefix_language_modeling": "prefix_lm"}
_ORIGINAL_OBJECTIVE_KEYS: Mapping[str, str] = {
    "paradigm_token": "paradigm",
    "mean_tokens_per_span": "mean_span",
}
#: Keys the original wrote into objective dicts itself (its Birdie() mutates them in place).
_ORIGINAL_BOOKKEEPING = frozenset({"hash_str", "nickname", "prob_initial"})


def is_original_form(data: Mapping[str, Any]) -> bool:
    """True when ``data`` looks like the original project's flat config: it has a key only the flat form has,
    or a tokenizer object and none of the nested form's sections (with one, a tokenizer object is simply
    the nested form's ``tokenizer``)."""
    if any(k in data for k in _FLAT_KEYS):
        return True
    return is_tokenizer_object(data.get("tokenizer")) and not any(k in data for k in _NESTED_KEYS)


def from_original_form(
    data: Mapping[str, Any], registry: Registry | None = None
) -> tuple[dict[str, Any], PythonObjects]:
    """Map a config in the original project's flat form onto the nested form; returns ``(nested, objects)``.

    ``objects`` holds what YAML cannot (:class:`PythonObjects`): a tokenizer object (the nested config gets a
    ``{name: bytes}`` placeholder), and the callables ``ds``, ``ds_validation``, ``text_grabber_fn``,
    ``reward_fn``. :func:`~birdie_core.config.read_config` returns them beside the config. ``ds`` becomes ``data.train: {name: callable, function: ...}``
    (and ``data.validation`` the same with ``split: validation``), a callable written as its
    ``module:qualname``. The original's agent (the reward model) maps to ``birdie`` when birdie-rewards is
    installed, else to ``static``. One :class:`FlatFormWarning` lists what was mapped differently or ignored.
    Keys of the nested form pass through; anything else is left for validation to report.
    """
    registry = registry if registry is not None else default_registry()
    rest = dict(data)
    nested: dict[str, Any] = {}
    objects: dict[str, Any] = {}
    notes: list[str] = []
    ignored = [k for k in rest if k in _IGNORED_FLAT_KEYS]
    for key in ignored:
        rest.pop(key)

    def section(name: str) -> dict[str, Any]:
        existing = rest.get(name)
        if existing is not None and not isinstance(existing, Mapping):
            return {}  # left in `rest` as written, for validation to report
        rest.pop(name, None)
        return nested.setdefault(name, dict(existing or {}))

    workers = section("workers") if "num_workers" in rest or "workers" in rest else None
    if "num_workers" in rest and workers is not None:
        workers.setdefault("num_workers", rest.pop("num_workers"))
    curriculum = section("curriculum")
    for old, new in (
        ("steps_between_evaluations", "steps_between_evaluations"),
        ("num_steps", "num_steps"),
        ("total_steps", "num_steps"),
    ):
        if old in rest:
            curriculum.setdefault(new, rest.pop(old))
    if "agent" not in curriculum:
        curriculum["agent"], curriculum["reward"] = _original_curriculum(registry, notes)

    reward_fn = rest.pop("reward_fn", None)
    if isinstance(reward_fn, str):
        curriculum["reward"] = {"name": reward_fn}
    elif reward_fn is not None:
        objects["reward_fn"] = reward_fn
        notes.append(
            "reward_fn is a Python callable: kept beside the config, the curriculum uses registered rewards"
        )

    tokenizer = rest.pop("tokenizer", None)
    if isinstance(tokenizer, Mapping):
        nested["tokenizer"] = dict(tokenizer)
    elif isinstance(tokenizer, str):
        nested["tokenizer"] = {"name": tokenizer}
    elif is_tokenizer_object(tokenizer):
        objects["tokenizer"] = tokenizer
        nested["tokenizer"] = dict(TOKENIZER_PLACEHOLDER)
        notes.append(
            f"tokenizer is a {type(tokenizer).__name__} object: kept beside the config; "
            "the tokenizer config is a {name: bytes} placeholder"
        )
    elif tokenizer is not None:
        nested["tokenizer"] = tokenizer  # a built config, or a wrong value validation reports

    if rest.get("ds") is None:
        rest.pop("ds", None)
    else:
        data_section = section("data")
        grabber = rest.pop("text_grabber_fn", None)
        train = _callable_source(rest.pop("ds"), grabber, "train", "ds", objects)
        if isinstance(rest.get("seed"), int):
            train["seed"] = rest["seed"]  # the original passed its seed to ds() as rng_seed
        data_section.setdefault("train", train)
        val_fn = rest.pop("ds_validation", None)
        if val_fn is not None:
            data_section.setdefault(
                "validation", _callable_source(val_fn, grabber, "validation", "ds_validation", objects)
            )
        else:
            data_section.setdefault("validation", {**train, "split": "validation"})
        if grabber is not None and not isinstance(grabber, str):
            objects["text_grabber_fn"] = grabber

    if isinstance(rest.get("objectives"), (list, tuple)):
        nested["objectives"] = [
            _original_objective(o, i, notes) for i, o in enumerate(rest.pop("objectives"))
        ]
    elif rest.get("objectives") is None:
        rest.pop("objectives", None)
        notes.append(
            "no objectives given: using next_token_prediction (the original defaulted to all of its own)"
        )

    nested.update(rest)  # nested-form keys and unknown keys (validation reports the latter)
    if ignored:
        notes.insert(
            0, "ignored (no meaning here): " + ", ".join(f"{k} ({_IGNORED_FLAT_KEYS[k]})" for k in ignored)
        )
    warnings.warn(
        "this configuration is in the original Birdie project's flat form and was mapped onto the nested "
        "form (birdie_core.config.resolved_config shows the result)" + "".join(f"; {n}" for n in notes),
        FlatFormWarning,
        stacklevel=5,  # the caller of load_config
    )
    return nested, PythonObjects(**objects)


def _original_curriculum(
    registry: Registry, notes: list[str]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    try:
        has_birdie = (
            registry.find("agent", "birdie") is not None and registry.find("reward", "birdie") is not None
        )
    except UnknownNameError:
        has_birdie = False
    if has_birdie:
        return {"name": "birdie"}, {"name": "birdie"}
    notes.append(
        "the original's reward-model agent needs birdie-rewards (not installed): using the static agent"
    )
    return {"name": "static"}, None


def _callable_source(fn: Any, grabber: Any, split: str, key: str, objects: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "callable", "split": split, "function": _import_string(fn)}
    if not isinstance(fn, str):
        objects[key] = fn
    if grabber is not None:
        entry["text_grabber"] = _import_string(grabber)
    return entry


def _import_string(obj: Any) -> str:
    """``module:qualname`` of a callable (importable only for module-level functions), or the string given."""
    if isinstance(obj, str):
        return obj
    module = getattr(obj, "__module__", None) or "__main__"
    qualname = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    return f"{module}:{qualname}"


def _original_objective(entry: Any, index: int, notes: list[str]) -> Any:
    if not isinstance(entry, Mapping):
        return entry  # validation reports it
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key in _ORIGINAL_BOOKKEEPING:
            continue
        new_key = _ORIGINAL_OBJECTIVE_KEYS.get(key, key)
        if new_key != key:
            notes.append(f"objectives[{index}].{key} → {new_key}")
        out[new_key] = value
    name = out.get("name")
    if isinstance(name, str) and name in _ORIGINAL_OBJECTIVE_NAMES:
        out["name"] = _ORIGINAL_OBJECTIVE_NAMES[name]
        notes.append(f"objectives[{index}].name {name} → {out['name']}")
    return out
