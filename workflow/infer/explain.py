"""Why this posterior: SHAP values of the fold mixture's posterior mean and IQR at this recording.

The explained functions are the mean and the IQR (target units) of the fold mixture the
recording's posterior is (:mod:`workflow.infer.posterior`), computed with the campaign's own
machinery (:class:`workflow.inference.functionals.PosteriorFunctionals`): fixed base draws
(common random numbers, the campaign's ``inference.shap`` settings: ``n_draws``, ``leakage``,
``min_accepted_fraction``, ``qmc_draws``), continuous in x. Each of the k folds pushes
:func:`draws_per_fold` base draws (the power of two nearest ``n_draws / k``, at least 4: scrambled
Sobol points keep their balance at powers of two) through its own flow at its own
standardisation of x, and the pooled draws (equal weight per fold) give the mixture's mean and
smoothed quartiles: one mixture evaluation costs about as many flow evaluations as one fold's
``n_draws``, not k times as many.

The explainer is the campaign's (``shap.PermutationExplainer`` with an interventional
``shap.maskers.Independent`` masker, :func:`workflow.inference.explain.shap_values`), on raw
features, with ``inference.shap.n_permutations`` antithetic permutations and a background of
``inference.shap.n_background`` of the campaign's training rows (every valid row trained k - 1
of the k folds). The values of a window add up to f(x) minus the mean of f over the background.

A recording of W windows explains at most :data:`MAX_EXPLAINED_WINDOWS` of them, evenly spaced
(the first, the last, and between), and its figure shows their mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from workflow.infer.campaign import Campaign  # noqa: E402
from workflow.infer.streams import Purpose, generator, int_seed  # noqa: E402
from workflow.inference.explain import ShapConfig, shap_values  # noqa: E402
from workflow.inference.functionals import FUNCTIONAL_NAMES, PosteriorFunctionals  # noqa: E402
from workflow.inference.plots import FUNCTIONAL_LABELS, TARGET_LABELS, short  # noqa: E402

#: most windows of one recording explained (their cost adds up)
MAX_EXPLAINED_WINDOWS = 4

#: features shown one by one in a figure; the rest are summed into one bar
TOP_FEATURES = 10

TARGET_UNITS = {"EI_net": "1", "tau_syn_E": "ms", "tau_syn_I": "ms", "J_ext": "pA"}


def draws_per_fold(n_draws: int, k: int) -> int:
    """Base draws per fold of the mixture's functionals: the power of two nearest ``n_draws / k``, at least 4."""
    return max(4, 2 ** round(math.log2(max(n_draws / k, 1.0))))


class MixtureFunctionals(PosteriorFunctionals):
    """Posterior mean and IQR (target units) of the equal-weight fold mixture, at raw features.

    Args:
        campaign: the trained campaign (its folds share support and target scale).
        cfg: the campaign's ``inference.shap`` settings.
    """

    def __init__(self, campaign: Campaign, cfg: ShapConfig) -> None:
        k = len(campaign.folds)
        per_fold = draws_per_fold(cfg.n_draws, k)
        crn = {"leakage": cfg.leakage, "min_accepted_fraction": cfg.min_accepted_fraction, "qmc_draws": cfg.qmc_draws}
        super().__init__(campaign.folds[0], n_draws=per_fold, seed=campaign.seed, fold=campaign.fold_ids[0], **crn)
        self.n_draws = per_fold * k  # the pooled draws per x (the base class's own draws are not used)
        self.parts = [
            PosteriorFunctionals(m, n_draws=per_fold, seed=campaign.seed, fold=f, **crn)
            for f, m in zip(campaign.fold_ids, campaign.folds, strict=True)
        ]

    @torch.no_grad()
    def draws(self, x_raw: torch.Tensor) -> torch.Tensor:
        """Pooled draws (B, n_draws, T) on the learned scale of every fold at raw features (B, 22)."""
        x = np.asarray(x_raw, dtype=np.float64)
        return torch.cat([p.draws(p.model.standardise(x)) for p in self.parts], dim=1)


def explained_windows(n_windows: int) -> np.ndarray:
    """Indices of the windows explained: all if at most :data:`MAX_EXPLAINED_WINDOWS`, else evenly spaced."""
    if n_windows <= MAX_EXPLAINED_WINDOWS:
        return np.arange(n_windows)
    return np.unique(np.round(np.linspace(0, n_windows - 1, MAX_EXPLAINED_WINDOWS)).astype(np.int64))


def background(campaign: Campaign, n_background: int) -> np.ndarray:
    """The explanation's background: ``n_background`` random training rows (raw features), shared by every recording."""
    n = min(n_background, len(campaign.features))
    idx = np.sort(generator(campaign.seed, Purpose.BACKGROUND).choice(len(campaign.features), n, replace=False))
    return campaign.features[idx]


def explain(
    campaign: Campaign,
    functionals: MixtureFunctionals,
    features: np.ndarray,
    bg: np.ndarray,
    n_permutations: int,
    digest: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SHAP values of the mixture's mean and IQR at some windows of one recording.

    Args:
        campaign: the trained campaign.
        functionals: the mixture's functionals.
        features: (m, 22) raw features of the explained windows.
        bg: (B, 22) background rows.
        n_permutations: antithetic permutations per window.
        digest: the recording's digest (permutation seed).

    Returns:
        ``(values (m, 22, T, 2), base values (m, T, 2), outputs f(x) (m, T, 2))`` in target
        units; the functional axis is :data:`~workflow.inference.functionals.FUNCTIONAL_NAMES`.
    """
    seed = int_seed(campaign.seed, Purpose.PERMUTATIONS, *digest)
    values, base = shap_values(functionals, np.asarray(features), bg, n_permutations, seed)
    outputs = functionals.evaluate(np.asarray(features))
    return values, base, outputs


def plot_explanation(
    values: np.ndarray,
    base: np.ndarray,
    outputs: np.ndarray,
    target: str,
    t: int,
    recording: str,
    n_windows: int,
    path: str | Path,
) -> None:
    """One target's explanation: a waterfall of the SHAP values of the posterior mean and IQR.

    Args:
        values: (m, 22, T, 2) SHAP values of the explained windows (their mean is shown).
        base: (m, T, 2) base values; outputs: (m, T, 2) f(x).
        target: the target's name; t: its column.
        recording: the recording's name (title).
        n_windows: the recording's number of windows (title).
        path: the PNG written.
    """
    from workflow.contract import FEATURE_NAMES

    v = values.mean(0)[:, t, :]  # (22, 2)
    b, o = base.mean(0)[t], outputs.mean(0)[t]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    unit = TARGET_UNITS.get(target, "")
    for j, (ax, fname) in enumerate(zip(axes, FUNCTIONAL_NAMES, strict=True)):
        order = np.argsort(-np.abs(v[:, j]))
        top, rest = order[:TOP_FEATURES], order[TOP_FEATURES:]
        labels = [short(FEATURE_NAMES[i]) for i in top] + [f"{len(rest)} other features"]
        contrib = np.concatenate([v[top, j], [v[rest, j].sum()]])
        start = b[j] + np.concatenate([[0.0], np.cumsum(contrib)[:-1]])
        y = np.arange(len(contrib))[::-1]
        colors = np.where(contrib >= 0, "tab:red", "tab:blue")
        ax.barh(y, contrib, left=start, color=colors, height=0.7)
        for yi, s0, c in zip(y, start, contrib, strict=True):
            ax.text(s0 + c, yi, f" {c:+.3g}", va="center", ha="left" if c >= 0 else "right", fontsize=7)
        ax.axvline(b[j], color="0.5", lw=0.8, ls="--")
        ax.axvline(o[j], color="k", lw=0.8)
        ax.margins(x=0.2)
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_xlabel(f"{FUNCTIONAL_LABELS[fname]} of {target} ({unit})")
        ax.set_title(f"{FUNCTIONAL_LABELS[fname]}: background mean {b[j]:.3g} (dashed) -> {o[j]:.3g} (solid)",
                     fontsize=9)  # fmt: skip
    shown = values.shape[0]
    fig.suptitle(
        f"{recording}: SHAP values of the posterior of {TARGET_LABELS.get(target, target)} "
        f"(mean over {shown} of {n_windows} window{'s' if n_windows > 1 else ''})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
