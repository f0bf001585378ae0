"""Rule inference_train: train NPE on the training folds of one fold, store it, test it, plot 3 posteriors."""

import json
import logging
import warnings

import numpy as np

from workflow.inference.dataset import read_prepared
from workflow.inference.folds import split
from workflow.inference.metrics import MetricsConfig, fold_metrics, posterior_samples
from workflow.inference.npe import NPEConfig, load_model, save_model, train_fold
from workflow.inference.plots import plot_posterior_pairs
from workflow.inference.targetprior import target_prior_from_params
from workflow.scripting import rule_logging
from workflow.seeds import Stream, rng, seed_torch

#: Test rows per fold shown in the posterior pairplot, and draws per row.
PAIRPLOT_ROWS, PAIRPLOT_DRAWS = 3, 1000

smk = snakemake  # noqa: F821
log = rule_logging(smk)
logging.captureWarnings(True)
warnings.simplefilter("default")
fold_k, seed = int(smk.wildcards.fold), smk.params.seed
data, fold = read_prepared(smk.input.data)
train, test = split(fold, fold_k)
cfg = NPEConfig.from_config(smk.params.npe)
metrics_cfg = MetricsConfig.from_config(smk.params.metrics)
target_prior = target_prior_from_params(smk.params)  # hagen2022: params.prior; else params.model
names = list(data.target_names)
model = train_fold(
    data.features[train],
    data.targets[train],
    cfg,
    seed=seed,
    fold=fold_k,
    target_prior=target_prior,
    log_targets=smk.params.log_targets,
    logit_targets=smk.params.get("logit_targets", []),  # only given when not empty (common.smk)
    max_train_rows=smk.params.get("max_train_rows"),  # only given when set (common.smk)
    threads=smk.threads,
    names={"features": list(data.feature_names), "targets": names},
)
model.description["n_test"] = int(len(test))
save_model(model, smk.output.pt, smk.output.json)
log.info(
    "fold %d: %s",
    fold_k,
    json.dumps(model.description["training"] | {"validation_loss": "...", "training_loss": "..."}),
)
log.info("support (target units): %s", json.dumps(model.description["prior"]["target_bounds"]))
# Metrics from the stored model, so they describe exactly what later rules load.
stored = load_model(smk.output.pt, smk.output.json)
metrics = fold_metrics(
    stored, data.features[test], data.targets[test], target_prior, names, metrics_cfg, seed=seed, fold=fold_k
)
metrics["training"] = {k: v for k, v in model.description["training"].items() if not k.endswith("_loss")}
with open(smk.output.metrics, "w") as fh:
    json.dump(metrics, fh, indent=1)
log.info("fold %d metrics: %s", fold_k, json.dumps(metrics["targets"]))

pick = np.sort(rng(seed, Stream.PAIRPLOT, fold_k).choice(len(test), min(PAIRPLOT_ROWS, len(test)), replace=False))
seed_torch(seed, Stream.PAIRPLOT, fold_k)
draws = posterior_samples(stored, data.features[test[pick]], PAIRPLOT_DRAWS)  # (L, rows, T)
plot_posterior_pairs([draws[:, i] for i in range(len(pick))], data.targets[test[pick]], names, smk.output.pairplot)
