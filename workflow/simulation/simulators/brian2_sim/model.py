"""The Hagen network in Brian2: NEST's ``iaf_psc_exp`` step for step, wiring drawn in numpy,
and the runtime (Cython, numpy) targets. See :mod:`workflow.simulation.simulators.brian2_sim`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping

import numpy as np

from workflow.contract import POPULATIONS
from workflow.simulation.network import NetworkParams
from workflow.simulation.simulators import SimSettings

log = logging.getLogger(__name__)


#: Environment variable naming the directory for standalone builds (default: user cache).


_UPDATE = """
free = int(r == 0)
V = free * (E_L + P22 * (V - E_L) + P21ex * I_ex + P21in * I_in) + (1 - free) * V
r = r - (1 - free)
I_ex = P11ex * I_ex + J_ext * poisson(lam_ext)
I_in = P11in * I_in
"""

_MODEL = """
V : volt
I_ex : amp
I_in : amp
r : integer
P21ex : ohm (constant)
P21in : ohm (constant)
lam_ext : 1 (constant)
P22 : 1 (shared, constant)
P11ex : 1 (shared, constant)
P11in : 1 (shared, constant)
J_ext : amp (shared, constant)
rng_seed : integer (shared, constant)
"""


# --------------------------------------------------------------------------------------------
# Random network, drawn in numpy
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Wiring:
    """One sample's random network, independent of the code-generation target.

    Keys of the synapse mappings are the *presynaptic* population. ``pre`` indexes neurons
    within that population, ``post`` the whole network (E first, then I). Units: mV, pA, ms.
    """

    v0_mV: np.ndarray
    pre: Mapping[str, np.ndarray]
    post: Mapping[str, np.ndarray]
    weight_pA: Mapping[str, np.ndarray]
    delay_ms: Mapping[str, np.ndarray]

    def n_synapses(self, pre: str) -> int:
        return int(self.pre[pre].size)


def streams(seed: int) -> tuple[np.random.Generator, int]:
    """The numpy generator for the wiring and the seed of Brian2's generator, from ``seed``."""
    wiring_ss, brian_ss = np.random.SeedSequence(int(seed)).spawn(2)
    brian_seed = int(brian_ss.generate_state(1, dtype=np.uint32)[0] % (2**31 - 1))
    return np.random.default_rng(wiring_ss), brian_seed


def _redraw_normal(rng: np.random.Generator, mean: float, sd: float, n: int, low: float, high: float) -> np.ndarray:
    """Normal(mean, sd) samples, redrawing those outside [low, high] (NEST's ``redraw``)."""
    x = rng.normal(mean, sd, size=n)
    bad = np.flatnonzero((x < low) | (x > high))
    for _ in range(10_000):
        if bad.size == 0:
            return x
        x[bad] = rng.normal(mean, sd, size=bad.size)
        bad = bad[(x[bad] < low) | (x[bad] > high)]
    raise RuntimeError(f"redraw of Normal({mean}, {sd}) into [{low}, {high}] did not converge")


def _pairs(net: NetworkParams, post: str, pre: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(pre, post) indices within their populations for pathway pre -> post."""
    n_pre, n_post = net.N[pre], net.N[post]
    same = post == pre
    if net.full_scale:
        pre_idx, post_idx = [], []
        rows = max(1, 2_000_000 // n_pre)  # bound the memory of the Bernoulli mask
        for start in range(0, n_post, rows):
            stop = min(n_post, start + rows)
            mask = rng.random((stop - start, n_pre)) < net.p_conn
            if same:
                local = np.arange(start, stop)
                mask[local - start, local] = False
            r, c = np.nonzero(mask)
            post_idx.append(r + start)
            pre_idx.append(c)
        return np.concatenate(pre_idx).astype(np.int32), np.concatenate(post_idx).astype(np.int32)
    k = net.indegree(post, pre)
    if same and n_pre < 2:
        raise ValueError(
            f"network.scale={net.scale} leaves population {pre} with {n_pre} neuron; "
            "fixed in-degree without autapses needs at least 2"
        )
    draw = rng.integers(0, n_pre - int(same), size=(n_post, k))
    if same:
        draw += draw >= np.arange(n_post)[:, None]  # skip the neuron itself
    return draw.ravel().astype(np.int32), np.repeat(np.arange(n_post, dtype=np.int32), k)


def delay_steps(delay_ms: np.ndarray, dt_ms: float) -> np.ndarray:
    """Delays in steps, rounded half up as NEST does, at least one step."""
    return np.maximum(1, np.floor(np.asarray(delay_ms) / dt_ms + 0.5)).astype(np.int64)


def draw_wiring(theta: Mapping[str, float], net: NetworkParams, dt_ms: float, rng: np.random.Generator) -> Wiring:
    """Draw initial potentials, connections, weights and delays (see the module docstring)."""
    n_e = net.N["E"]
    offset = {"E": 0, "I": n_e}
    v0 = rng.uniform(net.E_L, net.V_th, size=n_e + net.N["I"])
    pre_idx: dict[str, list] = {p: [] for p in POPULATIONS}
    post_idx: dict[str, list] = {p: [] for p in POPULATIONS}
    weights: dict[str, list] = {p: [] for p in POPULATIONS}
    delays: dict[str, list] = {p: [] for p in POPULATIONS}
    for post in POPULATIONS:  # the order of nest_sim.connect
        for pre in POPULATIONS:
            i, j = _pairs(net, post, pre, rng)
            J = theta[f"J_{post}{pre}"]
            lo, hi = (0.0, math.inf) if J > 0 else (-math.inf, 0.0)
            w = _redraw_normal(rng, J, net.weight_rel_sd * abs(J), i.size, lo, hi)
            d = net.delay[f"{post}{pre}"]
            dl = _redraw_normal(rng, d, net.delay_rel_sd * d, i.size, net.delay_min, math.inf)
            pre_idx[pre].append(i)
            post_idx[pre].append(j + offset[post])
            weights[pre].append(w)
            delays[pre].append(delay_steps(dl, dt_ms) * dt_ms)
    return Wiring(
        v0_mV=v0,
        pre={p: np.concatenate(pre_idx[p]) for p in POPULATIONS},
        post={p: np.concatenate(post_idx[p]).astype(np.int32) for p in POPULATIONS},
        weight_pA={p: np.concatenate(weights[p]) for p in POPULATIONS},
        delay_ms={p: np.concatenate(delays[p]) for p in POPULATIONS},
    )


def propagator_21(tau_syn: float, tau_m: float, c_m: float, h: float) -> float:
    """V response (mV/pA) after one step ``h`` to a unit exponential current (NEST's propagator_32).

    Stable near tau_syn == tau_m, where it tends to h/C exp(-h/tau_m).
    """
    a = (tau_m - tau_syn) / (tau_syn * tau_m)
    if abs(a * h) < 1e-12:
        return h / c_m * math.exp(-h / tau_m)
    return math.exp(-h / tau_m) * -math.expm1(-h * a) / (c_m * a)


def propagators(theta: Mapping[str, float], net: NetworkParams, dt_ms: float) -> dict[str, np.ndarray | float]:
    """Per-step propagators of iaf_psc_exp; per-neuron arrays where C_m differs (E first)."""
    n = net.N
    per_neuron = {
        key: np.concatenate(
            [np.full(n[p], propagator_21(theta[tau], net.tau_m, net.C_m[p], dt_ms)) for p in POPULATIONS]
        )
        for key, tau in (("P21ex", "tau_syn_E"), ("P21in", "tau_syn_I"))
    }
    lam = np.concatenate([np.full(n[p], net.ext_rate(p) * dt_ms / 1000.0) for p in POPULATIONS])
    return {
        "P22": math.exp(-dt_ms / net.tau_m),
        "P11ex": math.exp(-dt_ms / theta["tau_syn_E"]),
        "P11in": math.exp(-dt_ms / theta["tau_syn_I"]),
        "P21ex": per_neuron["P21ex"],
        "P21in": per_neuron["P21in"],
        "lam_ext": lam,
    }


def refractory_steps(net: NetworkParams, dt_ms: float) -> int:
    """NEST's RefractoryCounts: t_ref in whole steps."""
    return int(math.floor(net.t_ref / dt_ms + 0.5))


# --------------------------------------------------------------------------------------------
# Brian2 objects
# --------------------------------------------------------------------------------------------


def _brian2():
    import brian2

    brian2.prefs.logging.file_log = False
    brian2.prefs.logging.std_redirection = False
    logging.getLogger("brian2").setLevel(logging.WARNING)
    return brian2


@dataclasses.dataclass
class _Objects:
    """The Brian2 objects of one network."""

    group: object
    syn: dict[str, object]
    mon: dict[str, object]
    network: object
    clock: object


def neuron_group(net: NetworkParams, dt_ms: float, clock, name: str = "neurons"):
    """The E and I ``iaf_psc_exp`` neurons as one NeuronGroup (E first), without values set.

    Per-sample values (propagators, drive, V) are set by :func:`parameter_values` and the
    wiring; ``r`` counts the refractory steps left.
    """
    b2 = _brian2()
    from brian2 import mV

    ns = {
        "E_L": net.E_L * mV,
        "V_th": net.V_th * mV,
        "V_reset": net.V_reset * mV,
        "ref_steps": refractory_steps(net, dt_ms),
    }
    group = b2.NeuronGroup(
        net.N["E"] + net.N["I"],
        _MODEL,
        threshold="V >= V_th",
        reset="V = V_reset\nr = ref_steps",
        namespace=ns,
        clock=clock,
        name=name,
    )
    group.run_regularly(_UPDATE, when="groups", name=f"{name}_iaf_psc_exp_update")
    return group


def _create(net: NetworkParams, settings: SimSettings, n_syn: Mapping[str, int] | None, wiring: Wiring) -> _Objects:
    """Create the populations, the recurrent synapses and the spike monitors.

    ``n_syn`` (standalone): pad each presynaptic population's synapses to this count with
    zero-weight synapses, whose values come later through ``run_args``. ``None`` (runtime):
    connect exactly ``wiring`` and set every value here.
    """
    b2 = _brian2()
    from brian2 import ms, mV, pA

    clock = b2.Clock(dt=settings.dt_ms * ms, name="simclock")
    n_e = net.N["E"]
    group = neuron_group(net, settings.dt_ms, clock)
    sub = {"E": group[:n_e], "I": group[n_e:]}
    syn, mon = {}, {}
    for pre, port in (("E", "I_ex"), ("I", "I_in")):
        s = b2.Synapses(
            sub[pre],
            group,
            model="w : amp (constant)",
            on_pre=f"{port}_post += w",
            clock=clock,
            name=f"syn_{pre}",
        )
        i, j = wiring.pre[pre], wiring.post[pre]
        if n_syn is not None:
            i, j = _pad(i, j, n_syn[pre], net.N[pre])
        s.connect(i=i, j=j)
        syn[pre] = s
        mon[pre] = b2.SpikeMonitor(sub[pre], record=True, name=f"spikes_{pre}")
    if n_syn is None:
        group.V = wiring.v0_mV * mV
        for pre in POPULATIONS:
            syn[pre].w = wiring.weight_pA[pre] * pA
            syn[pre].delay = wiring.delay_ms[pre] * ms
    network = b2.Network(group, *syn.values(), *mon.values())
    return _Objects(group=group, syn=syn, mon=mon, network=network, clock=clock)


def _pad(i: np.ndarray, j: np.ndarray, n: int, n_pre: int) -> tuple[np.ndarray, np.ndarray]:
    """Extend synapse indices to ``n`` with padding synapses spread over the sources."""
    extra = n - i.size
    if extra < 0:
        raise ValueError(f"{i.size} synapses exceed the standalone capacity {n}")
    k = np.arange(extra, dtype=np.int32)
    return np.concatenate([i, k % n_pre]).astype(np.int32), np.concatenate([j, np.zeros(extra, np.int32)])


def _pad_values(x: np.ndarray, n: int, fill: float) -> np.ndarray:
    return np.concatenate([x, np.full(n - x.size, fill)])


def parameter_values(theta: Mapping[str, float], net: NetworkParams, dt_ms: float) -> dict[str, object]:
    """Values (Brian2 quantities) of the per-sample neuron variables of :func:`neuron_group`."""
    from brian2 import ohm, pA

    prop = propagators(theta, net, dt_ms)
    mv_per_pa = 1e-3 / 1e-12 * ohm  # mV/pA in ohm
    return {
        "P22": prop["P22"],
        "P11ex": prop["P11ex"],
        "P11in": prop["P11in"],
        "P21ex": prop["P21ex"] * mv_per_pa,
        "P21in": prop["P21in"] * mv_per_pa,
        "lam_ext": prop["lam_ext"],
        "J_ext": theta["J_ext"] * pA,
    }


def _clock_ms(clock) -> float:
    """The time a clock has reached (ms), also after a stopped run."""
    return float(np.asarray(clock.variables["t"].get_value()).ravel()[0]) * 1000.0


def _bin_spikes(t_s: np.ndarray, dt_ms: float, n_bins: int) -> np.ndarray:
    """Brian2 spike times (start of the step, s) to counts per step (see module docstring)."""
    idx = np.floor(np.asarray(t_s) * 1000.0 / dt_ms + 0.5).astype(np.int64)
    return np.bincount(np.clip(idx, 0, n_bins - 1), minlength=n_bins).astype(np.int64)


def _counts(objs: _Objects, settings: SimSettings) -> dict[str, np.ndarray]:
    return {p: _bin_spikes(np.asarray(objs.mon[p].t_[:]), settings.dt_ms, settings.n_bins) for p in POPULATIONS}


# --------------------------------------------------------------------------------------------
# Runtime targets (Cython, numpy)
# --------------------------------------------------------------------------------------------


def _run_runtime(
    theta: Mapping[str, float], net: NetworkParams, settings: SimSettings, wiring: Wiring, brian_seed: int
) -> tuple[dict[str, np.ndarray], float]:
    b2 = _brian2()
    from brian2 import ms

    if b2.get_device().__class__.__name__ != "RuntimeDevice":
        b2.set_device("runtime")
    b2.prefs.codegen.target = "cython" if settings.brian2_target == "runtime" else "numpy"
    objs = _create(net, settings, None, wiring)
    for name, value in parameter_values(theta, net, settings.dt_ms).items():
        setattr(objs.group, name, value)
    if settings.abort_rate_hz is not None:
        last = {p: 0 for p in POPULATIONS}
        chunk_s = settings.chunk_ms / 1000.0

        @b2.network_operation(dt=settings.chunk_ms * ms, when="start", name="abort_check")
        def _abort():
            # called at the start of every chunk: the spikes counted cover the chunk before
            runaway = False
            for p in POPULATIONS:
                n = int(objs.mon[p].N[:].item())
                runaway |= (n - last[p]) / (net.N[p] * chunk_s) > settings.abort_rate_hz
                last[p] = n
            if runaway:
                objs.network.stop()

        objs.network.add(_abort)
    b2.seed(brian_seed)
    objs.network.run(settings.tstop_ms * ms, namespace={})
    t_done = _clock_ms(objs.clock)
    return _counts(objs, settings), min(t_done, settings.tstop_ms)
