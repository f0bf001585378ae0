"""Posterior mean and IQR as deterministic functions of x, with common random numbers.

For a flow q(theta | x) = T_x(z), z ~ N(0, I), we fix one set of base draws z_1..z_S (a
scrambled Sobol sequence pushed through the normal inverse CDF: quasi-Monte Carlo, lower
error than i.i.d. draws for the same S) and push the same z_j through T_x for every x.
The functionals are then deterministic functions of x, and differences between nearby x
(which is what Shapley values are made of) carry far less Monte Carlo noise than
independent sampling.

Leakage outside the support box (sbi rejects such samples): ``leakage="truncate"`` drops
every draw with any coordinate outside the box (rejection with common random numbers: the
functionals are those of the same truncated posterior that sbi's DirectPosterior samples);
if fewer than ``min_accepted`` draws of an x survive, that x falls back to clamping its
draws into the box and is counted. ``leakage="clamp"`` always clamps (continuous in x, but
piles leaked mass on the boundary).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from scipy.stats import qmc

from workflow.inference.flowsampling import fixed_noise_sampler
from workflow.inference.npe import FoldModel
from workflow.seeds import Stream, seed_sequence

#: Order of the functionals on the last axis of :meth:`PosteriorFunctionals.evaluate`.
FUNCTIONAL_NAMES: tuple[str, ...] = ("mean", "iqr")


def base_draws(n_draws: int, dim: int, seed: int, fold: int, qmc_draws: bool) -> torch.Tensor:
    """Return fixed standard-normal base draws (n_draws, dim) from the SHAP_DRAWS stream.

    Args:
        n_draws: number of draws (a power of two suits the Sobol sequence).
        dim: dimension of the flow's base distribution (the number of targets).
        seed, fold: select the SHAP_DRAWS stream.
        qmc_draws: scrambled Sobol points through the normal inverse CDF (True) or i.i.d. normal draws.
    """
    ss = seed_sequence(seed, Stream.SHAP_DRAWS, fold)
    if qmc_draws:
        u = qmc.Sobol(d=dim, scramble=True, seed=np.random.default_rng(ss)).random(n_draws)
        u = np.clip(u, 1e-7, 1 - 1e-7)
        return torch.distributions.Normal(0.0, 1.0).icdf(torch.as_tensor(u, dtype=torch.float32))
    return torch.as_tensor(np.random.default_rng(ss).standard_normal((n_draws, dim)), dtype=torch.float32)


class PosteriorFunctionals:
    """Posterior mean and IQR of every target, evaluated with fixed base draws.

    The settings that the config decides (``n_draws``, ``leakage``, ``qmc_draws``: config keys
    ``inference.shap.*``, defaults in the schema) have no defaults here; the others are
    numerical details.

    Args:
        model: trained fold model.
        n_draws: base draws per x (a power of two suits the Sobol sequence).
        seed, fold: select the SHAP_DRAWS stream.
        leakage: "truncate" (rejection with common random numbers) or "clamp".
        min_accepted: fewest in-support draws for truncation; below it the x is clamped.
        max_flow_batch: most flow samples pushed at once (bounds memory).
        qmc_draws: scrambled Sobol base draws (True) or i.i.d. normal (False).
        fast: use the specialised MAF inverse (see :mod:`workflow.inference.flowsampling`).
    """

    def __init__(
        self,
        model: FoldModel,
        *,
        n_draws: int,
        seed: int,
        fold: int,
        leakage: Literal["truncate", "clamp"],
        qmc_draws: bool,
        min_accepted: int = 16,
        max_flow_batch: int = 2**17,
        fast: bool = True,
    ) -> None:
        if n_draws < 4:
            raise ValueError(f"n_draws must be >= 4, got {n_draws}")
        if leakage not in ("truncate", "clamp"):
            raise ValueError(f"leakage must be 'truncate' or 'clamp', got {leakage!r}")
        self.model = model
        self.n_draws = n_draws
        self.leakage = leakage
        self.min_accepted = min(min_accepted, n_draws)
        self.max_flow_batch = max_flow_batch
        self.theta_dim = len(model.low)
        self.z = base_draws(n_draws, self.theta_dim, seed, fold, qmc_draws)
        self.low = torch.as_tensor(model.low, dtype=torch.float32)
        self.high = torch.as_tensor(model.high, dtype=torch.float32)
        self.n_calls = 0
        self.n_rows_evaluated = 0
        self.n_clamped_rows = 0
        self._sample = fixed_noise_sampler(model.net, fast=fast)

    @torch.no_grad()
    def draws(self, x_std: torch.Tensor) -> torch.Tensor:
        """Return theta draws (B, n_draws, dim) for standardised x (B, F), same z for every x."""
        return self._sample(x_std, self.z)

    def _reduce(self, theta: torch.Tensor) -> torch.Tensor:
        clamped = torch.maximum(torch.minimum(theta, self.high), self.low)
        if self.leakage == "clamp":
            vals = clamped
        else:
            inside = ((theta >= self.low) & (theta <= self.high)).all(-1)  # (B, S)
            few = inside.sum(1) < self.min_accepted
            self.n_clamped_rows += int(few.sum())
            vals = torch.where(inside[..., None], theta, torch.full_like(theta, float("nan")))
            vals = torch.where(few[:, None, None], clamped, vals)
        mean = torch.nanmean(vals, dim=1)
        q = torch.nanquantile(vals, torch.tensor([0.25, 0.75]), dim=1)  # (2, B, d)
        return torch.stack([mean, q[1] - q[0]], dim=-1)  # (B, d, 2)

    @torch.no_grad()
    def evaluate(self, x_std: np.ndarray | torch.Tensor) -> np.ndarray:
        """Return (B, dim, 2) posterior [mean, IQR] for standardised features (B, F)."""
        x = torch.as_tensor(np.asarray(x_std), dtype=torch.float32)
        self.n_calls += 1
        self.n_rows_evaluated += len(x)
        chunk = max(1, self.max_flow_batch // self.n_draws)
        out = [self._reduce(self.draws(x[i : i + chunk])) for i in range(0, len(x), chunk)]
        return torch.cat(out).numpy().astype(np.float64)

    def __call__(self, x_std: np.ndarray) -> np.ndarray:
        """Flat (B, dim * 2) version of :meth:`evaluate` (target-major), for SHAP explainers."""
        return self.evaluate(x_std).reshape(len(x_std), -1)
