"""Mutual information between every feature and every target (sklearn, k-NN estimator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import mutual_info_regression

from workflow.seeds import Stream, int_seed, rng


def mutual_information(
    features: np.ndarray,
    targets: np.ndarray,
    feature_names: list[str],
    target_names: list[str],
    seed: int,
    max_rows: int | None,
    n_neighbors: int,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Return MI (nats) as a DataFrame, features x targets.

    Args:
        features: (n, F) valid rows.
        targets: (n, T) targets of the same rows.
        feature_names, target_names: labels of the columns.
        seed: root seed (MI stream: row subsample and sklearn's jitter).
        max_rows: cap on rows (a random subset above it; config ``inference.mi.max_rows``);
            None uses all rows.
        n_neighbors: k of the Kraskov estimator (config ``inference.mi.n_neighbors``).
        n_jobs: parallel jobs of sklearn.
    """
    n = len(features)
    if max_rows is not None and n > max_rows:
        idx = np.sort(rng(seed, Stream.MI).choice(n, max_rows, replace=False))
        features, targets = features[idx], targets[idx]
    rs = int_seed(seed, Stream.MI) % 2**32
    mi = np.column_stack(
        [
            mutual_info_regression(features, targets[:, t], n_neighbors=n_neighbors, random_state=rs, n_jobs=n_jobs)
            for t in range(targets.shape[1])
        ]
    )
    df = pd.DataFrame(mi, index=pd.Index(feature_names, name="feature"), columns=list(target_names))
    df.attrs["n_rows"] = len(features)
    return df
