"""Rule inference_metrics: per-fold test metrics side by side (mean and SD over folds), SBC and TARP plots."""

import json

import numpy as np
import pandas as pd

from workflow.inference.metrics import JOINT_METRIC_NAMES, METRIC_NAMES
from workflow.inference.plots import plot_metrics, plot_sbc_ranks, plot_tarp_curves
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
rows, ranks, curves, draws = [], [], [], set()
for path in smk.input.metrics:
    with open(path) as fh:
        m = json.load(fh)
    for target, vals in m["targets"].items():
        for metric in METRIC_NAMES:
            rows.append({"fold": m["fold"], "target": target, "metric": metric, "value": vals[metric]})
    for metric in JOINT_METRIC_NAMES:
        rows.append({"fold": m["fold"], "target": "all", "metric": metric, "value": m[metric]})
    rows.append({"fold": m["fold"], "target": "all", "metric": "epochs", "value": m["training"]["epochs"]})
    ranks.append(np.asarray(m["sbc_ranks"], float))
    curves.append((np.asarray(m["tarp"]["ecp"]), np.asarray(m["tarp"]["alpha"])))
    draws.add(m["n_posterior_samples"])
    targets = list(m["targets"])
long = pd.DataFrame(rows)
order = pd.MultiIndex.from_tuples(list(dict.fromkeys(zip(long["target"], long["metric"], strict=True))))
wide = long.set_index(["target", "metric", "fold"])["value"].unstack("fold").reindex(order)
wide.index.names = ["target", "metric"]
wide.columns = [f"fold_{c}" for c in wide.columns]
wide["mean"] = wide.mean(axis=1)
wide["sd"] = wide.filter(like="fold_").std(axis=1, ddof=1)
wide.to_csv(smk.output.csv, float_format="%.4g")
plot_metrics(long[long["target"] != "all"], smk.output.png)
(n_draws,) = draws
plot_sbc_ranks(np.concatenate(ranks), n_draws, targets, smk.output.sbc)
plot_tarp_curves(curves, smk.output.tarp)
log.info("metrics over %d folds:\n%s", len(smk.input.metrics), wide[["mean", "sd"]].to_string())
