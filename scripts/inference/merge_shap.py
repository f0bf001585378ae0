"""Rule inference_merge_shap: mean |SHAP| over folds with SD, ranking agreement (between folds and with
MI), convergence, verdicts, figures, and the captions that report them."""

import json
from pathlib import Path

import pandas as pd

from workflow.inference import captions
from workflow.inference.explain import read_shap
from workflow.inference.merge import (
    fold_importance,
    merge_importance,
    mi_shap_agreement,
    ranking_agreement,
    shap_verdicts,
)
from workflow.inference.plots import plot_mi_agreement, plot_shap_bars
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
folds = [read_shap(p) for p in smk.input.h5]
feat, targ, func = folds[0]["feature_names"], folds[0]["target_names"], folds[0]["functional_names"]
cfg = folds[0]["meta"]["config"]  # the inference.shap settings the fold files were made with
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
conv_table = pd.DataFrame(conv_rows)
conv_table.to_csv(smk.output.convergence, index=False, float_format="%.4f")
verdicts = shap_verdicts(agree, conv_table, func)
verdicts.to_csv(smk.output.verdicts, index=False, float_format="%.4f")

mi = pd.read_csv(smk.input.mi, index_col=0)
mi_agree = mi_shap_agreement(mi, table)
mi_agree.to_csv(smk.output.mi_agreement, index=False, float_format="%.4f")
plot_mi_agreement(mi, table, mi_agree, smk.output.mi_png)

costs = {
    k: {m: f["meta"][m] for m in ("wall_time_sec", "functional_rows_evaluated", "leakage", "n_rows")}
    | {"additivity_max_abs_error": f["meta"]["additivity_max_abs_error"]}
    for k, f in enumerate(folds)
}
with open(smk.output.detail, "w") as fh:
    json.dump({"ranking_agreement": detail, "fold_costs": costs}, fh, indent=1)
for t, png in zip(targ, smk.output.figures, strict=True):
    assert Path(png).stem == t, (png, t)
    plot_shap_bars(table, t, png, n_folds=len(folds))

texts = {
    "importance": captions.shap_table(cfg, verdicts),
    "agreement": captions.agreement(cfg, verdicts),
    "convergence": captions.convergence(cfg, verdicts),
    "mi_agreement": captions.mi_agreement(cfg, verdicts),
    **{f"bars_{t}": captions.shap_bars(t, cfg, len(folds), verdicts) for t in targ},
}
for path in smk.output.captions:
    Path(path).write_text(captions.with_smoke_test_note(texts[Path(path).stem]) + "\n")
log.info("merged %d folds; agreement:\n%s", len(folds), agree.to_string())
log.info("verdicts:\n%s\nMI-SHAP agreement:\n%s", verdicts.to_string(), mi_agree.to_string())
