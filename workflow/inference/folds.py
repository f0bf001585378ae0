"""Deterministic, disjoint k-fold assignment."""

from __future__ import annotations

import numpy as np

from workflow.seeds import Stream, rng


def assign_folds(sample_id: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Return the fold (0..k-1) of every row.

    Rows are ordered by ``sample_id``, shuffled with the FOLDS stream of ``seed``, and dealt out
    round-robin, so fold sizes differ by at most one and the assignment depends only on the
    seed, k and the set of sample ids (not on the row order in the file).

    Args:
        sample_id: (n,) unique sample ids.
        k: number of folds, 2 <= k <= n.
        seed: root seed.
    """
    n = len(sample_id)
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if n < k:
        raise ValueError(f"{n} rows cannot be split into k={k} folds")
    order = np.argsort(sample_id, kind="stable")
    perm = rng(seed, Stream.FOLDS).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[order[perm]] = np.arange(n) % k
    return fold


def split(fold: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_index, test_index) of fold ``k``: test = fold k, train = every other fold."""
    test = np.flatnonzero(fold == k)
    if len(test) == 0:
        raise ValueError(f"fold {k} is empty")
    return np.flatnonzero(fold != k), test
