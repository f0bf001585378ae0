"""Report captions of the SHAP and MI-SHAP results, written with the results they describe.

Snakemake renders a caption from its template and the config only, so a static caption cannot
say whether the run it describes converged. The merge rule therefore writes these captions
(reStructuredText) next to its tables, from the settings stored in the fold files and the
verdicts of :func:`workflow.inference.merge.shap_verdicts`: when a ranking is not converged
(fold-mean Spearman against the independent reference below 0.9) or unstable between folds
(mean Kendall's tau below 0.5), the caption says so, with the numbers, and names the settings
that would fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from workflow.contract import TARGET_NAMES
from workflow.inference.merge import MIN_BETWEEN_FOLDS_TAU, MIN_CONVERGENCE_SPEARMAN

FUNCTIONAL_WORDS = {"mean": "posterior mean", "iqr": "posterior IQR"}

#: Jinja block, rendered by Snakemake's report with the config, that marks a small campaign's
#: results as a smoke test (the static captions in workflow/report/ carry the same block).
SMOKE_TEST_NOTE = (Path(__file__).resolve().parents[1] / "report" / "smoke_test.rst.jinja").read_text()


def with_smoke_test_note(text: str) -> str:
    """The caption ``text`` behind the smoke-test note (shown only for campaigns under 1000 samples)."""
    return SMOKE_TEST_NOTE + text


def _settings(cfg: Mapping[str, Any]) -> str:
    return (
        f"{cfg['n_rows']} test rows per fold, {cfg['n_background']} background rows, "
        f"{cfg['n_permutations']} antithetic permutation(s) per row, {cfg['n_draws']} fixed base draws per x"
    )


def status(verdicts: pd.DataFrame, cfg: Mapping[str, Any], target: str | None = None) -> str:
    """A paragraph on convergence and stability of the rankings (of one target, or all).

    Args:
        verdicts: :func:`workflow.inference.merge.shap_verdicts`'s table.
        cfg: the ``inference.shap`` settings the fold files were made with.
        target: restrict to one target.
    """
    v = verdicts if target is None else verdicts[verdicts["target"] == target]
    checked = cfg["convergence_rows"] > 0
    bad_conv = v[~v["converged"]] if checked else v.iloc[0:0]
    bad_stab = v[~v["stable"]]
    parts = []
    if not checked:
        parts.append(
            "**Convergence unchecked**: inference.shap.convergence_rows is 0, so nothing compares these "
            "SHAP values with an independent run; set it above 0 (default 10)."
        )
    if len(bad_conv):
        which = "; ".join(
            f"{r.target} {FUNCTIONAL_WORDS.get(r.functional, r.functional)}: {r.convergence_spearman:.2f}"
            for r in bad_conv.itertuples()
        )
        parts.append(
            f"**Not converged**: the ranking by mean absolute SHAP value agrees with an independent run (its "
            f"own background rows, base draws and permutation seed) with a fold-mean Spearman below "
            f"{MIN_CONVERGENCE_SPEARMAN} ({which}). Rankings below that are not reproducible. Raise "
            f"inference.shap.n_background (now {cfg['n_background']}; one background serves every row of a "
            f"fold, so its error does not average out and it is the largest source of error), n_draws (now "
            f"{cfg['n_draws']}; the IQR needs more than the mean) and n_permutations (now "
            f"{cfg['n_permutations']}). ``python benchmarks/bench_inference.py settings`` measures the "
            "cheapest settings at which two independent runs agree."
        )
    if len(bad_stab):
        which = "; ".join(
            f"{r.target} {FUNCTIONAL_WORDS.get(r.functional, r.functional)}: {r.between_folds_tau:.2f}"
            for r in bad_stab.itertuples()
        )
        parts.append(
            f"**Unstable between folds**: the mean Kendall's tau between the folds' rankings is below "
            f"{MIN_BETWEEN_FOLDS_TAU} ({which}). Raise inference.shap.n_rows (now {cfg['n_rows']}) so each "
            "fold averages over more rows; if the folds still disagree, the posteriors differ between folds: "
            "more simulations or longer training (inference.npe). Features of near-zero importance are "
            "ordered by noise: compare the weighted tau (top of the ranking)."
        )
    if not parts:
        parts.append(
            f"**Converged and stable**: fold-mean Spearman against an independent run >= "
            f"{MIN_CONVERGENCE_SPEARMAN} and mean Kendall's tau between folds >= {MIN_BETWEEN_FOLDS_TAU} "
            "for every ranking shown."
        )
    return "\n\n".join(parts)


def _leakage(cfg: Mapping[str, Any]) -> str:
    if cfg["leakage"] == "truncate":
        return (
            "draws outside the prior support get weight 0 (rejection with common random numbers, made "
            "continuous in x), and a row with less than "
            f"{cfg['min_accepted_fraction']:g} of its draws inside is blended continuously with clamping"
        )
    return "draws outside the prior support are clamped onto it"


def _units(target: str) -> str:
    """The units sentence of a target: the Hagen network's, or the dataset's own."""
    if target in TARGET_NAMES:
        return "([E/I]_net dimensionless, tau in ms, J_ext in pA)"
    return "(the units of the dataset's targets, its 'targets' units attribute)"


def shap_bars(target: str, cfg: Mapping[str, Any], k_folds: int, verdicts: pd.DataFrame) -> str:
    """Caption of one target's bar plot of mean |SHAP|."""
    return (
        f"Mean absolute SHAP value of every feature for {target}, for two functionals of the NPE posterior: "
        "(a) the posterior mean, (b) the posterior interquartile range (as in Sandron et al. 2024, Figs. 2-5). "
        f"Per fold, the mean is over random test rows; bars are the mean over the {k_folds} folds, error "
        "bars the SD across folds. SHAP values come from shap.PermutationExplainer with an independent "
        f"masker ({_settings(cfg)}); {_leakage(cfg)}. Values are on the linear target scale "
        f"{_units(target)}, whatever scale the posterior was learned on.\n\n"
        + status(verdicts, cfg, target)
    )


def shap_table(cfg: Mapping[str, Any], verdicts: pd.DataFrame) -> str:
    """Caption of the merged SHAP table."""
    return (
        "Mean absolute SHAP value per feature, target and functional (posterior mean, IQR): the mean over "
        "folds, the SD across folds, the rank (1 = most important) and every fold's value (columns fold_k). "
        f"Settings: {_settings(cfg)}.\n\n" + status(verdicts, cfg)
    )


def agreement(cfg: Mapping[str, Any], verdicts: pd.DataFrame) -> str:
    """Caption of the between-fold agreement table."""
    return (
        "Agreement of the feature rankings by mean absolute SHAP value, measured with Kendall's tau. Between "
        "folds: mean and minimum over all pairs of folds, per functional. Between functionals: tau between "
        "the merged ranking for the posterior mean and that for the IQR, and the mean over folds of the "
        "per-fold tau. The weighted_tau columns use scipy's weighted tau (hyperbolic weights), which counts "
        "the top of the ranking most: features of near-zero importance are ordered by noise.\n\n"
        + status(verdicts, cfg)
    )


def convergence(cfg: Mapping[str, Any], verdicts: pd.DataFrame) -> str:
    """Caption of the convergence table."""
    return (
        f"Convergence check of the SHAP values, per fold, target and functional: the first "
        f"{cfg['convergence_rows']} explained rows of each fold are explained again by an independent run "
        f"with its own {cfg['n_background']} background rows, {4 * cfg['n_draws']} base draws of its own and "
        f"{2 * cfg['n_permutations']} permutations with its own seed, so the comparison counts every source "
        "of noise. relative_l2_error compares the per-row SHAP values, relative_error_mean_abs the vector of "
        "mean absolute SHAP values, spearman_mean_abs their rank correlation (over few rows it overstates "
        "the permutation noise of the full run, which averages over all its rows).\n\n" + status(verdicts, cfg)
    )


def mi_agreement(cfg: Mapping[str, Any], verdicts: pd.DataFrame) -> str:
    """Caption of the MI-SHAP agreement table and figure."""
    return (
        "Agreement between the ranking of the features by mutual information with each target (results/"
        "inference/mi.csv; no SBI involved) and their ranking by mean absolute SHAP value of the posterior "
        "mean and of the posterior IQR: Kendall's tau with its p-value, and the weighted tau (top of the "
        "ranking counts most), per target. This agreement is the paper's central claim (Sandron et al. "
        "2024, Figs. 1-5). In the figure, one panel per target: MI against mean absolute SHAP value per "
        "feature.\n\nThe SHAP side of this comparison: " + status(verdicts, cfg)
    )
