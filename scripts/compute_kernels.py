"""Rule kernels: the four LFP-proxy kernels of the reference network into results/kernels.h5.

Everything is logged to the rule's log file, NEURON's and nrnivmodl's own output included
(file descriptors 1 and 2 are redirected there).
"""

import logging
import os
import sys
import time

from workflow.kernels import kernels_from_config, write_kernels

log_path = snakemake.log[0]  # noqa: F821
os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
log_file = open(log_path, "w", buffering=1)  # noqa: SIM115 (held open for the whole job)
sys.stdout.flush()
sys.stderr.flush()
os.dup2(log_file.fileno(), 1)
os.dup2(log_file.fileno(), 2)
logging.basicConfig(
    stream=log_file, level=logging.INFO, format="%(asctime)s %(name)s %(message)s", force=True
)

params = snakemake.params  # noqa: F821
kernels_cfg = {
    "tau_ms": params.tau_ms,
    "active": params.active,
    "nu_E_hz": params.nu_E_hz,
    "nu_I_hz": params.nu_I_hz,
}
# keys the config does not set (None) take the defaults of workflow.kernels
cfg = {
    "simulation": {"dt_ms": params.dt_ms},
    "kernels": {k: v for k, v in kernels_cfg.items() if v is not None},
}
logging.info("computing kernels with %s", cfg)
tic = time.perf_counter()
kernels, attrs = kernels_from_config(cfg)
logging.info("compute_kernels took %.2f s", time.perf_counter() - tic)
logging.info(
    "presynaptic rates nu_E %.3g Hz, nu_I %.3g Hz; V_rest E %.2f mV, I %.2f mV (%s)",
    attrs["nu_E_hz"],
    attrs["nu_I_hz"],
    attrs["vrest_E_mV"],
    attrs["vrest_I_mV"],
    "derived" if attrs["vrest_derived"] else "given",
)
write_kernels(snakemake.output[0], kernels, attrs)  # noqa: F821
logging.info(
    "wrote %s: %s, %d samples each (lag 0 at index %d)",
    snakemake.output[0],  # noqa: F821
    ", ".join(kernels),
    len(next(iter(kernels.values()))),
    attrs["lag0_index"],
)
