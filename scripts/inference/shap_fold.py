"""Rule inference_shap: SHAP values of the posterior mean and IQR on random test rows of one fold."""

import json
import logging

from workflow.inference.dataset import read_prepared
from workflow.inference.explain import ShapConfig, explain_fold, write_shap
from workflow.inference.folds import split
from workflow.inference.npe import load_model
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
logging.captureWarnings(True)
fold_k = int(smk.wildcards.fold)
data, fold = read_prepared(smk.input.data)
train, test = split(fold, fold_k)
model = load_model(smk.input.pt, smk.input.json)
cfg = ShapConfig.from_config(smk.params.shap)
res = explain_fold(
    model,
    data.features[test],
    data.sample_id[test],
    data.features[train],
    cfg,
    seed=smk.params.seed,
    fold=fold_k,
    threads=smk.threads,
)
write_shap(
    smk.output.h5,
    res,
    list(data.feature_names),
    list(data.target_names),
    {"shap": dict(smk.params.shap), "seed": smk.params.seed},
    seed=smk.params.seed,
    fold=fold_k,
)
log.info(
    "fold %d SHAP: %s",
    fold_k,
    json.dumps({k: v for k, v in res.meta.items() if k != "background_sample_index"}),
)
