"""Rule observations_ppc_simulate: one posterior draw of a recording simulated with the
campaign's sample machinery, written as a one-row shard (workflow/infer/ppc.py)."""

import h5py

from workflow.config import validate_config
from workflow.infer.ppc import simulate_draw
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk, capture_fds=True)
draw = int(smk.wildcards.draw)
cfg = validate_config(dict(smk.params.config))
with h5py.File(smk.input.posterior, "r") as fh:
    params = fh["ppc/params"][0, draw]
    root = int(fh["ppc"].attrs["network_root"])
res = simulate_draw(cfg, smk.input.kernels, params, draw, root, smk.output[0])
log.info("%s draw %d: %s %s in %.2f s", smk.wildcards.name, draw, res.status.name, res.reason, res.wall_s)
