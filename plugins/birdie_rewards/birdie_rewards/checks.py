"""Checks on what reaches a reward function or an agent: one place, one wording.

A reward function only sees vectors, so its messages name the arm by position; an agent knows its arms and
names them by key. Every check raises :class:`birdie_core.InvalidLossError`, which is both a
:class:`birdie_core.PipelineError` (the CLI prints it without a traceback) and a :class:`ValueError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from birdie_core import Arm, InvalidLossError

# InvalidLossError lives in the core (a third-party reward raises it without this plugin); re-exported here so
# that `from birdie_rewards.checks import InvalidLossError` keeps working
__all__ = ["InvalidLossError", "check_agent_state", "check_losses", "check_rewards", "loss_vector"]


def _label(i: int, names: Sequence[str] | None) -> str:
    return f"objective {names[i]!r}" if names is not None else f"arm #{i}"


def check_losses(
    losses: np.ndarray | Sequence[float],
    *,
    size: int | None = None,
    names: Sequence[str] | None = None,
    what: str = "validation loss",
) -> np.ndarray:
    """``losses`` as a float64 vector, or :class:`InvalidLossError` saying which arm is wrong and why.

    Losses must be finite and ``>= 0`` (a cross-entropy cannot be negative; a negative loss is a bug
    upstream). Zero is allowed: reward functions that divide by a loss document what they do with it.
    """
    a = np.asarray(losses, dtype=np.float64)
    if a.ndim != 1:
        raise InvalidLossError(f"{what}es must be a 1-d vector (one per objective), got shape {a.shape}")
    if a.size == 0:
        raise InvalidLossError(f"an evaluation with no {what}es: every objective needs one")
    expected = size if size is not None else (len(names) if names is not None else None)
    if expected is not None and a.size != expected:
        raise InvalidLossError(f"got {a.size} {what}es for {expected} objective configurations")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        i = int(bad[0])
        raise InvalidLossError(
            f"{what} of {_label(i, names)} is {a[i]} (not finite); "
            f"{bad.size} of {a.size} are not finite — did the model diverge?"
        )
    neg = np.flatnonzero(a < 0)
    if neg.size:
        i = int(neg[0])
        raise InvalidLossError(f"{what} of {_label(i, names)} is {a[i]}, but a loss cannot be negative")
    return a


def check_rewards(
    rewards: np.ndarray | Sequence[float], *, size: int, names: Sequence[str] | None = None
) -> np.ndarray:
    """``rewards`` as a float64 vector of length ``size``; NaN, infinite or wrong length raise."""
    a = np.asarray(rewards, dtype=np.float64)
    if a.ndim != 1 or a.size != size:
        raise InvalidLossError(f"got rewards of shape {a.shape} for {size} objective configurations")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        i = int(bad[0])
        raise InvalidLossError(f"reward of {_label(i, names)} is {a[i]} (not finite)")
    return a


def loss_vector(losses: Mapping[str, float], arms: Sequence[Arm]) -> np.ndarray:
    """The loss vector in arm order from ``{objective id: loss}``: a missing or unknown id raises."""
    keys = [a.key for a in arms]
    missing = [k for k in keys if k not in losses]
    unknown = sorted(set(losses) - set(keys))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"no validation loss for {missing}")
        if unknown:
            parts.append(f"losses for unknown objective ids {unknown} (known: {keys})")
        raise InvalidLossError("; ".join(parts))
    return check_losses([losses[k] for k in keys], names=keys)


def check_agent_state(state: Mapping[str, Any], version: int, arms: Sequence[str], agent: str) -> None:
    """Refuse (``ValueError``) a saved state of the ``agent`` agent that has another version or other arms."""
    if state.get("version") != version:
        raise ValueError(f"unknown {agent} agent state version {state.get('version')!r}")
    if list(state["arms"]) != list(arms):
        raise ValueError(f"the saved agent steered objectives {state['arms']}, this one steers {list(arms)}")
