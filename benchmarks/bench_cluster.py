"""Cluster-scale benchmark: planning time against the campaign size, aggregation at scale.

Prints three tables:

- **plan**: for ``n_samples`` in 10k, 100k, 1M (paper config, shards of 1000, so 10, 100 and
  1000 simulate jobs), the wall time of ``snakemake -n --quiet all`` (start-up and DAG) and of
  a full ``snakemake -n`` (also printing every job), best of ``--repeats``. Ratios are against
  the smallest campaign, next to the ratio of shard counts; growth no worse than linear means
  the time ratio stays at or below the shard ratio and the time per added shard does not grow.
- **aggregate**: ``workflow.simulation.aggregate.aggregate`` over 1000 synthetic shards in the contract
  layout (random numbers, same datasets, checksums and attributes as real shards) for two shard
  sizes; wall time and the peak RSS of the aggregating process. Bounded memory: the peak RSS
  does not grow with the number of samples.
- **cost** (``--cost``, minutes): CPU seconds of one sample of the full network (1 thread) for
  two durations; the slope is ``workflow.simulation.cost.CORE_S_PER_BIO_S_FULL`` and the intercept
  ``SETUP_CORE_S_FULL``. CPU time, not wall time, so a loaded machine barely changes it.

Usage: python benchmarks/bench_cluster.py [--plan] [--aggregate] [--cost] [--sizes 100 1000]
       (no flag: --plan --aggregate)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... failed:\n{res.stderr[-2000:]}")
    return time.perf_counter() - t0


def bench_plan(n_samples: list[int], repeats: int) -> None:
    from helpers import copy_repo

    with tempfile.TemporaryDirectory() as tmp:
        work = copy_repo(Path(tmp))
        smk = [sys.executable, "-m", "snakemake", "--cores", "1"]
        rows = []
        for n in n_samples:
            extra = work / f"n{n}.yaml"
            extra.write_text(f"campaign:\n  n_samples: {n}\n  shard_size: 1000\n")
            cfg = ["--configfile", "config/paper.yaml", extra.name]
            quiet = min(timed([*smk, "-n", "--quiet", "all", *cfg], work) for _ in range(repeats))
            full = min(timed([*smk, "-n", *cfg], work) for _ in range(repeats))
            rows.append((n, -(-n // 1000), quiet, full))
        print(f"{'n_samples':>10} {'shards':>7} {'DAG (-n -q) s':>13} {'dry-run (-n) s':>14} "
              f"{'shard ratio':>11} {'time ratio':>10} {'ms per added shard':>18}")  # fmt: skip
        _, s0, q0, f0 = rows[0]
        for n, shards, quiet, full in rows:
            per_shard = f"{1000 * (full - f0) / (shards - s0):18.1f}" if shards > s0 else f"{'-':>18}"
            print(f"{n:>10} {shards:>7} {quiet:>13.2f} {full:>14.2f} {shards / s0:>11.0f} {full / f0:>10.2f} "
                  f"{per_shard}")  # fmt: skip


def write_synthetic_shards(folder: Path, n_shards: int, size: int) -> list[Path]:
    """``n_shards`` shards of ``size`` rows in the contract layout (as workflow.simulation.shards writes them)."""
    import h5py
    import numpy as np

    from workflow import h5io, table
    from workflow.contract import Status

    rng = np.random.default_rng(0)
    paths = []
    for s in range(n_shards):
        path = folder / f"shard-{s:05d}.h5"
        with h5io.atomic_h5(path, table.table_reserve_bytes(size)) as f:
            d = table.create_table_datasets(f, size, checksums=True)
            d["params"][...] = rng.random((size, d["params"].shape[1]))
            d["features"][...] = rng.standard_normal((size, d["features"].shape[1]))
            d["rates"][...] = rng.random((size, 2)) * 20
            status = rng.choice([int(Status.OK), int(Status.SILENT)], size=size, p=[0.8, 0.2]).astype(np.int8)
            d["status"][...] = status
            d["valid"][...] = status == Status.OK
            d["sample_id"][...] = np.arange(s * size, (s + 1) * size)
            reasons = np.array(
                ["" if x == Status.OK else "silent" for x in status], dtype=h5py.string_dtype()
            )
            f.create_dataset("status_reason", data=reasons, track_times=False)
            f.attrs.update({"simulator": "nest", "shard": s, "config_hash": "0" * 64})
        paths.append(path)
    return paths


AGGREGATE_CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from workflow.simulation.aggregate import aggregate
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
paths = json.loads(open({listing!r}).read())
t0 = time.perf_counter()
summary = aggregate(paths, {out!r}, {{}})
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"wall_s": wall, "peak_rss_mb": rss, "base_rss_mb": base, "n": summary["n_samples"]}}))
"""


def bench_aggregate(sizes: list[int], n_shards: int) -> None:
    print(f"{'shards':>7} {'rows/shard':>10} {'samples':>9} {'shards GB':>9} {'write s':>8} "
          f"{'aggregate s':>11} {'peak RSS MB':>11} {'RSS after import MB':>18}")  # fmt: skip
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"bench-agg-{size}-"))
        try:
            t0 = time.perf_counter()
            paths = write_synthetic_shards(folder, n_shards, size)
            write_s = time.perf_counter() - t0
            gb = sum(p.stat().st_size for p in paths) / 1e9
            listing = folder / "shards.json"
            listing.write_text(json.dumps([str(p) for p in paths]))
            code = AGGREGATE_CHILD.format(
                repo=str(REPO), listing=str(listing), out=str(folder / "dataset.h5")
            )
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{n_shards:>7} {size:>10} {r['n']:>9} {gb:>9.3f} {write_s:>8.1f} {r['wall_s']:>11.1f} "
                  f"{r['peak_rss_mb']:>11.0f} {r['base_rss_mb']:>18.0f}")  # fmt: skip
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def bench_cost(durations_ms: tuple[float, float] = (1000.0, 3000.0)) -> None:
    import numpy as np
    from helpers import write_exp_kernels

    from workflow.config import load_config
    from workflow.contract import PARAM_NAMES
    from workflow.simulation.cost import CORE_S_PER_BIO_S_FULL, SETUP_CORE_S_FULL
    from workflow.simulation.kernels import read_kernels
    from workflow.simulation.network import make_theta
    from workflow.simulation.sample import SampleContext, run_sample

    theta = make_theta()
    row = np.array([theta[k] for k in PARAM_NAMES])
    with tempfile.TemporaryDirectory() as tmp:
        kernels, kattrs = read_kernels(write_exp_kernels(Path(tmp) / "kernels.h5", tau_ms=100.0))
        cpu = []
        for tstop in durations_ms:
            sim = {"tstop_ms": tstop, "transient_ms": 200.0, "threads": 1}
            cfg = load_config(overrides={"network": {"scale": 1.0}, "simulation": sim})
            ctx = SampleContext.from_config(cfg, kernels, float(kattrs["dt_ms"]))
            c0, w0 = time.process_time(), time.perf_counter()
            res = run_sample(1, row, ctx)
            cpu.append(time.process_time() - c0)
            print(f"full network, {tstop / 1000:.0f} s: {cpu[-1]:.1f} CPU s, "
                  f"{time.perf_counter() - w0:.1f} wall s, "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
                  f"status {res.status.name}, rates {np.round(res.rates, 2).tolist()} Hz")  # fmt: skip
    slope = (cpu[1] - cpu[0]) / ((durations_ms[1] - durations_ms[0]) / 1000.0)
    setup = cpu[0] - slope * durations_ms[0] / 1000.0
    print(
        f"core-s per simulated s: {slope:.1f} (workflow/simulation/cost.py: {CORE_S_PER_BIO_S_FULL}); "
        f"set-up core-s: {setup:.1f} (workflow/simulation/cost.py: {SETUP_CORE_S_FULL})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", action="store_true", help="dry-run/DAG time against n_samples")
    ap.add_argument("--aggregate", action="store_true", help="aggregation time and memory")
    ap.add_argument("--cost", action="store_true", help="per-sample CPU cost of the full network (minutes)")
    ap.add_argument("--n-samples", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="rows per synthetic shard")
    ap.add_argument("--n-shards", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2, help="planning runs per size (best is kept)")
    args = ap.parse_args()
    if not (args.plan or args.aggregate or args.cost):
        args.plan = args.aggregate = True
    if args.plan:
        bench_plan(args.n_samples, args.repeats)
    if args.aggregate:
        bench_aggregate(args.sizes, args.n_shards)
    if args.cost:
        bench_cost()


if __name__ == "__main__":
    main()
