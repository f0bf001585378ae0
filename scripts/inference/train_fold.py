"""Rule inference_train: train NPE on the training folds of one fold, store it, test it."""

import json
import logging
import warnings

from workflow.inference.dataset import read_prepared
from workflow.inference.folds import split
from workflow.inference.metrics import MetricsConfig, fold_metrics
from workflow.inference.npe import NPEConfig, load_model, save_model, train_fold
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
logging.captureWarnings(True)
warnings.simplefilter("default")
fold_k = int(smk.wildcards.fold)
data, fold = read_prepared(smk.input.data)
train, test = split(fold, fold_k)
cfg = NPEConfig.from_config(smk.params.npe)
metrics_cfg = MetricsConfig.from_config(smk.params.metrics)
model = train_fold(
    data.features[train],
    data.targets[train],
    cfg,
    seed=smk.params.seed,
    fold=fold_k,
    threads=smk.threads,
    prior_cfg=smk.params.prior,
    names={"features": list(data.feature_names), "targets": list(data.target_names)},
)
model.description["n_test"] = int(len(test))
save_model(model, smk.output.pt, smk.output.json)
log.info(
    "fold %d: %s",
    fold_k,
    json.dumps(model.description["training"] | {"validation_loss": "...", "training_loss": "..."}),
)
# Metrics from the stored model, so they describe exactly what later rules load.
stored = load_model(smk.output.pt, smk.output.json)
metrics = fold_metrics(
    stored,
    data.features[test],
    data.targets[test],
    data.targets[train],
    list(data.target_names),
    metrics_cfg,
    seed=smk.params.seed,
    fold=fold_k,
)
metrics["training"] = {k: v for k, v in model.description["training"].items() if not k.endswith("_loss")}
with open(smk.output.metrics, "w") as fh:
    json.dump(metrics, fh, indent=1)
log.info("fold %d metrics: %s", fold_k, json.dumps(metrics["targets"]))
