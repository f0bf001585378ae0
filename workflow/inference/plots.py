"""Figures of the inference half (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from workflow.contract import FEATURE_NAMES, FEATURE_SHORT_NAMES  # noqa: E402

_SHORT = dict(zip(FEATURE_NAMES, FEATURE_SHORT_NAMES, strict=True))
TARGET_LABELS = {
    "EI_net": r"$[E/I]_{net}$",
    "tau_syn_E": r"$\tau_{syn,E}$",
    "tau_syn_I": r"$\tau_{syn,I}$",
    "J_ext": r"$J_{ext}$",
}
FUNCTIONAL_LABELS = {"mean": "posterior mean", "iqr": "posterior IQR"}


def short(name: str) -> str:
    """catch22 short name of a feature (the name itself if unknown)."""
    return _SHORT.get(name, name)


def plot_mi_heatmap(mi: pd.DataFrame, path: str | Path) -> None:
    """Heatmap of MI (features x targets)."""
    fig, ax = plt.subplots(figsize=(5.5, 0.32 * len(mi) + 1.5))
    im = ax.imshow(mi.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(mi)), [short(f) for f in mi.index])
    ax.set_xticks(range(mi.shape[1]), [TARGET_LABELS.get(c, c) for c in mi.columns])
    for (i, j), v in np.ndenumerate(mi.to_numpy()):
        ax.text(
            j,
            i,
            f"{v:.2f}",
            ha="center",
            va="center",
            fontsize=6,
            color="w" if v < 0.6 * np.nanmax(mi.to_numpy()) else "k",
        )
    fig.colorbar(im, ax=ax, label="mutual information (nats)")
    ax.set_title(f"MI, {mi.attrs.get('n_rows', '?')} rows")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_shap_bars(table: pd.DataFrame, target: str, path: str | Path, n_folds: int) -> None:
    """Two panels (posterior mean, IQR): mean |SHAP| per feature, sorted, with SD over folds."""
    funcs = list(dict.fromkeys(table["functional"]))
    fig, axes = plt.subplots(1, len(funcs), figsize=(5 * len(funcs), 0.28 * table["feature"].nunique() + 1.6))
    axes = np.atleast_1d(axes)
    for ax, func, letter in zip(axes, funcs, "abcdefgh", strict=False):
        sub = table[(table["target"] == target) & (table["functional"] == func)].sort_values("mean_abs_shap")
        m, sd = sub["mean_abs_shap"].to_numpy(), sub["sd_over_folds"].to_numpy()
        ax.barh(
            [short(f) for f in sub["feature"]],
            m,
            xerr=[np.minimum(sd, m), sd],
            color="tab:blue" if func == "mean" else "tab:orange",
            ecolor="0.3",
            capsize=2,
        )
        ax.set_xlabel(f"mean |SHAP| ({FUNCTIONAL_LABELS.get(func, func)})")
        ax.set_title(f"({letter}) {TARGET_LABELS.get(target, target)}: {FUNCTIONAL_LABELS.get(func, func)}")
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"Mean |SHAP| averaged over {n_folds} folds (error bars: SD over folds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_metrics(metrics: pd.DataFrame, path: str | Path) -> None:
    """Per-fold R2, z-score, shrinkage, coverage and SBC KS p-value per target.

    Args:
        metrics: long table with columns fold, target, metric, value.
    """
    targets = list(dict.fromkeys(metrics["target"]))
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    panels = [
        ("r2", "R² of posterior mean", None, False),
        ("z_score_mean", "posterior z-score (mean)", None, False),
        ("shrinkage", "posterior shrinkage (prior: push-forward)", None, False),
        ("coverage_50", "coverage of 50% interval", 0.5, False),
        ("coverage_90", "coverage of 90% interval", 0.9, False),
        ("sbc_ks_pvalue", "SBC KS p-value (sbi check_sbc)", 0.05, True),
    ]
    for ax, (metric, label, nominal, log) in zip(axes.flat, panels, strict=True):
        for i, t in enumerate(targets):
            v = metrics[(metrics["target"] == t) & (metrics["metric"] == metric)]["value"].to_numpy(float)
            if log:
                v = np.maximum(v, 1e-12)
            ax.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, s=12)
            ax.hlines(np.exp(np.nanmean(np.log(v))) if log else np.nanmean(v), i - 0.3, i + 0.3, color="k")
        if nominal is not None:
            ax.axhline(nominal, ls="--", color="0.5")
        if log:
            ax.set_yscale("log")
        ax.set_xticks(range(len(targets)), [TARGET_LABELS.get(t, t) for t in targets])
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sbc_ranks(ranks: np.ndarray, n_draws: int, target_names: list[str], path: str | Path) -> None:
    """sbi's ``sbc_rank_plot`` (empirical CDF of the ranks with its 99 % band) of ranks (n, T) pooled over folds."""
    from sbi.analysis import sbc_rank_plot

    # sbi's default is one bin per 20 rows, none below 20 rows (a small campaign): at least 2
    num_bins = max(2, len(ranks) // 20)
    fig, _ = sbc_rank_plot(
        np.asarray(ranks, float),
        n_draws,
        num_bins=num_bins,
        plot_type="cdf",
        parameter_labels=[TARGET_LABELS.get(t, t) for t in target_names],
        figsize=(5, 4),
    )
    fig.suptitle(f"SBC ranks pooled over folds ({len(ranks)} test rows, {n_draws} draws each)", fontsize=9)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_tarp_curves(curves: list[tuple[np.ndarray, np.ndarray]], path: str | Path) -> None:
    """sbi's ``plot_tarp`` of the first fold's TARP curve, with every other fold's added."""
    import torch
    from sbi.analysis.plot import plot_tarp

    ecp0, alpha0 = curves[0]
    fig, ax = plot_tarp(torch.as_tensor(ecp0), torch.as_tensor(alpha0), title="TARP expected coverage, per fold")
    for ecp, alpha in curves[1:]:
        ax.plot(alpha, ecp, color="tab:blue", alpha=0.5)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_posterior_pairs(
    samples: list[np.ndarray], truths: np.ndarray, target_names: list[str], path: str | Path
) -> None:
    """sbi's ``pairplot`` of the posteriors of a few test rows (draws (L, T) each), truths marked."""
    from sbi.analysis import pairplot

    fig, _ = pairplot(
        samples,
        points=[t[None] for t in truths],
        labels=[TARGET_LABELS.get(t, t) for t in target_names],
        diag="kde",
        upper="contour",
        figsize=(8, 8),
    )
    fig.suptitle(f"Posteriors of {len(samples)} test rows (target units; points: true values)", fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_mi_agreement(mi: pd.DataFrame, table: pd.DataFrame, agree: pd.DataFrame, path: str | Path) -> None:
    """One panel per target: MI (x) against mean |SHAP| (y) per feature, both functionals, taus in the title."""
    targets = list(mi.columns)
    funcs = list(dict.fromkeys(table["functional"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(4 * len(targets), 3.8))
    axes = np.atleast_1d(axes)
    for ax, target in zip(axes, targets, strict=True):
        title = [TARGET_LABELS.get(target, target)]
        for func, color in zip(funcs, ("tab:blue", "tab:orange"), strict=False):
            sub = table[(table["target"] == target) & (table["functional"] == func)].set_index("feature")
            y = sub.loc[mi.index, "mean_abs_shap"].to_numpy(float)
            ax.scatter(mi[target].to_numpy(float), y / max(y.max(), 1e-300), s=14, color=color, label=func)
            row = agree[(agree["target"] == target) & (agree["functional"] == func)].iloc[0]
            title.append(f"{func}: τ={row['kendall_tau']:.2f}, wτ={row['weighted_tau']:.2f}")
        top = mi[target].idxmax()
        ax.annotate(short(top), (mi.loc[top, target], 1.0), fontsize=7)
        ax.set_xlabel("mutual information (nats)")
        ax.set_ylabel("mean |SHAP| / max")
        ax.set_title("\n".join(title), fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
