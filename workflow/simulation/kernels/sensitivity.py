"""How much the kernel choice moves the features: kernel variants against the seed-to-seed spread.

The spike counts of the best-fit network (Hagen et al. 2022, :data:`~workflow.simulation.network.BEST_FIT`)
are simulated once per network seed with the campaign's settings. The features of the first
seed's counts are computed with the campaign's kernels (the reference) and with each variant:
the three cell membranes (``lin``, ``frozen``, ``passive``) at the configured V_rest, and the
``lin`` cell over a grid of V_rest. A variant's shift of a feature is expressed in units of the
feature's seed-to-seed standard deviation under the reference kernels (the spread a network seed
alone causes with the same kernels), so a shift above 1 moves the feature more than redrawing
the network does.

Seeds: ``SeedSequence(campaign.seed, spawn_key=(i, SampleStream.SENSITIVITY))`` for replicate i.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.contract import FEATURE_NAMES, FEATURE_SHORT_NAMES, PATHWAY_NAMES, POPULATIONS
from workflow.seeds import SIMULATOR_SEED_MAX, SampleStream, integer_seed, sample_sequence
from workflow.simulation.features import catch22
from workflow.simulation.kernels.biophysics import BIOPHYSICS
from workflow.simulation.kernels.compute import compute_kernels
from workflow.simulation.kernels.reference_network import ReferenceNetwork
from workflow.simulation.lfp import count_kernels, lfp_proxy
from workflow.simulation.network import BEST_FIT, NetworkParams
from workflow.simulation.simulators import SimSettings, simulate

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One kernel variant: a label and the reference network it is computed from."""

    label: str
    params: ReferenceNetwork


def variants(kcfg: Mapping, v_rest_grid_mV: Sequence[float]) -> list[Variant]:
    """The three membranes at the configured V_rest, then ``lin`` at every V_rest of the grid.

    Args:
        kcfg: the validated ``kernels`` config section.
        v_rest_grid_mV: resting potentials (mV) of the V_rest sweep, applied to both populations.
    """
    vrest = kcfg["v_rest_mV"]
    base = ReferenceNetwork(
        biophysics=kcfg["biophysics"], vrest_mV=None if vrest is None else {p: float(vrest[p]) for p in POPULATIONS}
    )
    out = [Variant(b, dataclasses.replace(base, biophysics=b)) for b in BIOPHYSICS]
    for v in v_rest_grid_mV:
        out.append(
            Variant(
                f"lin, V_rest {v:g} mV",
                dataclasses.replace(base, biophysics="lin", vrest_mV={p: float(v) for p in POPULATIONS}),
            )
        )
    return out


def best_fit_counts(cfg: Mapping, n_seeds: int) -> list[dict[str, np.ndarray]]:
    """Spike counts of the best-fit network for ``n_seeds`` network seeds (campaign settings)."""
    net, settings = NetworkParams.from_config(cfg), SimSettings.from_config(cfg)
    settings = dataclasses.replace(settings, abort_rate_hz=None)
    out = []
    for i in range(n_seeds):
        seed = integer_seed(sample_sequence(cfg["campaign"]["seed"], i, SampleStream.SENSITIVITY), SIMULATOR_SEED_MAX)
        res = simulate(BEST_FIT, net, settings, seed, cfg["simulation"]["simulator"])
        log.info("seed %d: rates %s Hz", i, {p: round(r, 2) for p, r in res.rates_hz.items()})
        out.append(res.counts)
    return out


def features_of(counts: Mapping[str, np.ndarray], kernels: Mapping[str, np.ndarray], cfg: Mapping) -> np.ndarray:
    """catch22 of the LFP proxy of ``counts`` through ``kernels``, exactly as a campaign sample."""
    net, settings = NetworkParams.from_config(cfg), SimSettings.from_config(cfg)
    trace = lfp_proxy(
        counts,
        count_kernels(kernels, cfg["lfp"]["kernel_pairing"]),
        {p: net.count_factor(p) for p in POPULATIONS},
        settings.dt_ms,
        settings.transient_ms,
        cfg["lfp"]["decimate"],
    )
    values, why = catch22(trace)
    if why:
        raise RuntimeError(f"features of the best-fit network are not finite: {why}")
    return values


def amplitude_table(kernel_sets: Mapping[str, Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """Per variant and pathway: the signed extremum (nA um) and the area (nA um ms / dt units)."""
    rows = []
    for label, kernels in kernel_sets.items():
        for name in PATHWAY_NAMES:
            h = np.asarray(kernels[name])
            i = int(np.argmax(np.abs(h)))
            rows.append({"variant": label, "pathway": name, "extremum_nA_um": float(h[i]), "sum": float(h.sum())})
    return pd.DataFrame(rows)


def sensitivity(
    cfg: Mapping, reference: Mapping[str, np.ndarray], n_seeds: int, v_rest_grid_mV: Sequence[float]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """Feature shifts of every variant against the seed-to-seed spread.

    Args:
        cfg: validated config (campaign, simulation, network, kernels, lfp sections).
        reference: the campaign's kernels (kernels.h5), sampled at ``simulation.dt_ms``.
        n_seeds: network seeds of the best fit (at least 3, for a spread).
        v_rest_grid_mV: V_rest values of the sweep.

    Returns:
        ``(shifts, amplitudes, kernel_sets)``: one row per variant and feature with the value, the
        reference value, the seed SD and the shift in SDs; the amplitude table; the kernels.
    """
    if n_seeds < 3:
        raise ValueError(f"kernel_sensitivity.n_seeds must be at least 3 for a spread, got {n_seeds}")
    dt, tau = float(cfg["simulation"]["dt_ms"]), float(cfg["kernels"]["tau_ms"])
    nu = {p: float(cfg["kernels"]["presynaptic_rates_hz"][p]) for p in POPULATIONS}
    counts = best_fit_counts(cfg, n_seeds)
    ref_feats = np.array([features_of(c, reference, cfg) for c in counts])
    sd = ref_feats.std(axis=0, ddof=1)
    kernel_sets = {"reference (campaign)": dict(reference)}
    rows = []
    for v in variants(cfg["kernels"], v_rest_grid_mV):
        kernels = compute_kernels(v.params, dt, tau, nu)
        kernel_sets[v.label] = kernels
        feats = features_of(counts[0], kernels, cfg)
        for j, name in enumerate(FEATURE_NAMES):
            shift = (
                (feats[j] - ref_feats[0, j]) / sd[j] if sd[j] > 0 else (0.0 if feats[j] == ref_feats[0, j] else np.inf)
            )
            rows.append(
                {
                    "variant": v.label,
                    "feature": name,
                    "short_name": FEATURE_SHORT_NAMES[j],
                    "value": feats[j],
                    "reference": ref_feats[0, j],
                    "seed_sd": sd[j],
                    "shift_in_sd": shift,
                }
            )
    return pd.DataFrame(rows), amplitude_table(kernel_sets), kernel_sets


def plot(
    shifts: pd.DataFrame, kernel_sets: Mapping[str, Mapping[str, np.ndarray]], dt_ms: float, path: str | Path
) -> None:
    """Figure: the four kernels of every variant, and the feature shifts (in seed SDs) as a heatmap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 8.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 1.3])
    for k, name in enumerate(PATHWAY_NAMES):
        ax = fig.add_subplot(grid[0, k])
        for label, kernels in kernel_sets.items():
            h = np.asarray(kernels[name])
            lag = (np.arange(h.size) - h.size // 2) * dt_ms
            keep = (lag >= 0) & (lag <= 30)
            ax.plot(lag[keep], h[keep], lw=2.2 if label.startswith("reference") else 1.0,
                    color="k" if label.startswith("reference") else None, label=label)  # fmt: skip
        ax.set_title(name.replace("_to_", " \u2192 "))
        ax.set_xlabel("lag (ms)")
        if k == 0:
            ax.set_ylabel("kernel (nA \u00b5m per spike)")
    fig.axes[0].legend(fontsize=6, loc="best")
    ax = fig.add_subplot(grid[1, :])
    table = shifts.pivot(index="variant", columns="short_name", values="shift_in_sd")
    table = table.loc[list(dict.fromkeys(shifts["variant"])), list(FEATURE_SHORT_NAMES)]
    values = np.clip(table.to_numpy(dtype=float), -20, 20)
    im = ax.imshow(values, cmap="RdBu_r", vmin=-20, vmax=20, aspect="auto")
    ax.set_xticks(range(values.shape[1]), table.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(values.shape[0]), table.index, fontsize=8)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if abs(values[i, j]) >= 1:
                ax.text(j, i, f"{values[i, j]:.0f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="feature shift / seed-to-seed SD (clipped at \u00b120)")
    ax.set_title("Features of one best-fit spike train through each kernel variant, against the reference kernels")
    fig.savefig(path, dpi=120)
    plt.close(fig)
