"""Figures of the simulated dataset: a one-page summary (status and gate counts, rates, example
LFP traces) and every feature against the E rate, coloured by validity."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from workflow.contract import FEATURE_SHORT_NAMES, POPULATIONS, Status

#: colour per status in both figures (valid green; each reason of invalidity its own colour)
STATUS_COLORS: dict[Status, str] = {
    Status.OK: "tab:green",
    Status.SIMULATOR_ERROR: "black",
    Status.SILENT: "tab:gray",
    Status.RUNAWAY: "tab:red",
    Status.NAN_FEATURES: "tab:brown",
    Status.NOT_RUN: "lightgray",
    Status.FLAT_LFP: "tab:olive",
    Status.HIGH_RATE: "tab:orange",
    Status.EI_RATIO: "tab:purple",
    Status.SPECTRUM: "tab:blue",
}


def _preset(d: h5py.File) -> str:
    """The gates preset recorded in the dataset's provenance (``config_json``), or ``"?"``."""
    try:
        return str(json.loads(d.attrs["config_json"])["gates"]["preset"])
    except (KeyError, TypeError, ValueError):
        return "?"


def _gate_counts(d: h5py.File) -> dict[str, int]:
    try:
        return dict(json.loads(d.attrs["summary"])["gate_counts"])
    except (KeyError, TypeError, ValueError):
        return {}


def plot_dataset_summary(dataset_path: str | Path, shard_path: str | Path | None, out_path: str | Path,
                         n_traces: int = 4) -> None:  # fmt: skip
    """Samples per status and per failed gate, E and I rate histograms of valid rows, a few LFP traces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(dataset_path, "r") as d:
        status = d["status"][...]
        rates = d["rates"][...]
        valid = d["valid"][...]
        preset, gates = _preset(d), _gate_counts(d)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8), gridspec_kw={"width_ratios": [1.2, 1.0, 1.0, 1.2]})
    names = list(Status)
    counts = np.bincount(status.astype(int), minlength=len(names))[: len(names)]
    y = np.arange(len(names))
    axes[0].barh(y, counts, color=[STATUS_COLORS[s] for s in names])
    axes[0].set_yticks(y, [s.name.lower() for s in names], fontsize=7)
    axes[0].invert_yaxis()
    for k, c in enumerate(counts):
        axes[0].text(c, k, f" {c}", va="center", fontsize=7)
    axes[0].set_xlabel("samples (first failed gate)")
    axes[0].set_title(f"status, gates '{preset}' (invalid {1 - valid.mean():.2f})", fontsize=9)
    axes[1].set_title("samples failing each gate", fontsize=9)
    if gates:
        gy = np.arange(len(gates))
        axes[1].barh(gy, list(gates.values()), color="tab:red")
        axes[1].set_yticks(gy, list(gates), fontsize=7)
        axes[1].invert_yaxis()
        for k, c in enumerate(gates.values()):
            axes[1].text(c, k, f" {c}", va="center", fontsize=7)
    else:
        axes[1].text(0.5, 0.5, "no sample failed a gate", ha="center", transform=axes[1].transAxes)
    axes[1].set_xlabel("samples (a sample may fail several)")
    positive = rates[valid][rates[valid] > 0]
    top = max(1.0, float(np.nanmax(positive))) if positive.size else 1.0
    bins = np.logspace(-1, np.log10(top), 30)
    for col, pop, color in ((0, "E", "tab:blue"), (1, "I", "tab:orange")):
        axes[2].hist(rates[valid, col], bins=bins, histtype="step", color=color, label=pop)
    axes[2].set_xscale("log")
    axes[2].set_xlabel("rate (Hz), valid samples")
    axes[2].legend()
    axes[2].set_title("population rates", fontsize=9)
    _plot_traces(axes[3], shard_path, n_traces)
    fig.tight_layout()
    fig.savefig(out_path, dpi=120)
    plt.close(fig)


def _plot_traces(ax, shard_path: str | Path | None, n_traces: int) -> None:
    ax.set_title("LFP proxy (z dipole), first valid samples", fontsize=9)
    if shard_path is None:
        ax.text(0.5, 0.5, "no traces stored (simulation.store_lfp: false)", ha="center", transform=ax.transAxes)
        return
    with h5py.File(shard_path, "r") as f:
        if "lfp" not in f:
            ax.text(0.5, 0.5, "no traces stored", ha="center", transform=ax.transAxes)
            return
        rows: Sequence[int] = np.flatnonzero(f["valid"][...])[:n_traces]
        dt = float(f["lfp"].attrs["dt_ms"])
        for k, i in enumerate(rows):
            y = f["lfp"][i]
            t = np.arange(y.size) * dt
            ax.plot(t, (y - y.mean()) / (y.std() or 1.0) + 4 * k, lw=0.6, label=f"sample {f['sample_id'][i]}")
    ax.set_xlabel("time after transient (ms)")
    ax.set_yticks([])


def plot_features_vs_rate(dataset_path: str | Path, out_path: str | Path, max_points: int = 20_000) -> None:
    """Each catch22 feature against the post-transient E rate, one colour per status.

    Rows without features (runs stopped early, simulator errors, flat traces) cannot be drawn;
    the legend gives their count. Above ``max_points`` rows, every k-th row is drawn.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    with h5py.File(dataset_path, "r") as d:
        n = d["status"].shape[0]
        step = max(1, -(-n // max_points))
        status = d["status"][::step].astype(int)
        rate_e = d["rates"][::step, POPULATIONS.index("E")]
        feats = d["features"][::step]
        preset = _preset(d)
    drawable = np.isfinite(feats).all(axis=1) & np.isfinite(rate_e)
    x = np.clip(rate_e, 1e-2, None)  # a silent population at the axis' floor
    n_feat = feats.shape[1]
    ncols = 6
    nrows = -(-(n_feat + 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.1 * nrows), squeeze=False)
    order = [s for s in Status if s != Status.OK] + [Status.OK]  # valid drawn last, on top
    size = 3 if drawable.sum() > 2000 else 10
    for j in range(n_feat):
        ax = axes.flat[j]
        for s in order:
            m = drawable & (status == s)
            if m.any():
                ax.scatter(x[m], feats[m, j], s=size, alpha=0.6, lw=0, color=STATUS_COLORS[s], rasterized=True)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(FEATURE_SHORT_NAMES[j], fontsize=8)
        ax.tick_params(labelsize=6)
        if j + ncols >= n_feat:  # no feature panel below
            ax.set_xlabel("E rate (Hz)", fontsize=7)
    legend_ax = axes.flat[n_feat]
    legend_ax.axis("off")
    for s in order[::-1]:
        total, shown = int(np.sum(status == s)), int(np.sum(drawable & (status == s)))
        if total:
            label = f"{s.name.lower()}: {shown}" + (f" of {total} drawn" if shown < total else "")
            legend_ax.scatter([], [], s=12, color=STATUS_COLORS[s], label=label)
    legend_ax.legend(loc="center", fontsize=7, frameon=False, title=f"gates '{preset}'", title_fontsize=8)
    for ax in axes.flat[n_feat + 1 :]:
        ax.axis("off")
    rows = f"every {step}th of {n} rows" if step > 1 else f"{n} rows"
    fig.suptitle(f"catch22 features against the E rate, coloured by status ({rows})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
