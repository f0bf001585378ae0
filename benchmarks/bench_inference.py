"""Benchmarks of the inference half.

``shap``   SHAP cost per fold of the CRN functionals vs a naive reference on the same trained
           fold, rows and background: naive = shap.PermutationExplainer over sbi's
           ``posterior.sample_batched`` (1000 fresh draws per x, rejection outside the support).
           Accuracy: Spearman of mean |SHAP| per (target, functional) against a high-precision
           reference (CRN with many draws and permutations). A convergence grid over draws and
           permutations is scored against the same reference.
``train``  NPE training throughput (rows/s per epoch) and peak memory (RSS) at given sizes,
           each size in its own process.

Synthetic data (``kind="mixed"``: every feature carries graded information on every target,
so the full ranking is meaningful). Results go to ``benchmarks/inference/<step>.json``.

    python benchmarks/bench_inference.py shap --rows 50 --naive-rows 3
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
        self.n_draws = n_draws
        self.theta_dim = len(model.low)
        self.n_rows_evaluated = 0

    def __call__(self, x_std: np.ndarray) -> np.ndarray:
        import torch

        x = torch.as_tensor(np.asarray(x_std), dtype=torch.float32)
        self.n_rows_evaluated += len(x)
        s = self.post.sample_batched((self.n_draws,), x, show_progress_bars=False)  # (S, B, 4)
        q = torch.quantile(s, torch.tensor([0.25, 0.75]), dim=0)
        out = torch.stack([s.mean(0), q[1] - q[0]], dim=-1)  # (B, 4, 2)
        return out.reshape(len(x), -1).numpy().astype(np.float64)


def bench_shap(args: argparse.Namespace) -> dict:
    import torch

    from workflow.inference.dataset import load_dataset
    from workflow.inference.explain import shap_values
    from workflow.inference.folds import assign_folds, split
    from workflow.inference.functionals import PosteriorFunctionals
    from workflow.inference.npe import train_fold
    from workflow.inference.synthetic import write_synthetic_dataset
    from workflow.seeds import Stream, int_seed, rng

    torch.set_num_threads(args.threads)
    seed, fold_k = args.seed, 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mixed.h5"
        write_synthetic_dataset(path, args.n, seed=seed, kind="mixed")
        d = load_dataset(path)
    fold = assign_folds(d.sample_id, 10, seed)
    train, test = split(fold, fold_k)
    t0 = time.perf_counter()
    model = train_fold(
        d.features[train],
        d.targets[train],
        _npe_config(args.epochs),
        seed,
        fold_k,
        threads=args.threads,
    )
    train_sec = time.perf_counter() - t0
    pick = np.sort(rng(seed, Stream.SHAP_ROWS, fold_k).choice(len(test), args.rows, replace=False))
    bg_idx = np.sort(rng(seed, Stream.SHAP_BACKGROUND, fold_k).choice(len(train), args.background, replace=False))
    x = model.standardise(d.features[test][pick]).numpy()
    bg = model.standardise(d.features[train][bg_idx]).numpy()
    perm_seed = int_seed(seed, Stream.SHAP_PERMUTATIONS, fold_k)
    shap_defaults = _schema_defaults()["shap"]
    crn = {"leakage": shap_defaults["leakage"], "qmc_draws": shap_defaults["qmc_draws"]}
    n_feat = x.shape[1]

    cpu: dict[str, float] = {}

    def run(fun, xs, perms, pseed=perm_seed, label=None):
        t, c = time.perf_counter(), time.process_time()
        v, _ = shap_values(fun, xs, bg, perms, pseed)
        if label:
            cpu[label] = time.process_time() - c  # CPU time: robust to other jobs on the machine
        return v, time.perf_counter() - t

    # Warm-up: shap compiles its numba kernels on first use (~20 s), not part of the per-row cost.
    run(PosteriorFunctionals(model, n_draws=8, seed=seed, fold=fold_k, **crn), x[:1], 1)

    results: dict = {
        "n_rows_dataset": args.n,
        "train_rows": int(len(train)),
        "train_epochs": model.description["training"]["epochs"],
        "train_sec": train_sec,
        "rows": args.rows,
        "background": args.background,
        "threads": args.threads,
        "features": n_feat,
    }
    mine_f = PosteriorFunctionals(model, n_draws=args.draws, seed=seed, fold=fold_k, **crn)
    v_mine, t_mine = run(mine_f, x, args.perms, label="mine")
    results["mine"] = {
        "draws": args.draws,
        "permutations": args.perms,
        "sec": t_mine,
        "sec_per_row": t_mine / args.rows,
        "functional_rows": mine_f.n_rows_evaluated,
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
        "cpu_sec": cpu["naive"],
        "sec_extrapolated_to_rows": t_naive / args.naive_rows * args.rows,
    }
    results["speedup_same_explainer_settings"] = results["naive"]["sec_per_row"] / results["mine"]["sec_per_row"]
    results["speedup_cpu_time"] = (cpu["naive"] / args.naive_rows) / (cpu["mine"] / args.rows)
    print(
        f"naive: {t_naive:.1f} s for {args.naive_rows} rows; speed-up "
        f"{results['speedup_same_explainer_settings']:.1f}x",
        flush=True,
    )
    _dump_partial(results)

    ref_f = PosteriorFunctionals(model, n_draws=args.ref_draws, seed=seed + 1, fold=fold_k, **crn)
    v_ref, t_ref = run(ref_f, x, args.ref_perms, int_seed(seed, Stream.CONVERGENCE, fold_k))
    results["reference"] = {
        "draws": args.ref_draws,
        "permutations": args.ref_perms,
        "sec": t_ref,
        "note": "CRN with another Sobol scramble and permutation seed",
    }
    print(f"reference: {t_ref:.1f} s", flush=True)
    _dump_partial(results)
    results["mine"]["spearman_vs_reference"] = _spearman_table(v_mine, v_ref)
    results["mine"]["min_spearman_vs_reference"] = float(np.min(results["mine"]["spearman_vs_reference"]))
    results["mine"]["rel_err_mean_abs_vs_reference"] = _rel_err(np.abs(v_mine).mean(0), np.abs(v_ref).mean(0))
    nr = args.naive_rows
    # Same permutations as mine and naive, many CRN draws: isolates the functional's Monte Carlo error.
    v_same, _ = run(
        PosteriorFunctionals(model, n_draws=args.ref_draws, seed=seed + 1, fold=fold_k, **crn), x[:nr], args.perms
    )
    results["per_row_rel_err_first_rows"] = {
        "rows": nr,
        "vs_reference": {"mine": _rel_err(v_mine[:nr], v_ref[:nr]), "naive": _rel_err(v_naive, v_ref[:nr])},
        "vs_same_permutations_many_draws": {
            "mine": _rel_err(v_mine[:nr], v_same),
            "naive": _rel_err(v_naive, v_same),
        },
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
                    "min_spearman": float(np.min(sp)),
                    "mean_spearman": float(np.mean(sp)),
                    "spearman": sp,
                    "rel_err_mean_abs": _rel_err(np.abs(v).mean(0), np.abs(v_ref).mean(0)),
                    "rel_err_values": _rel_err(v, v_ref),
                }
            )
            print(
                f"grid draws={draws} perms={perms}: {t:.1f} s, min Spearman {grid[-1]['min_spearman']:.3f}, "
                f"rel err mean|SHAP| {grid[-1]['rel_err_mean_abs']:.3f}",
                flush=True,
            )
    results["convergence_grid"] = grid
    return results


def _train_once(n: int, epochs: int, threads: int, seed: int) -> dict:
    import torch

    from workflow.contract import PARAM_NAMES
    from workflow.inference.dataset import compute_targets
    from workflow.inference.npe import train_fold
    from workflow.inference.synthetic import mixed_features, sample_params

    torch.set_num_threads(threads)
    g = np.random.default_rng(seed)
    targets = compute_targets(sample_params(n, g), PARAM_NAMES)
    feats = mixed_features(targets, g)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    m = train_fold(feats, targets, _npe_config(epochs), seed=seed, fold=0, threads=threads)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    s = sub.add_parser("shap")
    s.add_argument("--n", type=int, default=6000, help="synthetic dataset rows")
    s.add_argument("--epochs", type=int, default=60, help="training epoch cap")
    s.add_argument("--rows", type=int, default=50, help="explained rows (same for every method)")
    s.add_argument("--naive-rows", type=int, default=3, help="rows the naive reference explains (cost per row)")
    s.add_argument("--background", type=int, default=16)
    s.add_argument("--draws", type=int, default=64)
    s.add_argument("--perms", type=int, default=1)
    s.add_argument("--ref-draws", type=int, default=512)
    s.add_argument("--ref-perms", type=int, default=6)
    s.add_argument("--grid-draws", type=int, nargs="*", default=[16, 32, 128])
    s.add_argument("--grid-perms", type=int, nargs="*", default=[1, 2])
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--seed", type=int, default=2024)
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
    res = bench_shap(args) if args.step == "shap" else bench_train(args)
    res["command"] = " ".join(sys.argv)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.step}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "convergence_grid"}, indent=1))


if __name__ == "__main__":
    main()
