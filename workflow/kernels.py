"""LFP-proxy kernels of the ball-and-sticks reference network (lfpykernels).

The LFP proxy of the point-neuron network is the z-component of the current dipole moment,
predicted by convolving population spike counts with spike-to-signal kernels H_YX. Each kernel
is computed once with :class:`lfpykernels.KernelApprox` from the multicompartment reference
network of Hagen et al. 2022 (PLOS Comput Biol 18(8): e1010353), as in Sandron et al. 2024,
and probed with :class:`lfpykernels.KernelApproxCurrentDipoleMoment`.

Pathways and naming
-------------------
There is one kernel per pathway *pre -> post*: ``E_to_E``, ``E_to_I``, ``I_to_E``, ``I_to_I``.
Hagen's example code indexes its tables ``[pre][post]`` ("<pre>:<post>") while its weight
*names* follow the paper's J_YX convention (post Y, pre X): in Hagen's ``run_pscan.py``
``weight_IE`` is commented "E onto I" and ``weight_EI`` "I onto E", and ``example_network.py``
puts ``weight_IE`` at ``[E][I]``. So the issue's weights map to

    E->E 1.5e-4 uS, E->I 1.25e-4 uS (J_IE), I->E 4.5e-3 uS (J_EI), I->I 2e-3 uS.

The issue's delay list "EE, EI, IE, II" follows Hagen's ``[pre][post]`` table order, so
E->I has 1.4 +- 0.4 ms and I->E 1.3 +- 0.5 ms. Every delay distribution is a normal truncated
below at 0.3 ms (Hagen's I:E entry computes its lower bound with loc 1.4 instead of 1.3, i.e.
truncates at 0.2 ms; we use 0.3 ms throughout, as the issue says). Multapses per connection
are normal distributions truncated to [1, 10] with loc 2 (E presynaptic) or 5 (I presynaptic)
and scale 0.4 (E->E), 0.6 (E->I), 0.9 (I->E), 1.1 (I->I), Hagen's values. Synapses from E
land on apical and basal sticks (not the soma), synapses from I anywhere (soma included).

What a kernel means (normalisation)
-----------------------------------
``KernelApprox`` scales the synaptic input of one representative postsynaptic cell by the
population out-degree K_YX / N_X (K_YX = C_YX N_X N_Y times the mean multapse count). A
kernel is therefore the z current dipole moment (nA um) of the *whole* postsynaptic population
evoked by *one* spike of *one* presynaptic neuron. It must be convolved with the spike count
per time bin (width dt) of the FULL-size presynaptic population (8192 E, 1024 I); a scaled
network's counts are multiplied by N(full)/N(simulated) first (see :mod:`workflow.lfp`).

Each kernel is a float64 array of length ``2 * round(tau / dt) + 1``; index ``round(tau / dt)``
is lag 0 (the presynaptic spike). Negative lags are zero by construction; so are lags below
the 0.3 ms minimum delay.

Cells: passive by default
-------------------------
The cells are passive (``ReferenceNetwork.passive = True``). Hagen's reference network uses
active ball-and-sticks with Hay et al. 2011 channels, and Sandron et al. used their quasi-active
linearisation; the passive variant keeps only the Hay 2011 leak (soma 3.38e-5 S/cm2,
sticks 5.89e-5 S/cm2; Ra 100 ohm cm, cm 1 uF/cm2) with e_pas set to the resting potential so
that the cell rests uniformly at V_rest (what Hagen's ``make_cell_uniform`` does for a purely
passive cell). Active variants are not implemented. Temperature 34 degC (no effect on passive
cells). Segments follow NEURON's d_lambda rule at 100 Hz (LFPy's ``lambda100`` default, as in
Hagen's examples): 27 segments for E, 11 for I.

``KernelApprox`` linearises the conductance synapses into current synapses (NEURON mechanism
``Exp2SynI``) and, with ``g_eff`` (default on), adds the mean conductance of the recurrent and
external synapses to the leak. ``Exp2SynI`` is not part of NEURON: ``mod/exp2syn_current.mod``
is compiled with ``nrnivmodl`` at run time (only if the mechanism is not loaded yet) into a
per-user cache, ``$SBI_NRNMECH_DIR`` or ``${XDG_CACHE_HOME:-~/.cache}/sbi-cortical-features/
nrnmech/<hash>``, never into the repository; see :func:`ensure_mechanisms`.

Data that could not be downloaded, and how it was derived
---------------------------------------------------------
* Morphologies (``data/ball_and_sticks_{E,I}.hoc``): written here from the geometry of
  Hagen's ball-and-sticks cells. E: soma 30 um x 30 um diameter, basal stick 200 um x 2 um
  downwards, apical stick 1000 um x 3 um upwards. I: soma 30 um x 15 um diameter and two
  200 um x 2 um sticks, one up and one down (symmetric).
* Presynaptic rates nu_X (enter the effective leak through ``g_eff``): defaults
  :data:`DEFAULT_NU_X_HZ` = 6.5 Hz (E), 9.6 Hz (I), the population rates of the best-fit point
  network (``workflow.network.BEST_FIT``) simulated once at full size (8192 + 1024 neurons,
  pairwise Bernoulli p = 0.2, NEST 3.10, dt 2^-4 ms, 2 s after a 0.5 s transient). The LIF
  network was fitted to the reference network's spiking, so these stand in for the
  multicompartment network's rates. Config keys ``kernels.nu_E_hz`` / ``kernels.nu_I_hz``
  override them.
* Resting potentials V_rest (linearisation point of the synapses, e_pas and v_init):
  Hagen/Sandron took the median somatic potential of the simulated multicompartment network,
  which is not available. :func:`resting_potentials` derives it as the steady state of the
  same passive cell, isopotential approximation, under the mean conductances of its inputs:
  V_rest = (G_L E_L + sum_s G_s E_s) / (G_L + sum_s G_s), with the Hay leak (E_L = -90 mV),
  the external drive (465 or 160 synapses at 40 Hz, E_s = 0 mV) and the recurrent synapses at
  the rates nu_X (E_s = 0 or -80 mV); the mean conductance of a synapse type is
  in-degree x weight x (time integral of the peak-normalised Exp2Syn) x rate. With the default
  rates this gives -73.6 mV (E) and -73.4 mV (I): the inhibitory conductance dominates.
  ``ReferenceNetwork.vrest_mV`` overrides the derivation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

POPULATIONS: tuple[str, ...] = ("E", "I")

#: (pre, post) of every kernel, in file order.
PATHWAYS: tuple[tuple[str, str], ...] = (("E", "E"), ("E", "I"), ("I", "E"), ("I", "I"))

#: Default presynaptic rates (Hz): the best-fit point network at full size (module docstring).
DEFAULT_NU_X_HZ: dict[str, float] = {"E": 6.5, "I": 9.6}

#: Version of the kernels.h5 layout written by :func:`write_kernels`.
KERNELS_FORMAT_VERSION = "1.0"

PROBE = "current dipole moment z"
UNITS = "nA um"

DATA_DIR = Path(__file__).resolve().parent / "data"
MOD_DIR = DATA_DIR / "mod"
TEMPLATE_FILE = DATA_DIR / "ball_and_sticks_template.hoc"
TEMPLATE_NAME = "SbiBallAndSticks"

_CACHE_ENV = "SBI_NRNMECH_DIR"
_CDM_KEY = "KernelApproxCurrentDipoleMoment"


def pathway_name(pre: str, post: str) -> str:
    """Dataset name of the kernel from ``pre`` onto ``post``, e.g. ``"E_to_I"``."""
    return f"{pre}_to_{post}"


KERNEL_NAMES: tuple[str, ...] = tuple(pathway_name(a, b) for a, b in PATHWAYS)


def _pathway_dict(ee: Any, ei: Any, ie: Any, ii: Any) -> dict[str, Any]:
    """Mapping keyed by pathway name, arguments in the order E->E, E->I, I->E, I->I."""
    return dict(zip(KERNEL_NAMES, (ee, ei, ie, ii), strict=True))


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
    mappings are keyed ``"E"``/``"I"``; per-pathway mappings by :data:`KERNEL_NAMES`
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
    delay_loc_ms: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _pathway_dict(1.5, 1.4, 1.3, 1.2)
    )
    delay_scale_ms: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _pathway_dict(0.3, 0.4, 0.5, 0.6)
    )
    delay_min_ms: float = 0.3
    # synapses per connection: normal(loc, scale) truncated to [multapse_min, multapse_max]
    multapse_loc: Mapping[str, float] = dataclasses.field(default_factory=lambda: _per_pop(2.0, 5.0))
    multapse_scale: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: _pathway_dict(0.4, 0.6, 0.9, 1.1)
    )
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
    passive: bool = True
    g_eff: bool = True
    #: resting potential per population (mV); None derives it (:func:`resting_potentials`)
    vrest_mV: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        def need_keys(name: str, keys: tuple[str, ...]) -> Mapping:
            value = getattr(self, name)
            if not isinstance(value, Mapping) or set(value) != set(keys):
                raise ValueError(
                    f"ReferenceNetwork.{name} needs exactly the keys {list(keys)}, got {value!r}"
                )
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
            need_keys(name, KERNEL_NAMES)
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
                raise ValueError(
                    f"ReferenceNetwork.multapse_loc[{pop!r}] must lie in [multapse_min, multapse_max]"
                )
        for name in KERNEL_NAMES:
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


def _insert_passive(cell: Any, vrest_mV: float, g_soma: float, g_dend: float) -> None:
    """LFPy ``custom_fun``: Hay 2011 leak with e_pas = V_rest, so the cell rests uniformly."""
    for sec in cell.template.all:
        sec.insert("pas")
        sec.g_pas = g_soma if "soma" in sec.name() else g_dend
        sec.e_pas = vrest_mV


def _cell_parameters(params: ReferenceNetwork, pop: str, vrest_mV: float) -> dict[str, Any]:
    return {
        "morphology": str(_morphology(pop)),
        "templatefile": str(TEMPLATE_FILE),
        "templatename": TEMPLATE_NAME,
        "templateargs": None,
        "v_init": vrest_mV,
        "celsius": params.celsius,
        "nsegs_method": "lambda100",
        "lambda_f": params.lambda_f_hz,
        "custom_fun": [_insert_passive],
        "custom_fun_args": [
            {"vrest_mV": vrest_mV, "g_soma": params.g_pas_soma_S_cm2, "g_dend": params.g_pas_dend_S_cm2}
        ],
    }


def leak_conductance_uS(params: ReferenceNetwork, pop: str) -> float:
    """Total leak conductance (uS) of the passive ``pop`` cell, from its NEURON segments."""
    import LFPy

    cell = LFPy.TemplateCell(delete_sections=True, **_cell_parameters(params, pop, params.e_pas_mV))
    try:
        g = np.array([seg.g_pas for sec in cell.allseclist for seg in sec])  # S/cm2
        # S/cm2 * um2 = 1e-8 S = 1e-2 uS
        return float(np.sum(g * cell.area) * 1e-2)
    finally:
        cell.__del__()


def resting_potentials(params: ReferenceNetwork, nu_X: Mapping[str, float]) -> dict[str, float]:
    """Resting potential (mV) of each population's passive cell under mean synaptic input.

    ``params.vrest_mV`` if set; otherwise the isopotential steady state with the mean
    conductances of the external and recurrent synapses (module docstring).
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


# -- NEURON mechanisms ------------------------------------------------------------------------


def _default_build_root() -> Path:
    if os.environ.get(_CACHE_ENV):
        return Path(os.environ[_CACHE_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "sbi-cortical-features" / "nrnmech"


def _nrnivmodl() -> str:
    found = shutil.which("nrnivmodl") or shutil.which("nrnivmodl", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("nrnivmodl not found (neither on PATH nor next to the Python interpreter)")
    return found


def ensure_mechanisms(build_root: str | os.PathLike | None = None) -> Path | None:
    """Load the ``Exp2SynI`` mechanism, compiling ``data/mod/*.mod`` first if needed.

    Nothing happens if NEURON already knows ``Exp2SynI``. Otherwise the mod files are compiled
    with ``nrnivmodl`` into ``<build_root>/<hash>``, the hash covering the mod sources, the
    NEURON version and the machine, so a build is reused across runs and rebuilt when any of
    them changes. ``build_root`` defaults to ``$SBI_NRNMECH_DIR`` or
    ``${XDG_CACHE_HOME:-~/.cache}/sbi-cortical-features/nrnmech``. Concurrent callers each
    compile in a private temporary folder and move it into place atomically.

    Returns the build folder, or None if the mechanism was already loaded.
    """
    import neuron

    if hasattr(neuron.h, "Exp2SynI"):
        return None
    mods = sorted(MOD_DIR.glob("*.mod"))
    if not mods:
        raise RuntimeError(f"no .mod files in {MOD_DIR}")
    digest = hashlib.sha256()
    for mod in mods:
        digest.update(mod.name.encode() + b"\0" + mod.read_bytes() + b"\0")
    digest.update(f"{neuron.__version__}|{platform.machine()}|{sys.platform}".encode())
    root = Path(build_root) if build_root is not None else _default_build_root()
    target = root / digest.hexdigest()[:16]
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
        try:
            for mod in mods:
                shutil.copy2(mod, tmp / mod.name)
            log.info("compiling %s with nrnivmodl in %s", [m.name for m in mods], tmp)
            run = subprocess.run(
                [_nrnivmodl(), *[m.name for m in mods]], cwd=tmp, capture_output=True, text=True
            )
            if run.returncode != 0:
                raise RuntimeError(f"nrnivmodl failed in {tmp}:\n{run.stdout}\n{run.stderr}")
            try:
                os.rename(tmp, target)
            except OSError:
                if not target.is_dir():  # not a lost race: a real failure
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    if not neuron.load_mechanisms(str(target), warn_if_already_loaded=False) or not hasattr(
        neuron.h, "Exp2SynI"
    ):
        raise RuntimeError(f"could not load the NEURON mechanisms built in {target}")
    return target


# -- kernels ----------------------------------------------------------------------------------


def n_lags(dt_ms: float, tau_ms: float) -> int:
    """Samples per kernel, ``2 * round(tau / dt) + 1``; tau must be a multiple of dt."""
    if not (math.isfinite(dt_ms) and dt_ms > 0):
        raise ValueError(f"dt_ms must be positive, got {dt_ms!r}")
    if not (math.isfinite(tau_ms) and tau_ms >= dt_ms):
        raise ValueError(f"tau_ms must be at least dt_ms ({dt_ms}), got {tau_ms!r}")
    half = round(tau_ms / dt_ms)
    if abs(tau_ms / dt_ms - half) > 1e-9 * max(1, half):
        raise ValueError(f"tau_ms ({tau_ms}) must be a whole multiple of dt_ms ({dt_ms})")
    return 2 * half + 1


def _kernel_approx(params: ReferenceNetwork, post: str, nu: Mapping[str, float], vrest: float) -> Any:
    import scipy.stats as st
    from lfpykernels import KernelApprox

    names = [pathway_name(pre, post) for pre in POPULATIONS]
    multapse = []
    for pre, name in zip(POPULATIONS, names, strict=True):
        loc, scale = params.multapse_loc[pre], params.multapse_scale[name]
        multapse.append(
            {
                "a": (params.multapse_min - loc) / scale,
                "b": (params.multapse_max - loc) / scale,
                "loc": loc,
                "scale": scale,
            }
        )
    delays = []
    for name in names:
        loc, scale = params.delay_loc_ms[name], params.delay_scale_ms[name]
        delays.append({"a": (params.delay_min_ms - loc) / scale, "b": np.inf, "loc": loc, "scale": scale})
    synapses = [
        {
            "weight": params.weight_uS[name],
            "syntype": "Exp2Syn",
            "tau1": params.syn_tau1_ms[pre],
            "tau2": params.syn_tau2_ms[pre],
            "e": params.syn_e_rev_mV[pre],
        }
        for pre, name in zip(POPULATIONS, names, strict=True)
    ]
    return KernelApprox(
        X=list(POPULATIONS),
        Y=post,
        N_X=np.array([params.population_sizes[p] for p in POPULATIONS]),
        N_Y=params.population_sizes[post],
        C_YX=np.array([params.connection_probability] * len(POPULATIONS)),
        cellParameters=_cell_parameters(params, post, vrest),
        populationParameters={
            "radius": params.population_radius_um,
            "loc": params.population_loc_um,
            "scale": params.population_scale_um,
        },
        multapseFunction=st.truncnorm,
        multapseParameters=multapse,
        delayFunction=st.truncnorm,
        delayParameters=delays,
        synapseParameters=synapses,
        synapsePositionArguments=[params.synapse_placement[n].as_lfpykernels() for n in names],
        extSynapseParameters={
            "syntype": "Exp2Syn",
            "weight": params.ext_weight_uS,
            "tau1": params.ext_tau1_ms,
            "tau2": params.ext_tau2_ms,
            "e": params.ext_e_rev_mV,
        },
        nu_ext=params.ext_rate_hz,
        n_ext=params.n_ext[post],
        nu_X=dict(nu),
        conductance_based=True,
    )


def compute_kernels(
    params: ReferenceNetwork, dt_ms: float, tau_ms: float, nu_X: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """Compute the four z current-dipole-moment kernels of the reference network.

    Parameters
    ----------
    params
        The reference network.
    dt_ms
        Time step (ms) of the kernels; must equal the network's ``simulation.dt_ms``.
    tau_ms
        Kernel half-width (ms); a whole multiple of ``dt_ms``.
    nu_X
        Presynaptic population rates (Hz), keys ``"E"`` and ``"I"``; they set the effective
        leak (``params.g_eff``) and, unless ``params.vrest_mV`` is given, the resting potentials.

    Returns
    -------
    dict
        ``{"E_to_E": H, "E_to_I": ..., "I_to_E": ..., "I_to_I": ...}``, each a float64 array of
        length ``2 * round(tau/dt) + 1`` (index ``round(tau/dt)`` = lag 0) holding the z current
        dipole moment (nA um) of the whole postsynaptic population per spike of one presynaptic
        neuron.
    """
    if not isinstance(params, ReferenceNetwork):
        raise TypeError(f"params must be a ReferenceNetwork, got {type(params).__name__}")
    n = n_lags(float(dt_ms), float(tau_ms))
    if int(2 * float(tau_ms) // float(dt_ms) + 1) != n:
        # lfpykernels sizes its delay grid with a floor division, which rounds down here
        raise ValueError(
            f"dt_ms={dt_ms} does not divide 2 * tau_ms={2 * tau_ms} exactly in floating point, as "
            "lfpykernels needs; use a power-of-two fraction of a millisecond (e.g. 2**-4)"
        )
    nu = check_rates(nu_X)
    if not params.passive:
        raise NotImplementedError(
            "only passive reference cells are implemented (ReferenceNetwork.passive=True, config "
            "kernels.active=false)"
        )
    from lfpykernels import KernelApproxCurrentDipoleMoment

    ensure_mechanisms()
    vrest = resting_potentials(params, nu)
    kernels: dict[str, np.ndarray] = {}
    for post in POPULATIONS:
        e_rev = params.syn_e_rev_mV.values()
        if not min(e_rev) < vrest[post] < max(e_rev):
            # the linearised inhibitory (or excitatory) synapses would change sign
            log.warning(
                "V_rest of %s (%.2f mV) lies outside the synaptic reversal potentials", post, vrest[post]
            )
        log.info("post %s: V_rest %.3f mV", post, vrest[post])
        approx = _kernel_approx(params, post, nu, vrest[post])
        for pre in POPULATIONS:
            probe = KernelApproxCurrentDipoleMoment(cell=None)
            out = approx.get_kernel(
                probes=[probe],
                Vrest=vrest[post],
                dt=float(dt_ms),
                X=pre,
                t_X=float(tau_ms),
                tau=float(tau_ms),
                g_eff=params.g_eff,
                fir=False,
            )
            h = np.array(out[_CDM_KEY][2], dtype=np.float64)  # row 2: z component
            if h.shape != (n,):
                raise RuntimeError(f"lfpykernels returned {h.shape[0]} samples, expected {n}")
            kernels[pathway_name(pre, post)] = h
            log.info("kernel %s: min %.4g, max %.4g nA um", pathway_name(pre, post), h.min(), h.max())
        # drop the last representative cell so that its NEURON sections are freed
        approx.__dict__.pop("cell", None)
    return {name: kernels[name] for name in KERNEL_NAMES}


def kernels_from_config(cfg: Mapping) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Compute the kernels for a validated config; returns ``(kernels, attrs)`` for :func:`write_kernels`.

    Reads ``simulation.dt_ms`` and ``kernels.tau_ms``, ``kernels.active`` (default false),
    ``kernels.nu_E_hz`` / ``kernels.nu_I_hz`` (defaults :data:`DEFAULT_NU_X_HZ`).
    """
    kcfg = cfg.get("kernels", {}) or {}
    dt_ms = float(cfg["simulation"]["dt_ms"])
    tau_ms = float(kcfg.get("tau_ms", 100.0))
    nu = {}
    for pop in POPULATIONS:
        value = kcfg.get(f"nu_{pop}_hz")
        nu[pop] = float(DEFAULT_NU_X_HZ[pop] if value is None else value)
    params = ReferenceNetwork(passive=not bool(kcfg.get("active", False)))
    kernels = compute_kernels(params, dt_ms, tau_ms, nu)
    attrs = kernel_attrs(params, dt_ms, tau_ms, nu)
    # which code and config made the file (config hash, git commit, versions of every package)
    from workflow.h5io import provenance_attrs

    attrs.update(provenance_attrs({"simulation": {"dt_ms": dt_ms}, "kernels": dict(kcfg)}))
    return kernels, attrs


def kernel_attrs(
    params: ReferenceNetwork, dt_ms: float, tau_ms: float, nu_X: Mapping[str, float]
) -> dict[str, Any]:
    """Root attributes of kernels.h5 for kernels computed with these arguments."""
    nu = check_rates(nu_X)
    vrest = resting_potentials(params, nu)
    from workflow.h5io import package_versions

    versions = package_versions()
    return {
        "format_version": KERNELS_FORMAT_VERSION,
        "dt_ms": float(dt_ms),
        "tau_ms": float(tau_ms),
        "lag0_index": round(tau_ms / dt_ms),
        "probe": PROBE,
        "units": UNITS,
        "passive": bool(params.passive),
        "g_eff": bool(params.g_eff),
        "nu_E_hz": nu["E"],
        "nu_I_hz": nu["I"],
        "vrest_E_mV": vrest["E"],
        "vrest_I_mV": vrest["I"],
        "vrest_derived": params.vrest_mV is None,
        "normalization": (
            "z current dipole moment of the whole postsynaptic population per spike of one "
            "presynaptic neuron; convolve with the spike count per dt bin of the full-size "
            "presynaptic population"
        ),
        "reference_network": params.to_json(),
        "package_versions": json.dumps(versions, sort_keys=True),
        "LFPy_version": versions["LFPy"],
        "lfpykernels_version": versions["lfpykernels"],
        "neuron_version": versions["neuron"],
    }


# -- file I/O ---------------------------------------------------------------------------------


def write_kernels(
    path: str | os.PathLike, kernels: Mapping[str, np.ndarray], attrs: Mapping[str, Any]
) -> None:
    """Write kernels to ``path`` atomically (temporary file in the same folder, then os.replace).

    ``kernels`` must hold exactly :data:`KERNEL_NAMES`, 1-D, finite, of equal odd length.
    ``attrs`` become root attributes (must include ``dt_ms`` and ``tau_ms``); mappings and
    sequences are stored as JSON strings.
    """
    import h5py

    if set(kernels) != set(KERNEL_NAMES):
        raise ValueError(f"kernels need exactly the datasets {list(KERNEL_NAMES)}, got {sorted(kernels)}")
    arrays = {k: np.asarray(kernels[k], dtype=np.float64) for k in KERNEL_NAMES}
    lengths = {a.shape for a in arrays.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1 or next(iter(lengths))[0] % 2 != 1:
        raise ValueError(f"kernels must be 1-D arrays of one odd length, got shapes {sorted(lengths)}")
    for k, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"kernel {k} holds non-finite values")
    for key in ("dt_ms", "tau_ms"):
        if key not in attrs:
            raise ValueError(f"attrs must include {key!r}")
    expected = n_lags(float(attrs["dt_ms"]), float(attrs["tau_ms"]))
    if next(iter(lengths))[0] != expected:
        raise ValueError(f"kernels have {next(iter(lengths))[0]} samples, dt_ms/tau_ms imply {expected}")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in attrs.items():
                if isinstance(value, Mapping) or (isinstance(value, (list, tuple))):
                    value = json.dumps(value, sort_keys=True)
                f.attrs[key] = value
            for (pre, post), name in zip(PATHWAYS, KERNEL_NAMES, strict=True):
                d = f.create_dataset(name, data=arrays[name], track_times=False)
                d.attrs["pre"] = pre
                d.attrs["post"] = post
                d.attrs["units"] = UNITS
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def read_kernels(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read kernels.h5: ``({name: float64 array}, root attrs as Python values)``.

    Raises ``ValueError`` naming the file if a pathway is missing or the lengths disagree
    with ``dt_ms``/``tau_ms``.
    """
    import h5py

    with h5py.File(path, "r") as f:
        missing = [k for k in KERNEL_NAMES if k not in f]
        if missing:
            raise ValueError(f"{path}: missing kernel datasets {missing}")
        kernels = {k: np.asarray(f[k][()], dtype=np.float64) for k in KERNEL_NAMES}
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
    for key in ("dt_ms", "tau_ms"):
        if key not in attrs:
            raise ValueError(f"{path}: root attribute {key!r} is missing")
    n = n_lags(float(attrs["dt_ms"]), float(attrs["tau_ms"]))
    bad = [k for k, h in kernels.items() if h.shape != (n,)]
    if bad:
        raise ValueError(f"{path}: kernels {bad} do not have {n} samples as dt_ms/tau_ms imply")
    return kernels, attrs
