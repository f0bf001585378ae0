"""Cross-simulator check: the same prior draws in NEST and Brian2, judged against seed noise.

Each of N prior draws is simulated ``n_seeds`` times by each simulator, with network seeds
from ``SeedSequence(seed, spawn_key=(sample_id, CROSSCHECK_STREAM, replicate))``. The same
seed integers go to both simulators, but they draw their networks from different random
streams, so every run is an independent network of the same ensemble. Per run we keep the
post-transient mean E and I rates and the Welch power spectrum of the LFP proxy, computed
exactly as in the campaign (:func:`workflow.lfp.lfp_proxy`: same kernels, count rescaling,
decimation and transient).

Agreement, per draw and quantity q (E rate, I rate, LFP spectrum):

``diff``
    |mean_NEST - mean_Brian2| over seeds; for the spectrum, the RMS over [fmin, fmax] of
    the difference of the seed-mean log10 PSDs (decades).
``spread``
    the seed-to-seed standard deviation pooled over the two simulators,
    sqrt((s_NEST^2 + s_Brian2^2) / 2); for the spectrum, the RMS over frequency of the pooled
    standard deviation of log10 PSD.
``tol``
    max(spread, rel_tol * |mean|), i.e. the spread, or 10 % where the spread is smaller
    (log10(1 + rel_tol) decades for the spectrum).

q agrees if diff <= tol; a draw agrees if all three agree and the simulators agree on
whether the network ran away (stopped early). Spectra are compared only when every run of
the draw completed with spikes after the transient. With identical simulators the difference
of n-seed means scatters with sqrt(2/n) times the spread, so a scalar can exceed its spread
by chance (about 22 % of the time for n = 3 when the 10 % floor does not apply); the
spectrum's RMS over many frequencies concentrates near sqrt(2/n) < 1 and fails by chance rarely.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from scipy import signal

from workflow.contract import PARAM_NAMES
from workflow.lfp import lfp_proxy
from workflow.network import POPULATIONS, NetworkParams
from workflow.prior import theta_dict
from workflow.sim import SimSettings, simulate

log = logging.getLogger(__name__)

#: spawn-key stream of the cross-check's network seeds (the prior uses 0 and 1)
CROSSCHECK_STREAM = 2

SIMULATORS: tuple[str, str] = ("nest", "brian2")
QUANTITIES: tuple[str, ...] = ("rate_E", "rate_I", "psd")


@dataclasses.dataclass(frozen=True)
class CrosscheckSpec:
    """What every run of the cross-check shares.

    ``kernels_by_pre``: summed kernel per presynaptic population
    (:func:`workflow.lfp.presynaptic_kernels`), sampled at ``settings.dt_ms``.
    """

    net: NetworkParams
    settings: SimSettings
    kernels_by_pre: Mapping[str, np.ndarray]
    decimate: int = 10
    n_seeds: int = 3
    seed: int = 12345
    nperseg: int = 256

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


#: defaults of the config's ``crosscheck`` block (workflow/schemas/crosscheck.schema.fragment.yaml)
DEFAULTS: dict[str, object] = {
    "enabled": False,
    "n_draws": 20,
    "n_seeds": 3,
    "scale": None,
    "tstop_ms": None,
    "rel_tol": 0.10,
    "fmin_hz": 5.0,
    "fmax_hz": 500.0,
    "nperseg": 256,
}


def settings_from_config(cfg: Mapping) -> dict[str, object]:
    """The ``crosscheck`` block with defaults; ``scale`` and ``tstop_ms`` resolved from the campaign."""
    out = {**DEFAULTS, **dict(cfg.get("crosscheck") or {})}
    unknown = set(out) - set(DEFAULTS)
    if unknown:
        raise KeyError(f"unknown crosscheck keys {sorted(unknown)}")
    out["scale"] = float(out["scale"] or cfg["network"]["scale"])
    out["tstop_ms"] = float(out["tstop_ms"] or cfg["simulation"]["tstop_ms"])
    return out


def runtime_min(cfg: Mapping, simulator: str, safety: float = 2.0) -> int:
    """Wall-time request (minutes) of one simulator's runs, from the measured per-sample cost."""
    from workflow.cost import sample_core_seconds

    xc = settings_from_config(cfg)
    one = sample_core_seconds(
        {
            "simulation": {**cfg["simulation"], "tstop_ms": xc["tstop_ms"], "simulator": simulator},
            "network": {"scale": xc["scale"]},
        }
    )
    runs = int(xc["n_draws"]) * int(xc["n_seeds"])
    return max(10, int(safety * runs * one / 60.0) + 5)


def replicate_seed(seed: int, sample_id: int, replicate: int) -> int:
    """Network seed of one replicate of a draw, in [1, 2**31 - 2]."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(sample_id), CROSSCHECK_STREAM, int(replicate)))
    return int(ss.generate_state(1, dtype=np.uint32)[0] % (2**31 - 2)) + 1


def lfp_psd(trace: np.ndarray, fs_hz: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch PSD (Hann, 50 % overlap) of an LFP-proxy trace; units (nA um)^2/Hz."""
    return signal.welch(trace, fs=fs_hz, nperseg=min(nperseg, trace.size), detrend="constant")


def run_simulator(
    simulator: str, params: np.ndarray, sample_ids: Sequence[int], spec: CrosscheckSpec
) -> RunSet:
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
                out.rates[k, rep] = [
                    res.counts[p].sum() / (spec.net.N[p] * t_done / 1000.0) for p in POPULATIONS
                ]
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
    from workflow import h5io

    with h5io.atomic_h5(path) as f:
        for name in _ARRAYS:
            f.create_dataset(name, data=getattr(runs, name), track_times=False)
        h5io.write_names(f["params"], PARAM_NAMES)
        h5io.write_names(f["rates"], POPULATIONS, "Hz")
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


def _pooled_sd(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt((np.var(a, axis=axis, ddof=1) + np.var(b, axis=axis, ddof=1)) / 2.0)


def compare(
    nest: RunSet, brian2: RunSet, fmin_hz: float = 5.0, fmax_hz: float = 500.0, rel_tol: float = 0.10
) -> pd.DataFrame:
    """One row per draw: means, spreads, differences, tolerances and verdicts (module docstring)."""
    if not np.array_equal(nest.sample_id, brian2.sample_id) or not np.allclose(nest.params, brian2.params):
        raise ValueError("the NEST and Brian2 runs cover different draws")
    if not np.allclose(nest.freqs, brian2.freqs):
        raise ValueError("the NEST and Brian2 spectra have different frequency grids")
    if not 0 < rel_tol < 1:
        raise ValueError(f"crosscheck.rel_tol must lie in (0, 1), got {rel_tol}")
    band = (nest.freqs >= fmin_hz) & (nest.freqs <= fmax_hz)
    if band.sum() < 2:
        raise ValueError(f"crosscheck band [{fmin_hz}, {fmax_hz}] Hz holds fewer than 2 frequencies")
    rows = []
    for k, sid in enumerate(nest.sample_id):
        row: dict[str, object] = {"sample_id": int(sid)}
        row.update({name: float(v) for name, v in zip(PARAM_NAMES, nest.params[k], strict=True)})
        notes = []
        for i, pop in enumerate(POPULATIONS):
            a, b = nest.rates[k, :, i], brian2.rates[k, :, i]
            q = f"rate_{pop}"
            row[f"{q}_nest_mean"], row[f"{q}_nest_sd"] = a.mean(), a.std(ddof=1)
            row[f"{q}_brian2_mean"], row[f"{q}_brian2_sd"] = b.mean(), b.std(ddof=1)
            diff, spread = abs(a.mean() - b.mean()), float(_pooled_sd(a, b))
            tol = max(spread, rel_tol * abs(np.concatenate([a, b]).mean()))
            row.update(
                {f"{q}_diff": diff, f"{q}_spread": spread, f"{q}_tol": tol, f"{q}_agree": bool(diff <= tol)}
            )
        ab_n, ab_b = int(nest.aborted[k].sum()), int(brian2.aborted[k].sum())
        row["n_aborted_nest"], row["n_aborted_brian2"] = ab_n, ab_b
        row["n_silent_nest"], row["n_silent_brian2"] = int(nest.silent[k].sum()), int(brian2.silent[k].sum())
        status_agree = (ab_n > 0) == (ab_b > 0)
        if not status_agree:
            r = nest.seeds.shape[1]
            notes.append(f"stopped early in {ab_n}/{r} NEST and {ab_b}/{r} Brian2 runs")
        elif ab_n > 0:
            notes.append("runaway in both (stopped early); rates up to the stop")
        complete = not (
            nest.aborted[k].any() or brian2.aborted[k].any() or nest.silent[k].any() or brian2.silent[k].any()
        )
        if complete:
            la, lb = np.log10(nest.psd[k][:, band]), np.log10(brian2.psd[k][:, band])
            diff = float(np.sqrt(np.mean((la.mean(axis=0) - lb.mean(axis=0)) ** 2)))
            spread = float(np.sqrt(np.mean(_pooled_sd(la, lb, axis=0) ** 2)))
            tol = max(spread, math.log10(1.0 + rel_tol))
            row.update(
                {"psd_diff": diff, "psd_spread": spread, "psd_tol": tol, "psd_agree": bool(diff <= tol)}
            )
        else:
            row.update({"psd_diff": np.nan, "psd_spread": np.nan, "psd_tol": np.nan, "psd_agree": pd.NA})
            if not (ab_n or ab_b):
                notes.append("silent run(s): spectrum not compared")
        rates_agree = row["rate_E_agree"] and row["rate_I_agree"]
        psd_ok = True if row["psd_agree"] is pd.NA else bool(row["psd_agree"])
        row["agree"] = bool(rates_agree and psd_ok and status_agree)
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows)


def summary_line(df: pd.DataFrame) -> str:
    """One-line verdict, e.g. ``19/20 draws agree (rates E 20/20, I 19/20, spectra 17/17 compared)``."""
    psd = df["psd_agree"].dropna().astype(bool)
    return (
        f"{int(df['agree'].sum())}/{len(df)} draws agree (E rate {int(df['rate_E_agree'].sum())}/{len(df)}, "
        f"I rate {int(df['rate_I_agree'].sum())}/{len(df)}, spectra {int(psd.sum())}/{psd.size} compared)"
    )


def plot(
    df: pd.DataFrame,
    nest: RunSet,
    brian2: RunSet,
    path: str | Path,
    fmin_hz: float = 5.0,
    fmax_hz: float = 500.0,
) -> None:
    """Figure: rates NEST vs Brian2, diff/tol per draw and quantity, and two example spectra."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    ax = axes[0, 0]
    for pop, marker, color in (("E", "o", "tab:red"), ("I", "s", "tab:blue")):
        q = f"rate_{pop}"
        ax.errorbar(
            df[f"{q}_nest_mean"], df[f"{q}_brian2_mean"], xerr=df[f"{q}_nest_sd"], yerr=df[f"{q}_brian2_sd"],
            fmt=marker, color=color, ms=5, lw=0.8, label=f"{pop} rate",
        )  # fmt: skip
        bad = ~df[f"{q}_agree"].astype(bool)
        ax.plot(df.loc[bad, f"{q}_nest_mean"], df.loc[bad, f"{q}_brian2_mean"], "x", color="k", ms=9)
    means = df[[c for c in df if c.endswith("_mean")]].to_numpy(dtype=float)
    shown = means[means >= 0.1]  # below 0.1 Hz: silent in the campaign's sense (min_rate_hz)
    lo = float(shown.min()) / 2 if shown.size else 0.1
    hi = float(shown.max()) * 2 if shown.size else 100.0
    n_hidden = int((df[["rate_E_nest_mean", "rate_E_brian2_mean"]].max(axis=1) < lo).sum())
    if n_hidden:
        ax.text(0.97, 0.03, f"{n_hidden} draw(s) with E rates < {lo:.2g} Hz in both not shown", ha="right",
                transform=ax.transAxes, fontsize=8)  # fmt: skip
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.fill_between([lo, hi], [lo / 1.1, hi / 1.1], [lo * 1.1, hi * 1.1], color="0.85", label="±10 %")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(lo, hi),
        ylim=(lo, hi),
        xlabel="NEST rate (Hz)",
        ylabel="Brian2 rate (Hz)",
    )
    ax.set_title("a  mean rate over seeds (bars: seed-to-seed SD; x: disagree)", loc="left", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    x = np.arange(len(df))
    for off, q, color in (
        (-0.25, "rate_E", "tab:red"),
        (0.0, "rate_I", "tab:blue"),
        (0.25, "psd", "tab:green"),
    ):
        ratio = (df[f"{q}_diff"] / df[f"{q}_tol"]).to_numpy(dtype=float)
        ax.bar(x + off, np.nan_to_num(ratio, nan=0.0), width=0.25, color=color, label=q.replace("_", " "))
        missing = ~np.isfinite(ratio)
        ax.plot(x[missing] + off, np.full(missing.sum(), 0.05), "|", color=color)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(x, [str(s) for s in df["sample_id"]], fontsize=7, rotation=90)
    ax.set(xlabel="draw (sample id)", ylabel="difference / tolerance")
    ax.set_title(
        "b  difference / tolerance (<= 1 agrees; |: not compared)",
        loc="left",
        fontsize=9,
    )
    ax.legend(fontsize=8)

    compared = df["psd_agree"].notna().to_numpy()
    ratio = (df["psd_diff"] / df["psd_tol"]).to_numpy(dtype=float)
    examples = []
    if compared.any():
        idx = np.flatnonzero(compared)
        order = idx[np.argsort(ratio[idx])]
        examples = [("median", order[len(order) // 2]), ("largest difference", order[-1])]
    band = (nest.freqs >= fmin_hz) & (nest.freqs <= fmax_hz)
    for ax, (label, k) in zip(axes[1], examples, strict=False):
        for runs, color, name in ((nest, "tab:orange", "NEST"), (brian2, "tab:purple", "Brian2")):
            lp = np.log10(runs.psd[k][:, band])
            m, s = lp.mean(axis=0), lp.std(axis=0, ddof=1)
            f = runs.freqs[band]
            ax.plot(f, 10**m, color=color, label=f"{name} (mean of {lp.shape[0]} seeds)")
            ax.fill_between(f, 10 ** (m - s), 10 ** (m + s), color=color, alpha=0.25)
        ax.set(xscale="log", yscale="log", xlabel="frequency (Hz)", ylabel="LFP-proxy PSD ((nA µm)²/Hz)")
        ax.set_title(
            f"{'cd'[list(axes[1]).index(ax)]}  spectrum, {label}: sample {int(df['sample_id'][k])}, "
            f"diff {df['psd_diff'][k]:.3f} / tol {df['psd_tol'][k]:.3f} dec",
            loc="left", fontsize=9,
        )  # fmt: skip
        ax.legend(fontsize=8)
    for ax in list(axes[1])[len(examples) :]:
        ax.text(
            0.5, 0.5, "no draw with complete runs in both simulators", ha="center", transform=ax.transAxes
        )
        ax.set_axis_off()
    fig.suptitle(
        f"NEST vs Brian2 ({brian2.attrs.get('brian2_target', '')}): {len(df)} prior draws, scale "
        f"{nest.attrs.get('scale')}, {nest.seeds.shape[1]} seeds each, {nest.attrs.get('tstop_ms')} ms\n"
        f"{summary_line(df)}",
        fontsize=11,
    )
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
