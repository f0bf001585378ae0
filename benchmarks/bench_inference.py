"""Benchmarks of the inference half.

``shap``         SHAP cost per fold of the CRN functionals vs the naive baseline on the same
                 trained fold and rows: naive = shap.PermutationExplainer over sbi's
                 ``posterior.sample_batched`` (1000 fresh draws per x, rejection outside the
                 support), timed on >= 10 rows. Accuracy: Spearman of mean |SHAP| per (target,
                 functional) against a reference that shares nothing random with the run it
                 checks: its own background rows, base draws (another stream, more draws) and
                 permutation seed. Prints the accuracy-and-speed table.
``settings``     two runs with independent backgrounds, draws and permutation seeds on every
                 fold, merged over folds: their Spearman per target and functional over a grid of
                 draws x background rows x permutations, with the CPU cost (the search for the
                 cheapest settings that reach >= 0.95 (mean) and >= 0.9 (IQR); long: run it on
                 a quiet machine).
``calibration``  fold-mean 90 % coverage and SBC KS p-value per target, with and without log
                 targets, on the planted synthetic set or a contract-layout file (``--dataset``,
                 e.g. the reduced campaign).
``train``        NPE training throughput (rows/s per epoch) and peak memory (RSS) at given sizes,
                 each size in its own process.

Synthetic data: ``kind="mixed"`` for SHAP (every feature carries graded information on every
target, so the full ranking is meaningful), ``kind="planted"`` for calibration. Results go to
``benchmarks/inference/<step>.json``.

    python benchmarks/bench_inference.py shap --rows 50 --naive-rows 10
    python benchmarks/bench_inference.py settings --folds 10 --rows 500
    python benchmarks/bench_inference.py calibration --folds 3 --log-targets none EI_net
    python benchmarks/bench_inference.py calibration --dataset results/dataset.h5 --log-targets none EI_net
    python benchmarks/bench_inference.py train --sizes 100000 900000 --epochs 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "inference"


def _schema_defaults() -> dict:
    """The ``inference`` section at the schema's defaults (an empty config, validated)."""
    from workflow.config import validate_schema

    return validate_schema({})["inference"]


def _npe_config(max_num_epochs: int):
    """NPE settings at the schema's defaults (sbi's), with an epoch cap."""
    from workflow.inference.npe import NPEConfig

    return dataclasses.replace(NPEConfig.from_config(_schema_defaults()["npe"]), max_num_epochs=max_num_epochs)


def _dump_partial(results: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "shap.partial.json").write_text(json.dumps(results, indent=1))


def _spearman_table(a: np.ndarray, b: np.ndarray) -> list[list[float]]:
    from scipy.stats import spearmanr

    ma, mb = np.abs(a).mean(0), np.abs(b).mean(0)
    return [[float(spearmanr(ma[:, t, g], mb[:, t, g])[0]) for g in range(ma.shape[2])] for t in range(ma.shape[1])]


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


class NaiveFunctionals:
    """Posterior mean and IQR from ``posterior.sample_batched`` (fresh draws, rejection) per call."""

    def __init__(self, model, n_draws: int = 1000) -> None:
        self.post = model.posterior()
        self.scale = model.scale
        self.n_draws = n_draws
        self.theta_dim = len(model.low)
        self.n_rows_evaluated = 0

    def __call__(self, x_std: np.ndarray) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.asarray(x_std), dtype=torch.float32)
        self.n_rows_evaluated += len(x)
        u = self.post.sample_batched((self.n_draws,), x, show_progress_bars=False)  # (S, B, 4), learned scale
        s = self.scale.to_targets(u)  # target units, as the CRN functionals report
        q = torch.quantile(s, torch.tensor([0.25, 0.75]), dim=0)
        out = torch.stack([s.mean(0), q[1] - q[0]], dim=-1)  # (B, 4, 2)
        return out.reshape(len(x), -1).numpy().astype(np.float64)


def _crn(shap_section: dict) -> dict:
    """PosteriorFunctionals settings that the config decides (leakage treatment, draws kind)."""
    return {k: shap_section[k] for k in ("leakage", "min_accepted_fraction", "qmc_draws")}


def _train_synthetic(args: argparse.Namespace, kind: str, k_folds: int, folds: list[int], log_targets: list[str]):
    """Write a synthetic dataset (or read ``--dataset``), assign folds, train the given folds."""
    from workflow.config import validate_schema
    from workflow.inference.dataset import load_dataset
    from workflow.inference.folds import assign_folds, split
    from workflow.inference.npe import train_fold
    from workflow.inference.synthetic import write_synthetic_dataset
    from workflow.inference.targetprior import TargetPrior

    with tempfile.TemporaryDirectory() as tmp:
        path = getattr(args, "dataset", None)
        if path is None:
            path = Path(tmp) / "syn.h5"
            write_synthetic_dataset(path, args.n, seed=args.seed, kind=kind)
        d = load_dataset(path)
    fold = assign_folds(d.sample_id, k_folds, args.seed)
    target_prior = TargetPrior.from_config(validate_schema({})["prior"])
    cfg = dataclasses.replace(_npe_config(args.epochs), hidden_features=args.hidden, num_transforms=args.transforms)
    models = {}
    for k in folds:
        train, _ = split(fold, k)
        models[k] = train_fold(
            d.features[train],
            d.targets[train],
            cfg,
            args.seed,
            k,
            target_prior=target_prior,
            log_targets=log_targets,
            threads=args.threads,
        )
    return d, fold, models, target_prior


def _campaign_folds(results: Path, folds: list[int]):
    """A finished campaign's prepared rows, fold ids and trained fold models (``results/``)."""
    from workflow.inference.dataset import read_prepared
    from workflow.inference.npe import load_model

    d, fold = read_prepared(results / "inference" / "data.h5")
    models = {}
    for k in folds:
        base = results / "folds" / f"fold-{k}"
        models[k] = load_model(base / "model.pt", base / "model.json")
    return d, fold, models


def bench_shap(args: argparse.Namespace) -> dict:
    """Accuracy and speed of the CRN SHAP values on one fold, against a reference with its own
    background rows, base draws and permutation seed, and the naive baseline's cost."""
    import torch

    from workflow.inference.explain import shap_values
    from workflow.inference.folds import split
    from workflow.inference.functionals import PosteriorFunctionals
    from workflow.seeds import Stream, int_seed, rng

    torch.set_num_threads(args.threads)
    seed, fold_k = args.seed, 0
    t0 = time.perf_counter()
    if args.campaign is not None:
        d, fold, models = _campaign_folds(args.campaign, [fold_k])
    else:
        d, fold, models, _ = _train_synthetic(args, "mixed", 10, [fold_k], _schema_defaults()["log_targets"])
    model = models[fold_k]
    train_sec = time.perf_counter() - t0
    train, test = split(fold, fold_k)
    pick = np.sort(rng(seed, Stream.SHAP_ROWS, fold_k).choice(len(test), args.rows, replace=False))
    x = model.standardise(d.features[test][pick]).numpy()

    def background(stream: Stream) -> np.ndarray:
        idx = np.sort(rng(seed, stream, fold_k).choice(len(train), args.background, replace=False))
        return model.standardise(d.features[train][idx]).numpy()

    bg, bg_ref = background(Stream.SHAP_BACKGROUND), background(Stream.CONVERGENCE_BACKGROUND)
    perm_seed = int_seed(seed, Stream.SHAP_PERMUTATIONS, fold_k)
    crn = _crn(_schema_defaults()["shap"])
    cpu: dict[str, float] = {}

    def run(fun, xs, perms, pseed=perm_seed, label=None, background_rows=bg):
        t, c = time.perf_counter(), time.process_time()
        v, _ = shap_values(fun, xs, background_rows, perms, pseed)
        if label:
            cpu[label] = time.process_time() - c  # CPU time: robust to other jobs on the machine
        return v, time.perf_counter() - t

    # Warm-up: shap compiles its numba kernels on first use (~20 s), not part of the per-row cost.
    run(PosteriorFunctionals(model, n_draws=8, seed=seed, fold=fold_k, **crn), x[:1], 1)

    results: dict = {
        "n_rows_dataset": int(len(fold)),
        "campaign": str(args.campaign),
        "train_rows": int(len(train)),
        "train_epochs": model.description["training"]["epochs"],
        "train_sec": train_sec,
        "rows": args.rows,
        "background": args.background,
        "threads": args.threads,
        "features": x.shape[1],
        "log_targets": list(model.scale.log_targets),
    }
    mine_f = PosteriorFunctionals(model, n_draws=args.draws, seed=seed, fold=fold_k, **crn)
    v_mine, t_mine = run(mine_f, x, args.perms, label="mine")
    results["mine"] = {
        "draws": args.draws,
        "permutations": args.perms,
        "sec": t_mine,
        "sec_per_row": t_mine / args.rows,
        "cpu_sec_per_row": cpu["mine"] / args.rows,
        "functional_rows": mine_f.n_rows_evaluated,
        "blended_rows": mine_f.n_blended_rows,
        "clamped_rows": mine_f.n_clamped_rows,
    }
    print(f"mine: {t_mine:.1f} s for {args.rows} rows", flush=True)
    _dump_partial(results)

    naive_f = NaiveFunctionals(model, n_draws=1000)
    v_naive, t_naive = run(naive_f, x[: args.naive_rows], args.perms, label="naive")
    results["naive"] = {
        "draws": 1000,
        "permutations": args.perms,
        "rows_measured": args.naive_rows,
        "sec": t_naive,
        "sec_per_row": t_naive / args.naive_rows,
        "cpu_sec_per_row": cpu["naive"] / args.naive_rows,
    }
    results["speedup_wall"] = results["naive"]["sec_per_row"] / results["mine"]["sec_per_row"]
    results["speedup_cpu"] = results["naive"]["cpu_sec_per_row"] / results["mine"]["cpu_sec_per_row"]
    print(f"naive: {t_naive:.1f} s for {args.naive_rows} rows; speed-up {results['speedup_cpu']:.1f}x", flush=True)
    _dump_partial(results)

    # The reference shares nothing random with the run it checks: its own background rows,
    # its own base draws (another stream, more of them) and its own permutation seed.
    ref_f = PosteriorFunctionals(
        model, n_draws=args.ref_draws, seed=seed, fold=fold_k, draws_stream=Stream.CONVERGENCE_DRAWS, **crn
    )
    v_ref, t_ref = run(ref_f, x, args.ref_perms, int_seed(seed, Stream.CONVERGENCE, fold_k), background_rows=bg_ref)
    results["reference"] = {
        "draws": args.ref_draws,
        "permutations": args.ref_perms,
        "sec": t_ref,
        "note": "independent background rows, base draws and permutation seed",
    }
    print(f"reference: {t_ref:.1f} s", flush=True)
    results["mine"]["spearman_vs_reference"] = _spearman_table(v_mine, v_ref)
    results["mine"]["rel_err_mean_abs_vs_reference"] = _rel_err(np.abs(v_mine).mean(0), np.abs(v_ref).mean(0))
    nr = args.naive_rows
    results["naive"]["spearman_vs_reference_first_rows"] = _spearman_table(v_naive, v_ref[:nr])
    results["per_row_rel_err_first_rows"] = {
        "rows": nr,
        "mine": _rel_err(v_mine[:nr], v_ref[:nr]),
        "naive": _rel_err(v_naive, v_ref[:nr]),
    }

    grid = []
    for draws in args.grid_draws:
        for perms in args.grid_perms:
            f = PosteriorFunctionals(model, n_draws=draws, seed=seed, fold=fold_k, **crn)
            v, t = run(f, x, perms, label="grid")
            sp = _spearman_table(v, v_ref)
            grid.append(
                {
                    "draws": draws,
                    "permutations": perms,
                    "sec": t,
                    "cpu_sec": cpu["grid"],
                    "spearman": sp,
                    "rel_err_mean_abs": _rel_err(np.abs(v).mean(0), np.abs(v_ref).mean(0)),
                }
            )
    results["convergence_grid"] = grid
    _print_shap_table(results)
    return results


def _print_shap_table(res: dict) -> None:
    """The accuracy-and-speed table: Spearman of mean |SHAP| against the independent reference."""
    names = ("EI_net", "tau_syn_E", "tau_syn_I", "J_ext")
    rows = [("mine", res["mine"]["draws"], res["mine"]["permutations"], res["mine"]["cpu_sec_per_row"])]
    sp = [res["mine"]["spearman_vs_reference"]]
    for g in res["convergence_grid"]:
        rows.append(("grid", g["draws"], g["permutations"], g["cpu_sec"] / res["rows"]))
        sp.append(g["spearman"])
    print(f"\nSHAP on one fold, {res['rows']} rows, {res['background']} background rows; reference: "
          f"{res['reference']['draws']} draws, {res['reference']['permutations']} permutations, independent "
          "background rows, draws and permutation seed")  # fmt: skip
    head = "".join(f"{n[:9] + ' ' + f:>15}" for n in names for f in ("mean", "iqr"))
    print(f"{'run':<6}{'draws':>6}{'perms':>6}{'cpu s/row':>10}{head}")
    for (run, draws, perms, cost), s in zip(rows, sp, strict=True):
        vals = "".join(f"{s[t][g]:>15.3f}" for t in range(len(names)) for g in range(2))
        print(f"{run:<6}{draws:>6}{perms:>6}{cost:>10.4f}{vals}")
    print(f"naive (1000 draws, rejection): {res['naive']['cpu_sec_per_row']:.3f} cpu s/row on "
          f"{res['naive']['rows_measured']} rows; speed-up {res['speedup_cpu']:.1f}x (cpu), "
          f"{res['speedup_wall']:.1f}x (wall)")  # fmt: skip


def bench_settings(args: argparse.Namespace) -> dict:
    """The cheapest SHAP settings at which two runs with independent backgrounds, draws and
    permutation seeds agree on the fold-merged mean |SHAP| ranking (Spearman per target and
    functional; the issue's bar: >= 0.95 for the posterior mean, >= 0.9 for the IQR)."""
    import torch
    from scipy.stats import spearmanr

    from workflow.inference.explain import shap_values
    from workflow.inference.folds import split
    from workflow.inference.functionals import PosteriorFunctionals
    from workflow.seeds import Stream, int_seed, rng

    torch.set_num_threads(args.threads)
    seed = args.seed
    folds = list(range(args.folds))
    if args.campaign is not None:
        d, fold, models = _campaign_folds(args.campaign, folds)
    else:
        d, fold, models, _ = _train_synthetic(args, "mixed", args.k_folds, folds, _schema_defaults()["log_targets"])
    crn = _crn(_schema_defaults()["shap"])
    replicate_streams = [
        (Stream.SHAP_BACKGROUND, Stream.SHAP_DRAWS, Stream.SHAP_PERMUTATIONS),
        (Stream.CONVERGENCE_BACKGROUND, Stream.CONVERGENCE_DRAWS, Stream.CONVERGENCE),
    ]
    out = []
    for draws in args.grid_draws:
        for n_bg in args.grid_background:
            for perms in args.grid_perms:
                merged, cpu = [], 0.0
                for bg_s, draw_s, perm_s in replicate_streams:
                    per_fold = []
                    for k in folds:
                        model = models[k]
                        train, test = split(fold, k)
                        n_rows = min(args.rows, len(test))
                        pick = np.sort(rng(seed, Stream.SHAP_ROWS, k).choice(len(test), n_rows, replace=False))
                        bg_idx = np.sort(rng(seed, bg_s, k).choice(len(train), n_bg, replace=False))
                        f = PosteriorFunctionals(model, n_draws=draws, seed=seed, fold=k, draws_stream=draw_s, **crn)
                        c = time.process_time()
                        v, _ = shap_values(
                            f,
                            model.standardise(d.features[test][pick]).numpy(),
                            model.standardise(d.features[train][bg_idx]).numpy(),
                            perms,
                            int_seed(seed, perm_s, k),
                        )
                        cpu += time.process_time() - c
                        per_fold.append(np.abs(v).mean(0))
                    merged.append(np.mean(per_fold, axis=0))  # (F, T, 2)
                a, b = merged
                sp = [[float(spearmanr(a[:, t, g], b[:, t, g])[0]) for g in range(2)] for t in range(a.shape[1])]
                row = {
                    "draws": draws,
                    "background": n_bg,
                    "permutations": perms,
                    "cpu_sec_per_fold_run": cpu / (2 * len(folds)),
                    "cpu_sec_per_row": cpu / (2 * len(folds) * min(args.rows, min(np.bincount(fold)))),
                    "spearman": sp,
                    "min_spearman_mean": min(s[0] for s in sp),
                    "min_spearman_iqr": min(s[1] for s in sp),
                }
                row["meets_bar"] = row["min_spearman_mean"] >= 0.95 and row["min_spearman_iqr"] >= 0.9
                out.append(row)
                print(
                    f"draws={draws:4d} background={n_bg:4d} perms={perms:2d}: cpu {row['cpu_sec_per_fold_run']:7.1f} "
                    f"s per fold; min Spearman mean {row['min_spearman_mean']:.3f}, IQR {row['min_spearman_iqr']:.3f}"
                    f"{'  <- meets the bar' if row['meets_bar'] else ''}",
                    flush=True,
                )
    return {"folds": len(folds), "rows": args.rows, "campaign": str(args.campaign), "grid": out}


def bench_calibration(args: argparse.Namespace) -> dict:
    """Fold-mean 90 % coverage and SBC KS p-value per target, for each choice of log targets.

    On a synthetic set (``--kind planted`` or ``mixed``) or a contract-layout file (``--dataset``,
    e.g. the reduced campaign). The SBC p-value is sbi's ``check_sbc`` KS test, per fold (the
    fold mean is printed) and on the ranks pooled over folds.
    """
    import torch
    from sbi.diagnostics.sbc import check_uniformity_frequentist

    from workflow.inference.folds import split
    from workflow.inference.metrics import MetricsConfig, fold_metrics

    torch.set_num_threads(args.threads)
    mcfg = dataclasses.replace(
        MetricsConfig.from_config(_schema_defaults()["metrics"]),
        n_posterior_samples=args.posterior_draws,
        max_rows=args.max_rows,
    )
    results = {}
    for variant in args.log_targets:
        logs = [] if variant == "none" else variant.split(",")
        folds = list(range(args.folds))
        d, fold, models, target_prior = _train_synthetic(args, args.kind, args.k_folds, folds, logs)
        per_fold = []
        for k in folds:
            _, test = split(fold, k)
            per_fold.append(
                fold_metrics(
                    models[k], d.features[test], d.targets[test], target_prior, list(d.target_names), mcfg, args.seed, k
                )
            )
        ranks = torch.as_tensor(np.concatenate([np.asarray(m["sbc_ranks"], float) for m in per_fold]))
        pooled = check_uniformity_frequentist(ranks, args.posterior_draws).tolist()
        table = {}
        for t, name in enumerate(d.target_names):
            vals = [m["targets"][name] for m in per_fold]
            table[name] = {
                "coverage_90_fold_mean": float(np.mean([v["coverage_90"] for v in vals])),
                "coverage_50_fold_mean": float(np.mean([v["coverage_50"] for v in vals])),
                "sbc_ks_pvalue_fold_mean": float(np.mean([v["sbc_ks_pvalue"] for v in vals])),
                "sbc_ks_pvalue_per_fold": [v["sbc_ks_pvalue"] for v in vals],
                "sbc_ks_pvalue_pooled": float(pooled[t]),
                "r2_fold_mean": float(np.mean([v["r2"] for v in vals])),
            }
        results[variant] = {
            "targets": table,
            "tarp_atc_fold_mean": float(np.mean([m["tarp_atc"] for m in per_fold])),
            "epochs": [models[k].description["training"]["epochs"] for k in folds],
        }
        print(f"\nlog targets: {variant}; {args.folds} of {args.k_folds} folds, {len(ranks)} test rows")
        print(f"{'target':<10}{'cov90':>8}{'cov50':>8}{'SBC p (fold mean)':>19}{'SBC p (pooled)':>16}{'R2':>7}")
        for name, r in table.items():
            print(
                f"{name:<10}{r['coverage_90_fold_mean']:>8.3f}{r['coverage_50_fold_mean']:>8.3f}"
                f"{r['sbc_ks_pvalue_fold_mean']:>19.3g}{r['sbc_ks_pvalue_pooled']:>16.3g}{r['r2_fold_mean']:>7.2f}",
                flush=True,
            )
    return results


def _train_once(n: int, epochs: int, threads: int, seed: int) -> dict:
    import torch

    from workflow.contract import PARAM_NAMES
    from workflow.inference.dataset import compute_targets
    from workflow.inference.npe import train_fold
    from workflow.inference.synthetic import default_prior, mixed_features, sample_params
    from workflow.inference.targetprior import TargetPrior

    torch.set_num_threads(threads)
    g = np.random.default_rng(seed)
    targets = compute_targets(sample_params(n, g), PARAM_NAMES)
    feats = mixed_features(targets, g)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    m = train_fold(
        feats,
        targets,
        _npe_config(epochs),
        seed=seed,
        fold=0,
        target_prior=TargetPrior(default_prior()),
        log_targets=_schema_defaults()["log_targets"],
        threads=threads,
    )
    wall = time.perf_counter() - t0
    tr = m.description["training"]
    return {
        "rows": n,
        "rows_fit": tr["n_rows_fit"],
        "epochs": tr["epochs"],
        "wall_sec": wall,
        "epoch_sec": tr["epoch_durations_sec"],
        "rows_per_sec_per_epoch": tr["rows_per_sec_per_epoch"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_training_mb": rss0 / 1024,
        "threads": threads,
    }


def bench_train(args: argparse.Namespace) -> dict:
    out = []
    for n in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "_train_one",
            "--n",
            str(n),
            "--epochs",
            str(args.epochs),
            "--threads",
            str(args.threads),
            "--seed",
            str(args.seed),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(
            f"{n} rows: {out[-1]['rows_per_sec_per_epoch']:.0f} rows/s per epoch, "
            f"peak RSS {out[-1]['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    return {"sizes": out}


def _model_args(s: argparse.ArgumentParser, n: int, epochs: int) -> None:
    s.add_argument("--n", type=int, default=n, help="synthetic dataset rows")
    s.add_argument("--epochs", type=int, default=epochs, help="training epoch cap")
    s.add_argument("--hidden", type=int, default=50, help="hidden units of the flow (sbi default 50)")
    s.add_argument("--transforms", type=int, default=5, help="flow transforms (sbi default 5)")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--seed", type=int, default=2024)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    s = sub.add_parser("shap", help=bench_shap.__doc__)
    _model_args(s, 6000, 60)
    s.add_argument("--rows", type=int, default=50, help="explained rows (same for every method)")
    s.add_argument("--naive-rows", type=int, default=10, help="rows the naive baseline explains (cost per row)")
    s.add_argument("--background", type=int, default=32)
    s.add_argument("--draws", type=int, default=128)
    s.add_argument("--perms", type=int, default=2)
    s.add_argument("--ref-draws", type=int, default=512)
    s.add_argument("--ref-perms", type=int, default=6)
    s.add_argument("--grid-draws", type=int, nargs="*", default=[32, 128])
    s.add_argument("--grid-perms", type=int, nargs="*", default=[1, 2])
    s.add_argument("--campaign", type=Path, default=None,
                   help="a finished campaign's results/ folder: explain its fold 0 (default: train on the mixed "
                   "synthetic set)")  # fmt: skip
    s.add_argument("--out-name", default="shap", help="results file name (benchmarks/inference/<name>.json)")
    g = sub.add_parser("settings", help=bench_settings.__doc__)
    _model_args(g, 6000, 60)
    g.add_argument("--k-folds", type=int, default=10, help="folds of the dataset")
    g.add_argument("--folds", type=int, default=10, help="folds trained and explained (merged over)")
    g.add_argument("--rows", type=int, default=500, help="explained rows per fold")
    g.add_argument("--grid-draws", type=int, nargs="+", default=[32, 128])
    g.add_argument("--grid-background", type=int, nargs="+", default=[8, 32, 128])
    g.add_argument("--grid-perms", type=int, nargs="+", default=[1, 2])
    g.add_argument("--campaign", type=Path, default=None,
                   help="a finished campaign's results/ folder: use its fold models and prepared rows "
                   "(default: train on the mixed synthetic set)")  # fmt: skip
    g.add_argument("--out-name", default="settings", help="results file name (benchmarks/inference/<name>.json)")
    c = sub.add_parser("calibration", help=bench_calibration.__doc__)
    _model_args(c, 3000, 200)
    c.add_argument("--dataset", type=Path, default=None, help="contract-layout HDF5 (default: synthetic)")
    c.add_argument("--kind", choices=("planted", "mixed"), default="planted", help="synthetic dataset kind")
    c.add_argument("--k-folds", type=int, default=10, help="folds of the dataset")
    c.add_argument("--folds", type=int, default=3, help="folds trained and tested")
    c.add_argument("--posterior-draws", type=int, default=1000)
    c.add_argument("--max-rows", type=int, default=2000)
    c.add_argument(
        "--log-targets", nargs="+", default=["none", "EI_net"], help="variants: 'none' or comma-separated targets"
    )
    t = sub.add_parser("train")
    t.add_argument("--sizes", type=int, nargs="+", default=[100_000, 900_000])
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=2024)
    o = sub.add_parser("_train_one")
    o.add_argument("--n", type=int, required=True)
    o.add_argument("--epochs", type=int, required=True)
    o.add_argument("--threads", type=int, default=1)
    o.add_argument("--seed", type=int, default=2024)
    args = p.parse_args()
    if args.step == "_train_one":
        print(json.dumps(_train_once(args.n, args.epochs, args.threads, args.seed)))
        return
    steps = {"shap": bench_shap, "settings": bench_settings, "calibration": bench_calibration, "train": bench_train}
    res = steps[args.step](args)
    res["command"] = " ".join(sys.argv)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{getattr(args, 'out_name', args.step)}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
