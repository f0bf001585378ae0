"""Per-fold test metrics of the posterior, per target.

Samples come from sbi's ``DirectPosterior.sample_batched`` (rejection outside the support),
so the metrics describe the posterior that sbi users get.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.stats import kstest

from workflow.inference.npe import FoldModel
from workflow.inference.sections import ConfigSection
from workflow.seeds import Stream, rng, seed_torch

METRIC_NAMES: tuple[str, ...] = (
    "rmse",
    "r2",
    "z_score_mean",
    "z_score_median",
    "shrinkage",
    "coverage_50",
    "coverage_90",
    "sbc_ks_stat",
    "sbc_ks_pvalue",
)


@dataclasses.dataclass(frozen=True)
class MetricsConfig(ConfigSection):
    """Settings of the per-fold test metrics (config key ``inference.metrics``; defaults in the schema).

    Attributes:
        n_posterior_samples: posterior samples per test row.
        max_rows: most test rows used (a random subset above it).
    """

    KEY: ClassVar[str] = "inference.metrics"

    n_posterior_samples: int
    max_rows: int

    def __post_init__(self) -> None:
        self._check_at_least(1, "n_posterior_samples", "max_rows")


def posterior_samples(model: FoldModel, features: np.ndarray, n_samples: int, batch_rows: int = 256) -> np.ndarray:
    """Return (n_samples, n, T) samples of sbi's posterior (rejection outside the support)."""
    post = model.posterior()
    out = []
    for i in range(0, len(features), batch_rows):
        x = model.standardise(features[i : i + batch_rows])
        s = post.sample_batched((n_samples,), x, show_progress_bars=False)
        out.append(s.numpy())
    return np.concatenate(out, axis=1).astype(np.float64)


def summarise(samples: np.ndarray, truth: np.ndarray, prior_var: np.ndarray, n_sbc_bins: int = 20) -> dict[str, Any]:
    """Metrics per target from posterior samples (L, n, T) and true values (n, T).

    rmse, r2: of the posterior mean. z_score: |mean - truth| / posterior SD (mean and median over
    rows). shrinkage: 1 - posterior variance / prior variance (mean over rows; prior variance =
    variance of the training targets). coverage_50/90: fraction of truths inside the central
    50 % / 90 % interval. SBC: rank of the truth among the L draws; histogram in ``n_sbc_bins``
    bins and a Kolmogorov-Smirnov test of (rank + U) / (L + 1) against uniform.
    """
    n_draws = samples.shape[0]
    mean, sd = samples.mean(0), samples.std(0)
    q = np.quantile(samples, [0.05, 0.25, 0.75, 0.95], axis=0)
    err = mean - truth
    ss_tot = ((truth - truth.mean(0)) ** 2).sum(0)
    z = np.abs(err) / np.where(sd > 0, sd, np.nan)
    ranks = (samples < truth[None]).sum(0)  # (n, T), 0..L
    u = (ranks + rng(0, Stream.METRICS).random(ranks.shape)) / (n_draws + 1)
    out: dict[str, Any] = {}
    for t in range(truth.shape[1]):
        ks = kstest(u[:, t], "uniform")
        out_t = {
            "rmse": float(np.sqrt((err[:, t] ** 2).mean())),
            "r2": float(1 - (err[:, t] ** 2).sum() / ss_tot[t]) if ss_tot[t] > 0 else float("nan"),
            "z_score_mean": float(np.nanmean(z[:, t])),
            "z_score_median": float(np.nanmedian(z[:, t])),
            "shrinkage": float(np.mean(1 - sd[:, t] ** 2 / prior_var[t])),
            "coverage_50": float(np.mean((truth[:, t] >= q[1, :, t]) & (truth[:, t] <= q[2, :, t]))),
            "coverage_90": float(np.mean((truth[:, t] >= q[0, :, t]) & (truth[:, t] <= q[3, :, t]))),
            "sbc_ks_stat": float(ks.statistic),
            "sbc_ks_pvalue": float(ks.pvalue),
            "sbc_rank_hist": np.histogram(ranks[:, t], bins=n_sbc_bins, range=(0, n_draws + 1))[0].tolist(),
        }
        out[str(t)] = out_t
    return out


def fold_metrics(
    model: FoldModel,
    features_test: np.ndarray,
    targets_test: np.ndarray,
    targets_train: np.ndarray,
    target_names: list[str],
    cfg: MetricsConfig,
    seed: int,
    fold: int,
) -> dict[str, Any]:
    """Test metrics of one fold on (at most ``cfg.max_rows`` random) test rows.

    Args:
        model: trained fold model.
        features_test: (n, F) raw features of the test fold.
        targets_test: (n, T) targets of the test fold.
        targets_train: (m, T) targets of the training folds (their variance is the prior variance).
        target_names: T target names (keys of the result's ``targets``).
        cfg: metrics settings.
        seed: root seed; the METRICS stream of this fold picks the rows and seeds the sampler.
        fold: fold index (the test fold).
    """
    seed_torch(seed, Stream.METRICS, fold)
    idx = np.arange(len(features_test))
    if len(idx) > cfg.max_rows:
        idx = np.sort(rng(seed, Stream.METRICS, fold).choice(len(idx), cfg.max_rows, replace=False))
    samples = posterior_samples(model, features_test[idx], cfg.n_posterior_samples)
    per_t = summarise(samples, targets_test[idx], targets_train.var(0))
    with torch.no_grad():
        lp = model.net.log_prob(
            torch.as_tensor(targets_test[idx], dtype=torch.float32)[None],
            model.standardise(features_test[idx]),
        )
    return {
        "fold": int(fold),
        "n_test": int(len(features_test)),
        "n_rows_used": int(len(idx)),
        "n_posterior_samples": int(cfg.n_posterior_samples),
        "test_log_prob_mean": float(lp.mean()),
        "targets": {target_names[int(k)]: v for k, v in per_t.items()},
    }
