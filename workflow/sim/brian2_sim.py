"""The Hagen et al. 2022 network in Brian2 2.9, mirroring :mod:`workflow.sim.nest_sim`.

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
and follow :func:`workflow.sim.nest_sim.connect` rule for rule: pairwise Bernoulli p without
autapses at full scale, fixed in-degree K = p N_full with multapses and without autapses when
scaled; weights Normal(J, 0.1|J|) redrawn to keep their sign; delays Normal(d, 0.5 d) redrawn
to >= delay_min and rounded to the step as NEST does; V_m(0) uniform in [E_L, V_th). The
external drive is an independent Poisson train per neuron at nu_ext * n_ext: ``J_ext *
poisson(rate * h)`` added to I_ex every step, which is what NEST's ``poisson_generator`` delivers
(the one-step delay of NEST's generator connection does not change a stationary Poisson train).

The two simulators draw their networks from different random streams, so for the same seed
they simulate two networks of the same ensemble; :mod:`workflow.crosscheck` compares them
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

import atexit
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from workflow.network import POPULATIONS, NetworkParams, check_theta
from workflow.sim import SimResult, SimSettings

log = logging.getLogger(__name__)

TARGETS: tuple[str, ...] = ("cpp_standalone", "runtime", "numpy")

#: Environment variable naming the directory for standalone builds (default: user cache).
CACHE_ENV = "SBI_BRIAN2_CACHE"

#: Bernoulli wiring (full scale) is padded to mean + PAD_SD standard deviations of the count.
PAD_SD = 10.0

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


def _redraw_normal(
    rng: np.random.Generator, mean: float, sd: float, n: int, low: float, high: float
) -> np.ndarray:
    """Normal(mean, sd) samples, redrawing those outside [low, high] (NEST's ``redraw``)."""
    x = rng.normal(mean, sd, size=n)
    bad = np.flatnonzero((x < low) | (x > high))
    for _ in range(10_000):
        if bad.size == 0:
            return x
        x[bad] = rng.normal(mean, sd, size=bad.size)
        bad = bad[(x[bad] < low) | (x[bad] > high)]
    raise RuntimeError(f"redraw of Normal({mean}, {sd}) into [{low}, {high}] did not converge")


def _pairs(
    net: NetworkParams, post: str, pre: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
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


def draw_wiring(
    theta: Mapping[str, float], net: NetworkParams, dt_ms: float, rng: np.random.Generator
) -> Wiring:
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


def propagators(
    theta: Mapping[str, float], net: NetworkParams, dt_ms: float
) -> dict[str, np.ndarray | float]:
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


def _create(
    net: NetworkParams, settings: SimSettings, n_syn: Mapping[str, int] | None, wiring: Wiring
) -> _Objects:
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
    return {
        p: _bin_spikes(np.asarray(objs.mon[p].t_[:]), settings.dt_ms, settings.n_bins) for p in POPULATIONS
    }


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


# --------------------------------------------------------------------------------------------
# cpp_standalone: compile once per process and network size, re-run with run_args
# --------------------------------------------------------------------------------------------


def cache_root() -> Path:
    """Directory for standalone builds: $SBI_BRIAN2_CACHE, else $XDG_CACHE_HOME or ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sbi-cortical-features" / "brian2"


def _capacity(net: NetworkParams, pre: str) -> int:
    """Standalone synapse count for presynaptic population ``pre``."""
    if not net.full_scale:
        return sum(net.N[post] * net.indegree(post, pre) for post in POPULATIONS)
    pairs = sum(net.N[post] * (net.N[pre] - int(post == pre)) for post in POPULATIONS)
    mean, sd = pairs * net.p_conn, math.sqrt(pairs * net.p_conn * (1 - net.p_conn))
    return int(math.ceil(mean + PAD_SD * sd)) + 1


def _structure_key(net: NetworkParams, settings: SimSettings) -> str:
    """Hash of everything compiled into a standalone build."""
    desc = {
        "net": {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(net).items()},
        "dt_ms": settings.dt_ms,
        "tstop_ms": settings.tstop_ms,
        "threads": settings.threads,
        "chunk_ms": settings.chunk_ms,
        "abort_rate_hz": settings.abort_rate_hz,
        "capacity": {p: _capacity(net, p) for p in POPULATIONS},
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


_ABORT_REPORT = """
static double win_start = 0.0;
static long win_n[2] = {0, 0};
const double t_now = start + completed * duration;
const long n_now[2] = {(long) brian::%(NE)s[0], (long) brian::%(NI)s[0]};
const double size[2] = {%(SIZE_E)r, %(SIZE_I)r};
if (completed == 0.0) { win_start = t_now; win_n[0] = n_now[0]; win_n[1] = n_now[1]; return; }
if (t_now - win_start >= %(CHUNK)r - 1e-12) {
    for (int p = 0; p < 2; p++) {
        if ((n_now[p] - win_n[p]) / (size[p] * (t_now - win_start)) > %(ABORT)r)
            Network::_globally_stopped = true;
        win_n[p] = n_now[p];
    }
    win_start = t_now;
}
"""


class _Standalone:
    """One compiled standalone network, re-run per sample (one per process and structure)."""

    def __init__(self, net: NetworkParams, settings: SimSettings, wiring: Wiring):
        b2 = _brian2()
        from brian2 import ms, second

        t_setup = time.perf_counter()
        self.net, self.settings = net, settings
        self.capacity = {p: _capacity(net, p) for p in POPULATIONS}
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        # a private directory: concurrent jobs never share build or run files
        self.directory = Path(
            tempfile.mkdtemp(prefix=f"standalone-{_structure_key(net, settings)}-", dir=root)
        )
        atexit.register(shutil.rmtree, self.directory, True)
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.get_device().reinit()  # forget any earlier standalone project of this process
        b2.get_device().activate(build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = settings.threads if settings.threads > 1 else 0
        b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-s", f"-j{len(os.sched_getaffinity(0))}"]
        self.device = b2.get_device()
        self.objs = _create(net, settings, self.capacity, wiring)
        self.index_files = self._find_index_files(wiring)
        # every run-time value is set from the command line after the synapses exist and
        # before the spike queues are prepared; then Brian2's generator is reseeded
        self.device.apply_run_args()
        seed_array = self.device.get_array_name(self.objs.group.variables["rng_seed"])
        n_gen = max(1, b2.prefs.devices.cpp_standalone.openmp_threads)
        self.device.insert_code(
            "main",
            f"for (int _i = 0; _i < {n_gen}; _i++) "
            f"brian::_random_generators[_i].seed((unsigned long) brian::{seed_array}[0] + _i);",
        )
        report, period = None, 10 * second
        if settings.abort_rate_hz is not None:
            report = _ABORT_REPORT % {
                "NE": self.device.get_array_name(self.objs.mon["E"].variables["N"]),
                "NI": self.device.get_array_name(self.objs.mon["I"].variables["N"]),
                "SIZE_E": float(net.N["E"]),
                "SIZE_I": float(net.N["I"]),
                "CHUNK": settings.chunk_ms / 1000.0,
                "ABORT": float(settings.abort_rate_hz),
            }
            period = 0.02 * second  # wall-clock interval between checks
        self.objs.network.run(settings.tstop_ms * ms, report=report, report_period=period, namespace={})
        t0 = time.perf_counter()
        #: seconds spent creating the Brian2 objects, and generating + compiling the C++ project
        self.setup_s = t0 - t_setup
        self.device.build(directory=str(self.directory), compile=True, run=False, with_output=False)
        self.compile_s = time.perf_counter() - t0
        log.info(
            "brian2 cpp_standalone: objects in %.1f s, code generation + compilation in %.1f s (%s)",
            self.setup_s, self.compile_s, self.directory,
        )  # fmt: skip

    def _find_index_files(self, wiring: Wiring) -> dict[str, tuple[Path, Path]]:
        """The static-array files holding each Synapses' source and target indices."""
        out = {}
        for pre in POPULATIONS:
            i, j = _pad(wiring.pre[pre], wiring.post[pre], self.capacity[pre], self.net.N[pre])
            names = []
            for arr in (i, j):
                hits = [
                    name
                    for name, value in self.device.static_arrays.items()
                    if f"syn_{pre}" in name and value.dtype == np.int32 and np.array_equal(value, arr)
                ]
                if len(hits) != 1:
                    raise RuntimeError(
                        f"brian2 standalone: cannot locate the index array of syn_{pre} ({hits})"
                    )
                names.append(self.directory / "static_arrays" / hits[0])
            out[pre] = (names[0], names[1])
        return out

    def _write_indices(self, wiring: Wiring) -> None:
        for pre, (src, tgt) in self.index_files.items():
            i, j = _pad(wiring.pre[pre], wiring.post[pre], self.capacity[pre], self.net.N[pre])
            i.tofile(src)
            j.tofile(tgt)

    def run(
        self, theta: Mapping[str, float], wiring: Wiring, brian_seed: int
    ) -> tuple[dict[str, np.ndarray], float]:
        from brian2 import ms, mV, pA

        g, s = self.objs.group, self.objs.syn
        self._write_indices(wiring)
        args = {getattr(g, k): v for k, v in parameter_values(theta, self.net, self.settings.dt_ms).items()}
        args[g.V] = wiring.v0_mV * mV
        args[g.rng_seed] = int(brian_seed)
        for pre in POPULATIONS:
            n = self.capacity[pre]
            args[s[pre].w] = _pad_values(wiring.weight_pA[pre], n, 0.0) * pA
            # ``s[pre].delay`` is addressed through the pathway (``syn_E_pre.delay``), a name
            # the compiled binary does not know (it sets ``syn_E.delay``): address it via the Synapses.
            delay = s[pre].pre.variables["delay"].get_addressable_value_with_unit("delay", s[pre])
            args[delay] = _pad_values(wiring.delay_ms[pre], n, self.settings.dt_ms) * ms
        saved_env = dict(os.environ)
        try:
            self.device.run(directory=str(self.directory), with_output=False, run_args=args)
        finally:
            self.device.delete(code=False, data=False, run_args=True, directory=False)
            # Brian2 writes its run environment (LD_BIND_NOW=1) into os.environ for good; undo
            # it so that programs this process starts later (e.g. SLURM daemons) are not affected.
            os.environ.clear()
            os.environ.update(saved_env)
        self._check_wiring(wiring)
        t_done = _clock_ms(self.objs.clock)
        return _counts(self.objs, self.settings), min(t_done, self.settings.tstop_ms)

    def _check_wiring(self, wiring: Wiring) -> None:
        """Verify from the run's results that the binary simulated this sample's synapses."""
        for pre in POPULATIONS:
            s, n = self.objs.syn[pre], wiring.n_synapses(pre)
            for name in ("_synaptic_pre", "_synaptic_post"):  # Brian2 caches the build's indices
                self.device.array_cache[s.variables[name]] = None
            if not (
                np.array_equal(np.asarray(s.i[:])[:n], wiring.pre[pre])
                and np.array_equal(np.asarray(s.j[:])[:n], wiring.post[pre])
                and np.allclose(np.asarray(s.w_[:])[:n] * 1e12, wiring.weight_pA[pre], rtol=1e-12, atol=0)
            ):
                raise RuntimeError(f"brian2 standalone: the run did not use this sample's syn_{pre} wiring")


_STANDALONE: dict[str, _Standalone] = {}


def _standalone(net: NetworkParams, settings: SimSettings, wiring: Wiring) -> _Standalone:
    """The process's compiled network for this structure (compiled on first use)."""
    key = _structure_key(net, settings)
    if key not in _STANDALONE:
        for old in _STANDALONE.values():  # the device holds one project at a time
            shutil.rmtree(old.directory, ignore_errors=True)
        _STANDALONE.clear()
        _STANDALONE[key] = _Standalone(net, settings, wiring)
    return _STANDALONE[key]


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def simulate(theta: Mapping[str, float], net: NetworkParams, settings: SimSettings, seed: int) -> SimResult:
    """Simulate one parameter set in Brian2 with ``settings.brian2_target``, seeded by ``seed``."""
    check_theta(theta)
    if settings.brian2_target not in TARGETS:
        raise ValueError(f"simulation.brian2_target must be one of {TARGETS}, got {settings.brian2_target!r}")
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
