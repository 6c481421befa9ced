"""Candidate mixtures for the ``birdie`` agent to score (numpy only).

``uniform`` is the paper's: every arm's weight uniform in [0, 1), normalised. With many arms these candidates
all lie close to the uniform mixture, and a class split into many configurations keeps most of the mass.

``hierarchical`` draws class shares first, then configuration shares within each class; at each level half of
the candidates are uniform-then-normalised and half Dirichlet with concentration ``alpha < 1`` (sparse, so
mixtures far from uniform get scored too). A class split into eight configurations then draws its share like
any other class.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SAMPLERS", "hierarchical_candidates", "uniform_candidates"]


def uniform_candidates(
    rng: np.random.Generator, n: int, classes: np.ndarray, alpha: float = 0.3
) -> np.ndarray:
    """(n, K) mixtures: uniform weights, normalised (the paper's candidates)."""
    w = rng.random((n, classes.size)) + 1e-12
    return w / w.sum(axis=1, keepdims=True)


def _shares(rng: np.random.Generator, n: int, k: int, alpha: float) -> np.ndarray:
    """(n, k) shares: the first half uniform-then-normalised, the second half Dirichlet(alpha)."""
    if k == 1:
        return np.ones((n, 1))
    half = n // 2
    u = rng.random((half, k)) + 1e-12
    # Dirichlet through normalised gammas; tiny gammas underflow to 0, so keep a floor before normalising
    g = rng.standard_gamma(alpha, size=(n - half, k)) + 1e-12
    out = np.concatenate([u, g], axis=0)
    return out / out.sum(axis=1, keepdims=True)


def hierarchical_candidates(
    rng: np.random.Generator, n: int, classes: np.ndarray, alpha: float = 0.3
) -> np.ndarray:
    """(n, K) mixtures: class shares first, then configurations within each class."""
    labels, inverse = np.unique(classes, return_inverse=True)
    out = np.empty((n, classes.size))
    class_share = _shares(rng, n, labels.size, alpha)
    for c in range(labels.size):
        members = np.flatnonzero(inverse == c)
        within = _shares(rng, n, members.size, alpha)
        # shuffle which candidates get Dirichlet within-class shares, so the two levels are independent
        within = within[rng.permutation(n)]
        out[:, members] = class_share[:, c : c + 1] * within
    return out


SAMPLERS = {"uniform": uniform_candidates, "hierarchical": hierarchical_candidates}
