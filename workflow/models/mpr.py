"""The Montbrió–Pazó–Roxin (MPR) mean-field model as used by Baldy et al. 2024.

Sources (cited below by these short names):

* **Baldy 2024**: N. Baldy et al., "Efficient Inference on a Network of Spiking Neurons using Deep
  Learning", hal-04649972 (2024), ``../shared/papers/baldy2024-inference-spiking-mean-field.txt``.
* **Baldy code**: github.com/ins-amu/Inference_MFM, the notebook
  ``Res_SBI/SBI_NMM_MPR_SDE_Istep_RVfeatures_sumstatspeaks_100ksims_v21.ipynb`` (simulator
  ``Montbrio_SDEmodel`` and its wrapper) and ``Helper/MPR_NMM_sumstats.py``
  (``calculate_summary_statistics``), ``Helper/MPR_NMM_LSA.py`` (fixed points, Jacobian) and
  ``Helper/QIFneurons.py`` (the spiking counterpart, ``tau_m = 1 * second``).

Model (Baldy 2024 Eq. 1a-b, from Montbrió et al. 2015)::

    dr/dt = Delta/pi + 2 r v
    dv/dt = v^2 - pi^2 r^2 + J r + eta + I(t)

r is the population firing rate and v the mean membrane potential of all-to-all coupled QIF
neurons whose excitabilities are Lorentzian with centre ``eta`` and half-width ``Delta``; ``J`` is
the synaptic weight. All quantities are dimensionless; time is in units of the membrane time
constant, which the spiking counterpart sets to 1 s (Baldy code, ``QIFneurons.py``), so the paper
states times in seconds (Baldy 2024 Sec. 2.7: "t = 100 sec", "dt = 1 msec"). Here one time unit
is therefore called a second.

Integration (Baldy 2024 Sec. 2.7; Baldy code ``Montbrio_SDEmodel``): Euler–Maruyama with
dt = 1e-3 for 100 time units, the state recorded at t_k = k dt, k = 0 .. 99 999 (``np.arange(0,
100, dt)``), starting at v(0) = -3, r(0) = 0.5. Noise: "a zero-mean Gaussian noise with sigma =
0.1 was added to both r, and v"; the code adds ``sqrt(dt) * sigma * randn()`` to each variable in
every step, i.e. independent Wiener increments of intensity sigma (per sqrt(time unit)), so the
per-step standard deviation is sigma sqrt(dt) = 0.00316. The step from t_k to t_{k+1} uses
I(t_k) = 3 for 30 <= t_k < 60 and 0 otherwise ("a step current with amplitude of 3 from time 30
sec to 60 sec was added to the v variable").

Non-negative rate: neither the paper nor its code bounds r; an Euler–Maruyama step can take r
below zero when it sits near zero (low Delta, low state), which a firing rate cannot be. The
default here reflects r at zero after every step (``r <- |r|``, a reflecting boundary for the
diffusion); ``r_boundary="clip"`` sets negative values to 0 and ``"none"`` reproduces the code.

Features (Baldy 2024 Sec. 2.7 and Fig. S2; Baldy code ``calculate_summary_statistics``, applied to
v and then to r): in each window, before (t < 30), during (30 <= t < 60) and after (t >= 60) the
stimulus, the mean, standard deviation, median, skewness and kurtosis (scipy's biased skew and
Fisher, i.e. excess, kurtosis); then, in the stimulus window, the number of peaks of height >= 0.2
at least 1 s apart (``scipy.signal.find_peaks(x, height=0.2, distance=1000)`` at dt = 1 ms) and the
time of the first one (0 when there is none, as in the code). 17 features per variable, 34 in
all, v's first.

Noise streams: sample ``i`` draws its increments from
``Generator(SFC64(SeedSequence(seed, spawn_key=(i, NOISE_STREAM))))`` as float32 standard normals,
one (r, v) pair per step in step order, so a sample's trace does not depend on the batch it is
simulated in, its position in the batch or the chunking of time. Drawing 2 normals per sample and
step is most of the cost (2e9 draws for 1e4 samples x 1e5 steps); SFC64 draws them about 30 %
faster than numpy's default PCG64 here, float32 about 2x faster than float64.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from workflow.models.noise import check_ids, check_step_protocol, grid_steps, noise_generators

#: Free parameters, in Baldy's order ``[delta, eta, J]`` (Baldy code); dimensionless.
PARAM_NAMES: tuple[str, ...] = ("Delta", "eta", "J")

#: Uniform prior bounds (low, high) (Baldy 2024 Sec. 2.7).
PRIOR_BOUNDS: dict[str, tuple[float, float]] = {
    "Delta": (0.1, 5.0),
    "eta": (-10.0, -3.0),
    "J": (5.0, 20.0),
}

#: Ground truth of the paper's inference, in the bistable regime (Baldy 2024 Sec. 2.7).
GROUND_TRUTH: dict[str, float] = {"Delta": 0.7, "eta": -4.6, "J": 14.5}

#: Observed variables, in the order of the feature vector (Baldy code: ``[summstats_v, summstats_r]``).
VARIABLES: tuple[str, ...] = ("v", "r")

#: Feature windows: before, during and after the stimulus.
WINDOWS: tuple[str, ...] = ("pre", "stim", "post")

#: Per-window statistics, in the code's order.
WINDOW_STATS: tuple[str, ...] = ("mean", "sd", "median", "skew", "kurtosis")

#: Peak features of the stimulus window.
PEAK_STATS: tuple[str, ...] = ("n_peaks", "t_first_peak")

#: The 34 feature names: ``<variable>_<window>_<stat>`` then ``<variable>_<peak stat>``, per variable.
FEATURE_NAMES: tuple[str, ...] = tuple(
    name
    for var in VARIABLES
    for name in (
        *(f"{var}_{w}_{s}" for w in WINDOWS for s in WINDOW_STATS),
        *(f"{var}_{p}" for p in PEAK_STATS),
    )
)


#: How r is kept non-negative after each Euler–Maruyama step.
R_BOUNDARIES: tuple[str, ...] = ("reflect", "clip", "none")


@dataclasses.dataclass(frozen=True)
class MPRSettings:
    """Fixed quantities of a simulation and its features; defaults are Baldy 2024's values.

    Times are in units of the membrane time constant (1 s in Baldy's spiking counterpart, so
    "seconds" below); r, v, the current and sigma are dimensionless.

    Attributes:
        dt: Euler–Maruyama time step (1e-3, i.e. 1 ms; Baldy 2024 Sec. 2.7).
        duration: Simulated time (100 s). The trace holds ``duration / dt`` points t_k = k dt.
        t_on: Stimulus onset (30 s; Sec. 2.7).
        t_off: Stimulus offset (60 s; Sec. 2.7).
        current: Step current amplitude added to dv/dt during the stimulus (3; Sec. 2.7).
        sigma: Noise intensity on both r and v; each step adds sigma sqrt(dt) N(0, 1) (0.1;
            Sec. 2.7, scaling from the Baldy code).
        r0: Initial rate (0.5; Baldy code).
        v0: Initial mean potential (-3; Baldy code).
        r_boundary: ``"reflect"`` (r <- |r|, default), ``"clip"`` (r <- max(r, 0)) or ``"none"``
            (Baldy code) after every step.
        record_every: Keep every ``record_every``-th point (1 = every step, as the paper).
            Features of decimated traces approximate the paper's; peak distance and times
            follow the recorded grid.
        peak_height: Minimum peak height (0.2; Baldy code ``find_peaks(height=.2)``).
        peak_distance: Minimum time between peaks (1 s; Baldy code ``distance=1000`` at 1 ms).
        no_peak_time: Value of ``t_first_peak`` when the stimulus window has no peak (0; Baldy code).
    """

    dt: float = 1e-3
    duration: float = 100.0
    t_on: float = 30.0
    t_off: float = 60.0
    current: float = 3.0
    sigma: float = 0.1
    r0: float = 0.5
    v0: float = -3.0
    r_boundary: str = "reflect"
    record_every: int = 1
    peak_height: float = 0.2
    peak_distance: float = 1.0
    no_peak_time: float = 0.0

    def __post_init__(self) -> None:
        check_step_protocol(self, ("dt", "duration"))
        for name in ("duration", "t_on", "t_off"):
            grid_steps(getattr(self, name), self.dt, name)
        if self.sigma < 0:
            raise ValueError(f"sigma must be non-negative, got {self.sigma}")
        if self.r0 < 0:
            raise ValueError(f"r0 must be non-negative, got {self.r0}")
        if self.r_boundary not in R_BOUNDARIES:
            raise ValueError(f"r_boundary must be one of {R_BOUNDARIES}, got {self.r_boundary!r}")
        if not isinstance(self.record_every, (int, np.integer)) or self.record_every < 1:
            raise ValueError(f"record_every must be a positive integer, got {self.record_every!r}")
        if self.peak_distance <= 0:
            raise ValueError(f"peak_distance must be positive, got {self.peak_distance}")

    @property
    def n_points(self) -> int:
        """Points of the full-resolution trace, t_k = k dt for k < duration / dt."""
        return int(round(self.duration / self.dt))

    @property
    def i_on(self) -> int:
        """Index of the first point of the stimulus window (= first step with the current on)."""
        return int(round(self.t_on / self.dt))

    @property
    def i_off(self) -> int:
        """Index of the first point after the stimulus window."""
        return int(round(self.t_off / self.dt))

    @property
    def record_index(self) -> np.ndarray:
        """Full-resolution indices k of the recorded points (int64)."""
        return np.arange(0, self.n_points, self.record_every, dtype=np.int64)

    @property
    def record_dt(self) -> float:
        """Time between recorded points."""
        return self.dt * self.record_every


@dataclasses.dataclass(frozen=True)
class MPRTraces:
    """Recorded trajectories of a batch.

    Attributes:
        t: (T,) float64, time of each recorded point (s).
        r: (n, T) float32, firing rate.
        v: (n, T) float32, mean membrane potential.
    """

    t: np.ndarray
    r: np.ndarray
    v: np.ndarray

    def __post_init__(self) -> None:
        if self.r.shape != self.v.shape or self.r.ndim != 2 or self.r.shape[1] != self.t.shape[0]:
            raise ValueError(f"r {self.r.shape}, v {self.v.shape} and t {self.t.shape} do not match")


class FixedPoint(NamedTuple):
    """An equilibrium of the deterministic model, with its linear stability."""

    r: float
    v: float
    kind: str  # "stable node", "stable focus", "unstable node", "unstable focus" or "saddle"

    @property
    def stable(self) -> bool:
        return self.kind.startswith("stable")


def fixed_points(Delta: float, eta: float, J: float, current: float = 0.0) -> tuple[FixedPoint, ...]:
    """Equilibria of the noise-free model under a constant current, sorted by rate.

    dr/dt = 0 gives r = -Delta / (2 pi v) (so v < 0 for r > 0); putting it into dv/dt = 0 and
    multiplying by v^2 gives v^4 + (eta + I) v^2 - (J Delta / 2 pi) v - (Delta / 2)^2 = 0 (Baldy
    code ``find_roots``). Stability from the eigenvalues of the Jacobian
    [[2v, 2r], [J - 2 pi^2 r, 2v]] (Baldy code ``Jacobian_Montbrio``).
    """
    if Delta <= 0:
        raise ValueError(f"Delta must be positive for fixed points, got {Delta}")
    roots = np.roots([1.0, 0.0, eta + current, -J * Delta / (2 * np.pi), -((Delta / 2) ** 2)])
    points = []
    for root in roots:
        if abs(root.imag) > 1e-9 * max(1.0, abs(root)) or root.real >= 0:
            continue
        v = float(root.real)
        r = -Delta / (2 * np.pi * v)
        eig = np.linalg.eigvals(np.array([[2 * v, 2 * r], [J - 2 * np.pi**2 * r, 2 * v]]))
        re = eig.real
        if re[0] * re[1] < 0:
            kind = "saddle"
        else:
            kind = ("stable" if np.all(re < 0) else "unstable") + (" focus" if np.any(eig.imag != 0) else " node")
        points.append(FixedPoint(r, v, kind))
    return tuple(sorted(points))


def _check_theta(theta: np.ndarray) -> np.ndarray:
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 2 or th.shape[1] != len(PARAM_NAMES):
        raise ValueError(f"theta must have shape (n, {len(PARAM_NAMES)}) with columns {PARAM_NAMES}, got {th.shape}")
    bad = ~np.isfinite(th)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"theta[{i}] has a non-finite {PARAM_NAMES[j]}: {th[i, j]}")
    neg = th[:, 0] < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise ValueError(f"Delta must be non-negative, theta[{i}] has Delta={th[i, 0]}")
    return th


def _transpose_into(dst: np.ndarray, src: np.ndarray, block: int = 256) -> None:
    """``dst[...] = src.T`` in column blocks (a cache-friendlier copy than one strided transpose)."""
    for j in range(0, src.shape[-1], block):
        dst[j : j + block] = src[..., j : j + block].T


def _fill_normals(gens: Sequence[np.random.Generator], per_sample: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (n_steps, n_var, n) with each sample's next standard normals.

    Sample i first fills its own contiguous block ``per_sample[i]`` (n_steps, n_var) in
    row-major (step, variable) order, so its stream is the same whatever the chunk length; the
    blocks are then transposed so that each step reads one contiguous row per variable.
    """
    for i, g in enumerate(gens):
        g.standard_normal(per_sample.shape[1:], dtype=per_sample.dtype, out=per_sample[i])
    for j in range(0, len(gens), 256):
        out[:, :, j : j + 256] = per_sample[j : j + 256].transpose(1, 2, 0)


def simulate_batch(
    theta: np.ndarray,
    sample_ids: Sequence[int],
    seed: int,
    settings: MPRSettings | None = None,
    *,
    chunk_steps: int = 1000,
) -> MPRTraces:
    """Integrate a batch of samples at once (vectorised over the batch).

    Args:
        theta: (n, 3) parameters in :data:`PARAM_NAMES` order (Delta, eta, J).
        sample_ids: The n campaign sample indices; each selects its own noise stream.
        seed: Root seed of the campaign (non-negative).
        settings: Simulation settings (default: the paper's).
        chunk_steps: Steps whose noise is drawn at once. Affects memory (16 bytes per sample
            and step: 2 variables, float32, drawn then transposed) and speed, never the result.

    Returns:
        The recorded trajectories: r and v in float32, 8 bytes per sample and recorded point,
        i.e. 800 kB per sample at the paper's resolution (8 GB for 1e4 samples). Split a large
        shard into sub-batches (a sample's trace does not depend on its batch) or raise
        ``settings.record_every`` (10 keeps every 10 ms: 80 kB per sample).
    """
    s = MPRSettings() if settings is None else settings
    th = _check_theta(theta)
    n = th.shape[0]
    ids = check_ids(sample_ids, n)
    if chunk_steps < 1:
        raise ValueError(f"chunk_steps must be positive, got {chunk_steps}")
    dt, m = s.dt, s.record_every
    idx = s.record_index
    out_r = np.empty((n, idx.size), dtype=np.float32)
    out_v = np.empty((n, idx.size), dtype=np.float32)
    if n == 0:
        return MPRTraces(t=idx * dt, r=out_r, v=out_v)

    delta, eta, J = th[:, 0], th[:, 1], th[:, 2]
    dpi_dt = delta / np.pi * dt
    J_dt = J * dt
    drive_off = eta * dt
    drive_on = (eta + s.current) * dt
    pi2_dt = -(np.pi**2) * dt
    two_dt = 2.0 * dt
    gens = noise_generators(seed, ids) if s.sigma > 0 else None
    scale = np.float32(s.sigma * math.sqrt(dt))
    if gens is not None:
        per_sample = np.empty((n, chunk_steps, 2), dtype=np.float32)
        noise_buf = np.empty((chunk_steps, 2, n), dtype=np.float32)

    r = np.full(n, float(s.r0))
    v = np.full(n, float(s.v0))
    a = np.empty(n)
    b = np.empty(n)
    c = np.empty(n)
    buf_r = np.empty((chunk_steps // m + 1, n), dtype=np.float32)
    buf_v = np.empty_like(buf_r)
    out_r[:, 0] = r
    out_v[:, 0] = v
    col = 1
    n_steps = s.n_points - 1
    i_on, i_off = s.i_on, s.i_off
    reflect, clip = s.r_boundary == "reflect", s.r_boundary == "clip"
    with np.errstate(over="ignore", invalid="ignore"):
        for c0 in range(0, n_steps, chunk_steps):
            n_chunk = min(chunk_steps, n_steps - c0)
            noise = None
            if gens is not None:
                noise = noise_buf[:n_chunk]
                _fill_normals(gens, per_sample[:, :n_chunk], noise)
                noise *= scale
            nb = 0
            for j in range(n_chunk):
                k = c0 + j  # the step from point k to point k + 1
                np.multiply(r, v, out=a)
                # v increment: dt (v^2 - pi^2 r^2 + J r + eta + I(t_k)) + noise
                np.multiply(r, pi2_dt, out=b)
                b += J_dt
                b *= r
                np.multiply(v, dt, out=c)
                c *= v
                b += c
                b += drive_on if i_on <= k < i_off else drive_off
                # r increment: dt (Delta / pi + 2 r v) + noise
                a *= two_dt
                a += dpi_dt
                if noise is not None:
                    b += noise[j, 1]
                    a += noise[j, 0]
                v += b
                r += a
                if reflect:
                    np.abs(r, out=r)
                elif clip:
                    np.maximum(r, 0.0, out=r)
                if (k + 1) % m == 0:
                    buf_r[nb] = r
                    buf_v[nb] = v
                    nb += 1
            if nb:
                _transpose_into(out_r[:, col : col + nb], buf_r[:nb])
                _transpose_into(out_v[:, col : col + nb], buf_v[:nb])
                col += nb
    if col != idx.size:  # pragma: no cover - guards the bookkeeping above
        raise RuntimeError(f"recorded {col} points, expected {idx.size}")
    return MPRTraces(t=idx * dt, r=out_r, v=out_v)


def _window_stats(x: np.ndarray) -> np.ndarray:
    """(nb, 5) mean, SD, median, skewness, excess kurtosis of each row (biased moments).

    Equal to ``np.mean``, ``np.std``, ``np.median``, ``scipy.stats.skew`` and
    ``scipy.stats.kurtosis`` with their defaults (Baldy code), NaN for a constant row.
    """
    n_t = x.shape[1]
    mean = x.mean(axis=1)
    d = x - mean[:, None]
    d2 = d * d
    m2 = d2.mean(axis=1)
    m3 = np.einsum("ij,ij->i", d2, d) / n_t
    m4 = np.einsum("ij,ij->i", d2, d2) / n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = m2 > 0
        skew = np.where(ok, m3 / np.where(ok, m2, 1.0) ** 1.5, np.nan)
        kurt = np.where(ok, m4 / np.where(ok, m2, 1.0) ** 2 - 3.0, np.nan)
    return np.stack([mean, np.sqrt(m2), np.median(x, axis=1), skew, kurt], axis=1)


def features(traces: MPRTraces, settings: MPRSettings | None = None) -> np.ndarray:
    """The 34 features of :data:`FEATURE_NAMES` for every sample of a batch.

    Args:
        traces: Output of :func:`simulate_batch` with the same settings.
        settings: The settings the traces were simulated with (default: the paper's).

    Returns:
        (n, 34) float64. A sample whose trace is not finite has NaN features.
    """
    from scipy.signal import find_peaks

    s = MPRSettings() if settings is None else settings
    idx = s.record_index
    if traces.t.shape != idx.shape or not np.allclose(traces.t, idx * s.dt):
        raise ValueError(f"traces ({traces.t.size} points) were not recorded with these settings ({idx.size} points)")
    n, T = traces.r.shape
    j_on, j_off = (int(np.searchsorted(idx, i)) for i in (s.i_on, s.i_off))
    windows = (slice(0, j_on), slice(j_on, j_off), slice(j_off, T))
    distance = max(1, int(round(s.peak_distance / s.record_dt)))
    per_var = len(WINDOWS) * len(WINDOW_STATS) + len(PEAK_STATS)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float64)
    block = max(1, 4_000_000 // max(T, 1))
    bad = np.zeros(n, dtype=bool)
    for vi, var in enumerate(VARIABLES):
        x_all = getattr(traces, var)
        base = vi * per_var
        for b0 in range(0, n, block):
            x = x_all[b0 : b0 + block].astype(np.float64)
            rows = slice(b0, b0 + x.shape[0])
            for wi, sl in enumerate(windows):
                col = base + wi * len(WINDOW_STATS)
                out[rows, col : col + len(WINDOW_STATS)] = _window_stats(x[:, sl])
            stim = x[:, windows[1]]
            for i in range(x.shape[0]):
                peaks, _ = find_peaks(stim[i], height=s.peak_height, distance=distance)
                out[b0 + i, base + per_var - 2] = peaks.size
                out[b0 + i, base + per_var - 1] = traces.t[j_on + peaks[0]] if peaks.size else s.no_peak_time
            bad[rows] |= ~np.isfinite(x).all(axis=1)
    out[bad] = np.nan  # a sample with a non-finite r or v is invalid as a whole
    return out


# --------------------------------------------------------------------------------------------
# The model interface (workflow.models.base)
# --------------------------------------------------------------------------------------------

#: Columns of the extra output ``rates``: the mean rate r in each window (per time unit).
RATE_NAMES: tuple[str, ...] = tuple(f"r_{w}" for w in WINDOWS)


#: Cost of one shard (``python -m workflow shard``, one process) in the form of
#: :func:`workflow.models.base.stepped_shard_cost`, fitted to ``benchmarks/bench_model_cost.py
#: --models mpr`` (CPU seconds and peak RSS at 250, 1000 and 4000 samples; the fit and its ratios
#: are in the README's "Bring your own model").
COST_STARTUP_CORE_S = 1.0
COST_STEP_CORE_S = 10e-6
COST_SAMPLE_STEP_CORE_S = 52e-9
COST_FEATURE_POINT_CORE_S = 4e-9
COST_BASE_MB = 230.0


def shard_cost(settings: MPRSettings, n: int):
    """:class:`workflow.models.base.ShardCost` of a shard of n samples (``Model.cost``)."""
    from workflow.models.base import stepped_shard_cost

    return stepped_shard_cost(
        n,
        steps=settings.n_points,
        points=settings.record_index.size,
        trace_bytes_per_point=8,
        startup_core_s=COST_STARTUP_CORE_S,
        step_core_s=COST_STEP_CORE_S,
        sample_step_core_s=COST_SAMPLE_STEP_CORE_S,
        feature_point_core_s=COST_FEATURE_POINT_CORE_S,
        base_mb=COST_BASE_MB,
        peak_bytes_per_point=8,
    )


def _simulate_model(theta: np.ndarray, sample_ids: np.ndarray, seed: int, settings: MPRSettings, keep_traces: bool):
    """:class:`workflow.models.base.Simulator` of :data:`MODEL`: sub-batches of at most 1 GiB of traces."""
    from workflow.models.base import SimBatch, sub_batches

    n = theta.shape[0]
    idx = settings.record_index
    feats = np.empty((n, len(FEATURE_NAMES)))
    traces = {var: np.empty((n, idx.size), dtype=np.float32) for var in VARIABLES} if keep_traces else None
    for sl in sub_batches(n, 8 * idx.size):
        tr = simulate_batch(theta[sl], sample_ids[sl], seed, settings)
        feats[sl] = features(tr, settings)
        if traces is not None:
            traces["r"][sl], traces["v"][sl] = tr.r, tr.v
        del tr  # before the next sub-batch's traces are allocated: one sub-batch in memory at a time
    rates = feats[:, [FEATURE_NAMES.index(f"r_{w}_mean") for w in WINDOWS]]
    return SimBatch(
        features=feats,
        outputs={"rates": rates},
        traces=traces,
        t=idx * settings.dt if keep_traces else None,
    )


def _model():
    from workflow.models.base import Model

    return Model(
        name="mpr",
        description="Montbrió–Pazó–Roxin mean field of QIF neurons under a step current (Baldy et al. 2024)",
        param_names=PARAM_NAMES,
        param_units=("1", "1", "1"),
        prior_bounds=PRIOR_BOUNDS,
        feature_names=FEATURE_NAMES,
        feature_units=tuple("s" if name.endswith("t_first_peak") else "1" for name in FEATURE_NAMES),
        settings_type=MPRSettings,
        simulator=_simulate_model,
        outputs={"rates": RATE_NAMES},
        output_units={"rates": "1/s"},
        ground_truth=GROUND_TRUTH,
        time_unit="s",
        cost=shard_cost,
    )


#: The model as seen by the campaign (``model: mpr``); see :mod:`workflow.models.base`.
MODEL = _model()
