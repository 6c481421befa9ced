"""Helpers every objective plugin may use: budget arithmetic and the config field types objectives validate with.

Plugins must not import each other; what the text and DNA objectives (or a third party's) share lives here.
An example occupies ``overhead + len(body) + len(target) - 1`` positions of its row (see
:class:`~birdie_core.Example`): :func:`room` is what is left for body and target, :func:`copy_length` and
:func:`fit_length` size a slice of the document to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BeforeValidator, ValidationInfo

from birdie_core.interfaces import ConfigInt, Objective, ObjectiveContext
from birdie_core.tools.noise import noise_counts

__all__ = [
    "IntRange",
    "MarkerName",
    "check_length_allows",
    "check_mean_span_fits",
    "copy_length",
    "fit_length",
    "marker_corruption_cost",
    "room",
    "sentinel_corruption_cost",
]


def room(objective: Objective[Any], budget: int) -> int:
    """Positions left for the body of the prefix plus the target, once the markers are placed.

    An example occupies ``overhead + len(body) + len(target) - 1`` positions (the last target token is only
    a label), so ``len(body) + len(target) <= room``.
    """
    return budget - objective.overhead + 1


def copy_length(
    objective: Objective[Any], tokens: np.ndarray, budget: int, ctx: ObjectiveContext, minimum: int
) -> int:
    """Document tokens for an example that holds each of them twice, once in the body and once in the target
    (copying, deshuffling, reverse complement): drawn from the objective's ``length``, at least ``minimum``,
    at most ``room // 2``; 0 when fewer than ``minimum`` fit (then there is no example).
    """
    available = min(tokens.shape[0], room(objective, budget) // 2)
    if available < minimum:
        return 0
    return max(minimum, objective.draw_length(available, ctx))


def fit_length(n: int, cost: Callable[[int], int], limit: int) -> int:
    """The largest ``m <= n`` (to within a few tokens) with ``cost(m) <= limit``; a value < 1 when none.

    ``cost`` must grow by at least one per document token (each consumed token costs at least one
    position). A proportional guess lands next to the answer; stepping back by the remaining excess then
    lands inside the limit.
    """
    n = min(n, limit)
    for _ in range(3):
        c = cost(n) if n > 0 else 0
        if c <= limit:
            return n
        n = n * limit // c
    while n > 0:
        excess = cost(n) - limit
        if excess <= 0:
            return n
        n -= excess
    return n


def _as_range(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)  # `spans: 2` means exactly two
    return value


def _check_range(value: tuple[int, int]) -> tuple[int, int]:
    lo, hi = value
    if not 1 <= lo <= hi:
        raise ValueError(f"must be [min, max] with 1 <= min <= max, got {list(value)}")
    return value


#: ``[min, max]`` of positive integers, both inclusive; a single integer ``n`` means ``[n, n]``
IntRange = Annotated[tuple[ConfigInt, ConfigInt], BeforeValidator(_as_range), AfterValidator(_check_range)]


def _check_marker(value: str) -> str:
    if not value.strip():
        raise ValueError("a marker name must not be empty or blank")
    return value


#: the name of a reserved marker (one special id of the tokenizer, e.g. ``[COPY]``)
MarkerName = Annotated[str, AfterValidator(_check_marker)]


def check_length_allows(
    minimum: int, what: str, unit: str = "document tokens"
) -> Callable[[Any, ValidationInfo], Any]:
    """A ``length`` validator: the longest slice must hold the ``minimum`` tokens the objective needs."""

    def validate(value: tuple[int, int] | None, info: ValidationInfo) -> tuple[int, int] | None:
        if value is not None and value[1] < minimum:
            raise ValueError(
                f"length max {value[1]} is below the {minimum} {unit} {what} needs for one example"
            )
        return value

    return validate


def sentinel_corruption_cost(
    rate: float, mean_span: float, max_spans: int | None = None
) -> Callable[[int], int]:
    """Positions T5 span corruption of ``m`` tokens takes: body ``m - noise + spans`` + target ``noise + spans``."""

    def cost(m: int) -> int:
        return m + 2 * noise_counts(m, rate, mean_span, max_spans)[1] if m >= 2 else m

    return cost


def marker_corruption_cost(rate: float, mean_span: float) -> Callable[[int], int]:
    """Positions BART text infilling of ``m`` tokens takes: body ``m - noise + spans`` + target ``m``."""

    def cost(m: int) -> int:
        if m < 2:
            return 2 * m
        noise, spans = noise_counts(m, rate, mean_span)
        return 2 * m - noise + spans

    return cost


def check_mean_span_fits(unit: str = "tokens") -> Callable[[Any, ValidationInfo], Any]:
    """A ``mean_span`` validator: a span may not be longer than the ``length`` range allows."""

    def validate(value: float, info: ValidationInfo) -> float:
        length = info.data.get("length")
        if length is not None and value > length[1]:
            raise ValueError(
                f"mean_span {value:g} is longer than the length range allows (at most {length[1]} {unit})"
            )
        return value

    return validate
