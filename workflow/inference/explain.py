"""SHAP values of the posterior mean and IQR for one fold.

Explainer: ``shap.PermutationExplainer`` (antithetic permutations: every permutation is walked
forward and backward, so the values of a row add up exactly to f(x) - E_background f) with an
``shap.maskers.Independent`` masker over a random background of training-fold rows
(interventional SHAP). The model is :class:`PosteriorFunctionals`, a deterministic, batched
function of x (common random numbers, see :mod:`workflow.inference.functionals`), so the
masked coalitions of a row are one batched call and differences between coalitions carry no
fresh Monte Carlo noise.

Cost per explained row = n_permutations x (2F + 1) x n_background functional evaluations, each
pushing n_draws base draws through the flow. Why these defaults (128 draws, 32 background rows,
2 permutations): the mean |SHAP| ranking is averaged over hundreds of rows, so per-row
permutation noise averages out and one or two permutations suffice; with common random numbers
the posterior-mean SHAP values converge with few draws, the IQR needs more (a quantile of the
draws is rougher in x). ``benchmarks/bench_inference.py shap`` measures this against a
high-precision reference, and every fold re-explains ``convergence_rows`` rows with 4x draws
and 2x permutations (``meta["convergence"]``, merged into results/shap/convergence.csv).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import shap
import torch
from scipy.stats import spearmanr

from workflow.inference.functionals import FUNCTIONAL_NAMES, PosteriorFunctionals
from workflow.inference.npe import FoldModel
from workflow.inference.seeding import Stream, int_seed, rng


@dataclasses.dataclass(frozen=True)
class ShapConfig:
    """SHAP settings (config key ``inference.shap``).

    Attributes:
        n_rows: test-fold rows explained per fold (the paper: 500).
        n_draws: fixed base draws per x for the functionals.
        n_background: background rows from the training folds (interventional expectation).
        n_permutations: antithetic permutations per row (each costs 2F + 1 masked evaluations).
        leakage: "truncate" (rejection with common random numbers) or "clamp".
        convergence_rows: rows re-explained with 4x draws and 2x permutations as a check (0: off).
        qmc_draws: scrambled-Sobol base draws.
    """

    n_rows: int = 500
    n_draws: int = 128
    n_background: int = 32
    n_permutations: int = 2
    leakage: Literal["truncate", "clamp"] = "truncate"
    convergence_rows: int = 10
    qmc_draws: bool = True

    def __post_init__(self) -> None:
        for key in ("n_rows", "n_draws", "n_background", "n_permutations"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.n_draws < 4:
            raise ValueError(f"n_draws must be >= 4, got {self.n_draws}")
        if self.convergence_rows < 0:
            raise ValueError(f"convergence_rows must be >= 0, got {self.convergence_rows}")
        if self.leakage not in ("truncate", "clamp"):
            raise ValueError(f"leakage must be 'truncate' or 'clamp', got {self.leakage!r}")

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> ShapConfig:
        """Build from a config dict, ignoring keys that are not fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in cfg.items() if k in names})


@dataclasses.dataclass
class ShapResult:
    """SHAP values of one fold.

    Attributes:
        values: (n, F, T, 2) SHAP values (target units; functional order :data:`FUNCTIONAL_NAMES`).
        base_values: (n, T, 2) expected value over the background.
        outputs: (n, T, 2) functionals at the explained rows.
        rows: (n, F) raw features of the explained rows.
        sample_id: (n,) their sample ids.
        meta: settings, timings and the convergence check.
    """

    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    rows: np.ndarray
    sample_id: np.ndarray
    meta: dict[str, Any]


def shap_values(
    functionals: PosteriorFunctionals,
    x_std: np.ndarray,
    background_std: np.ndarray,
    n_permutations: int,
    perm_seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Permutation SHAP of the flat functionals; return values (n, F, T, 2) and base values (n, T, 2)."""
    n, n_feat = x_std.shape
    masker = shap.maskers.Independent(background_std, max_samples=len(background_std))
    explainer = shap.PermutationExplainer(functionals, masker, seed=perm_seed % 2**32)
    expl = explainer(x_std, max_evals=n_permutations * (2 * n_feat + 1), silent=True)
    t = functionals.theta_dim
    return (
        np.asarray(expl.values).reshape(n, n_feat, t, 2),
        np.asarray(expl.base_values).reshape(n, t, 2),
    )


def _agreement(a: np.ndarray, b: np.ndarray) -> dict[str, list[list[float]]]:
    """Agreement of SHAP values a (n, F, T, 2) with a reference b, per target and functional.

    relative_l2_error: ||a - b|| / ||b|| over rows and features; relative_error_mean_abs: the same
    for the mean |SHAP| vector (what the figures show); spearman_mean_abs: rank correlation of
    mean |SHAP| over features (noisy when many features have ~zero importance).
    """
    t, g = a.shape[2], a.shape[3]
    rel = [
        [
            float(np.linalg.norm(a[:, :, i, j] - b[:, :, i, j]) / max(np.linalg.norm(b[:, :, i, j]), 1e-300))
            for j in range(g)
        ]
        for i in range(t)
    ]
    rho = [
        [float(spearmanr(np.abs(a[:, :, i, j]).mean(0), np.abs(b[:, :, i, j]).mean(0))[0]) for j in range(g)]
        for i in range(t)
    ]
    ma, mb = np.abs(a).mean(0), np.abs(b).mean(0)  # (F, T, 2)
    rel_m = [
        [
            float(np.linalg.norm(ma[:, i, j] - mb[:, i, j]) / max(np.linalg.norm(mb[:, i, j]), 1e-300))
            for j in range(g)
        ]
        for i in range(t)
    ]
    return {"relative_l2_error": rel, "relative_error_mean_abs": rel_m, "spearman_mean_abs": rho}


def explain_fold(
    model: FoldModel,
    features_test: np.ndarray,
    sample_id_test: np.ndarray,
    features_train: np.ndarray,
    cfg: ShapConfig,
    seed: int,
    fold: int,
    threads: int = 1,
) -> ShapResult:
    """Explain the posterior mean and IQR on ``cfg.n_rows`` random test rows of one fold."""
    torch.set_num_threads(threads)
    n_rows = min(cfg.n_rows, len(features_test))
    pick = np.sort(rng(seed, Stream.SHAP_ROWS, fold).choice(len(features_test), n_rows, replace=False))
    n_bg = min(cfg.n_background, len(features_train))
    bg_idx = np.sort(rng(seed, Stream.SHAP_BACKGROUND, fold).choice(len(features_train), n_bg, replace=False))
    x_std = model.standardise(features_test[pick]).numpy()
    bg_std = model.standardise(features_train[bg_idx]).numpy()

    f = PosteriorFunctionals(
        model, n_draws=cfg.n_draws, seed=seed, fold=fold, leakage=cfg.leakage, qmc_draws=cfg.qmc_draws
    )
    t0 = time.perf_counter()
    values, base = shap_values(
        f, x_std, bg_std, cfg.n_permutations, int_seed(seed, Stream.SHAP_PERMUTATIONS, fold)
    )
    wall = time.perf_counter() - t0
    outputs = f.evaluate(x_std)
    meta: dict[str, Any] = {
        "explainer": "shap.PermutationExplainer",
        "masker": "shap.maskers.Independent",
        "config": dataclasses.asdict(cfg),
        "n_rows": int(n_rows),
        "n_background": int(n_bg),
        "background_sample_index": bg_idx.tolist(),
        "wall_time_sec": float(wall),
        "functional_rows_evaluated": int(f.n_rows_evaluated),
        "clamped_rows": int(f.n_clamped_rows),
        "threads": int(threads),
        "additivity_max_abs_error": float(np.abs(values.sum(1) + base - outputs).max()),
        "shap_version": shap.__version__,
    }
    n_check = min(cfg.convergence_rows, n_rows)
    if n_check > 0:
        f_hi = PosteriorFunctionals(
            model, n_draws=4 * cfg.n_draws, seed=seed, fold=fold, leakage=cfg.leakage, qmc_draws=cfg.qmc_draws
        )
        t1 = time.perf_counter()
        v_hi, _ = shap_values(
            f_hi, x_std[:n_check], bg_std, 2 * cfg.n_permutations, int_seed(seed, Stream.CONVERGENCE, fold)
        )
        meta["convergence"] = {
            "rows": int(n_check),
            "reference": f"{4 * cfg.n_draws} draws, {2 * cfg.n_permutations} permutations, "
            "other permutation seed",
            "wall_time_sec": float(time.perf_counter() - t1),
            **_agreement(values[:n_check], v_hi),
        }
    return ShapResult(
        values=values,
        base_values=base,
        outputs=outputs,
        rows=features_test[pick],
        sample_id=np.asarray(sample_id_test)[pick],
        meta=meta,
    )


def write_shap(path: str | Path, res: ShapResult, feature_names: list[str], target_names: list[str]) -> None:
    """Write ``shap.h5``: values (n, F, T, 2) with names per axis, base values, outputs and rows."""
    import json

    with h5py.File(path, "w") as fh:
        d = fh.create_dataset("values", data=res.values)
        d.attrs["names"] = list(feature_names)
        d.attrs["axes"] = ["row", "feature", "target", "functional"]
        d.attrs["feature_names"] = list(feature_names)
        d.attrs["target_names"] = list(target_names)
        d.attrs["functional_names"] = list(FUNCTIONAL_NAMES)
        for key, arr in (("base_values", res.base_values), ("outputs", res.outputs)):
            d = fh.create_dataset(key, data=arr)
            d.attrs["names"] = list(target_names)
            d.attrs["axes"] = ["row", "target", "functional"]
            d.attrs["functional_names"] = list(FUNCTIONAL_NAMES)
        d = fh.create_dataset("rows", data=res.rows)
        d.attrs["names"] = list(feature_names)
        fh.create_dataset("sample_id", data=res.sample_id).attrs["names"] = ["sample_id"]
        fh.attrs["meta"] = json.dumps(res.meta)


def read_shap(path: str | Path) -> dict[str, Any]:
    """Read a ``shap.h5`` into a dict (values, base_values, outputs, rows, sample_id, names, meta)."""
    import json

    with h5py.File(path, "r") as fh:
        v = fh["values"]
        return {
            "values": v[()],
            "base_values": fh["base_values"][()],
            "outputs": fh["outputs"][()],
            "rows": fh["rows"][()],
            "sample_id": fh["sample_id"][()],
            "feature_names": [str(s) for s in v.attrs["feature_names"]],
            "target_names": [str(s) for s in v.attrs["target_names"]],
            "functional_names": [str(s) for s in v.attrs["functional_names"]],
            "meta": json.loads(fh.attrs["meta"]),
        }
