"""The uniform prior over the seven free parameters, its rejection constraints, and the draws.

Each sample has its own random stream, ``SeedSequence(seed, spawn_key=(sample_id, 0))``
(:class:`workflow.seeds.SampleStream`), so a sample's parameters (and its network seed) do not
depend on shard size, order or rank.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from workflow.contract import PARAM_NAMES
from workflow.seeds import SampleStream, sample_sequence

#: Parameters whose bounds must be positive (excitatory weights, time constants) or negative
#: (inhibitory weights, J_YX convention: J_EI is I onto E).
POSITIVE: tuple[str, ...] = ("J_EE", "J_IE", "J_ext", "tau_syn_E", "tau_syn_I")
NEGATIVE: tuple[str, ...] = ("J_EI", "J_II")

#: Candidates drawn per block of the rejection sampler.
CANDIDATES = 32

#: Rejection draws tried per sample before giving up (acceptance is ~1/3 at the defaults).
MAX_TRIES = 100_000


@dataclasses.dataclass(frozen=True)
class Prior:
    """Uniform box prior with optional rejection constraints.

    Parameters
    ----------
    bounds
        ``{name: (low, high)}`` for every name in :data:`PARAM_NAMES` (pA for weights, ms for
        time constants).
    constraints
        Apply 2 J_EE <= min(|J_EI|, |J_II|), 2 J_IE <= min(|J_EI|, |J_II|) and J_IE > J_EE.
    """

    bounds: Mapping[str, tuple[float, float]]
    constraints: bool = True

    def __post_init__(self) -> None:
        for name in PARAM_NAMES:
            if name not in self.bounds:
                raise KeyError(f"prior.{name} is missing")
            low, high = self.bounds[name]
            if not np.isfinite(low) or not np.isfinite(high) or not low < high:
                raise ValueError(f"prior.{name}: low ({low}) must be below high ({high})")
        unknown = set(self.bounds) - set(PARAM_NAMES)
        if unknown:
            raise KeyError(f"prior has unknown parameters {sorted(unknown)}")
        for name in POSITIVE:
            if self.bounds[name][0] <= 0:
                raise ValueError(f"prior.{name}: bounds must be positive, got {tuple(self.bounds[name])}")
        for name in NEGATIVE:
            if self.bounds[name][1] >= 0:
                raise ValueError(f"prior.{name}: inhibitory bounds must be negative, got {tuple(self.bounds[name])}")

    @classmethod
    def from_config(cls, prior_cfg: Mapping) -> Prior:
        """Build from the ``prior`` section of the config."""
        bounds = {name: tuple(map(float, prior_cfg[name])) for name in PARAM_NAMES}
        return cls(bounds=bounds, constraints=bool(prior_cfg["constraints"]))

    @property
    def low(self) -> np.ndarray:
        return np.array([self.bounds[n][0] for n in PARAM_NAMES])

    @property
    def high(self) -> np.ndarray:
        return np.array([self.bounds[n][1] for n in PARAM_NAMES])

    def accept(self, theta: np.ndarray) -> np.ndarray:
        """Boolean mask of rows (n, 7) that satisfy the constraints (all True if switched off)."""
        theta = np.atleast_2d(theta)
        if not self.constraints:
            return np.ones(theta.shape[0], dtype=bool)
        j_ee, j_ie, j_ei, j_ii = (theta[:, PARAM_NAMES.index(k)] for k in ("J_EE", "J_IE", "J_EI", "J_II"))
        inh = np.minimum(np.abs(j_ei), np.abs(j_ii))
        return (2 * j_ee <= inh) & (2 * j_ie <= inh) & (j_ie > j_ee)

    def draw_one(self, seed: int, sample_id: int) -> np.ndarray:
        """Draw sample ``sample_id`` from its own stream, rejecting until the constraints hold."""
        rng = np.random.default_rng(sample_sequence(seed, sample_id, SampleStream.PRIOR))
        low, high = self.low, self.high
        for _ in range(MAX_TRIES // CANDIDATES):
            # Candidates are drawn in blocks and the first accepted one is taken: the same
            # stream always yields the same draw, at a fraction of the per-call overhead.
            theta = rng.uniform(low, high, size=(CANDIDATES, low.size))
            ok = np.flatnonzero(self.accept(theta))
            if ok.size:
                return theta[ok[0]]
        raise RuntimeError(
            f"prior: no draw satisfied the constraints in {MAX_TRIES} tries; "
            "check the prior bounds or set prior.constraints: false"
        )

    def draw(self, seed: int, sample_ids: Sequence[int]) -> np.ndarray:
        """Draw the given samples, shape (len(sample_ids), 7), in :data:`PARAM_NAMES` order."""
        out = np.empty((len(sample_ids), len(PARAM_NAMES)))
        for row, sid in enumerate(sample_ids):
            out[row] = self.draw_one(seed, sid)
        return out

    def acceptance_rate(self, n: int = 20_000, seed: int = 0) -> float:
        """Monte-Carlo estimate of the fraction of box draws that pass the constraints."""
        rng = np.random.default_rng(seed)
        return float(self.accept(rng.uniform(self.low, self.high, size=(n, len(PARAM_NAMES)))).mean())


def theta_dict(row: np.ndarray) -> dict[str, float]:
    """A parameter row as a ``{name: value}`` mapping."""
    return {name: float(v) for name, v in zip(PARAM_NAMES, row, strict=True)}
