"""Shard-scale speed of the vectorised MPR and HH simulators (issue 12), printed, not asserted.

* MPR (Baldy et al. 2024): n prior draws x 100 s at dt = 1 ms integrated as one batch, the
  traces recorded every 10 ms, then Baldy's features. The issue's target: a shard of 10^4
  samples in seconds, not 10^4 Python loops.
* HH (Goncalves et al. 2020): n prior draws x 120 ms at dt = 0.01 ms, then the 7 features.

Each row prints wall and CPU seconds, and the ratio per sample. Time on a quiet machine.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_models.py [--n-mpr 10000] [--n-hh 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflow.models import hh, mpr  # noqa: E402


def prior_draws(bounds: dict, names: tuple[str, ...], n: int, seed: int) -> np.ndarray:
    lo, hi = (np.array([bounds[k][j] for k in names]) for j in (0, 1))
    return lo + (hi - lo) * np.random.default_rng(seed).random((n, len(names)))


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-mpr", type=int, default=10_000)
    parser.add_argument("--n-hh", type=int, default=1000)
    args = parser.parse_args()
    print("model\tn\tstage\twall_s\tcpu_s\tms_per_sample_wall\tfinite_fraction")

    s = mpr.MPRSettings(record_every=10)
    theta = prior_draws(mpr.PRIOR_BOUNDS, mpr.PARAM_NAMES, args.n_mpr, 9)
    tr, w, c = timed(mpr.simulate_batch, theta, np.arange(args.n_mpr), 1, s)
    print(f"mpr\t{args.n_mpr}\tsimulate\t{w:.1f}\t{c:.1f}\t{1e3 * w / args.n_mpr:.2f}\t")
    f, w, c = timed(mpr.features, tr, s)
    print(f"mpr\t{args.n_mpr}\tfeatures\t{w:.1f}\t{c:.1f}\t{1e3 * w / args.n_mpr:.2f}\t{np.isfinite(f).mean():.4f}")
    del tr

    theta = prior_draws(hh.PRIOR_BOUNDS, hh.PARAM_NAMES, args.n_hh, 9)
    tr, w, c = timed(hh.simulate_batch, theta, np.arange(args.n_hh), 1)
    print(f"hh\t{args.n_hh}\tsimulate\t{w:.1f}\t{c:.1f}\t{1e3 * w / args.n_hh:.2f}\t")
    f, w, c = timed(hh.features, tr)
    print(f"hh\t{args.n_hh}\tfeatures\t{w:.2f}\t{c:.2f}\t{1e3 * w / args.n_hh:.2f}\t{np.isfinite(f).mean():.4f}")


if __name__ == "__main__":
    main()
