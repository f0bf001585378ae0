"""Rule draws: every sample's parameters into results/draws.h5."""

from collections.abc import Mapping

from workflow.scripting import rule_logging
from workflow.simulation.draws import write_draws

log = rule_logging(snakemake)  # noqa: F821
# campaign, and prior (hagen2022) or model and model_module (a registered model): common.smk's draws_params()
cfg = {k: dict(v) if isinstance(v, Mapping) else v for k, v in snakemake.params.items()}  # noqa: F821
acceptance = write_draws(cfg, snakemake.output[0])  # noqa: F821
log.info("drew %d samples; prior acceptance rate %.3f", cfg["campaign"]["n_samples"], acceptance)
