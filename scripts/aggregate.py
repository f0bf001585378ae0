"""Rule aggregate: merge the shards into results/dataset.h5 and report the invalid fraction."""

import json
import logging

from workflow.aggregate import aggregate, check_against_draws

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")  # noqa: F821
summary = aggregate(snakemake.input.shards, snakemake.output[0], snakemake.params.config)  # noqa: F821
check_against_draws(snakemake.output[0], snakemake.input.draws)  # noqa: F821
logging.info("summary: %s", json.dumps(summary))
print(
    f"dataset: {summary['n_samples']} samples, {summary['n_valid']} valid, "
    f"invalid fraction {summary['invalid_fraction']:.3f}, status counts {summary['status_counts']}"
)
