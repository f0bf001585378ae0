"""Rule kernel_sensitivity: features of the best-fit network through every kernel variant."""

from workflow.scripting import rule_logging
from workflow.simulation.kernels import read_kernels
from workflow.simulation.kernels import sensitivity as ks

smk = snakemake  # noqa: F821
log = rule_logging(smk, capture_fds=True)
cfg = {k: (dict(v) if hasattr(v, "items") else v) for k, v in smk.params.config.items()}
reference, attrs = read_kernels(smk.input.kernels)
settings = cfg["kernel_sensitivity"]
shifts, amplitudes, kernel_sets = ks.sensitivity(cfg, reference, settings["n_seeds"], settings["v_rest_grid_mV"])
shifts.to_csv(smk.output.shifts, index=False, float_format="%.6g")
amplitudes.to_csv(smk.output.amplitudes, index=False, float_format="%.6g")
ks.plot(shifts, kernel_sets, float(attrs["dt_ms"]), smk.output.png)
big = shifts[shifts["shift_in_sd"].abs() > 1].groupby("variant").size()
log.info("features shifted by more than one seed SD, per variant: %s", big.to_dict())
