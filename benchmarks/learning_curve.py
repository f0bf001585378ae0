"""Learning curve of one fold: test accuracy and calibration against the training-set size.

Trains the fold's flow, exactly as rule ``inference_train`` does (the campaign's validated
config: flow, training settings, learned scales, seed), on a seeded subset of n of the fold's
training rows (``inference.max_train_rows`` = n) for each n of ``--sizes``, and scores it on the
fold's test rows with the campaign's own metrics (``inference.metrics``: the same random test
rows for every n). Prints and writes one row per n: training rows, epochs, training wall and CPU
seconds, test log-probability, and per target R^2, 90 % coverage and the SBC KS p-value.

Usage (after the campaign's ``inference_prepare``):
    OMP_NUM_THREADS=1 python benchmarks/learning_curve.py --results <campaign>/results \\
        --configfile config/config.yaml config/mpr-1m.yaml --fold 0 --sizes 1000 3000 10000 \\
        --out learning_curve.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflow.config import validate_config  # noqa: E402
from workflow.inference.dataset import read_prepared  # noqa: E402
from workflow.inference.folds import split  # noqa: E402
from workflow.inference.metrics import MetricsConfig, fold_metrics  # noqa: E402
from workflow.inference.npe import NPEConfig, train_fold  # noqa: E402
from workflow.inference.targetprior import target_prior_from_params  # noqa: E402


def load_config(paths: list[str]) -> dict:
    """The validated config of YAML files merged as Snakemake merges ``--configfile``s."""

    def merge(a: dict, b: dict) -> dict:
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    cfg: dict = {}
    for p in paths:
        cfg = merge(cfg, yaml.safe_load(Path(p).read_text()) or {})
    return validate_config(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True, type=Path, help="the campaign's results folder")
    parser.add_argument("--configfile", nargs="+", required=True, help="the campaign's config files")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--sizes", nargs="+", type=int, required=True)
    parser.add_argument("--out", required=True, type=Path, help="CSV written (one row per size)")
    args = parser.parse_args()

    cfg = load_config(args.configfile)
    inf = cfg["inference"]
    seed = cfg["campaign"]["seed"] if inf["seed"] is None else inf["seed"]
    params = (
        {"prior": cfg["prior"]}
        if cfg["model"] == "hagen2022"
        else {"model": cfg["model"], "model_module": cfg["model_module"]}
    )
    target_prior = target_prior_from_params(params)
    npe_cfg = NPEConfig.from_config(inf["npe"])
    metrics_cfg = MetricsConfig.from_config(inf["metrics"])
    data, fold_ids = read_prepared(args.results / "inference" / "data.h5")
    train, test = split(fold_ids, args.fold)
    names = list(data.target_names)
    rows = []
    for n in args.sizes:
        if n > len(train):
            raise SystemExit(f"--sizes: {n} exceeds the fold's {len(train)} training rows")
        wall, cpu = time.perf_counter(), time.process_time()
        model = train_fold(
            data.features[train],
            data.targets[train],
            npe_cfg,
            seed=seed,
            fold=args.fold,
            target_prior=target_prior,
            log_targets=inf["log_targets"],
            logit_targets=inf["logit_targets"],
            max_train_rows=n,
            names={"features": list(data.feature_names), "targets": names},
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        m = fold_metrics(
            model, data.features[test], data.targets[test], target_prior, names, metrics_cfg, seed=seed, fold=args.fold
        )
        row = {
            "fold": args.fold,
            "n_train": model.description["training"]["n_rows"],
            "n_available": model.description["training"]["n_rows_available"],
            "epochs": model.description["training"]["epochs"],
            "train_wall_s": round(wall, 1),
            "train_cpu_s": round(cpu, 1),
            "n_test_rows": m["n_rows_used"],
            "test_log_prob_mean": round(m["test_log_prob_mean"], 4),
        }
        for t in names:
            for key in ("r2", "coverage_90", "sbc_ks_pvalue"):
                row[f"{t}_{key}"] = round(m["targets"][t][key], 4)
        rows.append(row)
        print(row, flush=True)
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
