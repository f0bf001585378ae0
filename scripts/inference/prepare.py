"""Rule inference_prepare: validate the dataset, derive the targets, assign the folds.

Fails (before any training) with a message naming the file and the problem.
"""

import json
import logging

from workflow.inference.dataset import DatasetError, load_dataset, write_prepared
from workflow.inference.folds import assign_folds

smk = snakemake  # noqa: F821
logging.basicConfig(filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(message)s")
k, seed = smk.params.k_folds, smk.params.seed
try:
    data = load_dataset(smk.input.dataset, min_valid_rows=k)
except DatasetError as err:
    logging.error("%s", err)
    raise SystemExit(f"inference_prepare: bad dataset: {err}") from None
fold = assign_folds(data.sample_id, k, seed)
write_prepared(smk.output.data, data, fold, {"source": str(smk.input.dataset), "seed": seed, "k_folds": k})
summary = {
    "source": str(smk.input.dataset),
    "n_total": data.n_total,
    "n_valid": len(data.sample_id),
    "n_features": len(data.feature_names),
    "k_folds": k,
    "seed": seed,
}
logging.info("prepared: %s", json.dumps(summary))
