"""Per-sample cost model from measured figures, for rule resources and the dry-run estimate.

Measured on this project's 2-core reference machine as CPU time of the simulating process, which
a loaded machine barely changes (``benchmarks/reduced_sizing.py``; ``benchmarks/bench_cluster.py
--cost`` for the full network). One sample of ``network.scale`` s simulated for T seconds costs

    set-up(s) + T * (NEURON_CORE_S_PER_BIO_S_FULL * s
                     + PRIOR_FACTOR * SPIKE_CORE_S_PER_BIO_S_FULL * s ** SPIKE_SCALE_EXPONENT)
              * early_stop_factor + T * ANALYSIS_CORE_S_PER_BIO_S + OVERHEAD_CORE_S

The per-neuron part (updates and Poisson drive, what a silent network costs) is proportional to
s at fixed in-degree; the spike-delivery part grows faster than s (the synapses of a small network
stay in cache: per unit of scale the best fit's costs 3.5 at s = 0.02 and 18 at s = 1). Set-up
(kernel reset, create, connect) is ``SETUP_CORE_S_SCALED`` * s with fixed in-degree wiring below
scale 1 and ``SETUP_CORE_S_FULL`` with pairwise Bernoulli wiring at scale 1. Prior draws fire more
than the best fit: ``PRIOR_FACTOR`` times its spike delivery, with runs stopped early at 200 Hz; a
gates preset that stops at another rate, or never (``paper_2024``), costs :func:`early_stop_factor`
times that simulation part. Brian2 (cpp_standalone) costs ``BRIAN2_FACTOR`` times NEST's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from workflow.simulation.gates import abort_rate_hz

# Measured (unless noted) by
#   .venv/bin/python benchmarks/reduced_sizing.py --parts a b c --drift-lengths 0.8 1.5 3.0
# NEST 3.10, 1 thread, dt 0.0625 ms, process CPU time, 2 cores shared with other jobs (CPU time
# came out ~10% above a quieter rerun of the same draws); config/config.yaml, seed 12345.
#: per-neuron CPU s per simulated s at full scale: silent prior draws (ids 0 and 2) cost 0.30, 0.82,
#: 1.71, 3.55 and 17.3 CPU s per simulated s at scale 0.02, 0.05, 0.1, 0.2 and 1 (15-18 per unit scale)
NEURON_CORE_S_PER_BIO_S_FULL = 17.0
#: the best fit's spike delivery per simulated s at full scale, and its growth with scale: the best
#: fit costs 0.371, 1.03, 2.43, 5.68, 35.2 CPU s per simulated s (8 seeds, 3 at scale 1; 3.2 s runs)
#: at scale 0.02, 0.05, 0.1, 0.2, 1, so 0.07, 0.21, 0.72, 2.13, 17.9 beyond the neuron part;
#: 17.95 * s ** 1.42 reproduces the best fit's totals within 10% at every measured scale
SPIKE_CORE_S_PER_BIO_S_FULL = 17.95
SPIKE_SCALE_EXPONENT = 1.42
#: the best fit's core-seconds per simulated second, full network (measured 35.2 here;
#: bench_cluster.py --cost measured 30.4 on a quieter machine)
CORE_S_PER_BIO_S_FULL = NEURON_CORE_S_PER_BIO_S_FULL + SPIKE_CORE_S_PER_BIO_S_FULL
#: set-up CPU s per unit scale with fixed in-degree wiring (scale < 1): 0.10, 0.26, 0.49, 1.2 CPU s
#: at scale 0.02, 0.05, 0.1, 0.2 (5.0, 5.1, 4.9, 6.0 per unit scale; prior draws alike)
SETUP_CORE_S_SCALED = 5.5
#: set-up CPU s of the full network (pairwise Bernoulli): 11.5 (best fit, 3 seeds), 13.4 (a silent
#: draw); bench_cluster.py --cost: 9.7
SETUP_CORE_S_FULL = 12.0
#: LFP proxy and catch22 per simulated second: 0.0025-0.003 CPU s (LFP) + 0.002-0.0045 (catch22)
ANALYSIS_CORE_S_PER_BIO_S = 0.01
#: fixed cost per sample besides the above (Python, the shard row), core-seconds: too small to
#: resolve (30-sample shards run with `python -m workflow shard`, imports included, cost 64.9 CPU s
#: at 1 s and 102.8 CPU s at 1.7 s, within 10% below their draws' set-up + simulation from the runs above)
OVERHEAD_CORE_S = 0.05
#: Brian2 cpp_standalone relative to NEST per sample (benchmarks/bench_brian2.py: 0.8 at scale
#: 0.05, 0.5 at full scale; plus a 20-25 s compile once per shard, not charged per sample)
BRIAN2_FACTOR = 0.8
#: prior draws fire more than the best fit (median E rate 29 Hz against 6.5 Hz): the mean prior
#: draw's spike delivery over the best fit's, runs stopped at 200 Hz. Prior draws 0-59 at scale
#: 0.05 (5.2 s each) cost 1.65 CPU s per simulated s with the stop (where it would have fired, 7 of
#: 60) and 2.54 without; (1.65 - 17.0 * 0.05) / (17.95 * 0.05 ** 1.42) = 3.1. Four draws at scale
#: 0.02-0.2 put their spike delivery at 3.2-4.6x the best fit's, rising with scale: estimates above
#: scale 0.1 are likely low, by up to ~30% at 0.2 and more at scale 1 (not measured there).
PRIOR_FACTOR = 3.1
#: Simulation CPU time of prior draws run to the end (no early stop: gates preset paper_2024)
#: over the same draws stopped at 200 Hz in a 100 ms chunk (the early stop PRIOR_FACTOR was
#: measured with). Measured: prior draws 0-119 of config/config.yaml (seed 12345), scale 0.05,
#: tstop 1000 ms, NEST, 1 thread, process CPU time, by
#:   .venv/bin/python benchmarks/bench_early_stop.py --draws 40 --ncpi
#:   .venv/bin/python benchmarks/bench_early_stop.py --ids $(seq 40 119) --ncpi
#: 12 of 120 draws run away (stopped at 200 Hz; 119-343 Hz E when run to the end); each costs
#: 1.0-1.5 s stopped and 7.0-12.0 s run to the end. Total CPU 248.5 s stopped at 200 Hz, 334.3 s
#: never stopped (1.35x), 161.9 s stopped at 50 Hz (0.65x). Setup (network build, about the
#: 1.15 s median of the 19 silent draws) is charged separately (SETUP_CORE_S_FULL), so the factor
#: is taken on the simulation part: 1.78 never stopped (1.61-1.78 for a setup of 0.9-1.15 s;
#: 1.81 in the limit of long runs, where a stopped run's cost vanishes), 0.22-0.38 at 50 Hz.
NO_EARLY_STOP_FACTOR = 1.8
#: the same ratio for the measured early-stop rates (Hz), the upper end of each range above; a
#: rate between two of them is charged the factor of the next higher one, a rate above all of
#: them NO_EARLY_STOP_FACTOR
EARLY_STOP_FACTORS: dict[float, float] = {50.0: 0.4, 200.0: 1.0}


def early_stop_factor(cfg: Mapping) -> float:
    """Cost of the selected gates preset's early stop relative to a stop at 200 Hz (>= 1 for none)."""
    rate = abort_rate_hz(cfg["gates"])
    higher = [r for r in EARLY_STOP_FACTORS if rate is not None and r >= rate]
    return EARLY_STOP_FACTORS[min(higher)] if higher else NO_EARLY_STOP_FACTOR


def sample_core_seconds(cfg: Mapping) -> float:
    """Estimated core-seconds to simulate and analyse one sample under ``cfg``."""
    bio_s = cfg["simulation"]["tstop_ms"] / 1000.0
    scale = float(cfg["network"]["scale"])
    per_bio_s = NEURON_CORE_S_PER_BIO_S_FULL * scale
    per_bio_s += PRIOR_FACTOR * SPIKE_CORE_S_PER_BIO_S_FULL * scale**SPIKE_SCALE_EXPONENT
    sim_s = per_bio_s * bio_s * early_stop_factor(cfg)
    setup_s = SETUP_CORE_S_FULL if scale >= 1.0 else SETUP_CORE_S_SCALED * scale
    cost = setup_s + sim_s + ANALYSIS_CORE_S_PER_BIO_S * bio_s + OVERHEAD_CORE_S
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


# -- a registered model's shards (workflow.models) --------------------------------------------

#: memory (MB) and minutes of one shard of a model that declares no cost function: generous
#: constants (a model's cost is its own: Model.cost)
MODEL_SHARD_MEM_MB, MODEL_SHARD_RUNTIME_MIN = 4000, 60


def model_shard_runtime_min(model, settings, n: int, safety: float = 3.0) -> int:
    """Wall-time request (minutes) of one shard of n samples of a registered model: its
    ``Model.cost`` CPU time times ``safety`` (a cluster core may be slower than the one it was
    measured on), at least 5; :data:`MODEL_SHARD_RUNTIME_MIN` without a cost function."""
    if model.cost is None:
        return MODEL_SHARD_RUNTIME_MIN
    return max(5, int(safety * model.cost(settings, n).core_seconds / 60.0 + 1))


def model_shard_mem_mb(model, settings, n: int, safety: float = 1.5) -> int:
    """Memory request (MB) of one shard of n samples: ``Model.cost``'s peak times ``safety``,
    at least 1000; :data:`MODEL_SHARD_MEM_MB` without a cost function."""
    if model.cost is None:
        return MODEL_SHARD_MEM_MB
    return max(1000, int(safety * model.cost(settings, n).peak_mb + 1))


def model_campaign_core_hours(model, settings, n_samples: int, shard_size: int) -> float | None:
    """Estimated core-hours of all simulate jobs of a model's campaign (None without ``Model.cost``)."""
    if model.cost is None:
        return None
    full, rest = divmod(int(n_samples), int(shard_size))
    seconds = full * model.cost(settings, int(shard_size)).core_seconds
    if rest:
        seconds += model.cost(settings, rest).core_seconds
    return seconds / 3600.0


def measure_model_shard(model: str, n: int, out: str | Path, seed: int = 7) -> tuple[float, float]:
    """CPU seconds (user + system) and peak resident memory (MB) of one shard of n samples of a
    registered model, run as rule ``simulate`` runs it (``python -m workflow shard``, a process
    of its own, interpreter start and imports included) from a wrapper process whose only child
    it is, so that the wrapper's ``RUSAGE_CHILDREN`` is the shard's alone."""
    import json
    import os
    import subprocess
    import sys

    from workflow.config import shard_config, validate_config

    cfg = validate_config({"model": model, "campaign": {"n_samples": n, "shard_size": n, "seed": seed}})
    shard = [
        sys.executable, "-m", "workflow", "shard", "--shard", "0", "--first", "0", "--stop", str(n),
        "--out", str(out), "--config-json", json.dumps(shard_config(cfg), sort_keys=True),
    ]  # fmt: skip
    wrapper = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.ru_utime + r.ru_stime, r.ru_maxrss)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *shard], check=True, capture_output=True, text=True, cwd=repo, env=env
    )
    cpu, max_kb = done.stdout.split()[-2:]
    return float(cpu), float(max_kb) / 1024
