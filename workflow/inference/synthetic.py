"""Synthetic datasets in the contract layout with planted feature-target dependence.

Used by the tests and benchmarks. Parameters come from the schema's default prior (its bounds
and constraints, through :class:`workflow.simulation.prior.Prior`). A few features each depend
strongly on one target, with a noise level that grows with the target (so both the posterior
mean and the posterior IQR depend on that feature); every other feature is noise independent
of everything.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from workflow.config import validate_schema
from workflow.contract import FEATURE_NAMES, PARAM_NAMES, PARAM_UNITS, RATE_NAMES, SCHEMA_VERSION
from workflow.inference.dataset import compute_targets
from workflow.inference.targetprior import sample_params as constrained_params
from workflow.simulation.prior import Prior

#: target index -> planted feature index (dfa, rs_range, low_freq_power, transition_variance).
DEFAULT_PLANTED: dict[int, int] = {0: 21, 1: 20, 2: 6, 3: 17}


def default_prior() -> Prior:
    """The prior of the schema's defaults (bounds and constraints of an empty config)."""
    return Prior.from_config(validate_schema({})["prior"])


def sample_params(n: int, rng: np.random.Generator, prior: Prior | None = None) -> np.ndarray:
    """Draw n parameter sets (n, 7) from a prior (default: :func:`default_prior`) with one generator.

    :func:`workflow.inference.targetprior.sample_params` (vectorised rejection with
    :meth:`Prior.accept`), for synthetic datasets of a million rows.
    """
    return constrained_params(default_prior() if prior is None else prior, n, rng)


def planted_features(
    targets: np.ndarray,
    rng: np.random.Generator,
    n_features: int = len(FEATURE_NAMES),
    planted: dict[int, int] | None = None,
    noise: float = 0.05,
) -> np.ndarray:
    """Return (n, n_features) features: planted ones follow one target each, the rest are noise.

    A planted feature is u + (noise + 6 * noise * u) * eps, with u the target scaled to [0, 1]
    (log scale for [E/I]_net) and eps standard normal: the target sets both its location and
    its spread.
    """
    planted = DEFAULT_PLANTED if planted is None else planted
    n = len(targets)
    feats = rng.normal(size=(n, n_features)) * rng.uniform(0.5, 3.0, size=n_features) + rng.normal(size=n_features)
    for t, f in planted.items():
        v = np.log(targets[:, t]) if t == 0 else targets[:, t]
        u = (v - v.min()) / (v.max() - v.min())
        feats[:, f] = u + (noise + 6 * noise * u) * rng.normal(size=n)
    return feats


def mixed_features(targets: np.ndarray, rng: np.random.Generator, n_features: int = len(FEATURE_NAMES)) -> np.ndarray:
    """Return (n, n_features) features that each mix all targets with graded random weights.

    Feature j = sum_t A[j, t] u_t + sigma_j eps, with u the targets scaled to [0, 1] (log scale
    for [E/I]_net), A uniform(0, 1) squared and sigma_j log-uniform in [0.05, 1]: every feature
    carries some information, with a spread of strengths (a meaningful full ranking, like
    correlated catch22 features).
    """
    v = targets.copy()
    v[:, 0] = np.log(v[:, 0])
    u = (v - v.min(0)) / (v.max(0) - v.min(0))
    weights = rng.uniform(0.0, 1.0, size=(n_features, targets.shape[1])) ** 2
    sigma = np.exp(rng.uniform(np.log(0.05), np.log(1.0), size=n_features))
    return u @ weights.T + sigma * rng.normal(size=(len(targets), n_features))


def write_synthetic_dataset(
    path: str | Path,
    n: int,
    seed: int = 0,
    invalid_fraction: float = 0.05,
    planted: dict[int, int] | None = None,
    noise: float = 0.05,
    kind: str = "planted",
) -> dict[int, int]:
    """Write a synthetic contract-layout dataset; return the planted target -> feature map.

    ``kind="planted"``: :func:`planted_features`; ``kind="mixed"``: :func:`mixed_features`
    (then the returned map is empty). Invalid rows carry NaN features and ``valid = False``.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    params = sample_params(n, rng)
    targets = compute_targets(params, PARAM_NAMES)
    if kind == "planted":
        feats = planted_features(targets, rng, planted=planted, noise=noise)
    elif kind == "mixed":
        feats, planted = mixed_features(targets, rng), {}
    else:
        raise ValueError(f"kind must be 'planted' or 'mixed', got {kind!r}")
    rates = rng.uniform(1.0, 30.0, size=(n, 2))
    valid = rng.random(n) >= invalid_fraction
    feats[~valid] = np.nan
    status = np.where(valid, 0, 4).astype(np.int8)
    with h5py.File(path, "w") as fh:
        fh.attrs["schema_version"] = SCHEMA_VERSION
        fh.attrs["synthetic"] = True
        d = fh.create_dataset("params", data=params)
        d.attrs["names"] = list(PARAM_NAMES)
        d.attrs["units"] = list(PARAM_UNITS)
        fh.create_dataset("features", data=feats).attrs["names"] = list(FEATURE_NAMES)
        d = fh.create_dataset("rates", data=rates)
        d.attrs["names"] = list(RATE_NAMES)
        d.attrs["units"] = "Hz"
        fh.create_dataset("valid", data=valid).attrs["names"] = ["valid"]
        fh.create_dataset("status", data=status).attrs["names"] = [
            "OK",
            "SIMULATOR_ERROR",
            "SILENT",
            "RUNAWAY",
            "NAN_FEATURES",
            "NOT_RUN",
        ]
        fh.create_dataset("sample_id", data=np.arange(n, dtype=np.int64)).attrs["names"] = ["sample_id"]
    return dict(DEFAULT_PLANTED if planted is None else planted)
