"""Kernel computation with :class:`lfpykernels.KernelApprox`, one kernel per pathway."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from workflow.contract import PATHWAY_NAMES, POPULATIONS, pathway_name
from workflow.simulation.kernels.io import KERNELS_FORMAT_VERSION, PROBE, UNITS, n_lags
from workflow.simulation.kernels.mechanisms import ensure_mechanisms
from workflow.simulation.kernels.reference_network import (
    ReferenceNetwork,
    _cell_parameters,
    check_rates,
    resting_potentials,
)

log = logging.getLogger(__name__)

_CDM_KEY = "KernelApproxCurrentDipoleMoment"


#: Simulated time (ms) before the presynaptic spike. ``KernelApprox`` adds the effective synaptic
#: conductance (``g_eff``) to ``g_pas`` after the cell was made uniform at V_rest; the ``lin`` and
#: ``frozen`` cells have e_pas below V_rest (their resting Ih is inward, Hagen's
#: ``make_cell_uniform``), so they relax to a rest some 8-9 mV lower before the spike arrives, as
#: in the paper's pipeline. lfpykernels subtracts the value at the spike time, so any drift left
#: then would enter the kernel: the slowest relaxation is the quasi-active Ih (tau_w = 43 ms at
#: V_rest), and 500 ms (11.6 tau_w) leaves less than 1e-5 of it. Passive cells do not drift.
SETTLE_MS = 500.0

#: where the kernels' resting potentials come from (recorded in kernels.h5)
VREST_SOURCE = {
    "given": (
        "config kernels.v_rest_mV; default -70.55 mV (E), -69.36 mV (I): median somatic potential of the "
        "multicompartment reference network, as the paper's pipeline uses (ncpi FieldPotential.create_kernel: "
        "np.median(somav); values from the project's issue #9, after ncpi/Hagen et al. 2022)"
    ),
    "derived": "steady state of the passive cell under mean synaptic conductances (resting_potentials)",
}
#: where the presynaptic rates (effective conductance g_eff) come from
RATES_SOURCE = (
    "config kernels.presynaptic_rates_hz; default 2.571 Hz (E), 5.058 Hz (I): rates of the multicompartment "
    "reference network used by the paper's pipeline (ncpi, after Hagen et al. 2022; project issue #9)"
)


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
    from lfpykernels import KernelApproxCurrentDipoleMoment

    ensure_mechanisms()
    vrest = resting_potentials(params, nu)
    kernels: dict[str, np.ndarray] = {}
    for post in POPULATIONS:
        e_rev = params.syn_e_rev_mV.values()
        if not min(e_rev) < vrest[post] < max(e_rev):
            # the linearised inhibitory (or excitatory) synapses would change sign
            log.warning("V_rest of %s (%.2f mV) lies outside the synaptic reversal potentials", post, vrest[post])
        log.info("post %s: V_rest %.3f mV", post, vrest[post])
        approx = _kernel_approx(params, post, nu, vrest[post])
        for pre in POPULATIONS:
            probe = KernelApproxCurrentDipoleMoment(cell=None)
            out = approx.get_kernel(
                probes=[probe],
                Vrest=vrest[post],
                dt=float(dt_ms),
                X=pre,
                t_X=SETTLE_MS + float(tau_ms),
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
    return {name: kernels[name] for name in PATHWAY_NAMES}


def kernels_from_config(cfg: Mapping) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Compute the kernels for a validated config; returns ``(kernels, attrs)`` for :func:`write_kernels`.

    Reads ``simulation.dt_ms`` and the ``kernels`` section (``tau_ms``, ``biophysics``,
    ``v_rest_mV``, ``presynaptic_rates_hz``); the attributes record them, where the values come
    from, and the provenance.
    """
    from workflow.h5io import provenance_attrs

    kcfg = cfg["kernels"]
    dt_ms, tau_ms = float(cfg["simulation"]["dt_ms"]), float(kcfg["tau_ms"])
    nu = {pop: float(kcfg["presynaptic_rates_hz"][pop]) for pop in POPULATIONS}
    vrest = kcfg["v_rest_mV"]
    params = ReferenceNetwork(
        biophysics=str(kcfg["biophysics"]),
        vrest_mV=None if vrest is None else {pop: float(vrest[pop]) for pop in POPULATIONS},
    )
    kernels = compute_kernels(params, dt_ms, tau_ms, nu)
    attrs = kernel_attrs(params, dt_ms, tau_ms, nu)
    # which code and config made the file (config hash, git commit, versions of every package)
    attrs.update(provenance_attrs({"simulation": {"dt_ms": dt_ms}, "kernels": dict(kcfg)}))
    return kernels, attrs


def kernel_attrs(params: ReferenceNetwork, dt_ms: float, tau_ms: float, nu_X: Mapping[str, float]) -> dict[str, Any]:
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
        "biophysics": params.biophysics,
        "g_eff": bool(params.g_eff),
        "nu_E_hz": nu["E"],
        "nu_I_hz": nu["I"],
        "vrest_E_mV": vrest["E"],
        "vrest_I_mV": vrest["I"],
        "vrest_derived": params.vrest_mV is None,
        "vrest_source": VREST_SOURCE["derived" if params.vrest_mV is None else "given"],
        "rates_source": RATES_SOURCE,
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
