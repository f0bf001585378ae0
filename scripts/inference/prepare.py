"""Rule inference_prepare: validate the dataset, derive the targets, assign the folds.

Fails (before any training) with a message naming the file and the problem.
"""

import json

from workflow.inference.dataset import DatasetError, load_dataset, write_prepared
from workflow.inference.folds import assign_folds
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
k, seed = smk.params.k_folds, smk.params.seed
try:
    data = load_dataset(smk.input.dataset, min_valid_rows=k)
except DatasetError as err:
    log.error("%s", err)
    raise SystemExit(f"inference_prepare: bad dataset: {err}") from None
fold = assign_folds(data.sample_id, k, seed)
# Provenance: the params that decided the file (k_folds, seed), and the source it was read from.
write_prepared(smk.output.data, data, fold, dict(smk.params), source=str(smk.input.dataset), seed=seed, k_folds=k)
summary = {
    "source": str(smk.input.dataset),
    "n_total": data.n_total,
    "n_valid": len(data.sample_id),
    "n_features": len(data.feature_names),
    "k_folds": k,
    "seed": seed,
}
log.info("prepared: %s", json.dumps(summary))
