"""Rule dataset_summary: status and gate counts, rates, example traces, and features against the E rate."""

from workflow.scripting import rule_logging
from workflow.simulation.summary import plot_dataset_summary, plot_features_vs_rate

log = rule_logging(snakemake)  # noqa: F821
shard = snakemake.input.shard if snakemake.params.store_lfp else None  # noqa: F821
plot_dataset_summary(snakemake.input.dataset, shard, snakemake.output.summary)  # noqa: F821
log.info("wrote %s", snakemake.output.summary)  # noqa: F821
plot_features_vs_rate(snakemake.input.dataset, snakemake.output.features)  # noqa: F821
log.info("wrote %s", snakemake.output.features)  # noqa: F821
