"""Calibration of the fold posteriors under remedies for over-confidence (issue 10, item 4).

For each fold of a prepared dataset (``results/inference/data.h5``: valid rows with their fold
ids), trains NPE on the training folds under each variant and scores the posterior on the test
fold, out of fold for every row:

* ``base``: one flow with the config's ``inference.npe`` settings (what a fold trains today);
* ``ens<M>``: the equal-weight mixture of M flows with those settings and M torch seeds
  (member 0 is ``base``); draws are split equally between the members;
* ``small``: one flow with fewer and smaller transforms (``--small-hidden``, ``--small-transforms``);
* ``nsf``: one neural spline flow with the config's sizes;
* ``log:none``, ``log:all``, ``log:<t1>,<t2>``: the config's flow with those targets learned on
  the log scale (item 1 of issue 10: which targets the log scale calibrates).

Scores per target, pooled over the folds run (every row's rank comes from the model that did
not see it): the fraction of truths inside the central 50 % and 90 % intervals of the draws,
the SBC rank KS p-value against uniform over every row (ranks of the truth among the draws, the statistic of
sbi's ``check_uniformity_frequentist``), the rank histogram's skew (mean rank / L - 0.5:
negative when the posterior sits above the truths), the fold-mean 90 % coverage and the fold
KS p-values, the R² of the posterior mean, and the training time. The issue's goal is a
fold-mean 90 % coverage within 0.85-0.95 and SBC p >= 0.05 for every target.

Writes one row per (variant, fold, target) to ``--out`` as it goes (a rerun skips rows already
there), then prints the pooled table. Run under ``nice``; each training is single-threaded::

    nice -n 10 .venv/bin/python benchmarks/bench_calibration.py \\
        --data /path/to/results/inference/data.h5 --configfile config/config.yaml config/reduced.yaml \\
        --variants base ens5 small nsf --out results/calibration/reduced.csv
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow.config import load_config  # noqa: E402
from workflow.inference.dataset import read_prepared  # noqa: E402
from workflow.inference.folds import split  # noqa: E402
from workflow.inference.metrics import posterior_samples  # noqa: E402
from workflow.inference.npe import NPEConfig, train_fold  # noqa: E402
from workflow.inference.targetprior import TargetPrior  # noqa: E402
from workflow.seeds import Stream, seed_torch  # noqa: E402

FIELDS = ("variant", "fold", "target", "n_test", "n_draws", "coverage_50", "coverage_90",
          "rank_mean", "ks_p", "r2", "train_seconds", "epochs")  # fmt: skip


def variant_members(variant: str, npe: NPEConfig, small: tuple[int, int]) -> list[tuple[NPEConfig, int]]:
    """The (settings, member) pairs whose mixture is the variant's posterior."""
    if variant == "base" or variant.startswith("log:"):
        return [(npe, 0)]
    if variant.startswith("ens"):
        return [(npe, m) for m in range(int(variant[3:]))]
    if variant == "small":
        return [(dataclasses.replace(npe, hidden_features=small[0], num_transforms=small[1]), 0)]
    if variant == "nsf":
        return [(dataclasses.replace(npe, density_estimator="nsf"), 0)]
    if variant.startswith("patience"):
        return [(dataclasses.replace(npe, stop_after_epochs=int(variant[8:]), max_num_epochs=None), 0)]
    raise SystemExit(f"unknown variant {variant!r}")


def variant_log_targets(variant: str, configured: list[str], names: list[str]) -> list[str]:
    """Targets learned on the log scale: ``log:none``, ``log:all`` or ``log:EI_net,J_ext`` set
    them (with the config's flow); every other variant keeps the config's ``inference.log_targets``."""
    if not variant.startswith("log:"):
        return list(configured)
    spec = variant[4:]
    chosen = [] if spec == "none" else list(names) if spec == "all" else spec.split(",")
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise SystemExit(f"variant {variant!r}: unknown targets {unknown} (targets: {names})")
    return chosen


def write_synthetic_prepared(path: Path, n: int, seed: int, k: int) -> None:
    """The planted synthetic set as prepared rows with fold ids (as the prepare rule writes them)."""
    from workflow.inference.dataset import load_dataset, write_prepared
    from workflow.inference.folds import assign_folds
    from workflow.inference.synthetic import write_synthetic_dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(path.stem + "_raw.h5")
    write_synthetic_dataset(raw, n, seed=seed, invalid_fraction=0.0)
    data = load_dataset(raw)
    fold = assign_folds(data.sample_id, k, seed)
    write_prepared(path, data, fold, {"k_folds": k, "seed": seed}, source=str(raw), seed=seed, k_folds=k)


def score(draws: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-target coverage indicators, ranks and posterior means of draws (L, n, T) against truth (n, T)."""
    q = np.quantile(draws, [0.05, 0.25, 0.75, 0.95], axis=0)
    return {
        "in50": (truth >= q[1]) & (truth <= q[2]),
        "in90": (truth >= q[0]) & (truth <= q[3]),
        "rank": (draws < truth[None]).sum(0),
        "mean": draws.mean(0),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="prepared rows with fold ids (results/inference/data.h5)")
    ap.add_argument("--configfile", nargs="+", required=True, help="the campaign's config files")
    ap.add_argument("--variants", nargs="+", default=["base", "ens5"])
    ap.add_argument("--folds", nargs="*", type=int, help="folds to run (default: all)")
    ap.add_argument("--draws", type=int, default=1000, help="posterior draws per test row (default 1000)")
    ap.add_argument("--small-hidden", type=int, default=20)
    ap.add_argument("--small-transforms", type=int, default=3)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--synthetic", type=int, metavar="N",
                    help="first write --data (if absent) as N rows of the planted synthetic set "
                    "(workflow/inference/synthetic.py, no invalid rows), folds from the config")  # fmt: skip
    args = ap.parse_args(argv)

    cfg = load_config(args.configfile)
    inf = cfg["inference"]
    seed, k = int(cfg["campaign"]["seed"]), int(inf["k_folds"])
    npe = NPEConfig.from_config(inf["npe"])
    target_prior = TargetPrior.from_config(cfg["prior"])
    if args.synthetic and not args.data.exists():
        write_synthetic_prepared(args.data, args.synthetic, seed, k)
    data, fold_ids = read_prepared(args.data)
    folds = args.folds if args.folds else list(range(k))
    names = {"features": list(data.feature_names), "targets": list(data.target_names)}
    torch.set_num_threads(1)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    done: set[tuple[str, int]] = set()
    if args.out.exists():
        with args.out.open() as fh:
            done = {(r["variant"], int(r["fold"])) for r in csv.DictReader(fh)}
    new = not args.out.exists()
    trained: dict[tuple[str, int, int, int, str], tuple[object, float, int]] = {}  # settings -> model, shared
    with args.out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for f in folds:
            train, test = split(fold_ids, f)
            for variant in args.variants:
                if (variant, f) in done:
                    continue
                members = variant_members(variant, npe, (args.small_hidden, args.small_transforms))
                draws, seconds, epochs = [], 0.0, []
                per = args.draws // len(members)
                logs = variant_log_targets(variant, inf["log_targets"], list(data.target_names))
                for settings, member in members:
                    key = (settings, f, member, tuple(logs))
                    if key not in trained:
                        t0 = time.process_time()
                        model = train_fold(
                            data.features[train], data.targets[train], settings, seed, f,
                            target_prior=target_prior, log_targets=logs, threads=1,
                            names=names, member=member,
                        )  # fmt: skip
                        trained[key] = (model, time.process_time() - t0, model.description["training"]["epochs"])
                    model, sec, ep = trained[key]
                    seconds += sec
                    epochs.append(ep)
                    seed_torch(seed, Stream.METRICS, f, member)
                    draws.append(posterior_samples(model, data.features[test], per))
                s = score(np.concatenate(draws, axis=0), data.targets[test])
                truth = data.targets[test]
                ss_tot = ((truth - truth.mean(0)) ** 2).sum(0)
                n_draws = per * len(members)
                for t, name in enumerate(data.target_names):
                    ranks = s["rank"][:, t]
                    writer.writerow({
                        "variant": variant, "fold": f, "target": name, "n_test": len(test), "n_draws": n_draws,
                        "coverage_50": f"{s['in50'][:, t].mean():.4f}", "coverage_90": f"{s['in90'][:, t].mean():.4f}",
                        "rank_mean": f"{ranks.mean() / n_draws:.4f}",
                        "ks_p": f"{stats.kstest(ranks / n_draws, 'uniform').pvalue:.4g}",
                        "r2": f"{1 - ((s['mean'][:, t] - truth[:, t]) ** 2).sum() / ss_tot[t]:.4f}",
                        "train_seconds": f"{seconds:.1f}", "epochs": "/".join(map(str, epochs)),
                    })  # fmt: skip
                with ranks_path(args.out).open("a") as rf:  # the ranks of every test row, for the pooled test
                    for row in range(len(test)):
                        rf.write(f"{variant},{f},{n_draws}," + ",".join(str(int(r)) for r in s["rank"][row]) + "\n")
                fh.flush()
                print(f"fold {f} {variant}: cov90 {np.round(s['in90'].mean(0), 3).tolist()} "
                      f"({seconds:.0f} CPU s)", flush=True)  # fmt: skip
    summarise(args.out, data)
    return 0


def ranks_path(out: Path) -> Path:
    """The side file of per-row SBC ranks: ``variant,fold,L,rank_0,...``."""
    return out.with_name(out.stem + "_ranks.csv")


def summarise(path: Path, data) -> None:
    """Print per variant and target: the fold-mean coverages, the pooled SBC KS p-value over
    every test row of the folds run, and how many folds alone have p < 0.05."""
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    pooled: dict[str, list[np.ndarray]] = {}
    for line in ranks_path(path).read_text().splitlines():
        v, _, L, *r = line.split(",")
        pooled.setdefault(v, []).append(np.array(r, dtype=float) / float(L))
    variants = sorted({r["variant"] for r in rows}, key=lambda v: [r["variant"] for r in rows].index(v))
    print(f"\n{'variant':<10}{'target':<14}{'folds':>6}{'cov50':>8}{'cov90':>8}{'rank':>8}"
          f"{'p<.05':>7}{'pooled p':>10}{'R2':>8}{'CPU s/fold':>12}")  # fmt: skip
    for v in variants:
        for name in data.target_names:
            sel = [r for r in rows if r["variant"] == v and r["target"] == name]
            if not sel:
                continue
            w = np.array([int(r["n_test"]) for r in sel], dtype=float)
            col = lambda key, sel=sel: np.array([float(r[key]) for r in sel])  # noqa: E731
            p = col("ks_p")
            t = list(data.target_names).index(name)
            pooled_p = stats.kstest(np.array(pooled[v])[:, t], "uniform").pvalue
            print(f"{v:<10}{name:<14}{len(sel):>6}{np.average(col('coverage_50'), weights=w):>8.3f}"
                  f"{col('coverage_90').mean():>8.3f}{np.average(col('rank_mean'), weights=w):>8.3f}"
                  f"{int((p < 0.05).sum()):>7}{pooled_p:>10.2g}{np.average(col('r2'), weights=w):>8.3f}"
                  f"{col('train_seconds').mean():>12.0f}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
