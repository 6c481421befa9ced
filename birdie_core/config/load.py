"""Loading a pipeline configuration: the one validation path from YAML or a dict to a :class:`PipelineConfig`.

Each component entry (tokenizer, sources, objectives, packer, agent, reward) is validated by the ``Config``
model its plugin registered, chosen by the entry's ``name``; bare names are accepted when unambiguous and
replaced by the qualified name (``prefix_lm`` → ``core.prefix_lm``). Every problem is collected and raised at
once as one :class:`~birdie_core.errors.ConfigError`, each with its path (``objectives[2].corruption_rate``), a
line and column when the config came from YAML, and a "did you mean" for misspelt keys and names.

A dict may carry Python objects YAML cannot hold: a tokenizer object (``tokenizer: obj``, in the nested or
the flat form) and, in the original project's flat form, the ``ds`` callables. :func:`read_config` returns
them beside the config, as :class:`PythonObjects`, for the build step (:mod:`birdie_core.pipeline.build`) to
use; a tokenizer object without ``encode`` and ``decode`` is reported here with the other problems.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from pydantic import ValidationError

from birdie_core.config.ids import assign_objective_ids
from birdie_core.config.issues import IssueCollector, describe, format_path
from birdie_core.config.models import DomainConfig, PipelineConfig
from birdie_core.config.original import (
    TOKENIZER_PLACEHOLDER,
    PythonObjects,
    from_original_form,
    is_original_form,
    is_tokenizer_object,
    tokenizer_object_problem,
)
from birdie_core.config.slots import (
    DEFAULT_OBJECTIVES,
    DEFAULT_TRAIN_SOURCE,
    DEFAULT_VALIDATION_SOURCE,
    SECTIONS,
    SLOTS,
)
from birdie_core.config.yaml_lines import ConfigPath, LineMap, load_yaml_with_lines
from birdie_core.errors import ConfigError, ConfigIssue
from birdie_core.interfaces import ComponentConfig, ObjectiveConfig, SourceConfig
from birdie_core.kinds import COMPONENT_KINDS, KindName
from birdie_core.registry import Registry, UnknownNameError, default_registry

__all__ = ["ConfigSource", "LoadedConfig", "load_config", "read_config", "read_config_with_lines"]


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and the Python objects given beside it (usually none)."""

    config: PipelineConfig
    objects: PythonObjects = PythonObjects()


#: What every entry point (``Birdie``, ``train``, ``preview``) accepts as a configuration.
ConfigSource = Union[PipelineConfig, LoadedConfig, Mapping[str, Any], str, os.PathLike[str]]


def read_config(source: ConfigSource, registry: Registry | None = None) -> LoadedConfig:
    """Validate a pipeline configuration and keep any Python objects given beside it.

    ``source`` is a path to a YAML file or the name of a shipped preset (``"ul2"``), a dict of the same structure (or in the original project's flat
    form, see :func:`~birdie_core.config.original.from_original_form`), a :class:`PipelineConfig` or a
    :class:`LoadedConfig` (returned as they are). ``registry`` defaults to the process's
    :func:`~birdie_core.registry.default_registry`.

    Raises :class:`ConfigError` listing every problem found, each with its path and, for YAML, its line. A
    YAML file that holds nothing is refused (write ``{}`` for every default).
    """
    return read_config_with_lines(source, registry)[0]


def read_config_with_lines(
    source: ConfigSource, registry: Registry | None = None
) -> tuple[LoadedConfig, LineMap]:
    """:func:`read_config`, and where each key of a YAML file was written (an empty map for the other forms).

    For checks that run after validation and report their problems at the config's lines.
    """
    if isinstance(source, LoadedConfig):
        return source, LineMap()
    if isinstance(source, PipelineConfig):
        return LoadedConfig(source), LineMap()
    registry = registry if registry is not None else default_registry()
    lines = LineMap()
    data: Any
    if isinstance(source, (str, os.PathLike)):
        source = _file_or_preset(source)
        data, lines = load_yaml_with_lines(source)
        if data is None:
            # a truncated or wrong file would otherwise run on every default without a word
            raise ConfigError(
                ConfigIssue(
                    "",
                    "the file holds no configuration (it is empty, or only comments or null): write the keys "
                    "you mean, or {} to accept every default",
                    source=lines.source,
                )
            )
    elif isinstance(source, Mapping):
        data = source
    else:
        raise ConfigError(
            f"a configuration is a YAML path, a dict or a PipelineConfig, not {type(source).__name__}"
        )
    return _Checker(registry, lines).run(data), lines


def _file_or_preset(source: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """``source`` itself when it is a file (a file always wins), else the shipped preset of that name
    (``"quickstart"``, ``"ul2"``: :mod:`birdie_core.presets`), else ``source`` (whose reading then fails)."""
    from birdie_core.presets import preset_names, preset_path

    if not isinstance(source, str) or os.path.exists(source):
        return source
    if source in preset_names():
        return preset_path(source)
    if os.sep not in source and not os.path.splitext(source)[1]:  # meant as a name, not as a file
        close = difflib.get_close_matches(source, preset_names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{source}: no such file, and no preset of that name{hint}; the presets are: "
            + ", ".join(preset_names())
        )
    return source


def load_config(source: ConfigSource, registry: Registry | None = None) -> PipelineConfig:
    """Validate a pipeline configuration (see :func:`read_config`); returns the :class:`PipelineConfig`.

    A dict that carries Python objects (a tokenizer object, the flat form's callables) is refused, since the
    config alone would lose them: pass it to ``Birdie(...)`` or :func:`read_config` instead.
    """
    loaded = read_config(source, registry)
    given = loaded.objects.names()
    if given:
        raise ConfigError(
            ConfigIssue(
                given[0],
                f"Python objects ({', '.join(given)}) cannot be part of a PipelineConfig: pass the dict to "
                "Birdie(...) or birdie_core.config.read_config(...), which keep them beside the config",
            )
        )
    return loaded.config


class _Checker(IssueCollector):
    """Validates one config, collecting every issue instead of stopping at the first."""

    def __init__(self, registry: Registry, lines: LineMap):
        super().__init__(lines)
        self.registry = registry

    # -- the whole config ------------------------------------------------------------------------------
    def run(self, data: Any) -> LoadedConfig:
        if not isinstance(data, Mapping):
            self.add((), f"a configuration must be a mapping of keys to values, got {describe(data)}")
            self.raise_if_any()
        self.add_duplicate_keys()
        objects = PythonObjects()
        if is_original_form(data):
            data, objects = from_original_form(data, self.registry)
        elif is_tokenizer_object(data.get("tokenizer")):
            objects = PythonObjects(tokenizer=data["tokenizer"])
            data = {**data, "tokenizer": dict(TOKENIZER_PLACEHOLDER)}
        if objects.tokenizer is not None:
            problem = tokenizer_object_problem(objects.tokenizer)
            if problem is not None:
                self.add(("tokenizer",), problem)
        prepared = self._prepare(data)
        try:
            cfg = PipelineConfig.model_validate(prepared)
        except ValidationError as exc:
            for err in exc.errors():
                self.add_pydantic(err, (), PipelineConfig, "the configuration")
        self.raise_if_any()
        return LoadedConfig(cfg, objects)

    def _prepare(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``data`` with every component entry built (or a stand-in where it failed).

        Stand-ins keep the model pass that follows from reporting a failed entry a second time.
        """
        prepared = dict(data)
        for section in SECTIONS:
            if section in prepared and prepared[section] is None:
                prepared[section] = {}
            if isinstance(prepared.get(section), Mapping):
                prepared[section] = dict(prepared[section])

        for slot in SLOTS:
            path, kind, default, nullable = slot.path, slot.kind, slot.default, slot.nullable
            parent: Any = prepared
            for key in path[:-1]:
                parent = parent.setdefault(key, {})
            if not isinstance(parent, dict):
                continue  # the section itself is wrong; the model pass reports it
            key = path[-1]
            if path == ("data", "validation") and key not in parent:
                default = self._default_validation(parent)
            if key in parent:
                raw = parent[key]
                if raw is None and nullable:
                    continue
            elif default is None:
                continue
            else:
                raw = default
            if kind == "source" and isinstance(raw, (list, tuple)):
                parent[key] = self._domains(raw, path, parent.get("train"))
                continue
            built = self.component(kind, raw, path)
            parent[key] = built if built is not None else COMPONENT_KINDS[kind].config_base(name="<invalid>")

        prepared["objectives"] = self._objectives(prepared, data)
        return prepared

    def _default_validation(self, data: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """What validation reads when ``data.validation`` is left out: the embedded corpus's validation split
        when training reads the embedded corpus (and no hold-out is asked for); otherwise nothing, which
        holds out training documents (``data.validation_holdout``). Never a corpus the config did not name."""
        train = data.get("train")
        if not isinstance(train, SourceConfig) or data.get("validation_holdout") is not None:
            return None
        try:
            embedded = self.registry.find("source", DEFAULT_TRAIN_SOURCE["name"])
        except UnknownNameError:
            return None
        if (
            embedded is None
            or train.name != embedded.qualified_name
            or getattr(train, "split", None) != "train"
        ):
            return None
        return {**DEFAULT_VALIDATION_SOURCE, "name": embedded.qualified_name}

    def _domains(self, raw: Sequence[Any], path: ConfigPath, train: Any) -> tuple[DomainConfig, ...] | Any:
        """A list of sources (data domains): each a source entry with ``id`` and ``weight`` beside its keys.

        In ``data.validation`` every id must name a training domain, whose weight is the default.
        """
        stand_in = COMPONENT_KINDS["source"].config_base(name="<invalid>")
        if not raw:
            self.add(
                path,
                "a list of sources needs at least one entry, e.g. [{name: files, id: web, paths: [...]}]",
            )
            return stand_in
        validation = path[-1] == "validation"
        train_weights: dict[str, float] | None = None
        if validation:
            if not isinstance(train, tuple):
                if isinstance(train, SourceConfig) and train.name == stand_in.name:
                    return stand_in  # the train entry failed, and says so
                self.add(
                    path,
                    "a list of validation sources pairs each with a training domain by its id: data.train must be a "
                    "list of sources with ids as well (or give one validation source)",
                )
                return stand_in
            train_weights = {d.id: d.weight for d in train}
        out: list[DomainConfig] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(raw):
            where = path + (i,)
            if isinstance(entry, (DomainConfig, ComponentConfig)):
                entry = entry.model_dump(exclude_unset=True)
            if not isinstance(entry, Mapping):
                self.add(
                    where,
                    f"expected a source entry like {{name: ..., id: ..., weight: ...}}, got {describe(entry)}",
                )
                continue
            entry = dict(entry)
            domain_id, weight = entry.pop("id", None), entry.pop("weight", None)
            source = self.component("source", entry, where)
            if domain_id is None:
                self.add(
                    where + ("id",),
                    "missing 'id': every source of a list needs a domain id (its name in metrics)",
                )
                continue
            if isinstance(domain_id, str) and domain_id in seen:
                self.add(
                    where + ("id",),
                    f"domain id {domain_id!r} is used twice (also {format_path(path + (seen[domain_id],))}): ids must "
                    "be unique",
                )
                continue
            if train_weights is not None and isinstance(domain_id, str) and domain_id not in train_weights:
                self.add(
                    where + ("id",),
                    f"{domain_id!r} names no training domain (data.train ids: {', '.join(train_weights)})",
                )
                continue
            if weight is None:
                weight = train_weights.get(domain_id, 1.0) if train_weights is not None else 1.0
            fields = {"id": domain_id, "weight": weight, "source": source if source is not None else stand_in}
            try:
                domain = DomainConfig.model_validate(fields)
            except ValidationError as exc:
                for err in exc.errors():
                    self.add_pydantic(err, where, DomainConfig, "a domain")
                continue
            seen[domain.id] = i
            if source is not None:
                out.append(domain)
        return tuple(out) if len(out) == len(raw) else stand_in

    def _objectives(self, prepared: dict[str, Any], data: Mapping[str, Any]) -> tuple[ObjectiveConfig, ...]:
        path: ConfigPath = ("objectives",)
        raw = prepared.get("objectives", DEFAULT_OBJECTIVES)
        stand_in = (ObjectiveConfig(name="<invalid>", id="<invalid>"),)
        if not isinstance(raw, (list, tuple)):
            self.add(path, f"must be a list of objective entries, got {describe(raw)}")
            return stand_in
        if not raw:
            self.add(path, "needs at least one objective, e.g. [{name: next_token_prediction}]")
            return stand_in
        built = [self.component("objective", entry, path + (i,)) for i, entry in enumerate(raw)]
        good = [(i, c) for i, c in enumerate(built) if isinstance(c, ObjectiveConfig)]
        indices = [i for i, _ in good]
        with_ids, id_problems = assign_objective_ids([c for _, c in good], indices)
        for i, message in id_problems:
            self.add(path + (i, "id"), message)
        seq_len = data.get("sequence_length", PipelineConfig.model_fields["sequence_length"].default)
        usable_len = seq_len if isinstance(seq_len, int) and not isinstance(seq_len, bool) else None
        checks = objective_problems(usable_len, with_ids, indices, complete=len(good) == len(built))
        for p, message in checks:
            self.add(p, message)
        if len(good) < len(built) or id_problems or checks:
            return stand_in
        return tuple(with_ids)

    # -- one component entry ---------------------------------------------------------------------------
    def component(self, kind: KindName, raw: Any, path: ConfigPath) -> ComponentConfig | None:
        """Build one component entry with its registered ``Config``; None (and issues) when it cannot."""
        if isinstance(raw, ComponentConfig):
            # an already-built config: re-validated so its name gets qualified; what was left to its defaults
            # stays unset, so that a default that depends on the config's place applies to it as to YAML
            raw = raw.model_dump(exclude_unset=True)
        if not isinstance(raw, Mapping):
            self.add(path, f"expected a {kind} entry like {{name: ...}}, got {describe(raw)}")
            return None
        if "name" not in raw:
            installed = ", ".join(self.registry.names(kind)) or "none"
            self.add(path + ("name",), f"missing 'name': which {kind}? (installed: {installed})")
            return None
        name = raw["name"]
        if not isinstance(name, str) or not name.strip():
            self.add(path + ("name",), f"a {kind} name must be a non-empty string, got {describe(name)}")
            return None
        try:
            entry = self.registry.find(kind, name)
        except UnknownNameError as exc:  # an ambiguous bare name
            self.add(path + ("name",), str(exc))
            return None
        if entry is None:
            self.add(path + ("name",), self.registry.explain_unknown(kind, name))
            return None
        config_cls = entry.obj.Config
        base = COMPONENT_KINDS[kind].config_base
        if not (isinstance(config_cls, type) and issubclass(config_cls, base)):
            self.add(
                path,
                f"{kind} {entry.qualified_name!r} from {entry.distribution or entry.namespace} is broken: "
                f"its Config must subclass birdie_core.{base.__name__}",
            )
            return None
        owner = f"{kind} {entry.qualified_name!r}"
        try:
            return config_cls.model_validate({**raw, "name": entry.qualified_name})
        except ValidationError as exc:
            for err in exc.errors():
                self.add_pydantic(err, path, config_cls, owner)
        except Exception as exc:  # noqa: BLE001 - a plugin's buggy validator must not hide every other issue
            self.add(path, f"{owner} failed to validate its entry: {type(exc).__name__}: {exc}")
        return None


def objective_problems(
    sequence_length: int | None,
    configs: Sequence[ObjectiveConfig],
    indices: Sequence[int],
    *,
    complete: bool = True,
) -> list[tuple[ConfigPath, str]]:
    """Checks that involve several fields: ``(path, message)`` for each problem."""
    problems: list[tuple[ConfigPath, str]] = []
    # with an entry missing (it failed to validate) its prob is unknown, so the sum cannot be judged
    if complete and configs and all(c.prob <= 0 for c in configs):
        problems.append((("objectives",), "every objective has prob 0: at least one needs prob > 0"))
    if sequence_length is not None:
        for i, cfg in zip(indices, configs):
            if cfg.length is not None and cfg.length[1] > sequence_length:
                problems.append(
                    (
                        ("objectives", i, "length"),
                        (
                            f"length max {cfg.length[1]} exceeds sequence_length {sequence_length}: "
                            "such an example could never fit in a row"
                        ),
                    )
                )
    return problems
