"""Reference campaigns: export what a campaign found, and test Sandron et al. 2024's claims on it.

Two commands::

    python -m workflow.reproduction export --results results --out reference/reduced \\
        --configfile config/config.yaml config/reduced.yaml
    python -m workflow.reproduction claims reference/reduced

``export`` copies a finished campaign's small results into a reference folder: the dataset in
the contract layout without its traces (``lfp``), with the campaign's provenance and the name of
the file it came from; the inference half's tables; the figures; the resolved config
(``config.json``). It refuses to overwrite an existing reference folder unless ``--force`` is
given, so a committed reference is never replaced by accident.

``claims`` reads a reference folder's ``mi.csv``, ``importance.csv``, ``mi_agreement.csv``,
``verdicts.csv`` and ``metrics.csv`` and writes ``claims.csv`` (one row per claim of the paper,
with its measure, our number and a verdict) and ``quality.csv`` (posterior quality per target).
It also rewrites the block between the markers ``<!-- claims:begin -->`` and
``<!-- claims:end -->`` of the folder's ``README.md`` (and nothing else of it).

The claims are those of Sandron et al. 2024, Sec. 3.1 (MI, Fig. 1) and Sec. 3.2 (SHAP,
Figs. 2-5) (``../shared/papers/sandron2024-feature-importance-sbi.txt``). The paper gives them
in words and bar charts without numbers, so each is tested on the ranks it names; the
thresholds that turn a rank into a verdict are the constants below, fixed before the reduced
campaign's results were read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from workflow.contract import FEATURE_NAMES, FEATURE_SHORT_NAMES, REQUIRED_DATASETS, TARGET_NAMES

SHORT = dict(zip(FEATURE_NAMES, FEATURE_SHORT_NAMES, strict=True))
LONG = {v: k for k, v in SHORT.items()}
N_FEATURES = len(FEATURE_NAMES)

#: A feature is "top-ranked" if its rank (1 = most important of 22) is at most this: the top quarter.
TOP_RANK = 5
#: A feature is "among the least informative" if its rank is at least this: the bottom quarter.
BOTTOM_RANK = N_FEATURES - TOP_RANK + 1
#: Kendall's tau p-value below which two rankings are said to agree (one-sided sign: tau > 0).
AGREEMENT_P = 0.05
#: Posterior quality the trust issue asks for: fold-mean 90% coverage in this band, SBC p at least this.
COVERAGE_90_BAND = (0.85, 0.95)
SBC_MIN_P = 0.05

#: Files a reference folder holds: (source under results/, name in the folder).
EXPORT_TABLES: tuple[tuple[str, str], ...] = (
    ("inference/mi.csv", "mi.csv"),
    ("inference/metrics.csv", "metrics.csv"),
    ("shap/importance.csv", "importance.csv"),
    ("shap/agreement.csv", "agreement.csv"),
    ("shap/mi_agreement.csv", "mi_agreement.csv"),
    ("shap/convergence.csv", "convergence.csv"),
    ("shap/verdicts.csv", "verdicts.csv"),
    ("shap/merge.json", "shap_merge.json"),
    ("kernels/amplitudes.csv", "kernel_amplitudes.csv"),
    ("kernels/sensitivity.csv", "kernel_sensitivity.csv"),
    ("crosscheck/crosscheck.csv", "crosscheck.csv"),
)
#: Figures: (glob under results/, prefix of the copy's name).
EXPORT_FIGURES: tuple[tuple[str, str], ...] = (
    ("inference/*.png", "inference_"),
    ("shap/*.png", "shap_"),
    ("aggregate/*.png", "dataset_"),
    ("kernels/*.png", "kernels_"),
    ("crosscheck/*.png", "crosscheck_"),
    ("folds/fold-0/pairplot.png", "fold-0_"),
)
#: Datasets of the contract dropped from the exported dataset (large, and not needed to rerun the inference).
DROPPED_DATASETS: tuple[str, ...] = ("lfp",)


class ReferenceError(RuntimeError):
    """A reference folder or a campaign's results are missing something; the message names it."""


# --------------------------------------------------------------------------------------- export


def export_dataset(src: str | Path, dst: str | Path) -> dict[str, object]:
    """Copy a campaign dataset without its traces; keep every other dataset and all attributes.

    Returns a summary (rows, valid rows, datasets kept and dropped).
    """
    src, dst = Path(src), Path(dst)
    with h5py.File(src, "r") as fin:
        missing = [name for name in REQUIRED_DATASETS if name not in fin]
        if missing:
            raise ReferenceError(f"{src}: not a campaign dataset, missing {missing}")
        kept, dropped = [], []
        tmp = dst.with_name(dst.name + ".tmp")
        with h5py.File(tmp, "w") as fout:
            for key, value in fin.attrs.items():
                fout.attrs[key] = value
            fout.attrs["exported_from"] = str(src)
            fout.attrs["dropped_datasets"] = json.dumps([d for d in DROPPED_DATASETS if d in fin])
            for name in fin:
                if name in DROPPED_DATASETS:
                    dropped.append(name)
                    continue
                fin.copy(fin[name], fout, name=name)
                kept.append(name)
            n, n_valid = len(fin["valid"]), int(np.sum(fin["valid"][()]))
        tmp.replace(dst)
    return {"rows": n, "valid": n_valid, "kept": kept, "dropped": dropped}


def export(results: str | Path, out: str | Path, config: dict, force: bool = False) -> list[str]:
    """Copy a finished campaign's small results into the reference folder ``out``.

    Raises :class:`ReferenceError` naming the first missing input, before anything is written,
    and if ``out`` already holds a dataset and ``force`` is False.
    """
    results, out = Path(results), Path(out)
    needed = [results / "dataset.h5"] + [results / s for s, _ in EXPORT_TABLES]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise ReferenceError(f"the campaign in {results} is not finished: missing {', '.join(missing)}")
    if (out / "dataset.h5").exists() and not force:
        raise ReferenceError(f"{out}/dataset.h5 exists: pass --force to replace a reference")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    info = export_dataset(results / "dataset.h5", out / "dataset.h5")
    written.append("dataset.h5")
    for src, name in EXPORT_TABLES:
        shutil.copyfile(results / src, out / name)
        written.append(name)
    for pattern, prefix in EXPORT_FIGURES:
        for path in sorted(results.glob(pattern)):
            name = prefix + path.name
            shutil.copyfile(path, out / name)
            written.append(name)
    (out / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True, default=str) + "\n")
    written.append("config.json")
    if (results / "benchmarks").is_dir():
        stage_timing(results / "benchmarks", config).to_csv(out / "timing.csv", index=False, float_format="%.4g")
        written.append("timing.csv")
    (out / "export.json").write_text(json.dumps({"dataset": info, "files": written}, indent=1) + "\n")
    return written


#: SHAP throughput measured on one fold of the reduced campaign's size (config/reduced.yaml's
#: comment: 61k flow evaluations per CPU second), used for the SHAP stage's estimate.
SHAP_EVALUATIONS_PER_CPU_S = 61_000.0


def stage_timing(benchmarks: str | Path, config: dict) -> pd.DataFrame:
    """Measured time per stage (Snakemake's benchmark tables) beside the cost model's estimate.

    One row per stage (a folder of ``results/benchmarks``): jobs, summed wall seconds, summed
    CPU seconds, peak RSS (MB), and the estimate in CPU seconds where a model exists: the
    simulation's (:func:`workflow.simulation.cost.sample_core_seconds` times the samples) and
    SHAP's (:func:`workflow.inference.explain.shap_cost_evaluations` per fold at
    :data:`SHAP_EVALUATIONS_PER_CPU_S`).
    """
    from workflow.contract import FEATURE_NAMES as _F
    from workflow.inference.explain import shap_cost_evaluations
    from workflow.simulation.cost import sample_core_seconds

    rows = []
    for folder in sorted(p for p in Path(benchmarks).iterdir() if p.is_dir()):
        tables = [pd.read_csv(t, sep="\t") for t in sorted(folder.glob("*.tsv"))]
        if not tables:
            continue
        t = pd.concat(tables)
        rows.append(
            {
                "stage": folder.name,
                "jobs": len(tables),
                "wall_s": float(t["s"].sum()),
                "cpu_s": float(t["cpu_time"].sum()),
                "max_rss_mb": float(t["max_rss"].max()),
            }
        )
    table = pd.DataFrame(rows).set_index("stage")
    table["estimate_cpu_s"] = np.nan
    if "simulate" in table.index:
        table.loc["simulate", "estimate_cpu_s"] = config["campaign"]["n_samples"] * sample_core_seconds(config)
    if "inference_shap" in table.index:
        per_fold = shap_cost_evaluations(config["inference"]["shap"], len(_F)) / SHAP_EVALUATIONS_PER_CPU_S
        table.loc["inference_shap", "estimate_cpu_s"] = per_fold * config["inference"]["k_folds"]
    table["measured_over_estimate"] = table["cpu_s"] / table["estimate_cpu_s"]
    return table.reset_index()


# --------------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, the measure that tests it, our number and the verdict."""

    number: int
    claim: str
    measure: str
    value: str
    verdict: str


def _ranks(values: pd.Series) -> pd.Series:
    """Rank 1 = largest value (ties broken by order, as the merge does)."""
    order = np.argsort(-values.to_numpy(float), kind="stable")
    ranks = np.empty(len(values), int)
    ranks[order] = np.arange(1, len(values) + 1)
    return pd.Series(ranks, index=values.index)


def _short_index(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(index=lambda name: SHORT.get(name, name))


def _shap_ranks(importance: pd.DataFrame) -> pd.DataFrame:
    """Ranks (features x 'target/functional') of the merged mean |SHAP|."""
    cols = {}
    for (target, func), sub in importance.groupby(["target", "functional"], sort=False):
        cols[f"{target}/{func}"] = _ranks(sub.set_index("feature")["mean_abs_shap"])
    return _short_index(pd.DataFrame(cols))


def _verdict(n_ok: int, n_all: int) -> str:
    if n_ok == n_all:
        return "reproduced"
    if n_ok == 0:
        return "not reproduced"
    return f"partly ({n_ok} of {n_all})"


def _fmt_ranks(ranks: dict[str, int | float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in ranks.items())


def evaluate_claims(
    mi: pd.DataFrame, importance: pd.DataFrame, verdicts: pd.DataFrame | None = None
) -> list[Claim]:
    """Test the paper's six claims (and the mean/IQR consistency it notes) on one campaign.

    Args:
        mi: MI table (features x targets; ``mi.csv``).
        importance: merged SHAP table (``importance.csv``).
        verdicts: SHAP convergence and stability per ranking (``verdicts.csv``); its caveat is
            appended to the SHAP claims.
    """
    mi = _short_index(mi)
    targets = [t for t in TARGET_NAMES if t in mi.columns]
    mi_rank = mi[targets].apply(_ranks)
    shap_rank = _shap_ranks(importance)
    claims = []

    # 1. [E/I]_net has the highest MI with most features; 4 named features least informative about it.
    top_target = mi[targets].idxmax(axis=1)
    n_ei = int((top_target == "EI_net").sum())
    named = ["mode_5", "mode_10", "entropy_pairs", "ami2"]
    ranks = {f: int(mi_rank.loc[f, "EI_net"]) for f in named}
    n_low = sum(r >= BOTTOM_RANK for r in ranks.values())
    ok = n_ei > len(mi) / 2
    claims.append(
        Claim(
            1,
            "[E/I]_net has the highest MI with most features; mode_5, mode_10, entropy_pairs and ami2 "
            "are the least informative about it",
            f"features whose largest MI is with [E/I]_net (of {len(mi)}); MI rank for [E/I]_net of the four "
            f"(1 = most informative; bottom quarter = rank >= {BOTTOM_RANK})",
            f"{n_ei} of {len(mi)}; ranks: {_fmt_ranks(ranks)}",
            _verdict(int(ok) + n_low, 1 + len(named)),
        )
    )

    # 2. J_ext has low MI with most features, except transition_variance.
    lowest_target = mi[targets].idxmin(axis=1)
    n_low_jext = int((lowest_target == "J_ext").sum())
    tv_rank = int(mi_rank.loc["transition_variance", "J_ext"])
    medians = mi[targets].median()
    ok_low = n_low_jext > len(mi) / 2
    ok_tv = tv_rank <= TOP_RANK
    claims.append(
        Claim(
            2,
            "J_ext has low MI with most features, except transition_variance",
            "features whose smallest MI is with J_ext; median MI per target (nats); MI rank of "
            f"transition_variance for J_ext (top quarter = rank <= {TOP_RANK})",
            f"{n_low_jext} of {len(mi)}; median MI "
            + ", ".join(f"{t} {medians[t]:.3f}" for t in targets)
            + f"; transition_variance rank {tv_rank}",
            _verdict(int(ok_low) + int(ok_tv), 2),
        )
    )

    # 3. Some features have high MI across all four parameters (examples named by the paper).
    worst = mi_rank.max(axis=1)
    all_high = sorted(worst[worst <= TOP_RANK].index, key=lambda f: worst[f])
    examples = ["outlier_timing_pos", "low_freq_power", "transition_variance", "dfa"]
    ex_worst = {f: int(worst[f]) for f in examples}
    n_ex = sum(v <= TOP_RANK for v in ex_worst.values())
    claims.append(
        Claim(
            3,
            "Some features have high MI across all four parameters (the paper names outlier_timing_pos, "
            "low_freq_power, transition_variance and dfa)",
            f"features whose MI rank is <= {TOP_RANK} for every target; worst MI rank over the four targets "
            "of the paper's examples",
            f"{len(all_high)} features ({', '.join(all_high) or 'none'}); worst ranks: {_fmt_ranks(ex_worst)}",
            _verdict(int(bool(all_high)) + n_ex, 1 + len(examples)),
        )
    )

    caveat = _shap_caveat(verdicts)
    # 4. dfa, rs_range, low_freq_power, transition_variance top-ranked by |SHAP| for every target and functional.
    top = ["dfa", "rs_range", "low_freq_power", "transition_variance"]
    med = {f: float(shap_rank.loc[f].median()) for f in top}
    n_top = {f: int((shap_rank.loc[f] <= TOP_RANK).sum()) for f in top}
    claims.append(
        Claim(
            4,
            "dfa, rs_range, low_freq_power and transition_variance are top-ranked by mean |SHAP| across all "
            "four parameters, for the posterior mean and the IQR",
            f"median SHAP rank over the {shap_rank.shape[1]} rankings (4 targets x mean, IQR), and in how "
            f"many of them the feature is in the top quarter (rank <= {TOP_RANK})" + caveat,
            "; ".join(f"{f} median {med[f]:g}, top in {n_top[f]}/{shap_rank.shape[1]}" for f in top),
            _verdict(sum(m <= TOP_RANK for m in med.values()), len(top)),
        )
    )

    # 5. ami2 and entropy_pairs receive the lowest SHAP scores across the parameters.
    low = ["ami2", "entropy_pairs"]
    med_low = {f: float(shap_rank.loc[f].median()) for f in low}
    n_bottom = {f: int((shap_rank.loc[f] >= BOTTOM_RANK).sum()) for f in low}
    claims.append(
        Claim(
            5,
            "ami2 and entropy_pairs receive the lowest SHAP scores across the parameters",
            f"median SHAP rank over the {shap_rank.shape[1]} rankings, and in how many the feature is in the "
            f"bottom quarter (rank >= {BOTTOM_RANK})" + caveat,
            "; ".join(f"{f} median {med_low[f]:g}, bottom in {n_bottom[f]}/{shap_rank.shape[1]}" for f in low),
            _verdict(sum(m >= BOTTOM_RANK for m in med_low.values()), len(low)),
        )
    )

    # 6. MI and SHAP rankings agree: Kendall tau per target and functional.
    taus = {}
    for col in shap_rank.columns:
        target, _func = col.split("/")
        tau, p = kendalltau(-mi_rank[target], -shap_rank[col].reindex(mi_rank.index))
        taus[col] = (float(tau), float(p))
    n_agree = sum(t > 0 and p < AGREEMENT_P for t, p in taus.values())
    claims.append(
        Claim(
            6,
            "The MI and SHAP rankings agree",
            f"Kendall tau between the MI ranking and each SHAP ranking (agree: tau > 0, p < {AGREEMENT_P})"
            + caveat,
            "; ".join(f"{c} {t:.2f} (p {p:.2g})" for c, (t, p) in taus.items()),
            _verdict(n_agree, len(taus)),
        )
    )

    # 7. (Sec. 3.2) For each parameter the SHAP ranking is consistent between the mean and the IQR.
    between = {}
    for target in targets:
        a, b = shap_rank.get(f"{target}/mean"), shap_rank.get(f"{target}/iqr")
        if a is not None and b is not None:
            tau, p = kendalltau(-a, -b)
            between[target] = (float(tau), float(p))
    n_cons = sum(t > 0 and p < AGREEMENT_P for t, p in between.values())
    claims.append(
        Claim(
            7,
            "For each parameter, the SHAP ranking is consistent between the posterior mean and the IQR",
            f"Kendall tau between the mean's and the IQR's SHAP rankings per target (tau > 0, p < {AGREEMENT_P})",
            "; ".join(f"{t} {v[0]:.2f} (p {v[1]:.2g})" for t, v in between.items()),
            _verdict(n_cons, len(between)),
        )
    )
    return claims


def _shap_caveat(verdicts: pd.DataFrame | None) -> str:
    if verdicts is None or not len(verdicts):
        return ""
    n = len(verdicts)
    conv = int(verdicts["converged"].astype(bool).sum())
    stable = int(verdicts["stable"].astype(bool).sum())
    return f" [SHAP rankings converged: {conv}/{n}, stable between folds: {stable}/{n}]"


def posterior_quality(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per target: fold-mean (SD) R², 90% and 50% coverage, SBC KS p, and whether the trust goals hold.

    Args:
        metrics: ``metrics.csv`` (index target, metric; columns fold_k, mean, sd).
    """
    rows = []
    for target in [t for t in dict.fromkeys(metrics.index.get_level_values(0)) if t != "all"]:
        m = metrics.loc[target]
        cov = float(m.loc["coverage_90", "mean"])
        sbc = float(m.loc["sbc_ks_pvalue", "mean"])
        folds = m.filter(like="fold_")
        rows.append(
            {
                "target": target,
                "r2_mean": float(m.loc["r2", "mean"]),
                "r2_sd": float(m.loc["r2", "sd"]),
                "coverage_50": float(m.loc["coverage_50", "mean"]),
                "coverage_90": cov,
                "sbc_ks_p_mean": sbc,
                "sbc_ks_p_min": float(folds.loc["sbc_ks_pvalue"].min()),
                "folds_sbc_p_below_0.05": int((folds.loc["sbc_ks_pvalue"] < SBC_MIN_P).sum()),
                "calibrated": bool(COVERAGE_90_BAND[0] <= cov <= COVERAGE_90_BAND[1] and sbc >= SBC_MIN_P),
            }
        )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


BEGIN, END = "<!-- claims:begin -->", "<!-- claims:end -->"


def write_claims(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Evaluate a reference folder's claims; write claims.csv, quality.csv and the README block."""
    folder = Path(folder)
    for name in ("mi.csv", "importance.csv", "metrics.csv"):
        if not (folder / name).exists():
            raise ReferenceError(f"{folder / name} is missing: export a finished campaign first")
    mi = pd.read_csv(folder / "mi.csv", index_col=0)
    importance = pd.read_csv(folder / "importance.csv")
    verdicts = pd.read_csv(folder / "verdicts.csv") if (folder / "verdicts.csv").exists() else None
    metrics = pd.read_csv(folder / "metrics.csv", index_col=[0, 1])
    claims = pd.DataFrame([c.__dict__ for c in evaluate_claims(mi, importance, verdicts)])
    quality = posterior_quality(metrics)
    claims.to_csv(folder / "claims.csv", index=False)
    quality.to_csv(folder / "quality.csv", index=False, float_format="%.4g")
    block = (
        f"{BEGIN}\n<!-- written by `python -m workflow.reproduction claims` from the CSVs of this folder; "
        "do not edit -->\n\n"
        "### Claims\n\n"
        + _markdown(claims)
        + "\n\n### Posterior quality per target (fold means over the test folds)\n\n"
        + _markdown(quality)
        + f"\n\n{END}"
    )
    readme = folder / "README.md"
    text = readme.read_text() if readme.exists() else f"# Reference campaign: {folder.name}\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + block + tail)
    return claims, quality


# ------------------------------------------------------------------- targeted test: gates and MI


def _mi_claims(features: np.ndarray, targets: np.ndarray, cfg: dict, seed: int) -> tuple[pd.DataFrame, list[Claim]]:
    from workflow.inference.mi import mutual_information

    mi = mutual_information(
        features,
        targets,
        list(FEATURE_NAMES),
        list(TARGET_NAMES),
        seed=seed,
        max_rows=cfg["inference"]["mi"]["max_rows"],
        n_neighbors=cfg["inference"]["mi"]["n_neighbors"],
    )
    return mi, [c for c in evaluate_claims(mi, _flat_importance(mi)) if c.number <= 3]


def _flat_importance(mi: pd.DataFrame) -> pd.DataFrame:
    """A SHAP-shaped table from MI, so :func:`evaluate_claims` can run on MI alone (claims 1-3 use only MI)."""
    rows = [
        {"feature": f, "target": t, "functional": g, "mean_abs_shap": float(mi.loc[f, t])}
        for t in mi.columns
        for g in ("mean", "iqr")
        for f in mi.index
    ]
    return pd.DataFrame(rows)


def gate_sensitivity(dataset: str | Path, shards: str | Path | None, cfg: dict) -> pd.DataFrame:
    """Claims 1-3 (MI) on the rows each gates preset keeps, and their split-half reliability.

    The campaign ran under ``paper_2024``; the other presets are applied afterwards to its valid
    rows: their rate gates from the stored rates, the ncpi spectral gates from the shards' LFP
    proxies (when ``shards`` holds them). The whole-run rate gate of ``ncpi_2026`` is applied to
    the post-transient rates (the dataset does not keep the transient's). For each preset:
    rows kept, the verdict and value of claims 1-3, and the Kendall tau between the MI rankings
    of two random halves of its rows per target (how much of a ranking is estimator noise).
    """
    from workflow.inference.dataset import load_dataset
    from workflow.seeds import Stream, rng
    from workflow.simulation.gates import Gates, SampleMeasures

    data = load_dataset(dataset)
    with h5py.File(dataset) as f:
        all_ids = f["sample_id"][()]
        rates = f["rates"][()]
    by_id = dict(zip(all_ids.tolist(), range(len(all_ids)), strict=True))
    rates = rates[[by_id[int(i)] for i in data.sample_id]]
    traces: dict[int, np.ndarray] = {}
    fs_hz = None
    if shards is not None:
        for path in sorted(Path(shards).glob("shard-*.h5")):
            with h5py.File(path) as f:
                if "lfp" not in f:
                    continue
                fs_hz = 1000.0 / float(f["lfp"].attrs["dt_ms"])
                for i, sid in enumerate(f["sample_id"][()]):
                    traces[int(sid)] = f["lfp"][i]
    seed = cfg["campaign"]["seed"] if cfg["inference"]["seed"] is None else cfg["inference"]["seed"]
    rows = []
    for preset in ("paper_2024", "rate_window", "ncpi_2026"):
        gates_cfg = json.loads(json.dumps(cfg["gates"]))
        gates_cfg["preset"] = preset
        spectral = preset == "ncpi_2026" and bool(traces)
        if preset == "ncpi_2026":
            gates_cfg[preset]["spectrum"]["enabled"] = spectral
        gates = Gates.from_config(gates_cfg)
        keep = np.ones(len(data.sample_id), bool)
        for i, sid in enumerate(data.sample_id):
            trace = traces.get(int(sid), np.zeros(0)) if spectral else np.zeros(0)
            m = SampleMeasures(rates[i], rates[i], trace, fs_hz or 1.0, data.features[i])
            keep[i] = gates.classify(m)[0] == 0
        x, y = data.features[keep], data.targets[keep]
        _, claims = _mi_claims(x, y, cfg, seed)
        half = rng(seed, Stream.MI, 1).permutation(len(x))
        a, b = half[: len(x) // 2], half[len(x) // 2 :]
        mi_a, _ = _mi_claims(x[a], y[a], cfg, seed)
        mi_b, _ = _mi_claims(x[b], y[b], cfg, seed)
        row: dict[str, object] = {
            "preset": preset + ("" if preset != "ncpi_2026" or spectral else " (rate gates only)"),
            "rows": int(keep.sum()),
            "median_rate_E_hz": float(np.median(rates[keep, 0])) if keep.any() else float("nan"),
        }
        for c in claims:
            row[f"claim_{c.number}"] = c.verdict
            row[f"claim_{c.number}_value"] = c.value
        for t in TARGET_NAMES:
            row[f"split_half_tau_{t}"] = float(kendalltau(mi_a[t], mi_b[t])[0])
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflow.reproduction", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("export", help="copy a finished campaign's small results into a reference folder")
    exp.add_argument("--results", default="results")
    exp.add_argument("--out", required=True)
    exp.add_argument("--configfile", nargs="+", required=True, help="the config files the campaign ran with")
    exp.add_argument("--force", action="store_true", help="replace an existing reference")
    cl = sub.add_parser("claims", help="test the paper's claims on a reference folder")
    cl.add_argument("folder")
    gs = sub.add_parser("gates", help="claims 1-3 (MI) under each gates preset, applied to a campaign's rows")
    gs.add_argument("--dataset", default="results/dataset.h5")
    gs.add_argument("--shards", default="results/shards", help="shards with LFP proxies (spectral gates)")
    gs.add_argument("--configfile", nargs="+", required=True)
    gs.add_argument("--out", required=True, help="CSV to write")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            from workflow.config import ConfigError, load_config

            try:
                cfg = load_config(args.configfile)
            except ConfigError as err:
                raise ReferenceError(str(err)) from None
            written = export(args.results, args.out, cfg, force=args.force)
            print(f"exported {len(written)} files to {args.out}")
            return 0
        if args.command == "gates":
            from workflow.config import load_config

            table = gate_sensitivity(args.dataset, args.shards, load_config(args.configfile))
            table.to_csv(args.out, index=False, float_format="%.4g")
            with pd.option_context("display.max_colwidth", 120, "display.width", 250):
                print(table.to_string(index=False))
            return 0
        claims, quality = write_claims(args.folder)
        with pd.option_context("display.max_colwidth", 200, "display.width", 250):
            print(claims[["number", "value", "verdict"]].to_string(index=False))
            print(quality.to_string(index=False))
        return 0
    except ReferenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
