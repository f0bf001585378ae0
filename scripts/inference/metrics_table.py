"""Rule inference_metrics: per-fold test metrics side by side, with mean and SD over folds."""

import json

import numpy as np
import pandas as pd

from workflow.inference.metrics import METRIC_NAMES
from workflow.inference.plots import plot_metrics
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
rows, sbc = [], {}
for path in smk.input.metrics:
    with open(path) as fh:
        m = json.load(fh)
    for target, vals in m["targets"].items():
        for metric in METRIC_NAMES:
            rows.append({"fold": m["fold"], "target": target, "metric": metric, "value": vals[metric]})
        sbc[target] = sbc.get(target, 0) + np.asarray(vals["sbc_rank_hist"])
    rows.append({"fold": m["fold"], "target": "all", "metric": "test_log_prob_mean", "value": m["test_log_prob_mean"]})
    rows.append({"fold": m["fold"], "target": "all", "metric": "epochs", "value": m["training"]["epochs"]})
long = pd.DataFrame(rows)
wide = long.pivot_table(index=["target", "metric"], columns="fold", values="value", sort=False)
wide.columns = [f"fold_{c}" for c in wide.columns]
wide["mean"] = wide.mean(axis=1)
wide["sd"] = wide.filter(like="fold_").std(axis=1, ddof=1)
wide.to_csv(smk.output.csv, float_format="%.4g")
plot_metrics(long[long["target"] != "all"], sbc, smk.output.png)
log.info("metrics over %d folds:\n%s", len(smk.input.metrics), wide[["mean", "sd"]].to_string())
