"""Rule draws: every sample's parameters into results/draws.h5."""

import logging

from workflow.draws import write_draws

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(message)s")  # noqa: F821
cfg = {"campaign": snakemake.params.campaign, "prior": snakemake.params.prior}  # noqa: F821
acceptance = write_draws(cfg, snakemake.output[0])  # noqa: F821
logging.info("drew %d samples; prior acceptance rate %.3f", cfg["campaign"]["n_samples"], acceptance)
