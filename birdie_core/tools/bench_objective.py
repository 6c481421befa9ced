"""How fast an objective turns documents into examples: what ``birdie bench objective`` measures.

:func:`measure_objective` times :meth:`~birdie_core.Objective.build` alone, the method the pipeline calls for
every example, on documents tokenized beforehand. Like the pipeline, it takes examples from a document until
the objective returns none or the document is used up, each within a budget of ``length`` positions (an empty
row). :func:`bench_objectives` does it for several registered objectives on the embedded corpus with one
tokenizer, so that a plugin's objective can be seen beside the core's.

Timing is wall clock around ``build`` only, after a warm-up, passes over the documents repeated until
``seconds`` of measuring (at least one pass). Rates are of one process on one core: other load on the machine
only ever slows them down, so compare rows of one run rather than runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from birdie_core.interfaces import Objective, ObjectiveContext, Tokenizer

if TYPE_CHECKING:
    from birdie_core.registry import Registry

__all__ = [
    "ObjectiveSpeed",
    "SpeedReport",
    "bench_cli_names",
    "bench_objectives",
    "corpus_documents",
    "measure_objective",
    "parse_cli_spec",
]

#: the start-of-generation marker a pipeline reserves by default (``start_generating_paradigm``)
START_MARKER = "<|gen|>"
#: a document's examples are taken from it at most this many times per pass (a guard against an objective
#: that keeps consuming one token of a huge document)
MAX_EXAMPLES_PER_DOCUMENT = 100_000


@dataclass(frozen=True, slots=True)
class ObjectiveSpeed:
    """One objective's measurement: examples made inside ``seconds`` of ``build`` calls, and what they were like.

    ``skipped_documents`` counts the documents of the first pass that gave no example at all (too short for
    the objective, say); ``mean_length`` is the mean :attr:`~birdie_core.Example.length` (positions in a row),
    ``mean_consumed`` the mean of document tokens each example used. ``error`` is set, and the numbers are
    zero, when the objective could not be built or raised.
    """

    objective: str
    examples: int = 0
    seconds: float = 0.0
    builds: int = 0
    documents: int = 0
    skipped_documents: int = 0
    mean_length: float = 0.0
    mean_consumed: float = 0.0
    error: str | None = None

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else 0.0

    @property
    def us_per_example(self) -> float:
        return 1e6 * self.seconds / self.examples if self.examples else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "examples_per_s": self.examples_per_s,
            "us_per_example": self.us_per_example,
            "examples": self.examples,
            "builds": self.builds,
            "seconds": self.seconds,
            "documents": self.documents,
            "skipped_documents": self.skipped_documents,
            "mean_length": self.mean_length,
            "mean_consumed": self.mean_consumed,
            "error": self.error,
        }


def measure_objective(
    objective: Objective[Any],
    tokenizer: Tokenizer,
    documents: Sequence[np.ndarray],
    length: int,
    *,
    seconds: float = 1.0,
    whole_documents: bool = True,
    start_marker: str = START_MARKER,
    seed: int = 0,
    label: str | None = None,
) -> ObjectiveSpeed:
    """Time ``objective.build`` on ``documents`` (token arrays) with a budget of ``length`` positions.

    With ``whole_documents`` examples are taken from each document until it is used up or the objective
    makes none, as the pipeline does; without it, one build per document (its rest is dropped). The tokenizer
    must have ``start_marker`` and the objective's markers reserved. Exceptions of the objective propagate.
    """
    ctx = ObjectiveContext(tokenizer, np.random.default_rng(seed), tokenizer.special_id(start_marker))
    for doc in documents[:8]:  # warm-up: caches, lazily built tables, first-call costs
        objective.build(doc, length, ctx)
    per_doc = MAX_EXAMPLES_PER_DOCUMENT if whole_documents else 1
    elapsed, passes = 0.0, 0
    examples = builds = positions = consumed = skipped = 0
    clock = time.perf_counter
    while passes == 0 or elapsed < seconds:
        for doc in documents:
            rest, made = doc, 0
            while rest.shape[0] > 0 and made < per_doc:
                t0 = clock()
                example, after = objective.build(rest, length, ctx)
                elapsed += clock() - t0
                builds += 1
                if example is None:
                    break
                made += 1
                positions += example.length
                consumed += rest.shape[0] - after.shape[0]
                if after.shape[0] >= rest.shape[0]:
                    break  # nothing consumed: the pipeline would refuse it; do not loop on it
                rest = after
            examples += made
            if passes == 0 and made == 0:
                skipped += 1
        passes += 1
        if not documents:
            break
    return ObjectiveSpeed(
        objective=label or type(objective).__name__,
        examples=examples,
        seconds=elapsed,
        builds=builds,
        documents=len(documents),
        skipped_documents=skipped,
        mean_length=positions / examples if examples else 0.0,
        mean_consumed=consumed / examples if examples else 0.0,
    )


def corpus_documents(tokenizer: Tokenizer, count: int) -> list[np.ndarray]:
    """The first ``count`` documents of the embedded corpus's train split (repeated when it has fewer), each
    tokenized once."""
    from birdie_core.builtins.sources import EmbeddedSource

    source = EmbeddedSource()
    n = len(source)
    repeat = max(1, -(-count // n))
    if repeat > 1:
        source = EmbeddedSource(EmbeddedSource.Config(name="embedded", repeat=repeat))
    return [d.token_ids(tokenizer) for _, d in zip(range(count), source.documents())]


@dataclass(frozen=True)
class SpeedReport:
    """What :func:`bench_objectives` measured, and on what."""

    rows: tuple[ObjectiveSpeed, ...]
    length: int
    documents: int
    document_tokens: int
    tokenizer: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "documents": self.documents,
            "document_tokens": self.document_tokens,
            "tokenizer": self.tokenizer,
            "seconds": self.seconds,
            "rows": [r.to_dict() for r in self.rows],
        }

    def table(self, highlight: str | None = None) -> str:
        """The rows as a plain-text table; the row of ``highlight`` is marked with ``*``."""
        head = (
            "OBJECTIVE",
            "EXAMPLES/S",
            "µS/EXAMPLE",
            "EXAMPLES",
            "SKIPPED DOCS",
            "MEAN LENGTH",
            "MEAN CONSUMED",
        )
        lines: list[tuple[str, ...]] = []
        for r in self.rows:
            name = ("* " if r.objective == highlight else "  ") + r.objective
            if r.error:
                lines.append((name, f"error: {r.error}"))
                continue
            lines.append(
                (
                    name,
                    f"{r.examples_per_s:,.0f}" if r.examples else "-",  # none made: no rate to show
                    f"{r.us_per_example:,.1f}" if r.examples else "-",
                    f"{r.examples:,}",
                    f"{r.skipped_documents}/{r.documents}",
                    f"{r.mean_length:,.1f}" if r.examples else "-",
                    f"{r.mean_consumed:,.1f}" if r.examples else "-",
                )
            )
        width = max(len(head[0]) + 2, *(len(line[0]) for line in lines))
        out = [f"{'  ' + head[0]:<{width}}  " + "  ".join(f"{h:>13}" for h in head[1:])]
        for line in lines:
            if len(line) == 2:
                out.append(f"{line[0]:<{width}}  {line[1]}")
            else:
                out.append(f"{line[0]:<{width}}  " + "  ".join(f"{v:>13}" for v in line[1:]))
        return "\n".join(out)


def bench_objectives(
    names: Sequence[str],
    registry: Registry,
    *,
    tokenizer: Mapping[str, Any] | None = None,
    length: int = 512,
    documents: int = 64,
    seconds: float = 1.0,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> SpeedReport:
    """Measure each registered objective of ``names`` (qualified or bare) with its default parameters, or
    those of ``params[name]``, on ``documents`` documents of the embedded corpus tokenized by ``tokenizer``
    (a tokenizer entry as in a config; default ``{name: bytes}``), with a budget of ``length`` positions.

    A name that is not registered raises (:class:`~birdie_core.registry.UnknownNameError`) and so does a
    tokenizer that cannot be built (:class:`~birdie_core.errors.ConfigError`); an objective whose parameters
    are invalid, or that raises while building, gets a row with its ``error``.
    """
    from pydantic import ValidationError

    from birdie_core.errors import ConfigError, ConfigIssue

    built: list[tuple[str, Objective[Any] | None, str | None]] = []
    for name in names:
        entry = registry.resolve("objective", name)
        given = dict((params or {}).get(name, {}))
        try:
            config = entry.obj.Config.model_validate({**given, "name": entry.qualified_name})
            built.append((entry.qualified_name, entry.obj(config), None))
        except (ValidationError, ValueError, TypeError) as exc:
            built.append((entry.qualified_name, None, _reason(exc)))
    specials = list(
        dict.fromkeys([START_MARKER, *(s for _, o, _ in built if o is not None for s in o.special_tokens())])
    )
    spec = dict(tokenizer or {"name": "bytes"})
    tok_entry = registry.resolve("tokenizer", str(spec.get("name", "")))
    try:
        tok_config = tok_entry.obj.Config.model_validate({**spec, "name": tok_entry.qualified_name})
    except ValidationError as exc:
        raise ConfigError(ConfigIssue("tokenizer", _reason(exc))) from None
    tok = tok_entry.obj(tok_config, specials)
    docs = corpus_documents(tok, documents)
    rows = []
    for label, objective, error in built:
        if objective is None:
            rows.append(ObjectiveSpeed(label, documents=len(docs), error=error))
            continue
        try:
            rows.append(measure_objective(objective, tok, docs, length, seconds=seconds, label=label))
        except Exception as exc:  # noqa: BLE001 - one objective's failure is its row, not the whole table's
            rows.append(ObjectiveSpeed(label, documents=len(docs), error=_reason(exc)))
    return SpeedReport(
        rows=tuple(rows),
        length=length,
        documents=len(docs),
        document_tokens=int(sum(d.shape[0] for d in docs)),
        tokenizer=tok_entry.qualified_name,
        seconds=seconds,
    )


def _reason(exc: BaseException) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):  # its first line only counts the errors: say what they are
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0] if first else ''}".strip()


# -- what `birdie bench objective` passes in -----------------------------------------------------------------


def parse_cli_spec(text: str) -> dict[str, Any]:
    """A component entry from the command line: a bare name, or its entry as YAML (``{name: x, key: value}``)."""
    import yaml

    from birdie_core.errors import ConfigError, ConfigIssue

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            ConfigIssue("tokenizer", f"not a name or a YAML mapping: {text!r} ({exc})")
        ) from None
    if isinstance(value, str):
        return {"name": value}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value
    raise ConfigError(ConfigIssue("tokenizer", f"expected a name or a mapping with a name, got {text!r}"))


def bench_cli_names(
    registry: Registry, name: str, against: Sequence[str], params: Mapping[str, Any]
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The qualified objective names to measure (``name`` first, then those of ``against``: names, ``core``
    for the core's objectives, ``all`` for every installed one, ``none``) and ``params`` as ``name``'s
    parameters."""
    from birdie_core.registry import CORE_NAMESPACE

    first = registry.resolve("objective", name).qualified_name
    names = [first]
    for choice in against or ("core",):
        if choice == "all":
            names += registry.names("objective")
        elif choice == "core":
            names += [
                e.qualified_name for e in registry.entries("objective") if e.namespace == CORE_NAMESPACE
            ]
        elif choice != "none":
            names.append(registry.resolve("objective", choice).qualified_name)
    return list(dict.fromkeys(names)), {first: dict(params)}
