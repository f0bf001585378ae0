"""From recordings to posteriors: what ``python -m workflow infer`` and the observations stage run.

:class:`Engine` holds what every recording shares (the fold models, the misspecification model,
the explanation's functionals and background): build it once, then call
:meth:`Engine.infer` for one or many recordings. The order of work is fixed so that bad input
stops before anything is computed: the campaign is read and checked (:func:`load_campaign`),
then every recording is read and checked (:func:`workflow.infer.traces.load_traces`), and the
predictive check's kernels too, and only then are features, posteriors, scores and figures
computed.

Outputs in the output folder (``out``), for recordings named ``<name>`` (the file's stem; made
unique by suffixing ``-2``, ``-3`` ... when two files share one):

* ``posterior.h5`` (:func:`write_posterior`): ``posterior`` (n_recordings, draws, n_targets)
  with ``names``, ``units`` and the provenance of the models and the campaign;
* ``summary.csv``: one row per recording and target (:data:`workflow.infer.posterior.SUMMARY_COLUMNS`);
* ``pairplot_<name>.png``: sbi's pairplot of the posterior, axes spanning the prior's support;
* ``explain_<name>_<target>.png``: SHAP waterfalls of the posterior mean and IQR;
* with a predictive check of K draws: ``ppc/<name>/draw-<j>.h5`` (one-row shards),
  ``ppc_<name>.csv`` (verdict per feature) and ``ppc_<name>.png``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from workflow.contract import FEATURE_NAMES, PARAM_NAMES, PARAM_UNITS, TARGET_NAMES
from workflow.h5io import atomic_h5, provenance_attrs
from workflow.infer import crossconformal as cc
from workflow.infer.campaign import Campaign, CampaignError
from workflow.infer.explain import (
    MixtureFunctionals,
    background,
    explain,
    explained_windows,
    plot_explanation,
)
from workflow.infer.posterior import combine_windows, summary_table, window_draws
from workflow.infer.ppc import (
    PPCError,
    compare,
    parameters_for_targets,
    plot_ppc,
    read_draw,
    simulate_draw,
)
from workflow.infer.streams import Purpose, generator, ppc_network_root, recording_digest
from workflow.infer.traces import PreparedTrace, TraceError, load_traces, prepare_traces
from workflow.inference.explain import ShapConfig
from workflow.inference.targetprior import TargetPrior

log = logging.getLogger(__name__)

#: the misspecification check flags a window whose cross-conformal p-value is at most this
#: (workflow/infer/crossconformal.py): the chance that a window like the campaign's is flagged
MISSPECIFICATION_FPR = 0.05

TARGET_UNITS: tuple[str, ...] = ("1", "ms", "ms", "pA")


class InferError(ValueError):
    """Inference cannot run; the message names the file or folder and the problem."""


@dataclasses.dataclass
class RecordingResult:
    """One recording's results.

    Attributes:
        name: its name in the outputs; path: its file; fs_hz: its own rate (Hz).
        windows: (W, n) at the campaign's rate; features: (W, 22).
        window_draws: (W, N, T) each window's posterior; draws: (N, T) the recording's.
        accepted: (W, k) accepted fraction of each fold's base draws.
        window_scores, window_p: (W,) misspecification scores and cross-conformal p-values.
        score, p_value, misspecified: the recording's
            (:func:`workflow.infer.crossconformal.combine_windows`); misspecified: p <= fpr.
        explained: indices of the explained windows; shap_values (m, 22, T, 2),
            shap_base (m, T, 2), shap_outputs (m, T, 2).
        ppc_params: (K, 7) parameter sets of the predictive check (K = 0: none).
        digest: the recording's digest (its streams).
    """

    name: str
    path: Path
    fs_hz: float
    windows: np.ndarray
    features: np.ndarray
    window_draws: np.ndarray
    draws: np.ndarray
    accepted: np.ndarray
    window_scores: np.ndarray
    window_p: np.ndarray
    score: float
    p_value: float
    misspecified: bool
    explained: np.ndarray
    shap_values: np.ndarray
    shap_base: np.ndarray
    shap_outputs: np.ndarray
    ppc_params: np.ndarray
    digest: tuple[int, int]
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)


def recording_names(paths: Sequence[str | Path]) -> list[str]:
    """Each file's stem, made unique with ``-2``, ``-3`` ... in order."""
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        stem = Path(p).stem
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return out


def fit_misspecification(campaign: Campaign) -> cc.CrossConformal:
    """The campaign's misspecification check, on its valid rows and folds, at :data:`MISSPECIFICATION_FPR`.

    Raises:
        InferError: naming the training data if the campaign is too small for it.
    """
    try:
        return cc.fit(campaign.features, campaign.row_fold, campaign.seed, MISSPECIFICATION_FPR)
    except ValueError as exc:
        raise InferError(
            f"{campaign.provenance['training_data']}: too small for the misspecification check ({exc}); "
            f"it needs at least {math.ceil(1 / MISSPECIFICATION_FPR - 1)} valid rows (run a larger campaign)"
        ) from None


def check_kernels(campaign: Campaign, kernels_path: str | Path) -> Path:
    """The campaign's kernels for the predictive check, checked before anything is computed.

    Raises:
        InferError: naming the file if it is missing, unreadable or made at another dt.
    """
    from workflow.simulation.kernels import read_kernels

    path = Path(kernels_path)
    if not path.is_file():
        raise InferError(
            f"{path}: missing; --ppc simulates with the campaign's LFP kernels (results/kernels.h5 next to "
            "results/folds; `snakemake results/kernels.h5` makes them)"
        )
    try:
        _, attrs = read_kernels(path)
    except (OSError, ValueError, KeyError) as exc:
        raise InferError(f"{path}: not a kernels file ({exc})") from None
    dt = campaign.config["simulation"]["dt_ms"]
    if abs(float(attrs["dt_ms"]) - dt) > 1e-12:
        raise InferError(f"{path}: kernels made at dt = {attrs['dt_ms']} ms, the campaign simulates at {dt} ms")
    return path


class Engine:
    """What every recording shares; built once for many recordings.

    Args:
        campaign: the trained campaign (:func:`workflow.infer.campaign.load_campaign`).

    Raises:
        InferError: if the campaign is too small for the misspecification check, or its
            ``inference.shap`` settings are bad.
    """

    def __init__(self, campaign: Campaign) -> None:
        t0 = time.perf_counter()
        self.campaign = campaign
        self.misspecification = fit_misspecification(campaign)
        try:
            self.shap = ShapConfig.from_config(campaign.config["inference"]["shap"])
        except ValueError as exc:
            raise InferError(f"{campaign.config_source}: {exc}") from None
        self.functionals = MixtureFunctionals(campaign, self.shap)
        self.background = background(campaign, self.shap.n_background)
        self.target_prior = TargetPrior.from_config(campaign.config["prior"])
        self.setup_seconds = time.perf_counter() - t0

    def infer_one(self, name: str, trace: PreparedTrace, n_draws: int, ppc: int) -> RecordingResult:
        """Posterior, misspecification, explanation and predictive-check parameters of one recording."""
        c, t = self.campaign, {}
        t0 = time.perf_counter()
        digest = recording_digest(trace.windows)
        wdraws, accepted = window_draws(c, trace.features, n_draws, digest)
        draws = combine_windows(wdraws, n_draws, digest, c.seed)
        t["posterior"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        w_scores, w_p = self.misspecification.evaluate(trace.features)
        p_value, score = cc.combine_windows(w_p, w_scores)
        t["misspecification"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        explained = explained_windows(len(trace.features))
        values, base, outputs = explain(
            c, self.functionals, trace.features[explained], self.background, self.shap.n_permutations, digest
        )
        t["explanation"] = time.perf_counter() - t0
        params = np.empty((0, len(PARAM_NAMES)))
        if ppc:
            try:
                params = parameters_for_targets(
                    draws[:ppc], self.target_prior, c.seed, generator(c.seed, Purpose.PPC_PARAMS, *digest)
                )
            except PPCError as exc:
                raise InferError(f"{trace.path}: the predictive check: {exc}") from None
        return RecordingResult(
            name=name,
            path=trace.path,
            fs_hz=trace.fs_in_hz,
            windows=np.asarray(trace.windows),
            features=trace.features,
            window_draws=wdraws,
            draws=draws,
            accepted=accepted,
            window_scores=w_scores,
            window_p=w_p,
            score=score,
            p_value=p_value,
            misspecified=bool(p_value <= self.misspecification.fpr),
            explained=explained,
            shap_values=values,
            shap_base=base,
            shap_outputs=outputs,
            ppc_params=params,
            digest=digest,
            seconds=t,
        )

    def write(self, results: list[RecordingResult], out: str | Path, n_draws: int, ppc: int) -> None:
        """posterior.h5, summary.csv, the pairplots and the explanation figures in ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_posterior(out / "posterior.h5", results, self, n_draws, ppc)
        summary(results, self).to_csv(out / "summary.csv", index=False)
        for r in results:
            plot_pairplot(r, self.campaign, out / f"pairplot_{r.name}.png")
            for t, target in enumerate(TARGET_NAMES):
                plot_explanation(
                    r.shap_values, r.shap_base, r.shap_outputs, target, t, r.name, len(r.features),
                    out / f"explain_{r.name}_{target}.png",
                )  # fmt: skip


def summary(results: list[RecordingResult], engine: Engine) -> pd.DataFrame:
    """The summary table of some recordings."""
    return summary_table(
        [r.name for r in results],
        [str(r.path) for r in results],
        np.stack([r.draws for r in results]),
        TARGET_NAMES,
        np.array([r.misspecified for r in results]),
        np.array([r.score for r in results]),
        np.array([r.p_value for r in results]),
        engine.misspecification.fpr,
        np.array([len(r.features) for r in results]),
    )


def _strings(values: Sequence[str]) -> np.ndarray:
    return np.array([str(v) for v in values], dtype=h5py.string_dtype())


def write_posterior(path: str | Path, results: list[RecordingResult], engine: Engine, n_draws: int, ppc: int) -> None:
    """Write ``posterior.h5`` atomically (layout in the code; every dataset carries ``names``)."""
    c, m = engine.campaign, engine.misspecification
    settings = {"draws": int(n_draws), "ppc": int(ppc), "shap": dataclasses.asdict(engine.shap)}
    opts: dict[str, Any] = {"track_times": False}
    with atomic_h5(path) as fh:
        fh.attrs.update(provenance_attrs(settings, seed=c.seed, **c.provenance))
        fh.attrs["fs_hz"] = c.timing.fs_hz
        fh.attrs["n_points"] = c.timing.n_points
        fh.attrs["window_s"] = c.timing.duration_s
        fh.attrs["mixture"] = (
            f"equal-weight mixture of the {len(c.folds)} fold posteriors (folds {list(c.fold_ids)}), inside the "
            "prior's support, in target units; a recording's posterior is the equal-weight mixture of its "
            "windows' (workflow/infer/posterior.py)"
        )
        d = fh.create_dataset("posterior", data=np.stack([r.draws for r in results]), **opts)
        d.attrs["names"] = list(TARGET_NAMES)
        d.attrs["units"] = list(TARGET_UNITS)
        d.attrs["axes"] = ["recording", "draw", "target"]
        d.attrs["support_low"] = c.low
        d.attrs["support_high"] = c.high
        fh.create_dataset("recording", data=_strings([r.name for r in results]), **opts).attrs["names"] = ["recording"]
        fh.create_dataset("path", data=_strings([str(r.path) for r in results]), **opts).attrs["names"] = ["path"]
        d = fh.create_dataset("recording_fs_hz", data=np.array([r.fs_hz for r in results]), **opts)
        d.attrs["names"], d.attrs["units"] = ["fs_hz"], "Hz"
        d = fh.create_dataset("n_windows", data=np.array([len(r.features) for r in results]), **opts)
        d.attrs["names"] = ["n_windows"]

        g = fh.create_group("windows")
        g.attrs["description"] = "every window of every recording, in order; 'recording' indexes the recordings"
        rec = np.concatenate([np.full(len(r.features), i) for i, r in enumerate(results)])
        idx = np.concatenate([np.arange(len(r.features)) for r in results])
        g.create_dataset("recording", data=rec, **opts).attrs["names"] = ["recording"]
        g.create_dataset("index", data=idx, **opts).attrs["names"] = ["window"]
        d = g.create_dataset("start_s", data=idx * c.timing.duration_s, **opts)
        d.attrs["names"], d.attrs["units"] = ["start_s"], "s"
        d = g.create_dataset("trace", data=np.concatenate([r.windows for r in results]), **opts)
        d.attrs["names"], d.attrs["units"] = ["trace"], "the recording's own units"
        d.attrs["fs_hz"] = c.timing.fs_hz
        d = g.create_dataset("features", data=np.concatenate([r.features for r in results]), **opts)
        d.attrs["names"] = list(FEATURE_NAMES)
        d = g.create_dataset("posterior", data=np.concatenate([r.window_draws for r in results]), **opts)
        d.attrs["names"], d.attrs["units"] = list(TARGET_NAMES), list(TARGET_UNITS)
        d.attrs["axes"] = ["window", "draw", "target"]
        d = g.create_dataset("accepted_fraction", data=np.concatenate([r.accepted for r in results]), **opts)
        d.attrs["names"] = [f"fold-{k}" for k in c.fold_ids]
        g.create_dataset("score", data=np.concatenate([r.window_scores for r in results]), **opts).attrs["names"] = [
            "score"
        ]
        g.create_dataset("p_value", data=np.concatenate([r.window_p for r in results]), **opts).attrs["names"] = [
            "p_value"
        ]
        flagged = np.concatenate([r.window_p <= m.fpr for r in results])
        g.create_dataset("flagged", data=flagged, **opts).attrs["names"] = ["flagged"]

        g = fh.create_group("misspecification")
        g.attrs.update({
            "method": "knn-cross-conformal",
            "description": (
                "score: mean over the campaign's folds of the k-th-nearest-neighbour distance to the fold's training "
                "features in its whitened feature space; p_value: cross-conformal over the folds' test rows "
                "(workflow/infer/crossconformal.py); flagged when p_value <= fpr; a recording is flagged when at "
                "least half of its windows are (its p_value is the ceil(W/2)-th smallest of theirs)"
            ),
            "fpr": m.fpr,
            "k": m.k,
            "n_reference_per_fold": [f.reference.shape[0] for f in m.folds],
            "n_calibration": m.n_calibration,
        })  # fmt: skip
        g.create_dataset("score", data=np.array([r.score for r in results]), **opts).attrs["names"] = ["score"]
        g.create_dataset("p_value", data=np.array([r.p_value for r in results]), **opts).attrs["names"] = ["p_value"]
        d = g.create_dataset("misspecified", data=np.array([r.misspecified for r in results]), **opts)
        d.attrs["names"] = ["misspecified"]

        g = fh.create_group("explanation")
        g.attrs["description"] = (
            "SHAP values of the fold mixture's posterior mean and IQR (target units) at the explained windows "
            "(workflow/infer/explain.py)"
        )
        offsets = np.cumsum([0] + [len(r.features) for r in results])
        d = g.create_dataset("values", data=np.concatenate([r.shap_values for r in results]), **opts)
        d.attrs["names"] = list(FEATURE_NAMES)
        d.attrs["axes"] = ["explained window", "feature", "target", "functional"]
        d.attrs["target_names"], d.attrs["functional_names"] = list(TARGET_NAMES), ["mean", "iqr"]
        for key, attr in (("base_values", "shap_base"), ("outputs", "shap_outputs")):
            d = g.create_dataset(key, data=np.concatenate([getattr(r, attr) for r in results]), **opts)
            d.attrs["names"], d.attrs["axes"] = list(TARGET_NAMES), ["explained window", "target", "functional"]
            d.attrs["functional_names"] = ["mean", "iqr"]
        win = np.concatenate([offsets[i] + r.explained for i, r in enumerate(results)])
        g.create_dataset("window", data=win, **opts).attrs["names"] = ["window"]
        d = g.create_dataset("background", data=engine.background, **opts)
        d.attrs["names"] = list(FEATURE_NAMES)

        if ppc:
            g = fh.create_group("ppc")
            g.attrs["network_root"] = ppc_network_root(c.seed)
            g.attrs["description"] = (
                "parameter sets of the predictive check: the first K draws of each recording's posterior, the weights "
                "from the prior conditioned on their [E/I]_net (workflow/infer/ppc.py)"
            )
            d = g.create_dataset("params", data=np.stack([r.ppc_params for r in results]), **opts)
            d.attrs["names"], d.attrs["units"] = list(PARAM_NAMES), list(PARAM_UNITS)
            d.attrs["axes"] = ["recording", "draw", "parameter"]
            d = g.create_dataset("targets", data=np.stack([r.draws[:ppc] for r in results]), **opts)
            d.attrs["names"], d.attrs["units"] = list(TARGET_NAMES), list(TARGET_UNITS)


def plot_pairplot(result: RecordingResult, campaign: Campaign, path: str | Path) -> None:
    """sbi's pairplot of a recording's posterior, each axis spanning the prior's support.

    Targets learned on the log scale are shown as log10 of their value (label says so).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sbi.analysis import pairplot

    from workflow.inference.plots import TARGET_LABELS

    draws, low, high = result.draws.copy(), campaign.low.copy(), campaign.high.copy()
    labels = []
    for t, name in enumerate(TARGET_NAMES):
        label = f"{TARGET_LABELS.get(name, name)} ({TARGET_UNITS[t]})"
        if name in campaign.scale.log_targets:
            draws[:, t], low[t], high[t] = np.log10(draws[:, t]), np.log10(low[t]), np.log10(high[t])
            label = f"log10 {TARGET_LABELS.get(name, name)}"
        labels.append(label)
    fig, _ = pairplot(
        draws,
        limits=[[lo, hi] for lo, hi in zip(low, high, strict=True)],
        labels=labels,
        diag="kde",
        upper="contour",
        figsize=(8, 8),
    )
    flag = "MISSPECIFIED: " if result.misspecified else ""
    fig.suptitle(
        f"{flag}{result.name}: posterior ({len(draws)} draws, {len(result.features)} window"
        f"{'s' if len(result.features) > 1 else ''}); axes span the prior's support",
        fontsize=9,
    )
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def run_ppc(
    engine: Engine,
    result: RecordingResult,
    kernels_path: str | Path,
    out: str | Path,
) -> pd.DataFrame:
    """Simulate a recording's predictive-check draws in this process, then compare and plot."""
    out = Path(out)
    root = ppc_network_root(engine.campaign.seed)
    files = []
    for j, params in enumerate(result.ppc_params):
        t0 = time.perf_counter()
        f = out / "ppc" / result.name / f"draw-{j}.h5"
        f.parent.mkdir(parents=True, exist_ok=True)
        res = simulate_draw(engine.campaign.config, kernels_path, params, j, root, f)
        log.info("%s: PPC draw %d: %s in %.1f s", result.name, j, res.status.name, time.perf_counter() - t0)
        files.append(f)
    c = engine.campaign
    return finish_ppc(result.name, result.windows, result.features, files, out, c.features, c.timing.fs_hz)


def finish_ppc(
    name: str,
    windows: np.ndarray,
    features: np.ndarray,
    draw_files: Sequence[str | Path],
    out: str | Path,
    training_features: np.ndarray,
    fs_hz: float,
) -> pd.DataFrame:
    """Compare a recording with its simulated draws: ``ppc_<name>.csv`` and ``ppc_<name>.png`` in ``out``.

    Args:
        name: the recording's name.
        windows: (W, n) its windows at the campaign's rate; features: (W, 22) theirs.
        draw_files: the one-row shards of its draws (:func:`workflow.infer.ppc.simulate_draw`).
        out: the output folder.
        training_features: (n, 22) the campaign's training features (the figure's feature units).
        fs_hz: the campaign's LFP rate (Hz).

    Returns:
        The verdict per feature (:func:`workflow.infer.ppc.compare`).
    """
    out = Path(out)
    sims = [read_draw(f) for f in draw_files]
    feats = np.stack([s[1] for s in sims]) if sims else np.empty((0, len(FEATURE_NAMES)))
    verdict = compare(name, np.median(features, axis=0), feats)
    verdict.to_csv(out / f"ppc_{name}.csv", index=False)
    traces = [s[2] for s in sims if np.all(np.isfinite(s[1])) and np.all(np.isfinite(s[2]))]
    sd = training_features.std(0)
    scale = (training_features.mean(0), np.where(sd > 0, sd, 1.0))
    plot_ppc(name, verdict, scale, windows, traces, fs_hz, out / f"ppc_{name}.png")
    return verdict


def infer(
    paths: Sequence[str | Path],
    campaign: Campaign,
    out: str | Path,
    *,
    fs_hz: float | None,
    n_draws: int,
    ppc: int = 0,
    dataset: str | None = None,
    kernels_path: str | Path | None = None,
    engine: Engine | None = None,
) -> list[RecordingResult]:
    """Everything ``python -m workflow infer`` does, in order (module docstring).

    Args:
        paths: the recordings.
        campaign: the trained campaign.
        out: the output folder.
        fs_hz: the recordings' rate (Hz) unless an ``.h5`` carries it.
        n_draws: posterior draws per recording (and per window).
        ppc: draws of the predictive check (0: none).
        dataset: the dataset to read from ``.h5`` recordings.
        kernels_path: the campaign's kernels (default: ``kernels.h5`` next to the models folder).
        engine: an engine built before (models loaded once for many calls).

    Raises:
        TraceError, InferError: naming the file and the problem, before anything is computed.
    """
    if n_draws < 1:
        raise InferError(f"--draws must be >= 1, got {n_draws}")
    if not 0 <= ppc <= n_draws:
        raise InferError(f"--ppc must lie in [0, --draws={n_draws}], got {ppc}")
    load_traces(paths, campaign.timing, fs_hz, dataset)
    kernels = None
    if ppc:
        kernels = check_kernels(campaign, kernels_path or campaign.models_dir.parent / "kernels.h5")
    engine = engine or Engine(campaign)
    traces = prepare_traces(paths, campaign.timing, fs_hz, dataset)
    results = [
        engine.infer_one(name, trace, n_draws, ppc) for name, trace in zip(recording_names(paths), traces, strict=True)
    ]
    engine.write(results, out, n_draws, ppc)
    for r in results:
        if ppc:
            run_ppc(engine, r, kernels, out)
        log.info("%s: %s", r.name, json.dumps({k: round(v, 3) for k, v in r.seconds.items()}))
    return results


__all__ = ["CampaignError", "Engine", "InferError", "TraceError", "infer", "finish_ppc", "recording_names"]
