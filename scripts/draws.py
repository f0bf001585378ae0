"""Rule draws: every sample's parameters into results/draws.h5."""

from workflow.scripting import rule_logging
from workflow.simulation.draws import write_draws

log = rule_logging(snakemake)  # noqa: F821
cfg = {"campaign": dict(snakemake.params.campaign), "prior": dict(snakemake.params.prior)}  # noqa: F821
acceptance = write_draws(cfg, snakemake.output[0])  # noqa: F821
log.info("drew %d samples; prior acceptance rate %.3f", cfg["campaign"]["n_samples"], acceptance)
