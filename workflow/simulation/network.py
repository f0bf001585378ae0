"""The E/I LIF network of Hagen et al. 2022 (PLOS Comput Biol 18(8): e1010353), best fit.

Parameters are data: :class:`NetworkParams` holds every fixed quantity of the network, and a
sample's free parameters (:data:`workflow.contract.PARAM_NAMES`) arrive as a ``theta`` mapping.
Both simulators (:mod:`workflow.simulation.simulators.nest_sim`,
:mod:`workflow.simulation.simulators.brian2_sim`) build the network from these objects alone, so
they cannot drift apart.

Naming follows the paper: ``J_YX`` is the weight onto postsynaptic population Y from
presynaptic population X, so ``J_EI`` (I onto E) and ``J_II`` are negative.

Scaling (``network.scale`` < 1)
-------------------------------
The full network connects every pair with probability p = 0.2 (``pairwise_bernoulli``). A
scaled network keeps each neuron's *in-degree* at its full-network mean, K_YX = p * N_X(full),
drawing K_YX presynaptic partners with replacement (``fixed_indegree``, multapses allowed when
K exceeds the scaled population). Every neuron then receives the same mean and variance of
recurrent input as in the full network, which keeps the best fit in its asynchronous
irregular regime; only the shared-input correlations grow. The LFP proxy rescales the scaled
populations' spike counts by N(full)/N(scaled) before the convolution (see :mod:`workflow.simulation.lfp`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from workflow.contract import PARAM_NAMES, POPULATIONS

#: Best-fit values of the seven free parameters (Hagen et al. 2022).
BEST_FIT: dict[str, float] = {
    "J_EE": 1.589,
    "J_IE": 2.020,
    "J_EI": -23.84,
    "J_II": -8.441,
    "tau_syn_E": 0.5,
    "tau_syn_I": 0.5,
    "J_ext": 29.89,
}


@dataclasses.dataclass(frozen=True)
class NetworkParams:
    """Fixed quantities of the E/I network. Units: pF, ms, mV, Hz.

    Keys of the per-pathway mappings are ``"YX"`` (post Y, pre X), e.g. ``"IE"`` is E onto I.
    """

    N_full: Mapping[str, int] = dataclasses.field(default_factory=lambda: {"E": 8192, "I": 1024})
    scale: float = 1.0
    C_m: Mapping[str, float] = dataclasses.field(default_factory=lambda: {"E": 289.1, "I": 110.7})
    tau_m: float = 10.0
    E_L: float = -65.0
    V_reset: float = -65.0
    V_th: float = -55.0  # NEST default of iaf_psc_exp
    t_ref: float = 2.0  # NEST default of iaf_psc_exp
    p_conn: float = 0.2
    weight_rel_sd: float = 0.1
    delay: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"EE": 2.520, "IE": 1.714, "EI": 1.585, "II": 1.149}
    )
    delay_rel_sd: float = 0.5
    delay_min: float = 0.3
    nu_ext: float = 40.0
    n_ext: Mapping[str, int] = dataclasses.field(default_factory=lambda: {"E": 465, "I": 160})

    @classmethod
    def from_config(cls, cfg: Mapping) -> NetworkParams:
        """The network of a validated config (``network.scale``; everything else is the best fit)."""
        return cls(scale=float(cfg["network"]["scale"]))

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 1:
            raise ValueError(f"network.scale must be in (0, 1], got {self.scale}")
        if not 0 < self.p_conn <= 1:
            raise ValueError(f"p_conn must be in (0, 1], got {self.p_conn}")
        for name in ("tau_m", "t_ref", "delay_min", "nu_ext"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.V_th <= self.V_reset:
            raise ValueError(f"V_th ({self.V_th}) must lie above V_reset ({self.V_reset})")
        for pop in POPULATIONS:
            if self.N_full[pop] < 1 or self.C_m[pop] <= 0 or self.n_ext[pop] < 0:
                raise ValueError(f"population {pop}: N_full, C_m must be positive, n_ext >= 0")

    @property
    def N(self) -> dict[str, int]:
        """Simulated population sizes (at least one neuron each)."""
        return {p: max(1, round(self.N_full[p] * self.scale)) for p in POPULATIONS}

    @property
    def full_scale(self) -> bool:
        """True when the network is simulated at full size with pairwise Bernoulli wiring."""
        return self.scale == 1.0

    def indegree(self, post: str, pre: str) -> int:
        """Mean in-degree K_YX = p * N_X(full) (fixed for every neuron when scaled)."""
        del post  # the same for both targets
        return round(self.p_conn * self.N_full[pre])

    def count_factor(self, pop: str) -> float:
        """Factor that turns a scaled population's spike count into a full-size one."""
        return self.N_full[pop] / self.N[pop]

    def ext_rate(self, pop: str) -> float:
        """Rate (Hz) of the single Poisson drive onto each neuron of ``pop``."""
        return self.nu_ext * self.n_ext[pop]


def make_theta(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Best-fit parameters with ``overrides`` applied.

    Raises
    ------
    KeyError
        If an override names a parameter that is not one of :data:`PARAM_NAMES`.
    """
    theta = dict(BEST_FIT)
    for key, value in (overrides or {}).items():
        if key not in theta:
            raise KeyError(f"unknown parameter {key!r}; known parameters: {', '.join(PARAM_NAMES)}")
        theta[key] = float(value)
    return theta


def check_theta(theta: Mapping[str, float]) -> None:
    """Check a parameter set for names and physical signs, naming the bad parameter."""
    missing = [k for k in PARAM_NAMES if k not in theta]
    if missing:
        raise KeyError(f"parameter set misses {missing}")
    for key in ("tau_syn_E", "tau_syn_I"):
        if not theta[key] > 0:
            raise ValueError(f"{key} must be positive (ms), got {theta[key]}")
    for key in ("J_EE", "J_IE", "J_ext"):
        if not theta[key] > 0:
            raise ValueError(f"{key} must be positive (excitatory, pA), got {theta[key]}")
    for key in ("J_EI", "J_II"):
        if not theta[key] < 0:
            raise ValueError(f"{key} must be negative (inhibitory, pA), got {theta[key]}")
