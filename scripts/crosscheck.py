"""Rules crosscheck_runs and crosscheck: NEST vs Brian2 on the same prior draws.

``crosscheck_runs`` simulates every draw ``n_seeds`` times with one simulator and stores the
rates and LFP-proxy spectra; ``crosscheck`` compares the two simulators' runs and writes the
per-draw table and the figure (see :mod:`workflow.crosscheck`).
"""

import logging

from workflow import crosscheck as cc
from workflow import h5io
from workflow.kernels import read_kernels
from workflow.lfp import presynaptic_kernels
from workflow.network import NetworkParams
from workflow.prior import Prior
from workflow.sim import SimSettings

smk = snakemake  # noqa: F821
logging.basicConfig(filename=smk.log[0], level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
log = logging.getLogger("crosscheck")
p = smk.params

if smk.rule == "crosscheck_runs":
    kernels, kattrs = read_kernels(smk.input.kernels)
    if abs(float(kattrs["dt_ms"]) - p.dt_ms) > 1e-12:
        raise ValueError(
            f"{smk.input.kernels} was computed at dt={kattrs['dt_ms']} ms, simulation.dt_ms is {p.dt_ms}"
        )
    settings = SimSettings(
        tstop_ms=p.tstop_ms,
        transient_ms=p.transient_ms,
        dt_ms=p.dt_ms,
        threads=p.threads,
        abort_rate_hz=p.max_rate_hz,
        brian2_target=p.brian2_target,
    )
    spec = cc.CrosscheckSpec(
        net=NetworkParams(scale=p.scale),
        settings=settings,
        kernels_by_pre=presynaptic_kernels(kernels),
        decimate=p.decimate,
        n_seeds=p.n_seeds,
        seed=p.seed,
        nperseg=p.nperseg,
    )
    sample_ids = list(range(p.n_draws))
    params = Prior.from_config(p.prior).draw(p.seed, sample_ids)
    log.info("%s: %d draws x %d seeds, scale %s", smk.wildcards.simulator, p.n_draws, p.n_seeds, p.scale)
    runs = cc.run_simulator(smk.wildcards.simulator, params, sample_ids, spec)
    attrs = {
        k: (v if v is not None else "")
        for k, v in h5io.provenance_attrs(dict(p.provenance), seed=p.seed).items()
    }
    cc.write_runs(smk.output[0], runs, attrs)
    log.info("wrote %s (%.0f s simulated wall time)", smk.output[0], runs.wall_s.sum())
else:
    nest, brian2 = cc.read_runs(smk.input.nest), cc.read_runs(smk.input.brian2)
    df = cc.compare(nest, brian2, fmin_hz=p.fmin_hz, fmax_hz=p.fmax_hz, rel_tol=p.rel_tol)
    df.to_csv(smk.output.csv, index=False, float_format="%.6g")
    cc.plot(df, nest, brian2, smk.output.png, fmin_hz=p.fmin_hz, fmax_hz=p.fmax_hz)
    log.info(cc.summary_line(df))
