"""Posterior mean and IQR as continuous, deterministic functions of x, with common random numbers.

For a flow q(u | x) = T_x(z), z ~ N(0, I), we fix one set of base draws z_1..z_S (a
scrambled Sobol sequence pushed through the normal inverse CDF: quasi-Monte Carlo, lower
error than i.i.d. draws for the same S) and push the same z_j through T_x for every x.
The functionals are then deterministic functions of x, and differences between nearby x
(which is what Shapley values are made of) carry far less Monte Carlo noise than
independent sampling.

Scale: the draws u are on the learned scale (log for ``inference.log_targets``); the mean is
taken of the draws pushed back to target units (exp), the quartiles on the learned scale and
then pushed back (quantiles commute with the monotone map). Everything reported is on the
linear target scale.

Leakage outside the support (sbi rejects such draws). Why this is not sbi's rejection: with a
fixed set of draws, rejection makes the functionals jump whenever a draw crosses the support
boundary, and a "too few draws left, clamp instead" fallback made a whole row jump between two
estimators. Both are discontinuities in x, which SHAP differences amplify. Here every step is
continuous in x:

* ``leakage="truncate"``: each draw has a weight that falls linearly from 1 to 0 over the last
  h of the support inside its boundary (h per row and target: the draws' SD / sqrt(S)); draws
  outside have weight 0, as in sbi's rejection. The mean is the weighted mean; the quartiles
  are those of the weighted draws smoothed with a logistic kernel of width h (continuous in
  the weights, unlike a sample quantile). The accepted fraction a is the mean weight.
  If a is below ``min_accepted_fraction`` f, the row is blended with clamping:
  ``lam * truncated + (1 - lam) * clamped`` with ``lam = a / f``, so a row moves continuously
  from truncation (a >= f) to clamping (a = 0).
* ``leakage="clamp"``: every draw is clamped into the support (continuous, but piles leaked
  mass on the boundary).

Every evaluation records its rows' accepted fraction and truncation weight ``lam``
(:attr:`PosteriorFunctionals.last_accepted`, :attr:`PosteriorFunctionals.last_weight`) and
keeps counts of rows blended with (0 < lam < 1) or fully given over to (lam = 0) clamping.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.stats import qmc

from workflow.inference.flowsampling import fixed_noise_sampler
from workflow.inference.npe import FoldModel
from workflow.seeds import Stream, seed_sequence

#: Order of the functionals on the last axis of :meth:`PosteriorFunctionals.evaluate`.
FUNCTIONAL_NAMES: tuple[str, ...] = ("mean", "iqr")

#: Bisection steps of the smoothed quantiles (precision 2**-20 of the draws' range).
QUANTILE_BISECTIONS = 20


def base_draws(
    n_draws: int, dim: int, seed: int, fold: int, qmc_draws: bool, stream: Stream = Stream.SHAP_DRAWS
) -> torch.Tensor:
    """Return fixed standard-normal base draws (n_draws, dim) from one stream.

    Args:
        n_draws: number of draws (a power of two suits the Sobol sequence).
        dim: dimension of the flow's base distribution (the number of targets).
        seed, fold: select the stream.
        qmc_draws: scrambled Sobol points through the normal inverse CDF (True) or i.i.d. normal draws.
        stream: SHAP_DRAWS for the SHAP values, CONVERGENCE_DRAWS for their independent reference.
    """
    ss = seed_sequence(seed, stream, fold)
    if qmc_draws:
        u = qmc.Sobol(d=dim, scramble=True, seed=np.random.default_rng(ss)).random(n_draws)
        u = np.clip(u, 1e-7, 1 - 1e-7)
        return torch.distributions.Normal(0.0, 1.0).icdf(torch.as_tensor(u, dtype=torch.float32))
    return torch.as_tensor(np.random.default_rng(ss).standard_normal((n_draws, dim)), dtype=torch.float32)


def smooth_quantiles(u: torch.Tensor, w: torch.Tensor, h: torch.Tensor, probs: tuple[float, ...]) -> torch.Tensor:
    """Quantiles of weighted draws smoothed with a logistic kernel: continuous in u and w.

    F(q) = sum_j w_j sigmoid((q - u_j) / h) / sum_j w_j is solved for F(q) = p by bisection
    between the smallest and largest draw widened by 12 h (the solution lies inside for
    p in [1e-5, 1 - 1e-5]). A draw of weight 0 has no influence, and the result moves
    continuously as a weight goes to 0, which a sample quantile does not. The bisection stops
    at 2**-QUANTILE_BISECTIONS of the bracket (about 1e-4 h at 128 draws): far below the
    Monte Carlo error of the quantile (about h).

    Args:
        u: (B, S, D) draws.
        w: (B, S) weights (not all zero in a row).
        h: (B, 1, D) kernel widths (> 0).
        probs: quantile levels in (0, 1).

    Returns:
        (len(probs), B, D) quantiles.
    """
    wn = (w / w.sum(1, keepdim=True))[None, :, :, None]  # (1, B, S, 1)
    p = torch.tensor(probs, dtype=u.dtype)[:, None, None]  # (P, 1, 1)
    a = (u.amin(1) - 12 * h[:, 0]).expand(len(probs), -1, -1).clone()  # (P, B, D)
    b = (u.amax(1) + 12 * h[:, 0]).expand(len(probs), -1, -1).clone()
    inv_h = (1.0 / h)[None]  # (1, B, 1, D)
    for _ in range(QUANTILE_BISECTIONS):
        mid = 0.5 * (a + b)
        cdf = (wn * torch.sigmoid((mid[:, :, None, :] - u[None]) * inv_h)).sum(2)
        below = cdf < p
        a = torch.where(below, mid, a)
        b = torch.where(below, b, mid)
    return 0.5 * (a + b)


class PosteriorFunctionals:
    """Posterior mean and IQR of every target (target units), evaluated with fixed base draws.

    The settings that the config decides (``n_draws``, ``leakage``, ``min_accepted_fraction``,
    ``qmc_draws``: config keys ``inference.shap.*``, defaults in the schema) have no defaults
    here; the others are numerical details.

    Args:
        model: trained fold model.
        n_draws: base draws per x (a power of two suits the Sobol sequence).
        seed, fold: select the base-draw stream.
        leakage: "truncate" (continuous rejection, see the module docstring) or "clamp".
        min_accepted_fraction: accepted fraction below which a row is blended with clamping.
        qmc_draws: scrambled Sobol base draws (True) or i.i.d. normal (False).
        draws_stream: the base-draw stream (CONVERGENCE_DRAWS for an independent reference).
        max_flow_batch: most flow samples pushed at once (bounds memory).
        fast: use the specialised MAF and NSF inverses (see :mod:`workflow.inference.flowsampling`).
    """

    def __init__(
        self,
        model: FoldModel,
        *,
        n_draws: int,
        seed: int,
        fold: int,
        leakage: Literal["truncate", "clamp"],
        min_accepted_fraction: float,
        qmc_draws: bool,
        draws_stream: Stream = Stream.SHAP_DRAWS,
        max_flow_batch: int = 2**17,
        fast: bool = True,
    ) -> None:
        if n_draws < 4:
            raise ValueError(f"n_draws must be >= 4, got {n_draws}")
        if leakage not in ("truncate", "clamp"):
            raise ValueError(f"leakage must be 'truncate' or 'clamp', got {leakage!r}")
        if not 0 < min_accepted_fraction <= 1:
            raise ValueError(f"min_accepted_fraction must be in (0, 1], got {min_accepted_fraction}")
        self.model = model
        self.n_draws = n_draws
        self.leakage = leakage
        self.min_accepted_fraction = float(min_accepted_fraction)
        self.max_flow_batch = max_flow_batch
        self.theta_dim = len(model.low)
        self.z = base_draws(n_draws, self.theta_dim, seed, fold, qmc_draws, draws_stream)
        self.low = torch.as_tensor(model.learned_low, dtype=torch.float32)
        self.high = torch.as_tensor(model.learned_high, dtype=torch.float32)
        self.n_calls = 0
        self.n_rows_evaluated = 0
        self.n_blended_rows = 0
        self.n_clamped_rows = 0
        self.last_accepted = np.ones(0)
        self.last_weight = np.ones(0)
        self._sample = fixed_noise_sampler(model.net, fast=fast)

    @torch.no_grad()
    def draws(self, x_std: torch.Tensor) -> torch.Tensor:
        """Return draws (B, n_draws, dim) on the learned scale for standardised x (B, F), same z for every x."""
        return self._sample(x_std, self.z)

    def _functionals(self, u: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """(B, D, 2) mean and IQR in target units of weighted draws u on the learned scale."""
        theta = self.model.scale.to_targets(u)
        mean = (w[..., None] * theta).sum(1) / w.sum(1)[:, None]
        q = self.model.scale.to_targets(smooth_quantiles(u, w, h, (0.25, 0.75)))
        return torch.stack([mean, q[1] - q[0]], dim=-1)

    def _reduce(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Functionals (B, D, 2), accepted fraction (B,) and truncation weight (B,) of draws (B, S, D)."""
        s = u.shape[1]
        h = (u.std(1, keepdim=True) / math.sqrt(s)).clamp_min(1e-6 * (self.high - self.low))  # (B, 1, D)
        # Draws of positive weight lie inside the support, where clamping leaves them unchanged;
        # clamping the others keeps exp() finite where they carry no weight.
        clamped = torch.maximum(torch.minimum(u, self.high), self.low)
        ones = torch.ones(u.shape[:2])
        if self.leakage == "clamp":
            inside = ((u >= self.low) & (u <= self.high)).all(-1).float()
            return self._functionals(clamped, ones, h), inside.mean(1), torch.zeros(len(u))
        depth = torch.minimum(u - self.low, self.high - u)  # > 0 inside
        w = (depth / h).clamp(0.0, 1.0).prod(-1)  # (B, S)
        accepted = w.mean(1)
        lam = (accepted / self.min_accepted_fraction).clamp(max=1.0)
        out = torch.empty(len(u), u.shape[2], 2)
        full = lam > 0
        if full.any():
            out[full] = self._functionals(clamped[full], w[full], h[full])
        part = lam < 1
        if part.any():  # blend with clamping (lam = 0: clamping alone)
            f_clamp = self._functionals(clamped[part], ones[part], h[part])
            lp = lam[part][:, None, None]
            out[part] = torch.where(lp > 0, lp * out[part] + (1 - lp) * f_clamp, f_clamp)
        return out, accepted, lam

    @torch.no_grad()
    def evaluate(self, x_std: np.ndarray | torch.Tensor) -> np.ndarray:
        """Return (B, dim, 2) posterior [mean, IQR] for standardised features (B, F).

        Also sets :attr:`last_accepted` and :attr:`last_weight` (B,) for these rows.
        """
        x = torch.as_tensor(np.asarray(x_std), dtype=torch.float32)
        self.n_calls += 1
        self.n_rows_evaluated += len(x)
        chunk = max(1, self.max_flow_batch // self.n_draws)
        parts = [self._reduce(self.draws(x[i : i + chunk])) for i in range(0, len(x), chunk)]
        out = torch.cat([p[0] for p in parts])
        self.last_accepted = torch.cat([p[1] for p in parts]).numpy().astype(np.float64)
        self.last_weight = torch.cat([p[2] for p in parts]).numpy().astype(np.float64)
        if self.leakage == "truncate":
            self.n_blended_rows += int(((self.last_weight > 0) & (self.last_weight < 1)).sum())
            self.n_clamped_rows += int((self.last_weight == 0).sum())
        else:
            self.n_clamped_rows += len(x)
        return out.numpy().astype(np.float64)

    def __call__(self, x_std: np.ndarray) -> np.ndarray:
        """Flat (B, dim * 2) version of :meth:`evaluate` (target-major), for SHAP explainers."""
        return self.evaluate(x_std).reshape(len(x_std), -1)
