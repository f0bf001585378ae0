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


def plot_metrics(metrics: pd.DataFrame, sbc_hist: dict[str, np.ndarray], path: str | Path) -> None:
    """Per-fold R2, z-score, shrinkage and coverage per target, and the pooled SBC rank histograms.

    Args:
        metrics: long table with columns fold, target, metric, value.
        sbc_hist: target -> SBC rank histogram summed over folds.
    """
    targets = list(dict.fromkeys(metrics["target"]))
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    panels = [
        ("r2", "R² of posterior mean", None),
        ("z_score_mean", "posterior z-score (mean)", None),
        ("shrinkage", "posterior shrinkage", None),
        ("coverage_50", "coverage of 50% interval", 0.5),
        ("coverage_90", "coverage of 90% interval", 0.9),
    ]
    for ax, (metric, label, nominal) in zip(axes.flat, panels, strict=False):
        for i, t in enumerate(targets):
            v = metrics[(metrics["target"] == t) & (metrics["metric"] == metric)]["value"].to_numpy()
            ax.scatter(np.full(len(v), i) + np.linspace(-0.15, 0.15, len(v)), v, s=12)
            ax.hlines(np.nanmean(v), i - 0.3, i + 0.3, color="k")
        if nominal is not None:
            ax.axhline(nominal, ls="--", color="0.5")
        ax.set_xticks(range(len(targets)), [TARGET_LABELS.get(t, t) for t in targets])
        ax.set_title(label, fontsize=9)
    ax = axes.flat[5]
    for t in targets:
        h = np.asarray(sbc_hist[t], float)
        ax.step(np.arange(len(h)), h / h.sum() * len(h), where="mid", label=TARGET_LABELS.get(t, t))
    ax.axhline(1.0, ls="--", color="0.5")
    ax.set_title("SBC rank histogram (pooled; uniform = 1)", fontsize=9)
    ax.set_xlabel("rank bin")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
