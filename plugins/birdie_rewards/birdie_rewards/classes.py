"""Class normalisation: an objective split into many configurations must not outweigh one with few.

A *class* is an objective (``Arm.objective``); its configurations are the arms that share it. The reward of a
class is the mean over its configurations, and a total is the sum over classes — so each class weighs the
same however many configurations it was split into. Equivalently, arm ``i`` weighs ``1 / n_class(i)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from birdie_core import Arm

__all__ = ["class_index", "class_means", "class_total", "class_weights"]


def class_index(arms: Sequence[Arm] | Sequence[str]) -> np.ndarray:
    """Each arm's class as an int (0, 1, …, in order of first appearance)."""
    names = [a.objective if isinstance(a, Arm) else str(a) for a in arms]
    first: dict[str, int] = {}
    return np.array([first.setdefault(n, len(first)) for n in names], dtype=np.int64)


def _classes(classes: np.ndarray | Sequence[int], size: int) -> np.ndarray:
    c = np.asarray(classes, dtype=np.int64)
    if c.shape != (size,):
        raise ValueError(f"classes must give one class per arm ({size}), got shape {c.shape}")
    return c


def class_weights(classes: np.ndarray | Sequence[int]) -> np.ndarray:
    """``1 / (number of arms in the arm's class)``: the weight that makes every class count once."""
    c = np.asarray(classes, dtype=np.int64)
    _, inverse, counts = np.unique(c, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse].astype(np.float64)


def class_means(values: np.ndarray, classes: np.ndarray | Sequence[int]) -> np.ndarray:
    """Mean of ``values`` (last axis = arms) within each class, broadcast back to every arm of the class."""
    v = np.asarray(values, dtype=np.float64)
    c = _classes(classes, v.shape[-1])
    _, inverse = np.unique(c, return_inverse=True)
    onehot = np.eye(inverse.max() + 1)[inverse]  # (arms, classes)
    sums = v @ onehot
    means = sums / onehot.sum(axis=0)
    return means @ onehot.T


def class_total(values: np.ndarray, classes: np.ndarray | Sequence[int] | None) -> np.ndarray:
    """Sum over classes of each class's mean (last axis = arms); ``classes=None`` is a plain sum."""
    v = np.asarray(values, dtype=np.float64)
    if classes is None:
        return v.sum(axis=-1)
    return v @ class_weights(_classes(classes, v.shape[-1]))
