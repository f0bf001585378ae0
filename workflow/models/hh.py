"""The single-compartment Hodgkin–Huxley neuron of Gonçalves et al. 2020 (Pospischil et al. 2008).

Sources (cited below by these short names):

* **Gonçalves 2020**: P. J. Gonçalves et al., "Training deep neural density estimators to identify
  mechanistic models of neural dynamics", eLife 9, e56261 (2020), Methods "Single-compartment
  Hodgkin–Huxley neurons" and Fig. 4; ``../shared/papers/goncalves2020-snpe-mechanistic-models.txt``.
* **Gonçalves code**: github.com/mackelab/IdentifyMechanisticModels_2020, ``5_hh/model/
  HodgkinHuxleyBioPhys.py`` (integrator), ``5_hh/model/utils.py`` (``obs_params``, ``syn_current``,
  ``prior``), ``5_hh/model/HodgkinHuxleyStatsMoments.py`` (features) and
  ``5_hh/01_model_fitting.ipynb`` (``n_xcorr = 0``, ``n_mom = 4``, ``n_summary = 7, 4, 1``).
* **Pospischil 2008**: M. Pospischil et al., "Minimal Hodgkin–Huxley type models for different
  classes of cortical and thalamic neurons", Biol. Cybern. 99, 427–441 (2008): the kinetics.

Model (Gonçalves 2020 Methods)::

    C dV/dt = g_l (E_l - V) + gbar_Na m^3 h (E_Na - V) + gbar_K n^4 (E_K - V)
              + gbar_M p (E_K - V) + I_inj(t) + sigma eta(t)
    dq/dt = (q_inf(V) - q) / tau_q(V),  q in {m, h, n, p}

with C = 1 uF/cm^2, E_Na = 53 mV, E_K = -107 mV (Gonçalves 2020) and the Pospischil 2008
kinetics, shifted by V_T (Traub–Miles rates, u = V - V_T in mV, rates in 1/ms)::

    alpha_m = -0.32 (u - 13) / (exp(-(u - 13)/4) - 1)    beta_m = 0.28 (u - 40) / (exp((u - 40)/5) - 1)
    alpha_h = 0.128 exp(-(u - 17)/18)                    beta_h = 4 / (1 + exp(-(u - 40)/5))
    alpha_n = -0.032 (u - 15) / (exp(-(u - 15)/5) - 1)   beta_n = 0.5 exp(-(u - 10)/40)
    p_inf = 1 / (1 + exp(-(V + 35)/10))    tau_p = tau_max / (3.3 exp((V + 35)/20) + exp(-(V + 35)/20))

eta(t) is Gaussian white noise: a current sigma xi_k / sqrt(dt), xi_k ~ N(0, 1), in each step (the
code's ``nois_fact * randn() / sqrt(tstep)``), so sigma is in uA/cm^2 ms^(1/2); no Ornstein–
Uhlenbeck filter. The input is a step of 0.5 nA (``curr_level = 5e-4`` uA) from 10 to 110 ms in a
120 ms simulation, divided by the area pi (70 um)^2 of the code's ``A_soma``: 3.248 uA/cm^2
(Gonçalves code ``syn_current``; Gonçalves 2020 Fig. 4a shows the 0.5 nA step).

Integration: exponential Euler with dt = 0.01 ms, as the code: V is advanced exactly over one
step with the conductances and currents (noise included) of the previous step frozen, then each
gate with the new V, q <- q_inf + (q - q_inf) exp(-dt (alpha + beta)). The step is unconditionally
stable in V; 0.01 ms resolves the ~0.1 ms rise of the fastest gate (m). V(0) = -70 mV with
every gate at its steady state there (code: ``V0=-70``). The step from t_k to t_{k+1} uses
I_inj(t_k), nonzero for 1000 <= k < 11000.

Parameters and prior (Gonçalves 2020 Methods; code ``obs_params`` and ``prior(prior_extent=True)``):
the code and the paper's Fig. 4 give V_T and E_l with the sign flipped ("-V_T" in [40, 90] mV,
"-E_l" in [35, 100] mV); here they are the potentials themselves, V_T in [-90, -40] mV and E_l in
[-100, -35] mV (the same uniform prior).

Features (Gonçalves 2020 Methods and Fig. 4; code ``HodgkinHuxleyStatsMoments`` with
``n_xcorr = 0, n_mom = 4, n_summary = 7``), in the code's order, so that the first 1 and first 4
are the paper's 1- and 4-feature sets (Fig. 4d):

1. ``n_spikes``: spikes with 10 < t < 110 ms. A spike is a local maximum above -10 mV
   (the code's "put everything below -10 or with negative slope to -10, remaining negative slopes
   are peaks"), timed one step before the peak; spikes closer than 0.5 ms to the previous
   detection are dropped.
2. ``rest_mean``: mean of V for t < 10 ms.
3. ``rest_sd``: SD of V over the last 10 % of the pre-stimulus window (9 <= t < 10 ms).
4. ``stim_mean``: mean of V for 10 < t < 110 ms;
5. ``stim_sd``: its SD (the paper's "standard deviation"; the code's second feature is the
   variance, a monotone transform of it);
6. ``stim_skew``: its skewness m3 / m2^1.5;
7. ``stim_kurtosis``: its kurtosis m4 / m2^2 (Pearson's, not excess, as the code).

Noise streams: sample ``i`` draws from ``Generator(SFC64(SeedSequence(seed, spawn_key=(i,
NOISE_STREAM))))``, one float64 standard normal per step, so its trace does not depend on the
batch, its position in it or the chunking of time.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from workflow.models.noise import check_ids, check_step_protocol, grid_steps, noise_generators

#: Free parameters, in the paper's order (Gonçalves 2020 Methods).
PARAM_NAMES: tuple[str, ...] = ("gbar_Na", "gbar_K", "g_leak", "gbar_M", "tau_max", "V_T", "sigma", "E_leak")

#: Units of :data:`PARAM_NAMES`.
PARAM_UNITS: tuple[str, ...] = ("mS/cm2", "mS/cm2", "mS/cm2", "mS/cm2", "ms", "mV", "uA/cm2 ms^0.5", "mV")

#: Uniform prior bounds (low, high) (Gonçalves 2020 Methods, p_low and p_high; V_T and E_leak with
#: the code's sign flip undone).
PRIOR_BOUNDS: dict[str, tuple[float, float]] = {
    "gbar_Na": (0.5, 80.0),
    "gbar_K": (1e-4, 15.0),
    "g_leak": (1e-4, 0.6),
    "gbar_M": (1e-4, 0.6),
    "tau_max": (50.0, 3000.0),
    "V_T": (-90.0, -40.0),
    "sigma": (1e-4, 0.15),
    "E_leak": (-100.0, -35.0),
}

#: Parameters of the observed data x_o (Gonçalves code ``obs_params``: [50, 5, 0.1, 0.07, 600, 60,
#: 0.1, 70] with "-V_T" and "-E_leak"); Pospischil 2008's regular-spiking values. Fig. 4a: 5 spikes.
GROUND_TRUTH: dict[str, float] = {
    "gbar_Na": 50.0,
    "gbar_K": 5.0,
    "g_leak": 0.1,
    "gbar_M": 0.07,
    "tau_max": 600.0,
    "V_T": -60.0,
    "sigma": 0.1,
    "E_leak": -70.0,
}

#: The 7 voltage features, in the code's order (see the module docstring).
FEATURE_NAMES: tuple[str, ...] = (
    "n_spikes",
    "rest_mean",
    "rest_sd",
    "stim_mean",
    "stim_sd",
    "stim_skew",
    "stim_kurtosis",
)

#: Units of :data:`FEATURE_NAMES`.
FEATURE_UNITS: tuple[str, ...] = ("1", "mV", "mV", "mV", "mV", "1", "1")

#: The nested feature sets of Gonçalves 2020 Fig. 4d: the first 1, 4 and 7 features.
FEATURE_SETS: dict[int, tuple[str, ...]] = {k: FEATURE_NAMES[:k] for k in (1, 4, 7)}


@dataclasses.dataclass(frozen=True)
class HHSettings:
    """Fixed quantities of a simulation and its features; defaults are Gonçalves 2020's.

    Attributes:
        dt: Time step, ms (0.01; code ``syn_current``).
        duration: Simulated time, ms (120). The trace holds duration / dt + 1 points, t = 0 ..
            duration (code: ``np.arange(0, duration + dt, dt)``).
        t_on: Stimulus onset, ms (10).
        t_off: Stimulus offset, ms (110 = duration - t_on in the code).
        current: Step amplitude, nA (0.5; code ``curr_level = 5e-4`` uA; Fig. 4a).
        soma_radius: Radius of the disc whose area converts the current to a density, um (70;
            code ``A_soma = pi * (70e-4 cm)**2``).
        C_m: Membrane capacitance, uF/cm^2 (1; code).
        E_Na: Sodium reversal potential, mV (53; Gonçalves 2020 Methods).
        E_K: Potassium reversal potential (delayed rectifier and M current), mV (-107; Methods).
        V0: Initial potential, mV (-70; code ``syn_obs_data``); gates start at steady state.
        spike_threshold: A spike's peak must exceed this, mV (-10; code).
        min_isi: Detections closer than this to the previous one are dropped, ms (0.5; code).
        rest_sd_fraction: Last fraction of the pre-stimulus window whose SD is ``rest_sd``
            (0.1; code ``int(.9*t_on/dt):int(t_on/dt)``).
    """

    dt: float = 0.01
    duration: float = 120.0
    t_on: float = 10.0
    t_off: float = 110.0
    current: float = 0.5
    soma_radius: float = 70.0
    C_m: float = 1.0
    E_Na: float = 53.0
    E_K: float = -107.0
    V0: float = -70.0
    spike_threshold: float = -10.0
    min_isi: float = 0.5
    rest_sd_fraction: float = 0.1

    def __post_init__(self) -> None:
        check_step_protocol(self, ("dt", "duration", "soma_radius", "C_m"))
        for name in ("duration", "t_on", "t_off"):
            grid_steps(getattr(self, name), self.dt, name)
        if self.t_off - self.t_on < 3 * self.dt:
            raise ValueError(f"t_off - t_on must span at least 3 steps, got {self.t_off - self.t_on} ms")
        if self.min_isi < 0:
            raise ValueError(f"min_isi must be non-negative, got {self.min_isi}")
        if not 0 < self.rest_sd_fraction <= 1 or self.rest_sd_window_start >= self.i_on:
            raise ValueError(
                f"rest_sd_fraction must be in (0, 1] and cover at least one step, got {self.rest_sd_fraction}"
            )

    @property
    def n_points(self) -> int:
        """Points of the trace, t_k = k dt for k = 0 .. duration / dt."""
        return int(round(self.duration / self.dt)) + 1

    @property
    def i_on(self) -> int:
        """Index of the stimulus onset t_on (the first step with the current on)."""
        return int(round(self.t_on / self.dt))

    @property
    def i_off(self) -> int:
        """Index of the stimulus offset t_off (the first step with the current off again)."""
        return int(round(self.t_off / self.dt))

    @property
    def rest_sd_window_start(self) -> int:
        """First index of the window of ``rest_sd``; it ends before :attr:`i_on`."""
        return self.i_on - int(round(self.rest_sd_fraction * self.i_on))

    @property
    def current_density(self) -> float:
        """The step amplitude in uA/cm^2: current (nA) / (pi soma_radius^2)."""
        area_cm2 = np.pi * (self.soma_radius * 1e-4) ** 2
        return self.current * 1e-3 / area_cm2

    @property
    def t(self) -> np.ndarray:
        """(n_points,) time of each point, ms."""
        return np.arange(self.n_points) * self.dt


@dataclasses.dataclass(frozen=True)
class HHTraces:
    """Recorded membrane potentials of a batch.

    Attributes:
        t: (T,) float64, time of each point, ms.
        v: (n, T) float32, membrane potential, mV.
    """

    t: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        if self.v.ndim != 2 or self.v.shape[1] != self.t.shape[0]:
            raise ValueError(f"v {self.v.shape} and t {self.t.shape} do not match")


def _check_theta(theta: np.ndarray) -> np.ndarray:
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 2 or th.shape[1] != len(PARAM_NAMES):
        raise ValueError(f"theta must have shape (n, {len(PARAM_NAMES)}) with columns {PARAM_NAMES}, got {th.shape}")
    bad = ~np.isfinite(th)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"theta[{i}] has a non-finite {PARAM_NAMES[j]}: {th[i, j]}")
    positive = ("g_leak", "tau_max")  # the membrane must leak (g_tot > 0); tau_p > 0
    for name in ("gbar_Na", "gbar_K", "g_leak", "gbar_M", "tau_max", "sigma"):
        col = th[:, PARAM_NAMES.index(name)]
        wrong = col <= 0 if name in positive else col < 0
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            kind = "positive" if name in positive else "non-negative"
            raise ValueError(f"{name} must be {kind}, theta[{i}] has {col[i]}")
    return th


def _fill_normals(gens: Sequence[np.random.Generator], per_sample: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (n_steps, n) with each sample's next ``n_steps`` standard normals.

    Sample i draws into its own contiguous row ``per_sample[i]`` (so its stream is the same
    whatever the chunk length), then the rows are transposed into columns.
    """
    for i, g in enumerate(gens):
        g.standard_normal(per_sample.shape[1], out=per_sample[i])
    for j in range(0, len(gens), 256):
        out[:, j : j + 256] = per_sample[j : j + 256].T


def _efun(z: np.ndarray) -> np.ndarray:
    """z / (exp(z) - 1), continued by 1 - z/2 near 0 (the code's ``efun``)."""
    small = np.abs(z) < 1e-4
    return np.where(small, 1.0 - 0.5 * z, z / np.expm1(np.where(small, 1.0, z)))


def _kinetics(V: np.ndarray, V_T: np.ndarray, tau_max: np.ndarray) -> tuple[np.ndarray, ...]:
    """(alpha + beta, q_inf) of m, h, n and (1 / tau_p, p_inf) at V (Pospischil 2008; 1/ms)."""
    u = V - V_T
    a_m = 1.28 * _efun(-0.25 * (u - 13.0))  # 0.32 * efun(-(u - 13)/4) * 4
    b_m = 1.4 * _efun(0.2 * (u - 40.0))  # 0.28 * efun((u - 40)/5) * 5
    a_h = 0.128 * np.exp(-(u - 17.0) / 18.0)
    b_h = 4.0 / (1.0 + np.exp(-0.2 * (u - 40.0)))
    a_n = 0.16 * _efun(-0.2 * (u - 15.0))  # 0.032 * efun(-(u - 15)/5) * 5
    b_n = 0.5 * np.exp(-(u - 10.0) / 40.0)
    w = V + 35.0
    p_inf = 1.0 / (1.0 + np.exp(-0.1 * w))
    rate_p = (3.3 * np.exp(0.05 * w) + np.exp(-0.05 * w)) / tau_max
    s_m, s_h, s_n = a_m + b_m, a_h + b_h, a_n + b_n
    return s_m, a_m / s_m, s_h, a_h / s_h, s_n, a_n / s_n, rate_p, p_inf


def simulate_batch(
    theta: np.ndarray,
    sample_ids: Sequence[int],
    seed: int,
    settings: HHSettings | None = None,
    *,
    chunk_steps: int = 1000,
) -> HHTraces:
    """Integrate a batch of neurons at once (vectorised over the batch).

    Args:
        theta: (n, 8) parameters in :data:`PARAM_NAMES` order and units.
        sample_ids: The n campaign sample indices; each selects its own noise stream.
        seed: Root seed of the campaign (non-negative).
        settings: Simulation settings (default: the paper's).
        chunk_steps: Steps whose noise is drawn at once; affects memory and speed, never the result.

    Returns:
        The membrane potentials, float32 (48 kB per sample at the paper's settings).
    """
    s = HHSettings() if settings is None else settings
    th = _check_theta(theta)
    n = th.shape[0]
    ids = check_ids(sample_ids, n)
    if chunk_steps < 1:
        raise ValueError(f"chunk_steps must be positive, got {chunk_steps}")
    t = s.t
    out = np.empty((n, t.size), dtype=np.float32)
    if n == 0:
        return HHTraces(t=t, v=out)

    g_na, g_k, g_l, g_m, tau_max, V_T, sigma, E_l = (th[:, j].copy() for j in range(len(PARAM_NAMES)))
    dt, C = s.dt, s.C_m
    gens = noise_generators(seed, ids)
    noise_scale = sigma / math.sqrt(dt)  # current of one step, uA/cm^2 per N(0, 1)
    leak_drive = g_l * E_l
    I_on = s.current_density

    V = np.full(n, float(s.V0))
    s_m, m_inf, s_h, h_inf, s_n, n_inf, rate_p, p_inf = _kinetics(V, V_T, tau_max)
    m, h, nn, p = m_inf.copy(), h_inf.copy(), n_inf.copy(), p_inf.copy()
    buf = np.empty((chunk_steps, n), dtype=np.float32)
    per_sample = np.empty((n, chunk_steps))
    noise_buf = np.empty((chunk_steps, n))
    out[:, 0] = V
    col = 1
    n_steps = t.size - 1
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for c0 in range(0, n_steps, chunk_steps):
            n_chunk = min(chunk_steps, n_steps - c0)
            xi = noise_buf[:n_chunk]
            _fill_normals(gens, per_sample[:, :n_chunk], xi)
            xi *= noise_scale
            for j in range(n_chunk):
                k = c0 + j  # the step from t_k to t_{k+1}
                gna = g_na * (m * m * m * h)
                n2 = nn * nn
                gk = g_k * (n2 * n2) + g_m * p
                g_tot = gna + gk + g_l
                drive = gna * s.E_Na + gk * s.E_K + leak_drive + xi[j]
                if s.i_on <= k < s.i_off:
                    drive += I_on
                V_inf = drive / g_tot
                V = V_inf + (V - V_inf) * np.exp(-dt / C * g_tot)
                s_m, m_inf, s_h, h_inf, s_n, n_inf, rate_p, p_inf = _kinetics(V, V_T, tau_max)
                m = m_inf + (m - m_inf) * np.exp(-dt * s_m)
                h = h_inf + (h - h_inf) * np.exp(-dt * s_h)
                nn = n_inf + (nn - n_inf) * np.exp(-dt * s_n)
                p = p_inf + (p - p_inf) * np.exp(-dt * rate_p)
                buf[j] = V
            out[:, col : col + n_chunk] = buf[:n_chunk].T
            col += n_chunk
    return HHTraces(t=t, v=out)


def spike_counts(v: np.ndarray, settings: HHSettings | None = None) -> np.ndarray:
    """(n,) number of spikes with t_on < t < t_off in each row of ``v`` (Gonçalves code).

    A detection at index i means V[i] > threshold, V[i+1] >= V[i] and V[i+2] < V[i+1] (a local
    maximum at i + 1, timed at t_i as the code); a detection within ``min_isi`` of the previous
    detection in the window is dropped.
    """
    s = HHSettings() if settings is None else settings
    x = np.asarray(v)
    if x.ndim != 2 or x.shape[1] < 3:
        raise ValueError(f"v must have shape (n, T >= 3), got {x.shape}")
    lo, hi = s.i_on + 1, min(s.i_off, x.shape[1] - 2)  # i_on < i < i_off and i + 2 < T
    a, b, c = x[:, lo:hi], x[:, lo + 1 : hi + 1], x[:, lo + 2 : hi + 2]
    det = (a > s.spike_threshold) & (b >= a) & (c < b)
    rows, cols = np.nonzero(det)
    if rows.size == 0:
        return np.zeros(x.shape[0], dtype=np.int64)
    min_gap = s.min_isi / s.dt
    first = np.ones(rows.size, dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    gap = np.empty(rows.size)
    gap[0] = np.inf
    gap[1:] = cols[1:] - cols[:-1]
    keep = first | (gap > min_gap + 1e-9)
    return np.bincount(rows[keep], minlength=x.shape[0]).astype(np.int64)


def features(traces: HHTraces, settings: HHSettings | None = None) -> np.ndarray:
    """The 7 features of :data:`FEATURE_NAMES` for every sample of a batch.

    Args:
        traces: Output of :func:`simulate_batch` with the same settings.
        settings: The settings the traces were simulated with (default: the paper's).

    Returns:
        (n, 7) float64. A sample whose trace is not finite has NaN features.
    """
    s = HHSettings() if settings is None else settings
    if traces.t.shape != (s.n_points,):
        raise ValueError(f"traces ({traces.t.size} points) were not simulated with these settings ({s.n_points})")
    n = traces.v.shape[0]
    out = np.empty((n, len(FEATURE_NAMES)))
    block = max(1, 4_000_000 // s.n_points)
    for b0 in range(0, n, block):
        x = traces.v[b0 : b0 + block].astype(np.float64)
        rows = slice(b0, b0 + x.shape[0])
        out[rows, 0] = spike_counts(x, s)
        out[rows, 1] = x[:, : s.i_on].mean(axis=1)
        out[rows, 2] = x[:, s.rest_sd_window_start : s.i_on].std(axis=1)
        stim = x[:, s.i_on + 1 : s.i_off]  # t_on < t < t_off
        mean = stim.mean(axis=1)
        d = stim - mean[:, None]
        d2 = d * d
        m2 = d2.mean(axis=1)
        m3 = np.einsum("ij,ij->i", d2, d) / stim.shape[1]
        m4 = np.einsum("ij,ij->i", d2, d2) / stim.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = m2 > 0
            safe = np.where(ok, m2, 1.0)
            out[rows, 3] = mean
            out[rows, 4] = np.sqrt(m2)
            out[rows, 5] = np.where(ok, m3 / safe**1.5, np.nan)
            out[rows, 6] = np.where(ok, m4 / safe**2, np.nan)
        bad = ~np.isfinite(x).all(axis=1)
        out[b0 + np.flatnonzero(bad)] = np.nan
    return out


# --------------------------------------------------------------------------------------------
# The model interface (workflow.models.base)
# --------------------------------------------------------------------------------------------

#: Columns of the extra output ``rates``: the firing rate in the stimulus window (Hz).
RATE_NAMES: tuple[str, ...] = ("stim",)


#: Cost of one shard (``python -m workflow shard``, one process) in the form of
#: :func:`workflow.models.base.stepped_shard_cost`, fitted to ``benchmarks/bench_model_cost.py
#: --models hh`` (CPU seconds and peak RSS at 250, 1000 and 4000 samples; the fit and its ratios
#: are in the README's "Bring your own model").
COST_STARTUP_CORE_S = 1.2
COST_STEP_CORE_S = 40e-6
COST_SAMPLE_STEP_CORE_S = 95e-9
COST_FEATURE_POINT_CORE_S = 4e-9
COST_BASE_MB = 180.0
#: peak bytes per sample and recorded point of a sub-batch (2.5x its float32 trace: the integration's buffers)
COST_POINT_BYTES = 10


def shard_cost(settings: HHSettings, n: int):
    """:class:`workflow.models.base.ShardCost` of a shard of n samples (``Model.cost``)."""
    from workflow.models.base import stepped_shard_cost

    return stepped_shard_cost(
        n,
        steps=settings.n_points - 1,
        points=settings.n_points,
        trace_bytes_per_point=4,
        startup_core_s=COST_STARTUP_CORE_S,
        step_core_s=COST_STEP_CORE_S,
        sample_step_core_s=COST_SAMPLE_STEP_CORE_S,
        feature_point_core_s=COST_FEATURE_POINT_CORE_S,
        base_mb=COST_BASE_MB,
        peak_bytes_per_point=COST_POINT_BYTES,
    )


def _simulate_model(theta: np.ndarray, sample_ids: np.ndarray, seed: int, settings: HHSettings, keep_traces: bool):
    """:class:`workflow.models.base.Simulator` of :data:`MODEL`: sub-batches of at most 1 GiB of traces."""
    from workflow.models.base import SimBatch, sub_batches

    n = theta.shape[0]
    feats = np.empty((n, len(FEATURE_NAMES)))
    v = np.empty((n, settings.n_points), dtype=np.float32) if keep_traces else None
    for sl in sub_batches(n, 4 * settings.n_points):
        tr = simulate_batch(theta[sl], sample_ids[sl], seed, settings)
        feats[sl] = features(tr, settings)
        if v is not None:
            v[sl] = tr.v
        del tr  # before the next sub-batch's traces are allocated: one sub-batch in memory at a time
    rates = feats[:, :1] / ((settings.t_off - settings.t_on) * 1e-3)
    return SimBatch(
        features=feats,
        outputs={"rates": rates},
        traces={"v": v} if keep_traces else None,
        t=settings.t if keep_traces else None,
    )


def _model():
    from workflow.models.base import Model

    return Model(
        name="hh",
        description="Single-compartment Hodgkin–Huxley neuron (Pospischil et al. 2008) under a step current "
        "(Gonçalves et al. 2020)",
        param_names=PARAM_NAMES,
        param_units=PARAM_UNITS,
        prior_bounds=PRIOR_BOUNDS,
        feature_names=FEATURE_NAMES,
        feature_units=FEATURE_UNITS,
        settings_type=HHSettings,
        simulator=_simulate_model,
        outputs={"rates": RATE_NAMES},
        output_units={"rates": "Hz"},
        ground_truth=GROUND_TRUTH,
        time_unit="ms",
        cost=shard_cost,
    )


#: The model as seen by the campaign (``model: hh``); see :mod:`workflow.models.base`.
MODEL = _model()
