"""Rule kernels: the four LFP-proxy kernels of the reference network into results/kernels.h5.

Everything is logged to the rule's log file, NEURON's and nrnivmodl's own output included
(file descriptors 1 and 2 are redirected there).
"""

import time

from workflow.scripting import rule_logging
from workflow.simulation.kernels import kernels_from_config, write_kernels

smk = snakemake  # noqa: F821
log = rule_logging(smk, capture_fds=True)
cfg = {section: dict(values) for section, values in smk.params.config.items()}
log.info("computing kernels with %s", cfg)
tic = time.perf_counter()
kernels, attrs = kernels_from_config(cfg)
log.info("compute_kernels took %.2f s", time.perf_counter() - tic)
log.info(
    "presynaptic rates nu_E %.3g Hz, nu_I %.3g Hz; V_rest E %.2f mV, I %.2f mV (%s)",
    attrs["nu_E_hz"],
    attrs["nu_I_hz"],
    attrs["vrest_E_mV"],
    attrs["vrest_I_mV"],
    "derived" if attrs["vrest_derived"] else "given",
)
write_kernels(smk.output[0], kernels, attrs)
log.info(
    "wrote %s: %s, %d samples each (lag 0 at index %d)",
    smk.output[0],
    ", ".join(kernels),
    len(next(iter(kernels.values()))),
    attrs["lag0_index"],
)
