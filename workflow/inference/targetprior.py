"""The prior of the inference targets: the push-forward of the constrained parameter prior.

The campaign draws the seven parameters from a uniform box with rejection constraints
(:class:`workflow.simulation.prior.Prior`); the targets ([E/I]_net, tau_syn_E, tau_syn_I,
J_ext; :func:`workflow.inference.dataset.compute_targets`) are a map of them. Their prior is
the push-forward of that constrained prior, which has no closed-form density but is easy to
sample: :class:`TargetPrior` does that (SBC and TARP references, the prior variance of the
shrinkage, the prior-versus-posterior check), and finds each target's bounds under the
constraints (:meth:`TargetPrior.bounds`), which are the posterior's support.

Why a search and not the corners of the box: the constraints cut the box. At the schema's
default prior the box alone allows [E/I]_net in [0.003, 320]; the constraints allow
[1/40, 40]. Nothing here restates the constraints: the search asks :meth:`Prior.accept`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from workflow.contract import PARAM_NAMES
from workflow.inference.dataset import compute_targets
from workflow.models.base import Model, identity_targets
from workflow.seeds import Stream, rng
from workflow.simulation.prior import Prior

#: Constrained-prior draws that seed the bound search (the dense-sampling estimate).
SEARCH_DRAWS = 200_000
#: Best draws the search starts from, per target and direction.
SEARCH_STARTS = 8
#: Random directions tried per start and round (each also reversed).
SEARCH_DIRECTIONS = 32
#: Most rounds of the search, and rounds without improvement after which it stops.
SEARCH_ROUNDS, SEARCH_PATIENCE = 400, 10
#: Bisection steps of the feasible step length along a direction (relative precision 2**-40).
BISECTIONS = 40


@dataclasses.dataclass(frozen=True)
class TargetBounds:
    """Each target's bounds under the constrained prior (target units).

    Attributes:
        low, high: (T,) bounds found by the search; each is attained by a feasible parameter
            set (``params_low``, ``params_high``), so the true bounds lie at or beyond them.
        dense_low, dense_high: (T,) min and max over the ``n_dense`` constrained-prior draws
            that seeded the search (always inside [low, high]).
        params_low, params_high: (T, 7) the parameter sets that attain ``low`` and ``high``.
        n_dense: number of constrained-prior draws.
        rounds: search rounds used, per target and direction (T, 2).
    """

    low: np.ndarray
    high: np.ndarray
    dense_low: np.ndarray
    dense_high: np.ndarray
    params_low: np.ndarray
    params_high: np.ndarray
    n_dense: int
    rounds: np.ndarray
    method: str = "random-direction line search from the extreme constrained-prior draws (Prior.accept)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (bounds, dense-sampling bounds, draws)."""
        return {
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "dense_low": self.dense_low.tolist(),
            "dense_high": self.dense_high.tolist(),
            "n_dense": int(self.n_dense),
            "method": self.method,
        }


def sample_params(prior: Prior, n: int, generator: np.random.Generator) -> np.ndarray:
    """Draw n parameter sets (n, 7) from the constrained prior with one generator.

    Uniform draws in the prior's box, kept where :meth:`Prior.accept` passes them, in blocks
    until n are kept. Unlike :meth:`Prior.draw` (one stream per sample, as the campaign needs)
    this is vectorised, for a million draws at once.
    """
    lo, hi = prior.low, prior.high
    out = np.empty((0, lo.size))
    while len(out) < n:
        draw = lo + (hi - lo) * generator.random((2 * (n - len(out)) + 16, lo.size))
        out = np.concatenate([out, draw[prior.accept(draw)]])
    return out[:n]


@dataclasses.dataclass(frozen=True)
class TargetPrior:
    """Push-forward of the constrained parameter prior through the target map.

    Attributes:
        prior: the parameter prior (bounds and constraints of config ``prior``).
    """

    prior: Prior

    @classmethod
    def from_config(cls, prior_cfg: Mapping[str, Any]) -> TargetPrior:
        """Build from the validated ``prior`` section of the config."""
        return cls(Prior.from_config(prior_cfg))

    def sample(self, n: int, generator: np.random.Generator) -> np.ndarray:
        """Draw n target vectors (n, T), target units, from the push-forward prior."""
        return compute_targets(sample_params(self.prior, n, generator), PARAM_NAMES)

    def describe(self) -> dict[str, Any]:
        """The parameter prior, JSON-ready (stored with every trained model)."""
        return {
            "bounds": {n: list(self.prior.bounds[n]) for n in PARAM_NAMES},
            "constraints": bool(self.prior.constraints),
        }

    def sample_seeded(self, n: int, seed: int, fold: int = 0) -> np.ndarray:
        """:meth:`sample` from the TARGET_PRIOR stream of ``seed`` and ``fold``."""
        return self.sample(n, rng(seed, Stream.TARGET_PRIOR, fold))

    def bounds(self, seed: int) -> TargetBounds:
        """Each target's bounds under the prior's box and constraints (cached per prior and seed).

        See :func:`search_bounds`.
        """
        key = (tuple(self.prior.low), tuple(self.prior.high), bool(self.prior.constraints), int(seed))
        if key not in _BOUNDS_CACHE:
            _BOUNDS_CACHE[key] = search_bounds(self.prior, seed)
        return _BOUNDS_CACHE[key]


#: Bounds already searched, per (box, constraints, seed): the search is deterministic.
_BOUNDS_CACHE: dict[tuple, TargetBounds] = {}


def search_bounds(prior: Prior, seed: int) -> TargetBounds:
    """Each target's bounds under the prior's box and constraints.

    A dense sample of the constrained prior (``SEARCH_DRAWS`` draws from the SUPPORT
    stream) gives inner estimates; from its ``SEARCH_STARTS`` most extreme draws, a line
    search pushes each target further: random directions in log|parameter| space (every
    parameter has a fixed sign; Gaussian ones and sparse sign vectors), the longest step that
    stays in the box and passes :meth:`Prior.accept` (bisection), the best of four points
    along it. The constraints are linear in log|parameter| and the targets monotone along
    such lines, so the search climbs to the vertex that attains the bound; every point it
    visits is feasible, so a bound it returns is attained by a parameter set of the prior.

    Args:
        prior: the parameter prior.
        seed: root seed (SUPPORT stream; at the schema's prior the bounds agree across seeds
            and with the exact [1/40, 40] of [E/I]_net to 1e-15 relative).
    """
    gen = rng(seed, Stream.SUPPORT)
    sign = np.sign(prior.low)
    lo_u = np.log(np.minimum(np.abs(prior.low), np.abs(prior.high)))
    hi_u = np.log(np.maximum(np.abs(prior.low), np.abs(prior.high)))
    dense = sample_params(prior, SEARCH_DRAWS, gen)
    t_dense = compute_targets(dense, PARAM_NAMES)
    n_t = t_dense.shape[1]
    low, high = t_dense.min(0).copy(), t_dense.max(0).copy()
    p_low, p_high = dense[t_dense.argmin(0)].copy(), dense[t_dense.argmax(0)].copy()
    rounds = np.zeros((n_t, 2), dtype=np.int64)

    def to_params(u: np.ndarray) -> np.ndarray:
        return np.clip(sign * np.exp(u), prior.low, prior.high)

    for t in range(n_t):
        for j, direction in enumerate((-1.0, 1.0)):
            order = np.argsort(direction * t_dense[:, t])[::-1][:SEARCH_STARTS]
            u = np.log(np.abs(dense[order]))
            best = direction * t_dense[order, t]
            stale = n_rounds = 0
            while n_rounds < SEARCH_ROUNDS and stale < SEARCH_PATIENCE:
                n_rounds += 1
                u, val = _search_round(u, best, t, direction, lo_u, hi_u, to_params, prior, gen)
                improved = val.max() > best.max() + 1e-10 * abs(best.max())
                best = val
                stale = 0 if improved else stale + 1
            rounds[t, j] = n_rounds
            k = int(np.argmax(best))
            if direction < 0:
                low[t], p_low[t] = -best[k], to_params(u[k])
            else:
                high[t], p_high[t] = best[k], to_params(u[k])
    return TargetBounds(
        low=low,
        high=high,
        dense_low=t_dense.min(0),
        dense_high=t_dense.max(0),
        params_low=p_low,
        params_high=p_high,
        n_dense=SEARCH_DRAWS,
        rounds=rounds,
    )


def _search_round(
    u: np.ndarray,
    best: np.ndarray,
    t: int,
    direction: float,
    lo_u: np.ndarray,
    hi_u: np.ndarray,
    to_params,
    prior: Prior,
    gen: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One round of the line search for every start; return the new points and values."""
    k, p = u.shape
    # Half the directions Gaussian (scaled to the box), half sparse sign vectors in {-1, 0, 1}^P:
    # constraints between two parameters (as 2 J_EE <= |J_EI|, J_IE > J_EE) are differences of
    # log|parameters|, and the edges along which such a feasible set narrows to its extreme move
    # a group of parameters together, which random Gaussian directions almost never do.
    half = SEARCH_DIRECTIONS // 2
    gauss = gen.normal(size=(k, SEARCH_DIRECTIONS - half, p)) * (hi_u - lo_u)
    signs = gen.integers(-1, 2, size=(k, half, p)).astype(float)
    d = np.concatenate([gauss, signs, -gauss, -signs], axis=1)  # (K, 2D, P)
    start = u[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        to_edge = np.where(d > 0, (hi_u - start) / d, np.where(d < 0, (lo_u - start) / d, np.inf))
    t_max = to_edge.min(-1)  # (K, 2D): longest step inside the box (inf for a zero direction)
    t_max = np.where(np.isfinite(t_max), np.clip(t_max, 0.0, None), 0.0)

    def feasible(step: np.ndarray) -> np.ndarray:
        pts = to_params(start + step[..., None] * d)
        return prior.accept(pts.reshape(-1, p)).reshape(step.shape)

    ok_end = feasible(t_max)
    a, b = np.zeros_like(t_max), t_max.copy()
    for _ in range(BISECTIONS):
        mid = 0.5 * (a + b)
        ok = feasible(mid)
        a, b = np.where(ok, mid, a), np.where(ok, b, mid)
    step = np.where(ok_end, t_max, a)
    fractions = np.array([0.25, 0.5, 0.75, 1.0])
    cand = start[:, :, None, :] + (step[..., None] * fractions)[..., None] * d[:, :, None, :]  # (K, 2D, 4, P)
    val = direction * compute_targets(to_params(cand.reshape(-1, p)), PARAM_NAMES)[:, t].reshape(cand.shape[:-1])
    ok = prior.accept(to_params(cand.reshape(-1, p))).reshape(val.shape)
    val = np.where(ok, val, -np.inf).reshape(k, -1)
    pick = val.argmax(1)
    new_val = val[np.arange(k), pick]
    better = new_val > best
    new_u = np.where(better[:, None], cand.reshape(k, -1, p)[np.arange(k), pick], u)
    return new_u, np.where(better, new_val, best)


@dataclasses.dataclass(frozen=True)
class ModelTargetPrior:
    """Push-forward of a registered model's prior through :meth:`Model.targets` (config ``model``).

    The same interface as :class:`TargetPrior`. For a model whose targets are its parameters
    and whose prior has no constraints (mpr, hh), the push-forward is the uniform box itself and
    :meth:`bounds` is exactly the prior box. Otherwise the bounds are the min and max of
    ``SEARCH_DRAWS`` push-forward draws, widened by ``DENSE_MARGIN`` of their width on each side
    (an estimate: training rows outside it stop the training, naming the target).

    Attributes:
        model: the campaign's model.
    """

    model: Model

    #: Widening of the dense-sampling bounds of a model with constraints or a target map.
    DENSE_MARGIN: ClassVar[float] = 0.01

    @property
    def exact_box(self) -> bool:
        """Whether the targets' prior is the parameters' uniform box."""
        return self.model.to_targets is identity_targets and self.model.constraints is None

    def sample_params(self, n: int, generator: np.random.Generator) -> np.ndarray:
        """n parameter sets (n, P) of the model's prior (box draws kept by :meth:`Model.accept`)."""
        lo, hi = self.model.low, self.model.high
        out = np.empty((0, lo.size))
        while len(out) < n:
            draw = lo + (hi - lo) * generator.random((2 * (n - len(out)) + 16, lo.size))
            out = np.concatenate([out, draw[self.model.accept(draw)]])
        return out[:n]

    def sample(self, n: int, generator: np.random.Generator) -> np.ndarray:
        """Draw n target vectors (n, T), target units, from the push-forward prior."""
        return self.model.targets(self.sample_params(n, generator))

    def sample_seeded(self, n: int, seed: int, fold: int = 0) -> np.ndarray:
        """:meth:`sample` from the TARGET_PRIOR stream of ``seed`` and ``fold``."""
        return self.sample(n, rng(seed, Stream.TARGET_PRIOR, fold))

    def describe(self) -> dict[str, Any]:
        """The model and its parameter prior, JSON-ready (stored with every trained model)."""
        return {
            "model": self.model.name,
            "bounds": {n: list(self.model.prior_bounds[n]) for n in self.model.param_names},
            "constraints": self.model.constraints is not None,
        }

    def bounds(self, seed: int) -> TargetBounds:
        """Each target's bounds under the model's prior (see the class docstring)."""
        if self.exact_box:
            lo, hi = self.model.low, self.model.high
            params_low = np.tile(lo, (lo.size, 1))
            params_high = np.tile(hi, (hi.size, 1))
            return TargetBounds(
                low=lo, high=hi, dense_low=lo, dense_high=hi, params_low=params_low, params_high=params_high,
                n_dense=0, rounds=np.zeros((lo.size, 2), dtype=np.int64), method="the model's uniform prior box",
            )  # fmt: skip
        params = self.sample_params(SEARCH_DRAWS, rng(seed, Stream.SUPPORT))
        t = self.model.targets(params)
        d_lo, d_hi = t.min(0), t.max(0)
        pad = self.DENSE_MARGIN * (d_hi - d_lo)
        return TargetBounds(
            low=d_lo - pad, high=d_hi + pad, dense_low=d_lo, dense_high=d_hi,
            params_low=params[t.argmin(0)], params_high=params[t.argmax(0)],
            n_dense=SEARCH_DRAWS, rounds=np.zeros((t.shape[1], 2), dtype=np.int64),
            method=f"min and max of the prior's push-forward draws, widened by {self.DENSE_MARGIN:g} of the width",
        )  # fmt: skip


def target_prior_from_params(params: Mapping[str, Any]) -> TargetPrior | ModelTargetPrior:
    """The targets' prior from a rule's params: ``prior`` (the config's section, hagen2022) or
    ``model`` and ``model_module`` (a registered model; rules/common.smk ``target_prior_params``)."""
    if params.get("prior") is not None:
        return TargetPrior.from_config(params["prior"])
    from workflow.simulation.model_shard import campaign_model

    return ModelTargetPrior(campaign_model({"model": params["model"], "model_module": params.get("model_module")}))
