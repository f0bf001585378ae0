"""Cross-check figure: rates and LFP-proxy spectra of both simulators per draw."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.simulation.crosscheck.compare import summary_line
from workflow.simulation.crosscheck.run import RunSet

log = logging.getLogger(__name__)


def plot(
    df: pd.DataFrame,
    nest: RunSet,
    brian2: RunSet,
    path: str | Path,
    fmin_hz: float,
    fmax_hz: float,
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
    shown = means[means >= 0.1]  # below 0.1 Hz: silent in the sense of gates.rate_window.min_rate_hz
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
        ax.text(0.5, 0.5, "no draw with complete runs in both simulators", ha="center", transform=ax.transAxes)
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
