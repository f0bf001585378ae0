"""Merge per-fold SHAP values: mean |SHAP| over folds, SD across folds, ranking agreement."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, weightedtau


def fold_importance(values: np.ndarray) -> np.ndarray:
    """Mean |SHAP| over the explained rows of one fold: (n, F, T, G) -> (F, T, G)."""
    return np.abs(values).mean(0)


def merge_importance(
    per_fold: list[np.ndarray], feature_names: list[str], target_names: list[str], functional_names: list[str]
) -> pd.DataFrame:
    """Long table: feature, target, functional, mean and SD over folds of mean |SHAP|, rank (1 = top).

    Columns ``fold_<k>`` hold each fold's value.
    """
    stack = np.stack(per_fold)  # (K, F, T, G)
    rows = []
    for t, target in enumerate(target_names):
        for g, func in enumerate(functional_names):
            mean = stack[:, :, t, g].mean(0)
            sd = stack[:, :, t, g].std(0, ddof=1) if len(stack) > 1 else np.zeros_like(mean)
            rank = np.empty(len(mean), int)
            rank[np.argsort(-mean, kind="stable")] = np.arange(1, len(mean) + 1)
            for f, feat in enumerate(feature_names):
                row = {
                    "feature": feat,
                    "target": target,
                    "functional": func,
                    "mean_abs_shap": mean[f],
                    "sd_over_folds": sd[f],
                    "rank": int(rank[f]),
                }
                row.update({f"fold_{k}": stack[k, f, t, g] for k in range(len(stack))})
                rows.append(row)
    return pd.DataFrame(rows)


def ranking_agreement(
    per_fold: list[np.ndarray], target_names: list[str], functional_names: list[str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Kendall's tau of mean-|SHAP| rankings: between folds, and between the two functionals.

    Returns a table (one row per target) and a dict with the per-pair values.
    between_folds_<func>: mean (and min) over fold pairs of tau between the two folds' rankings.
    between_functionals: tau between the merged rankings of the two functionals; and the mean
    over folds of the per-fold tau. ``weighted_tau`` columns use scipy's weighted tau
    (hyperbolic weights, top ranks count most): features of near-zero importance are ordered by
    noise, which drags plain tau down even when the top of the ranking is stable.
    """
    stack = np.stack(per_fold)
    k = len(stack)
    rows, detail = [], {}
    for t, target in enumerate(target_names):
        row: dict[str, Any] = {"target": target}
        for g, func in enumerate(functional_names):
            taus = [kendalltau(stack[a, :, t, g], stack[b, :, t, g])[0] for a, b in itertools.combinations(range(k), 2)]
            row[f"between_folds_{func}_mean_tau"] = float(np.mean(taus)) if taus else float("nan")
            row[f"between_folds_{func}_min_tau"] = float(np.min(taus)) if taus else float("nan")
            detail[f"{target}/{func}/fold_pairs"] = [float(x) for x in taus]
            wt = [weightedtau(stack[a, :, t, g], stack[b, :, t, g])[0] for a, b in itertools.combinations(range(k), 2)]
            row[f"between_folds_{func}_mean_weighted_tau"] = float(np.mean(wt)) if wt else float("nan")
        if len(functional_names) == 2:
            merged = stack.mean(0)
            row["between_functionals_merged_tau"] = float(kendalltau(merged[:, t, 0], merged[:, t, 1])[0])
            wmerged = weightedtau(merged[:, t, 0], merged[:, t, 1])[0]
            row["between_functionals_merged_weighted_tau"] = float(wmerged)
            per = [kendalltau(stack[i, :, t, 0], stack[i, :, t, 1])[0] for i in range(k)]
            row["between_functionals_per_fold_mean_tau"] = float(np.mean(per))
            detail[f"{target}/between_functionals/per_fold"] = [float(x) for x in per]
        rows.append(row)
    return pd.DataFrame(rows), detail


#: Convergence check: fold-mean Spearman of mean |SHAP| against the independent reference below
#: which a ranking is reported as not converged.
MIN_CONVERGENCE_SPEARMAN = 0.9
#: Mean Kendall's tau between folds below which a ranking is reported as unstable.
MIN_BETWEEN_FOLDS_TAU = 0.5


def mi_shap_agreement(mi: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Agreement of the MI ranking with each SHAP ranking, per target and functional.

    Args:
        mi: MI (features x targets), as written by the MI rule (``mi.csv``).
        table: the merged SHAP table (:func:`merge_importance`).

    Returns:
        One row per (target, functional): Kendall's tau and its p-value, weighted tau (scipy,
        hyperbolic weights: the top of the rankings counts most), and the top feature by MI
        and by mean |SHAP|.
    """
    rows = []
    for target in mi.columns:
        for func in dict.fromkeys(table["functional"]):
            sub = table[(table["target"] == target) & (table["functional"] == func)].set_index("feature")
            shap_v = sub.loc[mi.index, "mean_abs_shap"].to_numpy(float)
            mi_v = mi[target].to_numpy(float)
            tau, p = kendalltau(mi_v, shap_v)
            rows.append(
                {
                    "target": target,
                    "functional": func,
                    "kendall_tau": float(tau),
                    "kendall_p": float(p),
                    "weighted_tau": float(weightedtau(mi_v, shap_v)[0]),
                    "top_mi": str(mi.index[int(np.argmax(mi_v))]),
                    "top_shap": str(mi.index[int(np.argmax(shap_v))]),
                }
            )
    return pd.DataFrame(rows)


def shap_verdicts(agreement: pd.DataFrame, convergence: pd.DataFrame, functional_names: list[str]) -> pd.DataFrame:
    """Whether each SHAP ranking is converged and stable between folds, per target and functional.

    Args:
        agreement: :func:`ranking_agreement`'s table.
        convergence: per-fold convergence rows (fold, target, functional, spearman_mean_abs, ...);
            empty if the check was off.
        functional_names: the functionals.

    Returns:
        One row per (target, functional): ``convergence_spearman`` (mean over folds, NaN if
        unchecked), ``converged`` (>= :data:`MIN_CONVERGENCE_SPEARMAN`; False if unchecked),
        ``between_folds_tau`` and ``stable`` (>= :data:`MIN_BETWEEN_FOLDS_TAU`).
    """
    rows = []
    for _, a in agreement.iterrows():
        for func in functional_names:
            sp = float("nan")
            if len(convergence):
                c = convergence[(convergence["target"] == a["target"]) & (convergence["functional"] == func)]
                sp = float(c["spearman_mean_abs"].mean()) if len(c) else float("nan")
            tau = float(a[f"between_folds_{func}_mean_tau"])
            rows.append(
                {
                    "target": a["target"],
                    "functional": func,
                    "convergence_spearman": sp,
                    "converged": bool(sp >= MIN_CONVERGENCE_SPEARMAN),
                    "between_folds_tau": tau,
                    "stable": bool(tau >= MIN_BETWEEN_FOLDS_TAU),
                }
            )
    return pd.DataFrame(rows)
