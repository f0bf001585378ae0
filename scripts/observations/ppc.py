"""Rule observations_ppc: a recording against its simulated posterior draws, features and
power spectrum (workflow/infer/ppc.py)."""

import h5py
import numpy as np

from workflow.infer.run import finish_ppc
from workflow.scripting import rule_logging

smk = snakemake  # noqa: F821
log = rule_logging(smk)
with h5py.File(smk.input.posterior, "r") as fh:
    windows = fh["windows/trace"][()]
    features = fh["windows/features"][()]
    fs_hz = float(fh.attrs["fs_hz"])
with h5py.File(smk.input.data, "r") as fh:
    training = np.asarray(fh["features"][()], dtype=np.float64)
out = smk.output.csv.rsplit("/", 1)[0]
verdict = finish_ppc(smk.wildcards.name, windows, features, list(smk.input.draws), out, training, fs_hz)
log.info(
    "%s: %d of %d features inside the draws' 5-95 %% band (%d of %d draws with finite features)",
    smk.wildcards.name,
    int(verdict["inside"].sum()),
    len(verdict),
    int(verdict["n_finite"].iloc[0]),
    int(verdict["n_draws"].iloc[0]),
)
