"""Cross-check comparison: per draw and quantity, the simulators' difference against the seed spread."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from workflow.contract import PARAM_NAMES, POPULATIONS
from workflow.simulation.crosscheck.run import RunSet

log = logging.getLogger(__name__)


def _pooled_sd(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt((np.var(a, axis=axis, ddof=1) + np.var(b, axis=axis, ddof=1)) / 2.0)


def compare(nest: RunSet, brian2: RunSet, fmin_hz: float, fmax_hz: float, rel_tol: float) -> pd.DataFrame:
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
            row.update({f"{q}_diff": diff, f"{q}_spread": spread, f"{q}_tol": tol, f"{q}_agree": bool(diff <= tol)})
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
            row.update({"psd_diff": diff, "psd_spread": spread, "psd_tol": tol, "psd_agree": bool(diff <= tol)})
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
