"""Rule inference_merge_shap: mean |SHAP| over folds with SD, ranking agreement, figures."""

import json
from pathlib import Path

import pandas as pd

from workflow.inference.explain import read_shap
from workflow.inference.merge import fold_importance, merge_importance, ranking_agreement
from workflow.inference.plots import plot_shap_bars
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
folds = [read_shap(p) for p in smk.input.h5]
feat, targ, func = folds[0]["feature_names"], folds[0]["target_names"], folds[0]["functional_names"]
per_fold = [fold_importance(f["values"]) for f in folds]
table = merge_importance(per_fold, feat, targ, func)
table.to_csv(smk.output.table, index=False, float_format="%.6g")
agree, detail = ranking_agreement(per_fold, targ, func)
agree.to_csv(smk.output.agreement, index=False, float_format="%.4f")
conv_rows = []
for k, f in enumerate(folds):
    conv = f["meta"].get("convergence")
    if conv:
        for i, t in enumerate(targ):
            for j, g in enumerate(func):
                conv_rows.append(
                    {
                        "fold": k,
                        "target": t,
                        "functional": g,
                        "rows": conv["rows"],
                        **{
                            m: conv[m][i][j]
                            for m in ("relative_l2_error", "relative_error_mean_abs", "spearman_mean_abs")
                        },
                    }
                )
pd.DataFrame(conv_rows).to_csv(smk.output.convergence, index=False, float_format="%.4f")
costs = {
    k: {
        m: f["meta"][m]
        for m in (
            "wall_time_sec",
            "functional_rows_evaluated",
            "clamped_rows",
            "n_rows",
            "additivity_max_abs_error",
        )
    }
    for k, f in enumerate(folds)
}
with open(smk.output.detail, "w") as fh:
    json.dump({"ranking_agreement": detail, "fold_costs": costs}, fh, indent=1)
for t, png in zip(targ, smk.output.figures, strict=True):
    assert Path(png).stem == t, (png, t)
    plot_shap_bars(table, t, png, n_folds=len(folds))
log.info("merged %d folds; agreement:\n%s", len(folds), agree.to_string())
