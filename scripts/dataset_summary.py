"""Rule dataset_summary: status counts, rates and example traces of the simulated dataset."""

from workflow.scripting import rule_logging
from workflow.simulation.summary import plot_dataset_summary

log = rule_logging(snakemake)  # noqa: F821
shard = snakemake.input.shard if snakemake.params.store_lfp else None  # noqa: F821
plot_dataset_summary(snakemake.input.dataset, shard, snakemake.output[0])  # noqa: F821
log.info("wrote %s", snakemake.output[0])  # noqa: F821
