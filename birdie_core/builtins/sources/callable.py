"""``callable``: documents from a Python function (the original project's ``ds`` + ``text_grabber_fn``)."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pydantic import Field, field_validator, model_validator

from birdie_core.builtins.sources.common import (
    FieldError,
    emit,
    new_stats,
    select_field,
    type_name,
    validate_selector,
)
from birdie_core.errors import BirdieError, ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import WHOLE_SPLIT, ConfigInt, Document, Shard, SourceConfig

# ---------------------------------------------------------------------------------------------------------
# callable: the original project's `ds` + `text_grabber_fn`
# ---------------------------------------------------------------------------------------------------------


def _validate_import_string(v: str | None) -> str | None:
    if v is not None and not (":" in v or "." in v.strip(".")):
        raise ValueError(
            f"{v!r} is not an import string; expected 'module:function' (e.g. 'mydata:documents')"
        )
    return v


def _split_import_string(spec: str, path: str) -> tuple[str, str]:
    """``(module, attribute)`` of ``"package.module:function"`` or ``"package.module.function"``."""
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(ConfigIssue(path, f"{spec!r} is not an import string; expected 'module:function'"))
    return module_name, attr


def _no_module_message(spec: str, missing: str) -> str:
    return (
        f"cannot import {spec!r}: no module named {missing!r} (is it installed, or its directory on "
        f"PYTHONPATH? the working directory is {os.getcwd()})"
    )


def _missing_module(module_name: str) -> str | None:
    """The first of ``module_name``'s packages (or itself) that cannot be found; None when all are there.

    Nothing is imported: ``importlib.util.find_spec("a.b")`` would import (run) the package ``a``, so each
    level is looked up with the meta path finders in its parent's search locations, as ``import`` would.
    """
    parts = module_name.split(".")
    locations: list[str] | None = None
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        loaded = sys.modules.get(name)
        if loaded is not None:
            found = getattr(loaded, "__path__", None)
        elif depth > 1 and locations is None:
            return name  # its parent is a plain module, which has no submodules
        else:
            spec = None
            for finder in sys.meta_path:
                find_spec = getattr(finder, "find_spec", None)
                spec = find_spec(name, locations) if find_spec is not None else None
                if spec is not None:
                    break
            if spec is None:
                return name
            found = spec.submodule_search_locations
        locations = list(found) if found is not None else None
    return None


def import_object(spec: str, path: str) -> Any:
    """The object named by ``spec`` (``"package.module:function"``, or ``"package.module.function"``).

    Problems are :class:`ConfigError` at ``path`` saying what could not be imported and why.
    """
    module_name, attr = _split_import_string(spec, path)
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.split(".")[0] == e.name.split(".")[0] and module_name.startswith(e.name):
            msg = _no_module_message(spec, e.name)
        else:
            msg = f"cannot import {spec!r}: importing {module_name!r} failed: {type(e).__name__}: {e}"
        raise ConfigError(ConfigIssue(path, msg)) from e
    except Exception as e:  # the module itself raised while being imported
        raise ConfigError(
            ConfigIssue(
                path, f"cannot import {spec!r}: importing {module_name!r} raised {type(e).__name__}: {e}"
            )
        ) from e
    walked = module_name
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                ConfigIssue(path, f"cannot import {spec!r}: {walked!r} has no attribute {part!r}{hint}")
            )
        walked = f"{walked}.{part}"
    if not callable(obj):
        raise ConfigError(ConfigIssue(path, f"{spec!r} is {type_name(obj)}, not a function"))
    return obj


def _describe(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "<unknown>"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    return f"{module}:{name}"


class CallableSourceConfig(SourceConfig):
    """Parameters of the ``callable`` source: the function, how items become text, who shards."""

    function: str = Field(description="'module:function' returning an iterable of documents.")
    text_field: str | None = Field(None, description="Dotted selector of the text in mapping items.")
    text_grabber: str | None = Field(None, description="'module:function' turning an item into its text.")
    sharded_by_function: bool = Field(
        True, description="Call fn(split, worker_id, num_workers, rng_seed) and let it shard."
    )
    seed: ConfigInt = Field(0, description="Passed to the function as rng_seed.")

    @field_validator("function", "text_grabber")
    @classmethod
    def _import_string(cls, v: str | None) -> str | None:
        return _validate_import_string(v)

    @field_validator("text_field")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        return None if v is None else validate_selector(v)

    @model_validator(mode="after")
    def _one_way_to_text(self) -> CallableSourceConfig:
        if self.text_field is not None and self.text_grabber is not None:
            raise ValueError("set text_field or text_grabber, not both")
        return self


class CallableSource:
    """Documents from a Python function: the original project's ``ds`` / ``text_grabber_fn`` style.

    With ``sharded_by_function`` (the original convention) the function shards itself: it is called as
    ``fn(split=…, worker_id=shard.index, num_workers=shard.count, rng_seed=seed)`` and everything it returns
    belongs to this shard; its ``i``-th item gets the index ``shard.index + i * shard.count``. Otherwise it is
    called as ``fn(split=…)`` and this source keeps every ``shard.count``-th item.

    Items may be strings, mappings (the text at ``text_field``, default ``"text"``), or anything
    ``text_grabber`` turns into a string. Empty texts are skipped and counted in ``stats["empty"]``.
    """

    Config = CallableSourceConfig

    @classmethod
    def find_modules(cls, config: CallableSourceConfig) -> None:
        """Check that the modules ``function`` and ``text_grabber`` name exist, without importing them.

        For ``birdie config check``: importing runs the module's code, which a check must not do. Raises the
        :class:`ConfigError` building the source would raise for a missing module; whether the function is
        there and callable is only known once it is imported.
        """
        issues = []
        for path in ("function", "text_grabber"):
            spec = getattr(config, path)
            if spec is None:
                continue
            try:
                missing = _missing_module(_split_import_string(spec, path)[0])
            except ConfigError as exc:
                issues.extend(exc.issues)
                continue
            if missing is not None:
                issues.append(ConfigIssue(path, _no_module_message(spec, missing)))
        if issues:
            raise ConfigError(issues)

    def __init__(self, config: CallableSourceConfig):
        fn = import_object(config.function, "function")
        grabber = import_object(config.text_grabber, "text_grabber") if config.text_grabber else None
        self._setup(config, fn, grabber)

    @classmethod
    def from_callables(
        cls,
        fn: Callable[..., Iterable[Any]],
        text_grabber: Callable[[Any], str] | None = None,
        split: str = "train",
        *,
        sharded_by_function: bool = True,
        seed: int = 0,
        text_field: str | None = None,
    ) -> CallableSource:
        """A source over Python callables given directly (the original project's dict config)."""
        if not callable(fn):
            raise ConfigError(ConfigIssue("function", f"expected a function, got {type_name(fn)}"))
        if text_grabber is not None and not callable(text_grabber):
            raise ConfigError(
                ConfigIssue("text_grabber", f"expected a function, got {type_name(text_grabber)}")
            )
        config = CallableSourceConfig(
            name="callable",
            split=split,
            function=_describe(fn),
            text_grabber=_describe(text_grabber) if text_grabber is not None else None,
            text_field=text_field,
            sharded_by_function=sharded_by_function,
            seed=seed,
        )
        self = cls.__new__(cls)
        self._setup(config, fn, text_grabber)
        return self

    def _setup(
        self,
        config: CallableSourceConfig,
        fn: Callable[..., Iterable[Any]],
        grabber: Callable[[Any], str] | None,
    ) -> None:
        self.config = config
        self.fn = fn
        self.text_grabber = grabber
        self.stats = new_stats()
        self._check_signature()

    def _call_kwargs(self, shard: Shard) -> dict[str, Any]:
        if self.config.sharded_by_function:
            return {
                "split": self.config.split,
                "worker_id": shard.index,
                "num_workers": shard.count,
                "rng_seed": self.config.seed,
            }
        return {"split": self.config.split}

    def _check_signature(self) -> None:
        """Refuse, when built, a function that cannot take the arguments it will be called with."""
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):  # builtins and some C callables: nothing to check
            return
        try:
            sig.bind(**self._call_kwargs(Shard()))
        except TypeError as e:
            if self.config.sharded_by_function:
                how = (
                    "it is called as fn(split=..., worker_id=..., num_workers=..., rng_seed=...); set "
                    "sharded_by_function: false to call it as fn(split=...)"
                )
            else:
                how = "it is called as fn(split=...)"
            raise ConfigError(
                ConfigIssue("function", f"{self.config.function}{sig} cannot be used: {e}; {how}")
            )

    def documents(self, shard: Shard = WHOLE_SPLIT, epoch: int = 0) -> Iterator[Document]:
        name = self.config.function
        kwargs = self._call_kwargs(shard)
        call = f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        try:
            items = iter(self.fn(**kwargs))
        except BirdieError:
            raise
        except Exception as e:
            raise PipelineError(f"{call} raised {type(e).__name__}: {e}") from e
        i = 0
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except BirdieError:
                raise
            except Exception as e:
                raise PipelineError(f"{call} raised {type(e).__name__} while producing item {i}: {e}") from e
            if self.config.sharded_by_function:
                index = shard.index + i * shard.count
            elif shard.owns(i):
                index = i
            else:
                i += 1
                continue
            origin = f"{call}[{i}]"
            yield from emit(self.stats, index, self._text_of(item, origin), origin)
            i += 1

    def _text_of(self, item: Any, origin: str) -> str:
        if self.text_grabber is not None:
            try:
                text = self.text_grabber(item)
            except BirdieError:
                raise
            except Exception as e:
                raise PipelineError(
                    f"{origin}: text_grabber {self.config.text_grabber} raised {type(e).__name__}: {e}"
                ) from e
            if not isinstance(text, str):
                raise PipelineError(
                    f"{origin}: text_grabber {self.config.text_grabber} returned "
                    f"{type_name(text)}, not a string"
                )
            return text
        if isinstance(item, str):
            return item
        if isinstance(item, Mapping):
            try:
                return select_field(item, self.config.text_field or "text")
            except FieldError as e:
                raise PipelineError(f"{origin}: {e} (set text_field or text_grabber)") from None
        raise PipelineError(f"{origin}: item is {type_name(item)}; set text_grabber to turn it into text")

    def __repr__(self) -> str:
        return f"CallableSource({self.config.function!r}, split={self.config.split!r})"
