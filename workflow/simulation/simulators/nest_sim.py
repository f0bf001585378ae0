"""The Hagen et al. 2022 network in NEST 3.10, one fresh kernel per sample.

Pipeline: :func:`setup_kernel` -> :func:`create_populations` -> :func:`create_drive` ->
:func:`create_recorders` -> :func:`connect` -> :func:`run`. Results repeat only for the same
number of virtual processes (``settings.threads``), which is recorded as ``n_vp``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from workflow.contract import POPULATIONS
from workflow.simulation.network import NetworkParams, check_theta
from workflow.simulation.simulators import SimResult, SimSettings


def _nest():
    import nest
    import nest.math  # noqa: F401  (redraw)

    return nest


def tics_per_ms(dt_ms: float) -> int:
    """A NEST tic length that divides ``dt_ms`` (1000/ms for decimal steps, 1024/ms for 2^-k)."""
    for tics in (1000, 1024, 10000, 8192):
        n = dt_ms * tics
        if abs(n - round(n)) < 1e-9 and round(n) >= 1:
            return tics
    raise ValueError(f"simulation.dt_ms={dt_ms} is not a multiple of 1/1000 ms nor of 2^-10 ms")


def setup_kernel(settings: SimSettings, seed: int) -> None:
    """Reset NEST and set resolution, threads and the sample's RNG seed."""
    nest = _nest()
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus(
        {
            "tics_per_ms": tics_per_ms(settings.dt_ms),
            "resolution": settings.dt_ms,
            "local_num_threads": settings.threads,
            "rng_seed": int(seed),
            "print_time": False,
        }
    )


def create_populations(theta: Mapping[str, float], net: NetworkParams) -> dict:
    """Create the E and I ``iaf_psc_exp`` populations with membrane potentials drawn in [E_L, V_th)."""
    nest = _nest()
    pops = {}
    for pop in POPULATIONS:
        pops[pop] = nest.Create(
            "iaf_psc_exp",
            net.N[pop],
            params={
                "C_m": net.C_m[pop],
                "tau_m": net.tau_m,
                "E_L": net.E_L,
                "V_reset": net.V_reset,
                "V_th": net.V_th,
                "t_ref": net.t_ref,
                "tau_syn_ex": theta["tau_syn_E"],
                "tau_syn_in": theta["tau_syn_I"],
                "I_e": 0.0,
                "V_m": nest.random.uniform(net.E_L, net.V_th),
            },
        )
    return pops


def create_drive(theta: Mapping[str, float], net: NetworkParams, pops: dict, settings: SimSettings) -> None:
    """One Poisson generator per population (independent trains per target) at nu_ext * n_ext."""
    nest = _nest()
    for pop in POPULATIONS:
        gen = nest.Create("poisson_generator", params={"rate": net.ext_rate(pop)})
        nest.Connect(gen, pops[pop], "all_to_all", {"weight": theta["J_ext"], "delay": settings.dt_ms})


def create_recorders(pops: dict) -> dict:
    """One spike recorder per population (memory backend)."""
    nest = _nest()
    recs = {}
    for pop in POPULATIONS:
        recs[pop] = nest.Create("spike_recorder")
        nest.Connect(pops[pop], recs[pop])
    return recs


def connect(theta: Mapping[str, float], net: NetworkParams, pops: dict) -> None:
    """Recurrent connections: Bernoulli(p) at full scale, fixed in-degree p*N_full when scaled.

    Weights ~ Normal(J, 0.1|J|) redrawn to keep their sign; delays ~ Normal(d, 0.5 d) redrawn
    to >= delay_min.
    """
    nest = _nest()
    for post in POPULATIONS:
        for pre in POPULATIONS:
            J = theta[f"J_{post}{pre}"]
            sd = net.weight_rel_sd * abs(J)
            lo, hi = (0.0, float("inf")) if J > 0 else (-float("inf"), 0.0)
            d = net.delay[f"{post}{pre}"]
            syn = {
                "synapse_model": "static_synapse",
                "weight": nest.math.redraw(nest.random.normal(mean=J, std=sd), min=lo, max=hi),
                "delay": nest.math.redraw(
                    nest.random.normal(mean=d, std=net.delay_rel_sd * d), min=net.delay_min, max=float("inf")
                ),
            }
            if net.full_scale:
                conn = {"rule": "pairwise_bernoulli", "p": net.p_conn, "allow_autapses": False}
            else:
                conn = {
                    "rule": "fixed_indegree",
                    "indegree": net.indegree(post, pre),
                    "allow_autapses": False,
                    "allow_multapses": True,
                }
            nest.Connect(pops[pre], pops[post], conn, syn)


def run(net: NetworkParams, recs: dict, settings: SimSettings) -> tuple[dict[str, np.ndarray], float]:
    """Simulate in chunks (``nest.Simulate`` each); stop early if a population exceeds ``settings.abort_rate_hz``.

    Returns the spike-count histograms at dt over [0, tstop) and the time simulated (ms), which
    is below ``tstop_ms`` if the run was aborted.
    """
    nest = _nest()
    n_bins = settings.n_bins
    counts = {p: np.zeros(n_bins, dtype=np.int64) for p in POPULATIONS}
    step = settings.chunk_ms if settings.abort_rate_hz is not None else settings.tstop_ms
    t = 0.0
    aborted = False
    while t < settings.tstop_ms - 1e-9 and not aborted:
        chunk = min(step, settings.tstop_ms - t)
        nest.Simulate(chunk)
        for pop in POPULATIONS:
            times = np.asarray(recs[pop].get("events", "times"), dtype=np.float64)
            recs[pop].set(n_events=0)
            # NEST stamps a spike at the end of the step in which it occurs: bin it as (t-dt, t].
            idx = np.ceil(times / settings.dt_ms - 1e-6).astype(np.int64) - 1
            counts[pop] += np.bincount(np.clip(idx, 0, n_bins - 1), minlength=n_bins)
            if settings.abort_rate_hz is not None:
                rate = times.size / (net.N[pop] * chunk / 1000.0)
                aborted |= rate > settings.abort_rate_hz
        t += chunk
    return counts, t


def simulate(theta: Mapping[str, float], net: NetworkParams, settings: SimSettings, seed: int) -> SimResult:
    """Simulate one parameter set in a fresh NEST kernel seeded with ``seed``."""
    check_theta(theta)
    t0 = time.perf_counter()
    setup_kernel(settings, seed)
    pops = create_populations(theta, net)
    create_drive(theta, net, pops, settings)
    recs = create_recorders(pops)
    connect(theta, net, pops)
    counts, t_done = run(net, recs, settings)
    n_vp = int(_nest().GetKernelStatus("total_num_virtual_procs"))
    return SimResult.from_counts(counts, net, settings, n_vp, "nest", t_done, time.perf_counter() - t0)
