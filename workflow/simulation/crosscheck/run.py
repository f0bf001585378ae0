"""Cross-check runs: the same prior draws, several network seeds each, in one simulator."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
from scipy import signal

from workflow.contract import PARAM_NAMES, POPULATIONS
from workflow.seeds import replicate_seed
from workflow.simulation.gates import early_stop_config
from workflow.simulation.lfp import count_kernels, lfp_proxy
from workflow.simulation.network import NetworkParams
from workflow.simulation.prior import theta_dict
from workflow.simulation.simulators import SimSettings, simulate

log = logging.getLogger(__name__)

QUANTITIES: tuple[str, ...] = ("rate_E", "rate_I", "psd")


@dataclasses.dataclass(frozen=True)
class CrosscheckSpec:
    """What every run of the cross-check shares.

    ``kernels_by_pre``: summed kernel per presynaptic population
    (:func:`workflow.simulation.lfp.presynaptic_kernels`), sampled at ``settings.dt_ms``.
    """

    net: NetworkParams
    settings: SimSettings
    kernels_by_pre: Mapping[str, np.ndarray]
    decimate: int
    n_seeds: int
    seed: int
    nperseg: int

    @classmethod
    def from_config(cls, xcfg: Mapping, kernels: Mapping[str, np.ndarray]) -> CrosscheckSpec:
        """The spec of the runs from :func:`crosscheck_config` and the campaign's kernels."""
        return cls(
            net=NetworkParams.from_config(xcfg),
            settings=SimSettings.from_config(xcfg),
            kernels_by_pre=count_kernels(kernels, xcfg["lfp"]["kernel_pairing"]),
            decimate=int(xcfg["lfp"]["decimate"]),
            n_seeds=int(xcfg["crosscheck"]["n_seeds"]),
            seed=int(xcfg["campaign"]["seed"]),
            nperseg=int(xcfg["crosscheck"]["nperseg"]),
        )

    def __post_init__(self) -> None:
        if self.n_seeds < 2:
            raise ValueError(f"crosscheck.n_seeds must be >= 2 to measure a spread, got {self.n_seeds}")
        if self.decimate < 1:
            raise ValueError(f"lfp.decimate must be >= 1, got {self.decimate}")
        if self.nperseg < 8:
            raise ValueError(f"crosscheck.nperseg must be >= 8, got {self.nperseg}")

    @property
    def fs_hz(self) -> float:
        """Sampling rate of the decimated LFP proxy (Hz)."""
        return 1000.0 / (self.settings.dt_ms * self.decimate)

    @property
    def trace_len(self) -> int:
        n = -(-self.settings.n_bins // self.decimate)
        return n - int(round(self.settings.transient_ms / (self.settings.dt_ms * self.decimate)))

    @property
    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(min(self.nperseg, self.trace_len), d=1.0 / self.fs_hz)


@dataclasses.dataclass
class RunSet:
    """All runs of one simulator: arrays indexed (draw, replicate[, ...])."""

    simulator: str
    sample_id: np.ndarray  # (n,)
    params: np.ndarray  # (n, 7)
    seeds: np.ndarray  # (n, r)
    rates: np.ndarray  # (n, r, 2) Hz; whole-run rate up to the stop for aborted runs
    aborted: np.ndarray  # (n, r) bool
    silent: np.ndarray  # (n, r) bool, no spike after the transient
    freqs: np.ndarray  # (m,) Hz
    psd: np.ndarray  # (n, r, m) LFP-proxy PSD, NaN for aborted runs
    wall_s: np.ndarray  # (n, r)
    attrs: dict = dataclasses.field(default_factory=dict)


#: the ``crosscheck`` keys that decide the runs (the rest decide only the comparison)
RUN_KEYS: tuple[str, ...] = ("n_draws", "n_seeds", "nperseg", "scale", "tstop_ms")


def crosscheck_config(cfg: Mapping) -> dict:
    """The config of the cross-check's runs, in the config's own layout, from a validated config.

    ``crosscheck.scale`` and ``crosscheck.tstop_ms`` (null: the campaign's) are resolved into
    ``network.scale`` and ``simulation.tstop_ms``; runs use one thread. It holds exactly what
    decides the runs, so it serves as the rule's params and the file's provenance.
    """
    xc = cfg["crosscheck"]
    sim = cfg["simulation"]
    return {
        "crosscheck": {k: xc[k] for k in RUN_KEYS if k not in ("scale", "tstop_ms")},
        "campaign": {"seed": cfg["campaign"]["seed"]},
        "prior": dict(cfg["prior"]),
        "network": {"scale": xc["scale"] if xc["scale"] is not None else cfg["network"]["scale"]},
        "simulation": {
            "tstop_ms": xc["tstop_ms"] if xc["tstop_ms"] is not None else sim["tstop_ms"],
            "threads": 1,
            **{k: sim[k] for k in ("transient_ms", "dt_ms", "brian2_target")},
        },
        "gates": early_stop_config(cfg["gates"]),
        "lfp": {k: cfg["lfp"][k] for k in ("decimate", "kernel_pairing")},
    }


def runtime_min(cfg: Mapping, simulator: str, safety: float = 2.0) -> int:
    """Wall-time request (minutes) of one simulator's runs, from the measured per-sample cost."""
    from workflow.simulation.cost import sample_core_seconds

    xc = crosscheck_config(cfg)
    one = sample_core_seconds({**xc, "simulation": {**xc["simulation"], "simulator": simulator}})
    runs = int(xc["crosscheck"]["n_draws"]) * int(xc["crosscheck"]["n_seeds"])
    return max(10, int(safety * runs * one / 60.0) + 5)


def lfp_psd(trace: np.ndarray, fs_hz: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD (Hann, 50 % overlap) of an LFP-proxy trace; units (nA um)^2/Hz."""
    return signal.welch(trace, fs=fs_hz, nperseg=min(nperseg, trace.size), detrend="constant")


def run_simulator(simulator: str, params: np.ndarray, sample_ids: Sequence[int], spec: CrosscheckSpec) -> RunSet:
    """Simulate every draw ``n_seeds`` times with ``simulator``; never raises on bad dynamics."""
    n, r = len(sample_ids), spec.n_seeds
    freqs = spec.freqs
    out = RunSet(
        simulator=simulator,
        sample_id=np.asarray(sample_ids, dtype=np.int64),
        params=np.asarray(params, dtype=np.float64),
        seeds=np.zeros((n, r), dtype=np.int64),
        rates=np.full((n, r, 2), np.nan),
        aborted=np.zeros((n, r), dtype=bool),
        silent=np.zeros((n, r), dtype=bool),
        freqs=freqs,
        psd=np.full((n, r, freqs.size), np.nan),
        wall_s=np.zeros((n, r)),
    )
    factors = {p: spec.net.count_factor(p) for p in POPULATIONS}
    n_vp = set()
    for k, sid in enumerate(sample_ids):
        theta = theta_dict(params[k])
        for rep in range(r):
            seed = replicate_seed(spec.seed, sid, rep)
            out.seeds[k, rep] = seed
            t0 = time.perf_counter()
            res = simulate(theta, spec.net, spec.settings, seed, simulator)
            out.wall_s[k, rep] = time.perf_counter() - t0
            n_vp.add(res.n_vp)
            if res.aborted:
                t_done = res.t_done_ms or spec.settings.tstop_ms
                out.aborted[k, rep] = True
                out.rates[k, rep] = [res.counts[p].sum() / (spec.net.N[p] * t_done / 1000.0) for p in POPULATIONS]
            else:
                out.rates[k, rep] = [res.rates_hz[p] for p in POPULATIONS]
                out.silent[k, rep] = out.rates[k, rep].max() == 0.0
                trace = lfp_proxy(
                    res.counts, spec.kernels_by_pre, factors, spec.settings.dt_ms,
                    spec.settings.transient_ms, spec.decimate,
                )  # fmt: skip
                f, p = lfp_psd(trace, spec.fs_hz, spec.nperseg)
                out.psd[k, rep] = p
            rates = np.round(out.rates[k, rep], 2).tolist()
            stop = " aborted" if res.aborted else ""
            log.info(
                "%s draw %d seed %d: rates %s Hz%s (%.1f s)",
                simulator,
                sid,
                seed,
                rates,
                stop,
                out.wall_s[k, rep],
            )
    out.attrs = {
        "simulator": simulator,
        "n_vp": ",".join(str(v) for v in sorted(n_vp)),
        "brian2_target": spec.settings.brian2_target if simulator == "brian2" else "",
        "scale": spec.net.scale,
        "tstop_ms": spec.settings.tstop_ms,
        "transient_ms": spec.settings.transient_ms,
        "dt_ms": spec.settings.dt_ms,
        "decimate": spec.decimate,
        "n_seeds": spec.n_seeds,
        "seed": spec.seed,
        "nperseg": spec.nperseg,
    }
    return out


_ARRAYS = ("sample_id", "params", "seeds", "rates", "aborted", "silent", "freqs", "psd", "wall_s")


def write_runs(path: str | Path, runs: RunSet, extra_attrs: Mapping[str, object] | None = None) -> None:
    """Store a :class:`RunSet` in HDF5 (atomically), with names and units."""
    from workflow import h5io, table

    with h5io.atomic_h5(path) as f:
        for name in _ARRAYS:
            f.create_dataset(name, data=getattr(runs, name), track_times=False)
        table.write_names(f["params"], PARAM_NAMES)
        table.write_names(f["rates"], POPULATIONS, "Hz")
        f["freqs"].attrs["units"] = "Hz"
        f["psd"].attrs["units"] = "(nA um)^2/Hz"
        f["wall_s"].attrs["units"] = "s"
        for key, value in {**runs.attrs, **dict(extra_attrs or {})}.items():
            f.attrs[key] = value


def read_runs(path: str | Path) -> RunSet:
    with h5py.File(path, "r") as f:
        arrays = {name: f[name][()] for name in _ARRAYS}
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return RunSet(simulator=str(attrs["simulator"]), attrs=attrs, **arrays)
