"""Per-sample cost model from measured figures, for rule resources and the dry-run estimate.

Measured on this project's 2-core reference machine (``benchmarks/bench_simulation.py``, and
``benchmarks/bench_cluster.py --cost``, which measures CPU time and so is not fooled by a
loaded machine): NEST needs about ``CORE_S_PER_BIO_S_FULL`` core-seconds per simulated second
for the full network (9216 neurons, ~17 M synapses), plus ``SETUP_CORE_S_FULL`` core-seconds to
build and connect it; both are close to proportional to the synapse count, i.e. to
``network.scale`` at fixed in-degree (an upper bound below scale 1). Prior draws cost
``PRIOR_FACTOR`` times the best fit's simulation time; Brian2 (cpp_standalone) costs
``BRIAN2_FACTOR`` times NEST's.
"""

from __future__ import annotations

from collections.abc import Mapping

#: core-seconds per biological second, full network, NEST (bench_cluster.py --cost: 30.4 CPU s
#: per simulated s on 1 thread; bench_simulation.py: ~14 s wall per simulated s on 2 threads)
CORE_S_PER_BIO_S_FULL = 30.0
#: core-seconds to create and connect the full network (bench_cluster.py --cost: 9.7)
SETUP_CORE_S_FULL = 10.0
#: fixed cost per sample (kernel reset, LFP, catch22), core-seconds
OVERHEAD_CORE_S = 0.5
#: Brian2 cpp_standalone relative to NEST per sample (benchmarks/bench_brian2.py: 0.8 at scale
#: 0.05, 0.5 at full scale; plus a 20-25 s compile once per shard, which OVERHEAD absorbs)
BRIAN2_FACTOR = 0.8
#: prior draws fire more than the best fit (median rates 20-60 Hz against 6.5/9.6 Hz): mean CPU
#: time of 30 prior draws over the best fit's, scale 0.05, 1.5 s (1.98 s against 1.16 s)
PRIOR_FACTOR = 1.7


def sample_core_seconds(cfg: Mapping) -> float:
    """Estimated core-seconds to simulate and analyse one sample under ``cfg``."""
    bio_s = cfg["simulation"]["tstop_ms"] / 1000.0
    scale = float(cfg["network"]["scale"])
    cost = (CORE_S_PER_BIO_S_FULL * bio_s * PRIOR_FACTOR + SETUP_CORE_S_FULL) * scale + OVERHEAD_CORE_S
    if cfg["simulation"]["simulator"] == "brian2":
        cost *= BRIAN2_FACTOR
    return cost


def shard_runtime_min(cfg: Mapping, cores: int, safety: float = 2.0) -> int:
    """Wall-time request (minutes) for one shard on ``cores`` cores, with a safety factor."""
    size = min(cfg["campaign"]["shard_size"], cfg["campaign"]["n_samples"])
    minutes = safety * size * sample_core_seconds(cfg) / max(1, cores) / 60.0
    return max(5, int(minutes + 1))


def campaign_core_hours(cfg: Mapping) -> float:
    """Estimated core-hours of all simulate jobs."""
    return cfg["campaign"]["n_samples"] * sample_core_seconds(cfg) / 3600.0


def shard_mem_mb(cfg: Mapping) -> int:
    """Memory request (MB) of one simulate job: NEST network plus spike histograms and traces."""
    scale = float(cfg["network"]["scale"])
    n_syn = 9216 * 1843 * scale
    net_mb = n_syn * 60 / 1e6  # ~60 bytes per NEST static synapse with its delay
    bins = cfg["simulation"]["tstop_ms"] / cfg["simulation"]["dt_ms"]
    hist_mb = bins * 8 * 12 / 1e6  # histograms, FFT buffers
    return int(1000 + 1.5 * (net_mb + hist_mb))
