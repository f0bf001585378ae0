"""Rule crosscheck_runs: the cross-check's draws x seeds in one simulator; rates and LFP-proxy spectra."""

from workflow import h5io
from workflow.scripting import rule_logging
from workflow.simulation import crosscheck as cc
from workflow.simulation.kernels import read_kernels
from workflow.simulation.prior import Prior

smk = snakemake  # noqa: F821
log = rule_logging(smk)
xcfg = dict(smk.params.config)
kernels, kattrs = read_kernels(smk.input.kernels)
dt_ms = xcfg["simulation"]["dt_ms"]
if abs(float(kattrs["dt_ms"]) - dt_ms) > 1e-12:
    raise ValueError(f"{smk.input.kernels} was computed at dt={kattrs['dt_ms']} ms, simulation.dt_ms is {dt_ms}")
spec = cc.CrosscheckSpec.from_config(xcfg, kernels)
n_draws, seed = xcfg["crosscheck"]["n_draws"], xcfg["campaign"]["seed"]
sample_ids = list(range(n_draws))
params = Prior.from_config(xcfg["prior"]).draw(seed, sample_ids)
log.info("%s: %d draws x %d seeds, scale %s", smk.wildcards.simulator, n_draws, spec.n_seeds, spec.net.scale)
runs = cc.run_simulator(smk.wildcards.simulator, params, sample_ids, spec)
attrs = {k: (v if v is not None else "") for k, v in h5io.provenance_attrs(xcfg, seed=seed).items()}
cc.write_runs(smk.output[0], runs, attrs)
log.info("wrote %s (%.0f s simulated wall time)", smk.output[0], runs.wall_s.sum())
