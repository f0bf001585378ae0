"""Rule dataset_summary: status counts, rates and example traces of the simulated dataset."""

import logging

from workflow.summary import plot_dataset_summary

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO)  # noqa: F821
shard = snakemake.input.shard if snakemake.params.store_lfp else None  # noqa: F821
plot_dataset_summary(snakemake.input.dataset, shard, snakemake.output[0])  # noqa: F821
logging.info("wrote %s", snakemake.output[0])  # noqa: F821
