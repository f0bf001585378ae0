"""SHAP values of the posterior mean and IQR for one fold.

Explainer: ``shap.PermutationExplainer`` (antithetic permutations: every permutation is walked
forward and backward, so the values of a row add up exactly to f(x) - E_background f) with an
``shap.maskers.Independent`` masker over a random background of training-fold rows
(interventional SHAP). The model is :class:`PosteriorFunctionals`, a deterministic, batched
function of x (common random numbers, see :mod:`workflow.inference.functionals`), so the
masked coalitions of a row are one batched call and differences between coalitions carry no
fresh Monte Carlo noise.

Cost: every explained row costs n_permutations x (2F + 1) masked coalitions, each evaluated on
n_background rows with n_draws base draws each (:func:`shap_cost_evaluations` counts a fold's
job exactly). Sources of error of the fold-merged mean |SHAP|: the base draws (Monte Carlo
error of the functionals, larger for the IQR), the permutations (per-row noise, which averages
out over the explained rows) and the background rows (one set per fold, shared by every row of
the fold, so its error does not average out over rows: measured, it is the largest source for
the IQR ranking). Every fold therefore re-explains ``convergence_rows`` rows against a
reference with its own background (CONVERGENCE_BACKGROUND stream, same size), its own base
draws (CONVERGENCE_DRAWS, 4x as many) and its own permutation seed (CONVERGENCE, 2x as many
permutations): ``meta["convergence"]``, merged into results/shap/convergence.csv. Their
disagreement counts every source of noise; ``benchmarks/bench_inference.py`` measures the same
on the fold-merged ranking and times the naive baseline.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import h5py
import numpy as np
import shap
import torch
from scipy.stats import spearmanr

from workflow.h5io import atomic_h5, provenance_attrs
from workflow.inference.functionals import FUNCTIONAL_NAMES, PosteriorFunctionals
from workflow.inference.npe import FoldModel
from workflow.inference.sections import ConfigSection
from workflow.seeds import Stream, int_seed, rng


@dataclasses.dataclass(frozen=True)
class ShapConfig(ConfigSection):
    """SHAP settings (config key ``inference.shap``).

    Every field is required: the defaults live in the schema only; build from the validated
    config with :meth:`from_config`. The schema's defaults of ``n_draws`` (32), ``n_background``
    (32) and ``n_permutations`` (1) are the cheapest measured at which two runs with independent
    backgrounds, base draws and permutation seeds agree on the fold-merged ranking (Spearman
    >= 0.95 for the posterior mean, >= 0.9 for the IQR, on the reduced campaign's 10 folds:
    ``benchmarks/bench_inference.py settings``); the background is what limits the IQR ranking,
    so fewer background rows fail first.

    Attributes:
        n_rows: test-fold rows explained per fold.
        n_draws: fixed base draws per x for the functionals.
        n_background: background rows from the training folds (interventional expectation).
        n_permutations: antithetic permutations per row (each costs 2F + 1 masked evaluations).
        leakage: "truncate" (continuous rejection with common random numbers) or "clamp"
            (see :mod:`workflow.inference.functionals`).
        min_accepted_fraction: accepted fraction of the draws below which a row is blended
            continuously with clamping (lam = accepted / this).
        convergence_rows: rows re-explained against an independent reference (own background,
            4x draws, 2x permutations, own seeds) as a check (0: off).
        qmc_draws: scrambled-Sobol base draws (False: i.i.d. normal draws).
    """

    KEY: ClassVar[str] = "inference.shap"

    n_rows: int
    n_draws: int
    n_background: int
    n_permutations: int
    leakage: Literal["truncate", "clamp"]
    min_accepted_fraction: float
    convergence_rows: int
    qmc_draws: bool

    def __post_init__(self) -> None:
        self._check_at_least(1, "n_rows", "n_background", "n_permutations")
        self._check_at_least(4, "n_draws")
        self._check_at_least(0, "convergence_rows")
        if self.leakage not in ("truncate", "clamp"):
            raise ValueError(f"{self.KEY}.leakage must be 'truncate' or 'clamp', got {self.leakage!r}")
        if not 0 < self.min_accepted_fraction <= 1:
            raise ValueError(f"{self.KEY}.min_accepted_fraction must be in (0, 1], got {self.min_accepted_fraction}")


def shap_cost_evaluations(shap_section: Mapping[str, Any], n_features: int) -> int:
    """Flow evaluations (one base draw pushed through the flow at one x) of one fold's SHAP job.

    With n = ``n_rows`` explained rows, P = ``n_permutations``, B = ``n_background``,
    S = ``n_draws``, F = ``n_features`` and c = min(``convergence_rows``, n)::

        S * (n * P * (2F + 1) * B + (n - 1) * (F + 1) * B + n)
        + 4S * (c * 2P * (2F + 1) * B + (c - 1) * (F + 1) * B)      (only if c > 0)

    Every functional row pushes S base draws through the flow (4S in the convergence check).
    Per explained row and permutation, ``shap.PermutationExplainer`` evaluates 2F + 1 masked
    coalitions, each on B background rows. For every row after the first, shap 0.51 also
    evaluates the F + 1 main-effect coalitions on B rows, although :func:`shap_values` does not
    ask for them (``Explainer.__call__`` passes its list of results as ``main_effects``). The
    term + n is the functionals at the explained rows themselves (``ShapResult.outputs``). The
    convergence check explains c rows again with 4S draws and 2P permutations (against its own
    background of B rows).

    The count is exact when the fold has at least n test rows and B training rows and every
    feature of an explained row differs from the background rows' (continuous features);
    otherwise it is an upper bound (the job explains min(n, test rows) rows against
    min(B, training rows) background rows, and shap skips background rows that a coalition
    leaves unchanged). Rejection (``leakage="truncate"``) adds no flow evaluations:
    out-of-support draws get weight 0, they are not redrawn.

    Args:
        shap_section: the validated ``inference.shap`` config section.
        n_features: F, the number of features in the dataset.

    Raises:
        ValueError: naming the bad key of ``inference.shap``, or for n_features < 1.
    """
    cfg = ShapConfig.from_config(shap_section)
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    n, p, b, s, f = cfg.n_rows, cfg.n_permutations, cfg.n_background, cfg.n_draws, n_features
    rows = s * (n * p * (2 * f + 1) * b + (n - 1) * (f + 1) * b + n)
    c = min(cfg.convergence_rows, n)
    check = 4 * s * (c * 2 * p * (2 * f + 1) * b + (c - 1) * (f + 1) * b) if c > 0 else 0
    return int(rows + check)


@dataclasses.dataclass
class ShapResult:
    """SHAP values of one fold.

    Attributes:
        values: (n, F, T, 2) SHAP values (target units; functional order :data:`FUNCTIONAL_NAMES`).
        base_values: (n, T, 2) expected value over the background.
        outputs: (n, T, 2) functionals at the explained rows.
        rows: (n, F) raw features of the explained rows.
        sample_id: (n,) their sample ids.
        accepted_fraction: (n,) mean weight of the explained rows' draws inside the support.
        truncation_weight: (n,) how each explained row was treated: 1 = truncation, 0 =
            clamping, between = the continuous blend of the two (always 0 for ``leakage="clamp"``).
        meta: settings, timings, leakage counts over every evaluation, the convergence check.
    """

    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    rows: np.ndarray
    sample_id: np.ndarray
    accepted_fraction: np.ndarray
    truncation_weight: np.ndarray
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
        [float(np.linalg.norm(ma[:, i, j] - mb[:, i, j]) / max(np.linalg.norm(mb[:, i, j]), 1e-300)) for j in range(g)]
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
    """Explain the posterior mean and IQR on ``cfg.n_rows`` random test rows of one fold.

    Args:
        model: trained fold model.
        features_test: (n, F) raw features of the test fold.
        sample_id_test: (n,) their sample ids.
        features_train: (m, F) raw features of the training folds (the background is drawn from them).
        cfg: SHAP settings.
        seed: root seed (streams SHAP_ROWS, SHAP_BACKGROUND, SHAP_DRAWS, SHAP_PERMUTATIONS; the
            convergence reference: CONVERGENCE_BACKGROUND, CONVERGENCE_DRAWS, CONVERGENCE).
        fold: fold index (the test fold).
        threads: torch intra-op threads (the Snakemake job's threads).
    """
    torch.set_num_threads(threads)
    n_rows = min(cfg.n_rows, len(features_test))
    pick = np.sort(rng(seed, Stream.SHAP_ROWS, fold).choice(len(features_test), n_rows, replace=False))
    n_bg = min(cfg.n_background, len(features_train))
    bg_idx = np.sort(rng(seed, Stream.SHAP_BACKGROUND, fold).choice(len(features_train), n_bg, replace=False))
    x_std = model.standardise(features_test[pick]).numpy()
    bg_std = model.standardise(features_train[bg_idx]).numpy()

    crn = {"leakage": cfg.leakage, "min_accepted_fraction": cfg.min_accepted_fraction, "qmc_draws": cfg.qmc_draws}
    f = PosteriorFunctionals(model, n_draws=cfg.n_draws, seed=seed, fold=fold, **crn)
    t0 = time.perf_counter()
    values, base = shap_values(f, x_std, bg_std, cfg.n_permutations, int_seed(seed, Stream.SHAP_PERMUTATIONS, fold))
    wall = time.perf_counter() - t0
    leak = {
        "rows_evaluated": int(f.n_rows_evaluated),
        "blended_rows": int(f.n_blended_rows),
        "clamped_rows": int(f.n_clamped_rows),
    }
    outputs = f.evaluate(x_std)
    accepted, weight = f.last_accepted, f.last_weight
    meta: dict[str, Any] = {
        "explainer": "shap.PermutationExplainer",
        "masker": "shap.maskers.Independent",
        "config": dataclasses.asdict(cfg),
        "n_rows": int(n_rows),
        "n_background": int(n_bg),
        "background_sample_index": bg_idx.tolist(),
        "wall_time_sec": float(wall),
        "functional_rows_evaluated": int(f.n_rows_evaluated),
        "leakage": {
            **leak,
            "note": "over every SHAP evaluation: rows blended with clamping (0 < lam < 1) and clamped (lam = 0)",
            "explained_rows_blended": int(((weight > 0) & (weight < 1)).sum()),
            "explained_rows_clamped": int((weight == 0).sum()),
            "explained_rows_mean_accepted_fraction": float(accepted.mean()) if len(accepted) else None,
        },
        "threads": int(threads),
        "additivity_max_abs_error": float(np.abs(values.sum(1) + base - outputs).max()),
        "shap_version": shap.__version__,
    }
    n_check = min(cfg.convergence_rows, n_rows)
    if n_check > 0:
        ref_idx = np.sort(
            rng(seed, Stream.CONVERGENCE_BACKGROUND, fold).choice(len(features_train), n_bg, replace=False)
        )
        f_hi = PosteriorFunctionals(
            model, n_draws=4 * cfg.n_draws, seed=seed, fold=fold, draws_stream=Stream.CONVERGENCE_DRAWS, **crn
        )
        t1 = time.perf_counter()
        v_hi, _ = shap_values(
            f_hi,
            x_std[:n_check],
            model.standardise(features_train[ref_idx]).numpy(),
            2 * cfg.n_permutations,
            int_seed(seed, Stream.CONVERGENCE, fold),
        )
        meta["convergence"] = {
            "rows": int(n_check),
            "reference": (
                f"independent run: its own {n_bg} background rows, {4 * cfg.n_draws} base draws of their own, "
                f"{2 * cfg.n_permutations} permutations with their own seed"
            ),
            "reference_background_sample_index": ref_idx.tolist(),
            "wall_time_sec": float(time.perf_counter() - t1),
            **_agreement(values[:n_check], v_hi),
        }
    return ShapResult(
        values=values,
        base_values=base,
        outputs=outputs,
        rows=features_test[pick],
        sample_id=np.asarray(sample_id_test)[pick],
        accepted_fraction=accepted,
        truncation_weight=weight,
        meta=meta,
    )


def write_shap(
    path: str | Path,
    res: ShapResult,
    feature_names: list[str],
    target_names: list[str],
    config: Mapping[str, Any],
    **attrs: object,
) -> None:
    """Write ``shap.h5`` atomically: values (n, F, T, 2) with names per axis, base values, outputs, rows.

    The file appears at ``path`` only when complete (:func:`workflow.h5io.atomic_h5`); a failed
    write leaves an existing file untouched and raises :class:`workflow.h5io.OutputError` for
    disk and permission errors.

    Args:
        path: output HDF5 file.
        res: SHAP values of one fold.
        feature_names: F feature names.
        target_names: T target names.
        config: the config that decided the file (the rule's params: ``inference.shap`` and the
            seed); its hash and JSON go into the root attributes with the code's provenance.
        **attrs: more root attributes (e.g. ``fold``, ``seed``); None values are left out.
    """
    opts: dict[str, Any] = {"track_times": False}
    with atomic_h5(path) as fh:
        d = fh.create_dataset("values", data=res.values, **opts)
        d.attrs["names"] = list(feature_names)
        d.attrs["axes"] = ["row", "feature", "target", "functional"]
        d.attrs["feature_names"] = list(feature_names)
        d.attrs["target_names"] = list(target_names)
        d.attrs["functional_names"] = list(FUNCTIONAL_NAMES)
        for key, arr in (("base_values", res.base_values), ("outputs", res.outputs)):
            d = fh.create_dataset(key, data=arr, **opts)
            d.attrs["names"] = list(target_names)
            d.attrs["axes"] = ["row", "target", "functional"]
            d.attrs["functional_names"] = list(FUNCTIONAL_NAMES)
        fh.create_dataset("rows", data=res.rows, **opts).attrs["names"] = list(feature_names)
        fh.create_dataset("sample_id", data=res.sample_id, **opts).attrs["names"] = ["sample_id"]
        for key in ("accepted_fraction", "truncation_weight"):
            fh.create_dataset(key, data=getattr(res, key), **opts).attrs["names"] = [key]
        fh.attrs.update(provenance_attrs(dict(config), **attrs))
        fh.attrs["meta"] = json.dumps(res.meta)


def read_shap(path: str | Path) -> dict[str, Any]:
    """Read a ``shap.h5`` into a dict (values, base values, outputs, rows, sample ids, leakage treatment, meta)."""
    with h5py.File(path, "r") as fh:
        v = fh["values"]
        return {
            "values": v[()],
            "base_values": fh["base_values"][()],
            "outputs": fh["outputs"][()],
            "rows": fh["rows"][()],
            "sample_id": fh["sample_id"][()],
            "accepted_fraction": fh["accepted_fraction"][()],
            "truncation_weight": fh["truncation_weight"][()],
            "feature_names": [str(s) for s in v.attrs["feature_names"]],
            "target_names": [str(s) for s in v.attrs["target_names"]],
            "functional_names": [str(s) for s in v.attrs["functional_names"]],
            "meta": json.loads(fh.attrs["meta"]),
        }
