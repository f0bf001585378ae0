"""A one-page figure of the simulated dataset: sample status, rates and example LFP traces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from workflow.contract import Status


def plot_dataset_summary(dataset_path: str | Path, shard_path: str | Path | None, out_path: str | Path,
                         n_traces: int = 4) -> None:  # fmt: skip
    """Status counts, E and I rate histograms of valid rows, and a few LFP-proxy traces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(dataset_path, "r") as d:
        status = d["status"][...]
        rates = d["rates"][...]
        valid = d["valid"][...]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    names = [s.name for s in Status]
    counts = np.bincount(status.astype(int), minlength=len(names))[: len(names)]
    axes[0].bar(range(len(names)), counts, color=["tab:green"] + ["tab:red"] * (len(names) - 1))
    axes[0].set_xticks(range(len(names)), [n.replace("_", "\n").lower() for n in names], fontsize=7)
    axes[0].set_ylabel("samples")
    axes[0].set_title(f"status (invalid fraction {1 - valid.mean():.2f})")
    bins = np.logspace(-1, np.log10(max(1.0, np.nanmax(rates[valid]) if valid.any() else 1.0)), 30)
    for col, pop, color in ((0, "E", "tab:blue"), (1, "I", "tab:orange")):
        axes[1].hist(rates[valid, col], bins=bins, histtype="step", color=color, label=pop)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("rate (Hz), valid samples")
    axes[1].legend()
    axes[1].set_title("population rates")
    _plot_traces(axes[2], shard_path, n_traces)
    fig.tight_layout()
    fig.savefig(out_path, dpi=120)
    plt.close(fig)


def _plot_traces(ax, shard_path: str | Path | None, n_traces: int) -> None:
    ax.set_title("LFP proxy (z dipole), first valid samples")
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
