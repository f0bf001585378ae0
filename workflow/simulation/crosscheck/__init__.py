"""Cross-simulator check: the same prior draws in NEST and Brian2, judged against seed noise.

Each of N prior draws is simulated ``n_seeds`` times by each simulator, with network seeds
from ``SeedSequence(seed, spawn_key=(sample_id, 2, replicate))``
(:func:`workflow.seeds.replicate_seed`). The same
seed integers go to both simulators, but they draw their networks from different random
streams, so every run is an independent network of the same ensemble. Per run we keep the
post-transient mean E and I rates and the Welch power spectrum of the LFP proxy, computed
exactly as in the campaign (:func:`workflow.simulation.lfp.lfp_proxy`: same kernels, count rescaling,
decimation and transient).

Agreement, per draw and quantity q (E rate, I rate, LFP spectrum):

``diff``
    |mean_NEST - mean_Brian2| over seeds; for the spectrum, the RMS over [fmin, fmax] of
    the difference of the seed-mean log10 PSDs (decades).
``spread``
    the seed-to-seed standard deviation pooled over the two simulators,
    sqrt((s_NEST^2 + s_Brian2^2) / 2); for the spectrum, the RMS over frequency of the pooled
    standard deviation of log10 PSD.
``tol``
    max(spread, rel_tol * |mean|), i.e. the spread, or 10 % where the spread is smaller
    (log10(1 + rel_tol) decades for the spectrum).

q agrees if diff <= tol; a draw agrees if all three agree and the simulators agree on
whether the network ran away (stopped early). Spectra are compared only when every run of
the draw completed with spikes after the transient. With identical simulators the difference
of n-seed means scatters with sqrt(2/n) times the spread, so a scalar can exceed its spread
by chance (about 22 % of the time for n = 3 when the 10 % floor does not apply); the
spectrum's RMS over many frequencies concentrates near sqrt(2/n) < 1 and fails by chance rarely.
"""

from workflow.simulation.crosscheck.compare import compare, summary_line
from workflow.simulation.crosscheck.plot import plot
from workflow.simulation.crosscheck.run import (
    CrosscheckSpec,
    RunSet,
    crosscheck_config,
    read_runs,
    run_simulator,
    runtime_min,
    write_runs,
)

__all__ = [
    "CrosscheckSpec",
    "RunSet",
    "compare",
    "crosscheck_config",
    "runtime_min",
    "plot",
    "read_runs",
    "run_simulator",
    "summary_line",
    "write_runs",
]
