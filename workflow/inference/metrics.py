"""Per-fold test metrics of the posterior, per target, and sbi's calibration diagnostics.

Posterior draws come from sbi's ``DirectPosterior.sample_batched`` (rejection outside the
support), on the learned scale and then pushed to target units, so the metrics describe the
posterior that sbi users get. Where sbi has the diagnostic, sbi computes it:

* SBC: ``sbi.diagnostics.run_sbc`` (ranks of the true targets among the posterior draws) and
  ``check_sbc`` (KS p-value of the ranks against uniform, C2ST of the ranks against uniform,
  C2ST of the data-averaged posterior (DAP) against prior draws) when ``inference.metrics.c2st``
  is on. Its 2T random-forest C2STs cost ~6 s each at 200 rows (minutes at 2000), so by
  default only its KS part runs (sbi's ``check_uniformity_frequentist``, the same p-value) and
  the prior-versus-DAP check is a two-sample KS test per target (own code, scipy's
  ``ks_2samp``: sbi has no cheap equivalent). Ranks do not change under the monotone log map,
  so SBC on the learned scale is SBC on the target scale.
* TARP (joint coverage): ``run_tarp`` / ``check_tarp``, references drawn from the targets'
  prior (:class:`~workflow.inference.targetprior.TargetPrior`), on the learned scale.

Own code only where sbi has no equivalent: RMSE and R² of the posterior mean, posterior
z-scores, shrinkage against the prior's variance, and the coverage of central 50 % / 90 %
intervals per target (sbi's expected coverage is of highest-density regions of the joint).
Every step is seeded from the METRICS stream; SBC, TARP and the other metrics all use the same
posterior draws (torch is re-seeded before each identical ``sample_batched`` call).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from sbi.diagnostics import check_sbc, check_tarp, run_sbc, run_tarp
from sbi.diagnostics.sbc import check_uniformity_frequentist
from scipy.stats import ks_2samp

from workflow.inference.npe import FoldModel
from workflow.inference.sections import ConfigSection
from workflow.inference.targetprior import TargetPrior
from workflow.seeds import Stream, rng, seed_torch

#: Per-target metrics (keys of ``fold_metrics(...)["targets"][name]``).
METRIC_NAMES: tuple[str, ...] = (
    "rmse",
    "r2",
    "z_score_mean",
    "z_score_median",
    "shrinkage",
    "coverage_50",
    "coverage_90",
    "sbc_ks_pvalue",
    "dap_ks_pvalue",
    "sbc_c2st_ranks",
    "c2st_prior_vs_dap",
)
#: Metrics of the joint posterior (keys of ``fold_metrics(...)``).
JOINT_METRIC_NAMES: tuple[str, ...] = ("test_log_prob_mean", "tarp_atc", "tarp_ks_pvalue")
#: Prior draws for the prior variance of the shrinkage.
PRIOR_VARIANCE_DRAWS = 100_000


@dataclasses.dataclass(frozen=True)
class MetricsConfig(ConfigSection):
    """Settings of the per-fold test metrics (config key ``inference.metrics``; defaults in the schema).

    Attributes:
        n_posterior_samples: posterior samples per test row.
        max_rows: most test rows used (a random subset above it).
        c2st: also run sbi's classifier two-sample tests of ``check_sbc`` (slow).
    """

    KEY: ClassVar[str] = "inference.metrics"

    n_posterior_samples: int
    max_rows: int
    c2st: bool

    def __post_init__(self) -> None:
        self._check_at_least(1, "n_posterior_samples", "max_rows")


def posterior_samples(model: FoldModel, features: np.ndarray, n_samples: int) -> np.ndarray:
    """Return (n_samples, n, T) draws of sbi's posterior in target units (rejection outside the support).

    Draws from torch's global generator: seed it first (:func:`workflow.seeds.seed_torch`).
    """
    x = model.standardise(features)
    u = model.posterior().sample_batched((n_samples,), x, show_progress_bars=False)
    return model.scale.to_targets(u.numpy().astype(np.float64))


def summarise(samples: np.ndarray, truth: np.ndarray, prior_var: np.ndarray) -> dict[str, dict[str, Any]]:
    """Metrics per target (keys "0".."T-1") from posterior draws (L, n, T) and true values (n, T).

    rmse, r2: of the posterior mean. z_score: |mean - truth| / posterior SD (mean and median over
    rows). shrinkage: 1 - posterior variance / prior variance (mean over rows). coverage_50/90:
    fraction of truths inside the central 50 % / 90 % interval of the draws. All in target units.
    """
    mean, sd = samples.mean(0), samples.std(0)
    q = np.quantile(samples, [0.05, 0.25, 0.75, 0.95], axis=0)
    err = mean - truth
    ss_tot = ((truth - truth.mean(0)) ** 2).sum(0)
    z = np.abs(err) / np.where(sd > 0, sd, np.nan)
    out: dict[str, dict[str, Any]] = {}
    for t in range(truth.shape[1]):
        out[str(t)] = {
            "rmse": float(np.sqrt((err[:, t] ** 2).mean())),
            "r2": float(1 - (err[:, t] ** 2).sum() / ss_tot[t]) if ss_tot[t] > 0 else float("nan"),
            "z_score_mean": float(np.nanmean(z[:, t])),
            "z_score_median": float(np.nanmedian(z[:, t])),
            "shrinkage": float(np.mean(1 - sd[:, t] ** 2 / prior_var[t])),
            "coverage_50": float(np.mean((truth[:, t] >= q[1, :, t]) & (truth[:, t] <= q[2, :, t]))),
            "coverage_90": float(np.mean((truth[:, t] >= q[0, :, t]) & (truth[:, t] <= q[3, :, t]))),
        }
    return out


def fold_metrics(
    model: FoldModel,
    features_test: np.ndarray,
    targets_test: np.ndarray,
    target_prior: TargetPrior,
    target_names: list[str],
    cfg: MetricsConfig,
    seed: int,
    fold: int,
) -> dict[str, Any]:
    """Test metrics and sbi diagnostics of one fold on (at most ``cfg.max_rows`` random) test rows.

    Args:
        model: trained fold model.
        features_test: (n, F) raw features of the test fold.
        targets_test: (n, T) targets of the test fold (target units).
        target_prior: the targets' prior (prior variance, C2ST prior samples, TARP references).
        target_names: T target names (keys of the result's ``targets``).
        cfg: metrics settings.
        seed: root seed; the METRICS stream of this fold picks the rows and seeds the posterior
            draws, the TARGET_PRIOR stream the prior draws.
        fold: fold index (the test fold).

    Returns:
        A JSON-ready dict: per-target metrics (:data:`METRIC_NAMES`) under ``targets``, the
        joint ones (:data:`JOINT_METRIC_NAMES`), the SBC ranks (``sbc_ranks``, rows x targets)
        and the TARP curve (``tarp``: ``ecp``, ``alpha``).
    """
    idx = np.arange(len(features_test))
    if len(idx) > cfg.max_rows:
        idx = np.sort(rng(seed, Stream.METRICS, fold).choice(len(idx), cfg.max_rows, replace=False))
    n, n_draws = len(idx), cfg.n_posterior_samples
    x = model.standardise(features_test[idx])
    truth = targets_test[idx]
    u_true = torch.as_tensor(model.scale.to_learned(truth), dtype=torch.float32)
    post = model.posterior()
    prior_draws = target_prior.sample_seeded(max(PRIOR_VARIANCE_DRAWS, 2 * n), seed, fold)
    prior_u = torch.as_tensor(model.scale.to_learned(prior_draws), dtype=torch.float32)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*on the order of 100s.*")  # small test folds (tiny configs)
        seed_torch(seed, Stream.METRICS, fold)
        ranks, dap = run_sbc(u_true, x, post, num_posterior_samples=n_draws, show_progress_bar=False)
        if cfg.c2st:
            checks = check_sbc(ranks, prior_u[:n], dap, num_posterior_samples=n_draws)
        else:
            checks = {"ks_pvals": check_uniformity_frequentist(ranks, n_draws)}
        seed_torch(seed, Stream.METRICS, fold)
        ecp, alpha = run_tarp(
            u_true,
            x,
            post,
            references=prior_u[n : 2 * n],
            num_posterior_samples=n_draws,
            num_bins=max(2, n // 10),
            show_progress_bar=False,
        )
        atc, tarp_p = check_tarp(ecp, alpha)
    seed_torch(seed, Stream.METRICS, fold)
    samples = posterior_samples(model, features_test[idx], n_draws)
    per_t = summarise(samples, truth, prior_draws.var(0))
    for t in range(len(target_names)):
        per_t[str(t)]["sbc_ks_pvalue"] = float(checks["ks_pvals"][t])
        per_t[str(t)]["dap_ks_pvalue"] = float(ks_2samp(dap[:, t].numpy(), prior_u[:n, t].numpy()).pvalue)
        # None (null in JSON) where the C2STs were not run
        per_t[str(t)]["sbc_c2st_ranks"] = float(np.ravel(checks["c2st_ranks"])[t]) if cfg.c2st else None
        per_t[str(t)]["c2st_prior_vs_dap"] = float(checks["c2st_dap"][t]) if cfg.c2st else None
    with torch.no_grad():
        lp = model.net.log_prob(u_true[None], x)
    return {
        "fold": int(fold),
        "n_test": int(len(features_test)),
        "n_rows_used": int(n),
        "n_posterior_samples": int(n_draws),
        "log_targets": list(model.scale.log_targets),
        **({"logit_targets": list(model.scale.logit_targets)} if model.scale.logit_targets else {}),
        "test_log_prob_mean": float(lp.mean()),
        "tarp_atc": float(atc),
        "tarp_ks_pvalue": float(tarp_p),
        "targets": {target_names[int(k)]: v for k, v in per_t.items()},
        "sbc_ranks": ranks.to(torch.int64).tolist(),
        "tarp": {"ecp": ecp.tolist(), "alpha": alpha.tolist()},
    }
