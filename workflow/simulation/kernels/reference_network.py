"""The ball-and-sticks multicompartment reference network of the kernels: cells, synapses, rates.

Parameters are data (:class:`ReferenceNetwork`); the cell membranes, the resting potentials
and the morphology files are described in :mod:`workflow.simulation.kernels`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from workflow.contract import PATHWAY_NAMES, POPULATIONS, pathway_name
from workflow.simulation.kernels.biophysics import (
    BIOPHYSICS,
    DEFAULT_VREST_MV,
    HAY2011_DENSITIES,
    insert_biophysics,
)

log = logging.getLogger(__name__)


DATA_DIR = Path(__file__).resolve().parents[2] / "data"
MOD_DIR = DATA_DIR / "mod"
TEMPLATE_FILE = DATA_DIR / "ball_and_sticks_template.hoc"
TEMPLATE_NAME = "SbiBallAndSticks"


def _pathway_dict(ee: Any, ei: Any, ie: Any, ii: Any) -> dict[str, Any]:
    """Mapping keyed by pathway name, arguments in the order E->E, E->I, I->E, I->I."""
    return dict(zip(PATHWAY_NAMES, (ee, ei, ie, ii), strict=True))


@dataclasses.dataclass(frozen=True)
class SynapsePlacement:
    """Where the synapses of one pathway sit on the postsynaptic cell.

    The density along depth z is a weighted sum of normal densities N(loc_um, scale_um),
    restricted to the listed sections and weighted by membrane area (lfpykernels also widens
    each scale by the population's depth scale to account for the somata's spread).
    """

    sections: tuple[str, ...]
    loc_um: tuple[float, ...]
    scale_um: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.sections or any(s not in ("soma", "dend", "apic") for s in self.sections):
            raise ValueError(f"sections must be a non-empty subset of soma/dend/apic, got {self.sections}")
        n = len(self.loc_um)
        if n == 0 or len(self.scale_um) != n or len(self.weights) != n:
            raise ValueError("loc_um, scale_um and weights must be non-empty and of equal length")
        if any(not s > 0 for s in self.scale_um) or any(not w > 0 for w in self.weights):
            raise ValueError("scale_um and weights must be positive")

    def as_lfpykernels(self) -> dict[str, Any]:
        """Arguments of ``KernelApprox.get_rand_idx_area_and_distribution_prob``."""
        import scipy.stats as st

        return {
            "section": list(self.sections),
            "fun": [st.norm] * len(self.loc_um),
            "funargs": [{"loc": lo, "scale": sc} for lo, sc in zip(self.loc_um, self.scale_um, strict=True)],
            "funweights": list(self.weights),
        }


def _default_placement() -> dict[str, SynapsePlacement]:
    from_e = ("apic", "dend")
    from_i = ("soma", "apic", "dend")
    return _pathway_dict(
        SynapsePlacement(from_e, (0.0, 500.0), (100.0, 100.0), (0.5, 1.0)),
        SynapsePlacement(from_e, (50.0,), (100.0,), (1.0,)),
        SynapsePlacement(from_i, (-50.0,), (100.0,), (1.0,)),
        SynapsePlacement(from_i, (-100.0,), (100.0,), (1.0,)),
    )


def _per_pop(e: Any, i: Any) -> dict[str, Any]:
    return {"E": e, "I": i}


@dataclasses.dataclass(frozen=True)
class ReferenceNetwork:
    """The ball-and-sticks multicompartment network the kernels are computed from.

    Defaults are the reference network of Hagen et al. 2022 (module docstring). Per-population
    mappings are keyed ``"E"``/``"I"``; per-pathway mappings by :data:`PATHWAY_NAMES`
    (``"E_to_I"`` is E onto I). Units: um, ms, mV, uS, S/cm2, Hz.
    """

    population_sizes: Mapping[str, int] = dataclasses.field(default_factory=lambda: _per_pop(8192, 1024))
    connection_probability: float = 0.05
    # synapse kinetics and reversal potential, by presynaptic population
    syn_tau1_ms: Mapping[str, float] = dataclasses.field(default_factory=lambda: _per_pop(0.2, 0.1))
    syn_tau2_ms: Mapping[str, float] = dataclasses.field(default_factory=lambda: _per_pop(1.8, 9.0))
    syn_e_rev_mV: Mapping[str, float] = dataclasses.field(default_factory=lambda: _per_pop(0.0, -80.0))
    weight_uS: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _pathway_dict(1.5e-4, 1.25e-4, 4.5e-3, 2e-3)
    )
    delay_loc_ms: Mapping[str, float] = dataclasses.field(default_factory=lambda: _pathway_dict(1.5, 1.4, 1.3, 1.2))
    delay_scale_ms: Mapping[str, float] = dataclasses.field(default_factory=lambda: _pathway_dict(0.3, 0.4, 0.5, 0.6))
    delay_min_ms: float = 0.3
    # synapses per connection: normal(loc, scale) truncated to [multapse_min, multapse_max]
    multapse_loc: Mapping[str, float] = dataclasses.field(default_factory=lambda: _per_pop(2.0, 5.0))
    multapse_scale: Mapping[str, float] = dataclasses.field(default_factory=lambda: _pathway_dict(0.4, 0.6, 0.9, 1.1))
    multapse_min: float = 1.0
    multapse_max: float = 10.0
    synapse_placement: Mapping[str, SynapsePlacement] = dataclasses.field(default_factory=_default_placement)
    # cell bodies: uniform disc of this radius in xy, normal along z
    population_radius_um: float = 150.0
    population_loc_um: float = 0.0
    population_scale_um: float = 75.0
    # external (extrinsic) drive, homogeneous over the membrane area
    ext_weight_uS: float = 2e-4
    ext_rate_hz: float = 40.0
    ext_tau1_ms: float = 0.2
    ext_tau2_ms: float = 1.8
    ext_e_rev_mV: float = 0.0
    n_ext: Mapping[str, int] = dataclasses.field(default_factory=lambda: _per_pop(465, 160))
    # passive membrane (Hay et al. 2011 leak)
    g_pas_soma_S_cm2: float = 3.38e-5
    g_pas_dend_S_cm2: float = 5.89e-5
    e_pas_mV: float = -90.0
    celsius: float = 34.0
    lambda_f_hz: float = 100.0
    #: cell membrane: ``lin`` (Hay 2011, Ih linearised, Na/K frozen; the paper's pipeline),
    #: ``frozen`` or ``passive`` (see :mod:`workflow.simulation.kernels.biophysics`)
    biophysics: str = "lin"
    g_eff: bool = True
    #: resting potential per population (mV), the linearisation point; None derives the passive
    #: cell's steady state (:func:`resting_potentials`). Default: the median somatic potential of
    #: the multicompartment reference network (:data:`~.biophysics.DEFAULT_VREST_MV`)
    vrest_mV: Mapping[str, float] | None = dataclasses.field(default_factory=lambda: dict(DEFAULT_VREST_MV))

    def __post_init__(self) -> None:
        def need_keys(name: str, keys: tuple[str, ...]) -> Mapping:
            value = getattr(self, name)
            if not isinstance(value, Mapping) or set(value) != set(keys):
                raise ValueError(f"ReferenceNetwork.{name} needs exactly the keys {list(keys)}, got {value!r}")
            return value

        def positive(name: str, value: float) -> None:
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"ReferenceNetwork.{name} must be a positive finite number, got {value!r}")

        for name in (
            "population_sizes",
            "syn_tau1_ms",
            "syn_tau2_ms",
            "syn_e_rev_mV",
            "multapse_loc",
            "n_ext",
        ):
            need_keys(name, POPULATIONS)
        for name in ("weight_uS", "delay_loc_ms", "delay_scale_ms", "multapse_scale", "synapse_placement"):
            need_keys(name, PATHWAY_NAMES)
        for pop in POPULATIONS:
            if int(self.population_sizes[pop]) < 1:
                raise ValueError(f"ReferenceNetwork.population_sizes[{pop!r}] must be at least 1")
            if int(self.n_ext[pop]) < 0:
                raise ValueError(f"ReferenceNetwork.n_ext[{pop!r}] must be >= 0")
            positive(f"syn_tau1_ms[{pop!r}]", self.syn_tau1_ms[pop])
            positive(f"syn_tau2_ms[{pop!r}]", self.syn_tau2_ms[pop])
            if not self.syn_tau2_ms[pop] > self.syn_tau1_ms[pop]:
                raise ValueError(f"ReferenceNetwork.syn_tau2_ms[{pop!r}] must exceed syn_tau1_ms[{pop!r}]")
            if not self.multapse_min <= self.multapse_loc[pop] <= self.multapse_max:
                raise ValueError(f"ReferenceNetwork.multapse_loc[{pop!r}] must lie in [multapse_min, multapse_max]")
        for name in PATHWAY_NAMES:
            positive(f"weight_uS[{name!r}]", self.weight_uS[name])
            positive(f"delay_loc_ms[{name!r}]", self.delay_loc_ms[name])
            positive(f"delay_scale_ms[{name!r}]", self.delay_scale_ms[name])
            positive(f"multapse_scale[{name!r}]", self.multapse_scale[name])
            if not isinstance(self.synapse_placement[name], SynapsePlacement):
                raise ValueError(f"ReferenceNetwork.synapse_placement[{name!r}] must be a SynapsePlacement")
        if not 0 < self.connection_probability <= 1:
            raise ValueError("ReferenceNetwork.connection_probability must lie in (0, 1]")
        if not 1 <= self.multapse_min < self.multapse_max:
            raise ValueError("ReferenceNetwork.multapse_min/max must satisfy 1 <= min < max")
        for name in (
            "delay_min_ms",
            "population_radius_um",
            "population_scale_um",
            "ext_weight_uS",
            "ext_tau1_ms",
            "ext_tau2_ms",
            "g_pas_soma_S_cm2",
            "g_pas_dend_S_cm2",
            "lambda_f_hz",
        ):
            positive(name, getattr(self, name))
        if self.ext_rate_hz < 0:
            raise ValueError("ReferenceNetwork.ext_rate_hz must be >= 0")
        if not self.ext_tau2_ms > self.ext_tau1_ms:
            raise ValueError("ReferenceNetwork.ext_tau2_ms must exceed ext_tau1_ms")
        if self.biophysics not in BIOPHYSICS:
            raise ValueError(f"ReferenceNetwork.biophysics must be one of {BIOPHYSICS}, got {self.biophysics!r}")
        if self.vrest_mV is not None:
            for pop, v in need_keys("vrest_mV", POPULATIONS).items():
                if not (isinstance(v, (int, float)) and math.isfinite(v)):
                    raise ValueError(f"ReferenceNetwork.vrest_mV[{pop!r}] must be a finite number")

    def to_json(self) -> str:
        """A JSON description of every parameter (stored in kernels.h5)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=list)

    # -- derived quantities ------------------------------------------------------------------

    def mean_multapses(self, pre: str, post: str) -> float:
        """Mean synapses per connection pre -> post, as lfpykernels discretises it.

        The truncated normal is evaluated at the integers 1..99 and renormalised.
        """
        import scipy.stats as st

        name = pathway_name(pre, post)
        loc, scale = self.multapse_loc[pre], self.multapse_scale[name]
        dist = st.truncnorm(
            a=(self.multapse_min - loc) / scale, b=(self.multapse_max - loc) / scale, loc=loc, scale=scale
        )
        k = np.arange(1, 100)
        p = dist.pdf(k)
        return float(np.sum(k * p) / np.sum(p))

    def indegree(self, pre: str, post: str) -> float:
        """Mean synapses per postsynaptic neuron from population ``pre`` (multapses counted)."""
        return self.connection_probability * self.population_sizes[pre] * self.mean_multapses(pre, post)

    def outdegree(self, pre: str, post: str) -> float:
        """Mean synapses per presynaptic neuron onto population ``post`` (multapses counted)."""
        return self.connection_probability * self.population_sizes[post] * self.mean_multapses(pre, post)


def exp2syn_area_ms(tau1_ms: float, tau2_ms: float) -> float:
    """Time integral (ms) of NEURON's peak-normalised Exp2Syn conductance time course."""
    t_peak = tau1_ms * tau2_ms / (tau2_ms - tau1_ms) * math.log(tau2_ms / tau1_ms)
    peak = math.exp(-t_peak / tau2_ms) - math.exp(-t_peak / tau1_ms)
    return (tau2_ms - tau1_ms) / peak


def check_rates(nu_X: Mapping[str, float]) -> dict[str, float]:
    """Validate presynaptic rates (Hz): keys E and I, finite, non-negative."""
    if not isinstance(nu_X, Mapping) or set(nu_X) != set(POPULATIONS):
        raise ValueError(f"nu_X needs exactly the keys {list(POPULATIONS)} (Hz), got {nu_X!r}")
    out = {}
    for pop in POPULATIONS:
        v = float(nu_X[pop])
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"nu_X[{pop!r}] must be a finite rate >= 0 Hz, got {nu_X[pop]!r}")
        out[pop] = v
    return out


def _morphology(pop: str) -> Path:
    return DATA_DIR / f"ball_and_sticks_{pop}.hoc"


def _cell_parameters(params: ReferenceNetwork, pop: str, vrest_mV: float) -> dict[str, Any]:
    """LFPy cell arguments: morphology, and the membrane of ``params.biophysics`` at ``vrest_mV``."""
    densities = {
        "soma": dataclasses.replace(HAY2011_DENSITIES["soma"], g_pas_S_cm2=params.g_pas_soma_S_cm2),
        **{s: dataclasses.replace(HAY2011_DENSITIES[s], g_pas_S_cm2=params.g_pas_dend_S_cm2) for s in ("dend", "apic")},
    }
    return {
        "morphology": str(_morphology(pop)),
        "templatefile": str(TEMPLATE_FILE),
        "templatename": TEMPLATE_NAME,
        "templateargs": None,
        "v_init": vrest_mV,
        "celsius": params.celsius,
        "nsegs_method": "lambda100",
        "lambda_f": params.lambda_f_hz,
        "custom_fun": [insert_biophysics],
        "custom_fun_args": [{"biophysics": params.biophysics, "vrest_mV": vrest_mV, "densities": densities}],
    }


def leak_conductance_uS(params: ReferenceNetwork, pop: str) -> float:
    """Total leak conductance (uS) of the passive ``pop`` cell, from its NEURON segments."""
    import LFPy

    passive = dataclasses.replace(params, biophysics="passive")
    cell = LFPy.TemplateCell(delete_sections=True, **_cell_parameters(passive, pop, params.e_pas_mV))
    try:
        g = np.array([seg.g_pas for sec in cell.allseclist for seg in sec])  # S/cm2
        # S/cm2 * um2 = 1e-8 S = 1e-2 uS
        return float(np.sum(g * cell.area) * 1e-2)
    finally:
        cell.__del__()


def resting_potentials(params: ReferenceNetwork, nu_X: Mapping[str, float]) -> dict[str, float]:
    """Resting potential (mV) of each population's kernel cell: ``params.vrest_mV`` if set.

    Otherwise (``vrest_mV`` None, config ``kernels.v_rest_mV: null``) the derivation this
    project used before the paper's values were adopted: the steady state of the *passive*
    (Hay 2011 leak only, E_L = -90 mV) cell, isopotential approximation, under the mean
    conductances of its external and recurrent synapses at the rates ``nu_X``:
    V = (G_L E_L + sum_s G_s E_s) / (G_L + sum_s G_s) (module docstring). It ignores Ih and the
    frozen Na/K conductances, so it is an approximation for ``lin`` and ``frozen`` cells.
    """
    if params.vrest_mV is not None:
        return {p: float(params.vrest_mV[p]) for p in POPULATIONS}
    nu = check_rates(nu_X)
    out = {}
    for post in POPULATIONS:
        g_leak = leak_conductance_uS(params, post)
        # mean conductance (uS) = count * weight (uS) * area (ms) * rate (1/s) * 1e-3 (s/ms)
        g_ext = (
            params.n_ext[post]
            * params.ext_weight_uS
            * exp2syn_area_ms(params.ext_tau1_ms, params.ext_tau2_ms)
            * params.ext_rate_hz
            * 1e-3
        )
        g_sum = g_leak + g_ext
        i_sum = g_leak * params.e_pas_mV + g_ext * params.ext_e_rev_mV
        for pre in POPULATIONS:
            g = (
                params.indegree(pre, post)
                * params.weight_uS[pathway_name(pre, post)]
                * exp2syn_area_ms(params.syn_tau1_ms[pre], params.syn_tau2_ms[pre])
                * nu[pre]
                * 1e-3
            )
            g_sum += g
            i_sum += g * params.syn_e_rev_mV[pre]
        out[post] = i_sum / g_sum
    return out
