"""``selective_copying``: the selective-copying objective's format (SPEC §1), as a held-out probe.

Per span ``[COPY] [START] <start delimiter> [END] <end delimiter>``, plus ``[CONTEXT] <context>`` (the
queries before the context, or after it with probability ``instruction_at_end``); answer
``<span 1> [DONE] <span 2> [DONE] …`` in the order of the queries. The markers are reserved ids with the
objective's default names (:class:`~birdie_core.tools.SelectiveCopyingObjectiveConfig`), so a model trained
with ``selective_copying`` reads them as it did in training, and its tokenizer has them.

The training objective works on the tokens of whatever document it is given and lives partly in the text
plugin, which the core cannot import; the probe is generated here in the same format, in units of words: the
context is a window of ``context_words`` words of the embedded corpus's **validation** split (never trained on
when the training data is its train split), spans and delimiters are runs of whole words of it. Delimiters
follow the objective's rules: the start delimiter is grown to the left until it occurs once in the context,
the end delimiter to the right until it does not occur inside the span, so every query has one answer.
Scored by exact match of the whole answer.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from birdie_core.evals.tasks import EvalError, Instance, Marker, Part, Task, TaskConfig
from birdie_core.interfaces import ConfigFloat, ConfigInt
from birdie_core.tools.selective_copying import SelectiveCopyingObjectiveConfig

__all__ = ["SelectiveCopyingProbe", "SelectiveCopyingProbeConfig"]

_DEFAULTS = SelectiveCopyingObjectiveConfig.model_fields
COPY, START, END, CONTEXT, DONE = (
    Marker(str(_DEFAULTS[f].default)) for f in SelectiveCopyingObjectiveConfig.MARKER_FIELDS
)
_MAX_WINDOWS = 100


class SelectiveCopyingProbeConfig(TaskConfig):
    """Parameters of the ``selective_copying`` probe (lengths in words)."""

    context_words: ConfigInt = Field(48, ge=4, le=100_000, description="Words of context.")
    spans: tuple[ConfigInt, ConfigInt] = Field((1, 2), description="[min, max] spans to copy.")
    span_words: tuple[ConfigInt, ConfigInt] = Field((2, 6), description="[min, max] words per span.")
    delimiter_words: tuple[ConfigInt, ConfigInt] = Field(
        (1, 4), description="[min, max] words per delimiter."
    )
    instruction_at_end: ConfigFloat = Field(
        0.5, ge=0.0, le=1.0, description="Chance the queries follow the context."
    )

    @model_validator(mode="after")
    def _ranges(self) -> SelectiveCopyingProbeConfig:
        for field in ("spans", "span_words", "delimiter_words"):
            lo, hi = getattr(self, field)
            if not 1 <= lo <= hi:
                raise ValueError(f"{field} must be [min, max] with 1 <= min <= max, got {[lo, hi]}")
        if self.span_words[1] + 2 * self.delimiter_words[0] > self.context_words:
            raise ValueError("context_words is too small for the longest span and its delimiters")
        return self


@functools.lru_cache(maxsize=1)
def _validation_words() -> tuple[str, ...]:
    from birdie_core.builtins.sources.embedded import EmbeddedSource, EmbeddedSourceConfig

    try:
        source = EmbeddedSource(EmbeddedSourceConfig(name="embedded", split="validation"))
    except Exception as exc:
        raise EvalError(
            f"the selective-copying probe reads the embedded corpus, which is missing: {exc}"
        ) from exc
    return tuple(w for doc in source.documents() for w in doc.text.split())


def _occurrences(words: tuple[str, ...], pattern: tuple[str, ...], lo: int, hi: int) -> list[int]:
    """Starts ``s`` in ``[lo, hi)`` where ``words[s:s + len(pattern)] == pattern``."""
    n = len(pattern)
    return [s for s in range(lo, min(hi, len(words) - n + 1)) if words[s : s + n] == pattern]


class SelectiveCopyingProbe(Task[SelectiveCopyingProbeConfig]):
    """Copy the span(s) between given delimiters; exact match."""

    name: ClassVar[str] = "selective_copying"
    Config = SelectiveCopyingProbeConfig

    def markers(self) -> tuple[str, ...]:
        return tuple(m.name for m in (COPY, START, END, CONTEXT, DONE))

    def _place(
        self,
        context: tuple[str, ...],
        length: int,
        chosen: list[tuple[int, int, int, int]],
        rng: np.random.Generator,
    ) -> tuple[int, int, int, int] | None:
        dmin, dmax = self.config.delimiter_words
        c = len(context)
        for _ in range(16):
            a = int(rng.integers(dmin, c - length - dmin + 1))
            b = a + length
            if any(a < e and s < b for s, e, _, _ in chosen):
                continue
            d1 = next(
                (
                    d
                    for d in range(int(rng.integers(dmin, dmax + 1)), min(dmax, a) + 1)
                    if _occurrences(context, context[a - d : a], 0, c) == [a - d]
                ),
                None,
            )
            d2 = next(
                (
                    d
                    for d in range(int(rng.integers(dmin, dmax + 1)), min(dmax, c - b) + 1)
                    if not _occurrences(context, context[b : b + d], a, b)
                ),
                None,
            )
            if d1 is not None and d2 is not None:
                return a, b, d1, d2
        return None

    def make(self, rng: np.random.Generator, index: int) -> Instance:
        cfg = self.config
        words = _validation_words()
        if len(words) < cfg.context_words:
            raise EvalError(
                f"the corpus has {len(words)} words, fewer than context_words ({cfg.context_words})"
            )
        for _ in range(_MAX_WINDOWS):
            start = int(rng.integers(0, len(words) - cfg.context_words + 1))
            context = words[start : start + cfg.context_words]
            count = int(rng.integers(cfg.spans[0], cfg.spans[1] + 1))
            chosen: list[tuple[int, int, int, int]] = []
            for _ in range(count):
                found = self._place(
                    context, int(rng.integers(cfg.span_words[0], cfg.span_words[1] + 1)), chosen, rng
                )
                if found is not None:
                    chosen.append(found)
            if len(chosen) >= cfg.spans[0]:
                break
        else:
            raise EvalError("found no window of the corpus where the spans have identifying delimiters")
        queries: list[Part] = []
        answer: list[Part] = []
        for a, b, d1, d2 in chosen:
            queries += [COPY, START, " ".join(context[a - d1 : a]), END, " ".join(context[b : b + d2])]
            answer += [" ".join(context[a:b]), DONE]
        body: list[Part] = [CONTEXT, " ".join(context)]
        prompt = [*body, *queries] if rng.random() < cfg.instruction_at_end else [*queries, *body]
        return Instance(self.name, index, tuple(prompt), tuple(answer))
