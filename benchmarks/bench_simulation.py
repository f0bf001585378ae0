"""Simulation benchmark: the per-sample pipeline against bare NEST, side by side in one run.

Prints, for each scale:
- wall time per sample of the pipeline (``workflow.simulation.shards.run_sample``: NEST with chunked
  runaway checks and spike histograms, LFP proxy, catch22) and of bare NEST (Create + Connect +
  Simulate of the same network, no recorders), interleaved, and their ratio (target <= 1.10);
- simulated seconds per wall second;
- peak RSS of one ``python -m workflow simulate`` process at full scale (``--rss``).

Usage: python benchmarks/bench_simulation.py [--scales 0.1 1.0] [--tstop-ms 2000] [--repeats 3]
       [--threads 2] [--rss]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflow.config import load_config  # noqa: E402
from workflow.contract import PARAM_NAMES, POPULATIONS  # noqa: E402
from workflow.simulation.network import NetworkParams, make_theta  # noqa: E402
from workflow.simulation.sample import SampleContext, run_sample  # noqa: E402
from workflow.simulation.simulators import SimSettings  # noqa: E402


def bare_nest(net: NetworkParams, settings: SimSettings, theta: dict, seed: int) -> float:
    """Create + Connect + Simulate of the same network with plain NEST calls; wall seconds."""
    import nest
    import nest.math

    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.SetKernelStatus({"tics_per_ms": 1024, "resolution": settings.dt_ms,
                          "local_num_threads": settings.threads, "rng_seed": seed})  # fmt: skip
    pops = {}
    for p in POPULATIONS:
        pops[p] = nest.Create("iaf_psc_exp", net.N[p], params={
            "C_m": net.C_m[p], "tau_m": net.tau_m, "E_L": net.E_L, "V_reset": net.V_reset,
            "tau_syn_ex": theta["tau_syn_E"], "tau_syn_in": theta["tau_syn_I"],
            "V_m": nest.random.uniform(net.E_L, net.V_th)})  # fmt: skip
        gen = nest.Create("poisson_generator", params={"rate": net.ext_rate(p)})
        nest.Connect(gen, pops[p], "all_to_all", {"weight": theta["J_ext"], "delay": settings.dt_ms})
    for post in POPULATIONS:
        for pre in POPULATIONS:
            J, d = theta[f"J_{post}{pre}"], net.delay[f"{post}{pre}"]
            lo, hi = (0.0, np.inf) if J > 0 else (-np.inf, 0.0)
            conn = (
                {"rule": "pairwise_bernoulli", "p": net.p_conn}
                if net.full_scale
                else {"rule": "fixed_indegree", "indegree": net.indegree(post, pre), "allow_multapses": True}
            )
            conn["allow_autapses"] = False
            nest.Connect(pops[pre], pops[post], conn, {
                "weight": nest.math.redraw(nest.random.normal(J, 0.1 * abs(J)), min=lo, max=hi),
                "delay": nest.math.redraw(nest.random.normal(d, 0.5 * d), min=0.3, max=np.inf)})  # fmt: skip
    nest.Simulate(settings.tstop_ms)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--tstop-ms", type=float, default=2000.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rss", action="store_true", help="also measure peak RSS of one full-scale simulate job")
    args = ap.parse_args()

    from workflow.__main__ import _ensure_kernels
    from workflow.simulation.kernels import read_kernels

    theta = make_theta()
    row = np.array([theta[k] for k in PARAM_NAMES])
    print(f"{'scale':>6} {'N':>12} {'pipeline s':>11} {'bare s':>8} {'ratio':>6} {'bio s/wall s':>12}")
    for scale in args.scales:
        cfg = load_config(overrides={
            "network": {"scale": scale},
            "simulation": {"tstop_ms": args.tstop_ms, "transient_ms": min(500.0, args.tstop_ms / 4),
                           "threads": args.threads}})  # fmt: skip
        kpath = _ensure_kernels(cfg, REPO / "results" / "kernels.h5")
        kernels, kattrs = read_kernels(kpath)
        ctx = SampleContext.from_config(cfg, kernels, float(kattrs["dt_ms"]))
        pipe, bare = [], []
        reps = args.repeats if scale < 0.5 else 1
        for rep in range(reps):  # interleaved, so drifts in machine load hit both alike
            t0 = time.perf_counter()
            res = run_sample(rep, row, ctx)
            pipe.append(time.perf_counter() - t0)
            bare.append(bare_nest(ctx.net, ctx.settings, theta, seed=rep + 1))
        p, b = statistics.median(pipe), statistics.median(bare)
        n = sum(ctx.net.N.values())
        rates = np.round(res.rates, 2)
        print(f"{scale:6.2f} {n:12d} {p:11.2f} {b:8.2f} {p / b:6.3f} {args.tstop_ms / 1000 / p:12.3f}"
              f"   (status {res.status.name}, rates {rates})")  # fmt: skip
    if args.rss:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "workflow", "simulate", "--scale", "1.0", "--tstop-ms", "1000",
                   "--transient-ms", "200", "--threads", str(args.threads),
                   "--kernels", str(REPO / "results" / "kernels.h5"), "--out", f"{tmp}/one.h5"]  # fmt: skip
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"peak RSS of one full-scale simulate job (1 s): {rss:.0f} MB, wall {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
