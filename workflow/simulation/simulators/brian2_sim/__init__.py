"""The Hagen et al. 2022 network in Brian2 2.9, mirroring :mod:`workflow.simulation.simulators.nest_sim`.

Neuron model
------------
NEST's ``iaf_psc_exp`` written out as NEST integrates it: exact propagators over one step
``h`` for the membrane (P22, P21ex, P21in) and the two exponential current synapses (P11ex,
P11in, separate time constants), the membrane updated from the currents at the start of the
step, then the currents decayed and the step's input added, then the threshold test. After a
spike, V is clamped at V_reset for ``round(t_ref / h)`` steps while the currents evolve. The
update runs as one ``run_regularly`` operation in the ``groups`` slot; Brian2's threshold,
synapse and reset slots follow, so an input delivered in step s (Brian2's ``synapses`` slot,
NEST's ring buffer) first moves V in step s + 1 in both simulators.

Network and drive
-----------------
Connectivity, weights, delays and initial membrane potentials are drawn with numpy from the
sample's seed (:func:`draw_wiring`), so they are identical for every code-generation target
and follow :func:`workflow.simulation.simulators.nest_sim.connect` rule for rule: pairwise Bernoulli p without
autapses at full scale, fixed in-degree K = p N_full with multapses and without autapses when
scaled; weights Normal(J, 0.1|J|) redrawn to keep their sign; delays Normal(d, 0.5 d) redrawn
to >= delay_min and rounded to the step as NEST does; V_m(0) uniform in [E_L, V_th). The
external drive is an independent Poisson train per neuron at nu_ext * n_ext: ``J_ext *
poisson(rate * h)`` added to I_ex every step, which is what NEST's ``poisson_generator`` delivers
(the one-step delay of NEST's generator connection does not change a stationary Poisson train).

The two simulators draw their networks from different random streams, so for the same seed
they simulate two networks of the same ensemble; :mod:`workflow.simulation.crosscheck` compares them
against the seed-to-seed spread.

Spike times and binning
-----------------------
Brian2 stamps a spike with the clock time at the *start* of the step in which V crossed,
s h; NEST stamps the same crossing with the step's end, (s + 1) h, and bins it as (t - h, t].
Both land in histogram bin s here.

Code-generation targets (``settings.brian2_target``)
----------------------------------------------------
``cpp_standalone``: the network is generated and compiled once per process and network size
(into a private directory under :func:`cache_root`), then every sample re-runs the same binary
with its own values through ``device.run(run_args=...)`` (Brian2 >= 2.6): propagators, drive,
initial V, weights, delays and the seed of Brian2's generator, which is reseeded from a
run-time variable just before the run. Brian2 makes the synaptic indices read-only and keeps
them in the build's static-array files, so each sample's indices are written into those files
before the run (:meth:`_Standalone._write_indices`); their sizes are fixed by the network size
(fixed in-degree), or padded with zero-weight synapses to a capacity far above the Bernoulli
count (full scale). Runaway runs stop early through Brian2's C++ progress-report hook, which
tests every ``chunk_ms`` of simulated time whether a population exceeded ``abort_rate_hz``.
``runtime`` (Cython) and ``numpy`` build the network anew per sample; compiled Cython code is
cached by Brian2 across samples and processes, and a ``network_operation`` every ``chunk_ms``
stops runaway runs. Results repeat for a fixed seed, target and thread count (``n_vp``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from workflow.contract import BRIAN2_TARGETS, POPULATIONS
from workflow.simulation.network import NetworkParams, check_theta
from workflow.simulation.simulators import SimResult, SimSettings
from workflow.simulation.simulators.brian2_sim.model import _run_runtime, draw_wiring, streams
from workflow.simulation.simulators.brian2_sim.standalone import _standalone


def simulate(theta: Mapping[str, float], net: NetworkParams, settings: SimSettings, seed: int) -> SimResult:
    """Simulate one parameter set in Brian2 with ``settings.brian2_target``, seeded by ``seed``."""
    check_theta(theta)
    if settings.brian2_target not in BRIAN2_TARGETS:
        raise ValueError(f"simulation.brian2_target must be one of {BRIAN2_TARGETS}, got {settings.brian2_target!r}")
    t0 = time.perf_counter()
    rng, brian_seed = streams(seed)
    wiring = draw_wiring(theta, net, settings.dt_ms, rng)
    if settings.brian2_target == "cpp_standalone":
        model = _standalone(net, settings, wiring)
        for p in POPULATIONS:
            if wiring.n_synapses(p) > model.capacity[p]:
                raise RuntimeError(f"{wiring.n_synapses(p)} synapses from {p} exceed the build's capacity")
        counts, t_done = model.run(theta, wiring, brian_seed)
        n_vp = settings.threads
    else:
        counts, t_done = _run_runtime(theta, net, settings, wiring, brian_seed)
        n_vp = 1
    return SimResult.from_counts(counts, net, settings, n_vp, "brian2", t_done, time.perf_counter() - t0)
