"""Rule aggregate: merge the shards into results/dataset.h5 and report the invalid fraction."""

import json

from workflow.scripting import rule_logging
from workflow.simulation.aggregate import aggregate, check_against_draws

log = rule_logging(snakemake)  # noqa: F821
summary = aggregate(snakemake.input.shards, snakemake.output[0], dict(snakemake.params.config))  # noqa: F821
check_against_draws(snakemake.output[0], snakemake.input.draws)  # noqa: F821
log.info("summary: %s", json.dumps(summary))
print(
    f"dataset: {summary['n_samples']} samples, {summary['n_valid']} valid, "
    f"invalid fraction {summary['invalid_fraction']:.3f}, status counts {summary['status_counts']}, "
    f"samples failing each gate {summary['gate_counts']}"
)
