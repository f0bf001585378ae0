"""The spiking counterpart of the MPR mean field: all-to-all coupled QIF neurons in Brian2.

Sources (cited below by these short names):

* **Montbrió 2015**: E. Montbrió, D. Pazó, A. Roxin, "Macroscopic description for networks of
  spiking neurons", Phys. Rev. X 5, 021028 (2015): the QIF network and its Lorentzian ansatz,
  and the numerical simulations of the network behind its Fig. 2 (N = 10^4, a step current),
  whose threshold/reset/refractory scheme is summarised below. (The PRX text was not at hand
  here; the scheme is taken from the paper as restated by Baldy's code and by public
  re-implementations of Montbrió's method: v_p = -v_r = 100, refractory 2 / v_p, the spike
  in its middle, the mean potential over the non-refractory neurons.)
* **Baldy 2024**: Sec. 2.7 ("a network of 10^4 all-to-all connected QIF neurons using the Brian
  simulator") and Sec. 3.5 / Fig. 6 (MF traces against the network's averages, and inference on
  network data with the MF-trained estimator); code ``Helper/QIFneurons.py`` of
  github.com/ins-amu/Inference_MFM (``tau_m = 1 * second``, thresholds at +-100, a 10 ms sliding
  window for the rate).

Network (Montbrió 2015; Baldy 2024 Eq. 1 is its mean field; time in units of the membrane time constant tau = 1 s)::

    dv_j/dt = v_j^2 + eta_j + J r(t) + I(t),   j = 1 .. N,
    r(t) = (1 / N) sum_j sum_k delta(t - t_j^k),

i.e. every spike of any neuron raises the potential of every neuron by J / N at once. The
coupling is all to all but goes through the population rate, so it costs O(N) per step, not
O(N^2) synapses: the spikes of a step are counted by one Brian2 neuron (N synapses onto it) and
every neuron reads the count through a linked variable.

Threshold, reset and refractoriness (Montbrió 2015, the simulations of its Fig. 2): v_j -> +infinity
is a spike and the potential is reset to -infinity. Numerically a neuron reaching v_p = 100 is
reset to v_r = -v_p and held there (frozen, receiving no input) for a refractory period 2 / v_p,
the time the free QIF dynamics takes from v_p to +infinity (about 1 / v_p) plus from -infinity to
v_r (again about 1 / v_p). The spike is emitted (and reaches the other neurons) in the middle of
that period, 1 / v_p after the threshold crossing: here a synaptic delay of 1 / v_p. Brian2
stamps a crossing with the start of the step in which it happened, so a spike's emission time is
its stamp + dt + 1 / v_p, when its pulse has been applied.

Heterogeneity (Montbrió 2015): excitabilities eta_j Lorentzian with centre ``eta`` and half-width
``Delta``, by default its deterministic quantiles eta_j = eta + Delta tan(pi/2 (2j - N - 1)/(N +
1)) (``excitabilities="quantiles"``), which removes the sample-to-sample noise of the
distribution; ``"random"`` draws them (eta + Delta standard Cauchy). Baldy's code draws
``(cauchy + eta) * Delta`` (centre eta Delta): not reproduced here.

Initial state: the Lorentzian ansatz of Montbrió 2015 puts the potentials on a
Lorentzian with centre v(0) and half-width pi r(0); the network starts from such a draw with the
MF's initial state (r0 = 0.5, v0 = -3), clipped to [v_r, v_p] (about r0 / v_p = 0.5 % of the
neurons; those at v_p fire in the first step), so network and MF start from the same
macroscopic state.

Observables, at the MF's sampling t_k = k record_dt (Baldy 2024's 1 ms):

* ``r(t_k)``: spikes emitted in the window [t_k - w/2, t_k + w/2) (w = 10 ms, the sliding window
  of Montbrió 2015 and Baldy's code), clipped to [0, duration), divided by N and its length;
* ``v(t_k)``: the mean potential of the neurons outside their refractory period at t_k (the
  refractory ones stand for v beyond +-v_p, whose contributions cancel in the Lorentzian's
  principal value; including them at v_r would bias v by about -v_p r 2 / v_p = -2 r).

Integration: Brian2's Euler method with dt = 1e-4 (so 1 / v_p spans 100 steps); RK4 (Baldy's
code) changed the spike count of a 5 s run at N = 10^4 by 1 in 5400. The step current is
I(t) = ``current`` for t_on <= t < t_off, the MF's. No noise: the network's fluctuations are its
finite-size ones.

Code generation: Brian2's runtime device with the Cython target (``target="cython"``, compiled
once and cached by Brian2) or pure numpy (``"numpy"``, no compiler, about 3x slower). Both give
the same spike counts in our checks (tests/test_models_qif.py compares them); the target is
recorded in the result.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping

import numpy as np

from workflow.models import mpr
from workflow.models.noise import check_step_protocol

#: Brian2 runtime code-generation targets.
TARGETS: tuple[str, ...] = ("cython", "numpy")

#: How the excitabilities are chosen.
EXCITABILITIES: tuple[str, ...] = ("quantiles", "random")


@dataclasses.dataclass(frozen=True)
class QIFSettings:
    """Network size, protocol and numerics. Times in units of tau (1 s); defaults as Baldy 2024.

    Attributes:
        n_neurons: Network size N (10^4; Baldy 2024 Sec. 2.7).
        dt: Integration step (1e-4).
        duration: Simulated time (100 s).
        t_on: Stimulus onset (30 s).
        t_off: Stimulus offset (60 s).
        current: Step current amplitude (3).
        v_peak: Threshold v_p; the reset is -v_p and the refractory period 2 / v_p (100;
            Montbrió 2015).
        record_dt: Sampling of r and v (1e-3, the MF's dt).
        rate_window: Width of the sliding window of the rate (1e-2).
        r0: Initial rate of the Lorentzian initial potentials (0.5, the MF's).
        v0: Initial mean potential (-3, the MF's).
        excitabilities: ``"quantiles"`` (deterministic, Montbrió 2015) or ``"random"``.
        method: Brian2 integration method for dv/dt (``"euler"``).
        target: Brian2 runtime code-generation target, one of :data:`TARGETS`.
    """

    n_neurons: int = 10_000
    dt: float = 1e-4
    duration: float = 100.0
    t_on: float = 30.0
    t_off: float = 60.0
    current: float = 3.0
    v_peak: float = 100.0
    record_dt: float = 1e-3
    rate_window: float = 1e-2
    r0: float = 0.5
    v0: float = -3.0
    excitabilities: str = "quantiles"
    method: str = "euler"
    target: str = "cython"

    def __post_init__(self) -> None:
        if not isinstance(self.n_neurons, (int, np.integer)) or self.n_neurons < 2:
            raise ValueError(f"n_neurons must be an integer >= 2, got {self.n_neurons!r}")
        check_step_protocol(self, ("dt", "duration", "v_peak", "record_dt", "rate_window"))
        for name in ("record_dt", "duration", "t_on", "t_off"):
            _multiple(getattr(self, name), self.dt, name, "dt")
        for name in ("duration", "t_on", "t_off"):
            _multiple(getattr(self, name), self.record_dt, name, "record_dt")
        if 1.0 / self.v_peak < 10 * self.dt:
            raise ValueError(f"v_peak ({self.v_peak}) is too large for dt ({self.dt}): 1/v_peak must span >= 10 steps")
        if self.r0 < 0:
            raise ValueError(f"r0 must be non-negative, got {self.r0}")
        if self.excitabilities not in EXCITABILITIES:
            raise ValueError(f"excitabilities must be one of {EXCITABILITIES}, got {self.excitabilities!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")

    @property
    def n_points(self) -> int:
        """Recorded points t_k = k record_dt, k < duration / record_dt (the MF's grid)."""
        return int(round(self.duration / self.record_dt))

    @property
    def t(self) -> np.ndarray:
        """(n_points,) the recording times."""
        return np.arange(self.n_points) * self.record_dt

    @property
    def refractory(self) -> float:
        """Refractory period 2 / v_p."""
        return 2.0 / self.v_peak

    def mf_settings(self, sigma: float = 0.0, **overrides) -> mpr.MPRSettings:
        """The MPR settings of the same protocol and sampling (noise ``sigma``; 0: the MF solution).

        The MF is integrated at ``record_dt`` and recorded at every step, so its trace and
        features share this network's grid.
        """
        kw = dict(
            dt=self.record_dt,
            duration=self.duration,
            t_on=self.t_on,
            t_off=self.t_off,
            current=self.current,
            sigma=sigma,
            r0=self.r0,
            v0=self.v0,
        )
        kw.update(overrides)
        return mpr.MPRSettings(**kw)


def _multiple(value: float, step: float, name: str, step_name: str) -> None:
    k = value / step
    if abs(k - round(k)) > 1e-6 * max(1.0, abs(k)):
        raise ValueError(f"{name} ({value}) must be a multiple of {step_name} ({step})")


@dataclasses.dataclass(frozen=True)
class QIFResult:
    """A network run.

    Attributes:
        t: (T,) recording times (s).
        r: (T,) population rate (spikes per neuron per s), sliding window.
        v: (T,) mean potential of the non-refractory neurons.
        spike_t: Emission times of every spike (s), in time order.
        spike_i: Neuron of each spike (neurons are numbered by increasing excitability with
            ``excitabilities="quantiles"``).
        eta: (N,) the excitabilities.
        theta: ``{"Delta", "eta", "J"}``.
        seed: The run's seed.
        settings: The settings.
        target: The Brian2 code-generation target that ran.
        brian2_version: Brian2's version.
        wall_seconds: Wall time of the run (network build and simulation).
    """

    t: np.ndarray
    r: np.ndarray
    v: np.ndarray
    spike_t: np.ndarray
    spike_i: np.ndarray
    eta: np.ndarray
    theta: Mapping[str, float]
    seed: int
    settings: QIFSettings
    target: str
    brian2_version: str
    wall_seconds: float

    def traces(self) -> mpr.MPRTraces:
        """r and v as a one-sample :class:`workflow.models.mpr.MPRTraces` (for ``mpr.features``)."""
        return mpr.MPRTraces(t=self.t, r=self.r[None, :].astype(np.float32), v=self.v[None, :].astype(np.float32))

    def features(self, settings: mpr.MPRSettings | None = None) -> np.ndarray:
        """(1, 34) Baldy's features of the network's r and v (:func:`workflow.models.mpr.features`).

        Args:
            settings: The MF settings whose features to compute (default: the network's own
                protocol, :meth:`QIFSettings.mf_settings`). Their grid ``dt * record_every``
                must be a multiple of this run's ``record_dt``; the traces are subsampled to it.
        """
        s = self.settings.mf_settings() if settings is None else settings
        step = s.dt * s.record_every / self.settings.record_dt
        if abs(step - round(step)) > 1e-9 or round(step) < 1 or not np.isclose(s.duration, self.settings.duration):
            raise ValueError(
                f"the MF grid (dt * record_every = {s.dt * s.record_every}, duration {s.duration}) does not match "
                f"the network's (record_dt = {self.settings.record_dt}, duration {self.settings.duration})"
            )
        k = int(round(step))
        tr = self.traces()
        sub = mpr.MPRTraces(t=s.record_index * s.dt, r=tr.r[:, ::k], v=tr.v[:, ::k])
        return mpr.features(sub, s)


def excitabilities(theta: Mapping[str, float], settings: QIFSettings, rng: np.random.Generator) -> np.ndarray:
    """(N,) Lorentzian excitabilities: centre ``theta["eta"]``, half-width ``theta["Delta"]``."""
    n = settings.n_neurons
    if settings.excitabilities == "quantiles":
        j = np.arange(1, n + 1)
        return theta["eta"] + theta["Delta"] * np.tan(np.pi / 2 * (2 * j - n - 1) / (n + 1))
    return theta["eta"] + theta["Delta"] * rng.standard_cauchy(n)


def initial_potentials(settings: QIFSettings, rng: np.random.Generator) -> np.ndarray:
    """(N,) Lorentzian potentials, centre v0, half-width pi r0, clipped to [-v_p, v_p]."""
    u = rng.random(settings.n_neurons)
    v = settings.v0 + np.pi * settings.r0 * np.tan(np.pi * (u - 0.5))
    return np.clip(v, -settings.v_peak, settings.v_peak)


def _check_theta(theta: Mapping[str, float]) -> dict[str, float]:
    missing = [p for p in mpr.PARAM_NAMES if p not in theta]
    if missing:
        raise KeyError(f"theta lacks {missing}")
    out = {p: float(theta[p]) for p in mpr.PARAM_NAMES}
    for p, value in out.items():
        if not math.isfinite(value):
            raise ValueError(f"theta {p} must be finite, got {value}")
    if out["Delta"] < 0:
        raise ValueError(f"Delta must be non-negative, got {out['Delta']}")
    return out


def _brian2(target: str):
    import brian2

    brian2.prefs.logging.file_log = False
    brian2.prefs.logging.std_redirection = False
    logging.getLogger("brian2").setLevel(logging.WARNING)
    if brian2.get_device().__class__.__name__ != "RuntimeDevice":
        brian2.set_device("runtime")
    brian2.prefs.codegen.target = target
    return brian2


def sliding_rate(spike_t: np.ndarray, n_neurons: int, settings: QIFSettings) -> np.ndarray:
    """(T,) spikes in [t_k - w/2, t_k + w/2) ∩ [0, duration), per neuron and unit time."""
    t = settings.t
    half = settings.rate_window / 2
    lo = np.maximum(t - half, 0.0)
    hi = np.minimum(t + half, settings.duration)
    s = np.sort(np.asarray(spike_t))
    counts = np.searchsorted(s, hi, side="left") - np.searchsorted(s, lo, side="left")
    return counts / (n_neurons * (hi - lo))


def simulate(theta: Mapping[str, float], seed: int, settings: QIFSettings | None = None) -> QIFResult:
    """Run the network once (see the module docstring).

    Args:
        theta: ``{"Delta": ..., "eta": ..., "J": ...}`` (the MF's parameters).
        seed: Seed of the initial potentials (and of the excitabilities when random): a numpy
            ``SeedSequence(seed)`` split into two streams. Brian2 itself draws nothing.
        settings: Network and protocol (default: Baldy 2024's).

    Returns:
        The rate and mean potential at the MF's sampling, and every spike.
    """
    s = QIFSettings() if settings is None else settings
    th = _check_theta(theta)
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    eta_ss, v_ss = np.random.SeedSequence(int(seed)).spawn(2)
    eta = excitabilities(th, s, np.random.default_rng(eta_ss))
    v_init = initial_potentials(s, np.random.default_rng(v_ss))

    t0 = time.perf_counter()
    b2 = _brian2(s.target)
    second = b2.second
    n = s.n_neurons
    clock = b2.Clock(dt=s.dt * second, name="qif_clock*")
    rec_clock = b2.Clock(dt=s.record_dt * second, name="qif_record_clock*")
    namespace = {
        "tau": 1.0 * second,
        "v_p": s.v_peak,
        "v_r": -s.v_peak,
        "J_over_N": th["J"] / n,
        "I_0": s.current,
        # half a step early, so that the float clock never misses the boundary
        "t_on": (s.t_on - s.dt / 2) * second,
        "t_off": (s.t_off - s.dt / 2) * second,
        "t_ref": s.refractory * second,
    }
    neurons = b2.NeuronGroup(
        n,
        """
        dv/dt = (v**2 + eta + I_0 * int(t >= t_on) * int(t < t_off)) / tau : 1 (unless refractory)
        eta : 1 (constant)
        n_in : 1 (linked)
        """,
        threshold="v >= v_p",
        reset="v = v_r",
        refractory="t_ref",
        method=s.method,
        clock=clock,
        namespace=namespace,
        name="qif_neurons*",
    )
    # one neuron counts the spikes arriving in a step; every neuron reads the count
    counter = b2.NeuronGroup(1, "n_arrived : 1", clock=clock, name="qif_counter*")
    # one neuron holds the sum of v over the non-refractory neurons at every recording time
    probe = b2.NeuronGroup(1, "v_sum : 1\nn_free : 1", clock=rec_clock, name="qif_probe*")
    neurons.eta = eta
    neurons.v = v_init
    to_one = np.zeros(n, dtype=np.int64)
    neurons.n_in = b2.linked_var(counter, "n_arrived", index=to_one)
    emit = b2.Synapses(
        neurons, counter, on_pre="n_arrived_post += 1", delay=(1.0 / s.v_peak) * second, clock=clock, name="qif_emit*"
    )
    emit.connect(i=np.arange(n), j=to_one)
    average = b2.Synapses(
        neurons,
        probe,
        model="v_sum_post = v_pre * int(not_refractory_pre) : 1 (summed)\n"
        "n_free_post = int(not_refractory_pre) : 1 (summed)",
        clock=rec_clock,
        name="qif_average*",
    )
    average.connect(i=np.arange(n), j=to_one)
    # the pulse J/N per arriving spike, after the synapses slot, then the count is cleared
    neurons.run_regularly("v += J_over_N * n_in * int(not_refractory)", when="after_synapses", order=0)
    counter.run_regularly("n_arrived = 0", when="after_synapses", order=1)
    spikes = b2.SpikeMonitor(neurons, record=True, name="qif_spikes*")
    # the summed variables are computed in the groups slot before the neurons' update: state at t_k
    vmon = b2.StateMonitor(probe, ["v_sum", "n_free"], record=0, when="after_groups", name="qif_vmon*")
    net = b2.Network(neurons, counter, probe, emit, average, spikes, vmon)
    net.run(s.duration * second, namespace={})
    wall = time.perf_counter() - t0

    t_rec = np.asarray(vmon.t_[:])
    if t_rec.size != s.n_points or not np.allclose(t_rec, s.t, atol=s.dt / 10):
        raise RuntimeError(f"recorded {t_rec.size} points, expected {s.n_points} at record_dt={s.record_dt}")
    n_free = np.asarray(vmon.n_free[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        v_mean = np.where(n_free > 0, np.asarray(vmon.v_sum[0]) / np.maximum(n_free, 1), np.nan)
    emitted = np.asarray(spikes.t_[:]) + s.dt + 1.0 / s.v_peak
    order = np.argsort(emitted, kind="stable")
    spike_t, spike_i = emitted[order], np.asarray(spikes.i[:])[order].astype(np.int32)
    keep = spike_t < s.duration
    return QIFResult(
        t=s.t,
        r=sliding_rate(spike_t[keep], n, s),
        v=v_mean,
        spike_t=spike_t[keep],
        spike_i=spike_i[keep],
        eta=eta,
        theta=th,
        seed=int(seed),
        settings=s,
        target=s.target,
        brian2_version=b2.__version__,
        wall_seconds=wall,
    )
