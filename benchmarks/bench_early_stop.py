"""What the early stop saves: CPU time of prior draws simulated with and without it.

Draws the first ``--draws`` samples of the campaign's prior (config/config.yaml, or
``--configfile``) and simulates each with NEST, one thread, at every early-stop rate given
(``--abort-rates``; ``none`` runs to the end), timing the simulation with the process CPU clock
(so a loaded machine does not inflate it). Prints per draw the CPU seconds and whether the run
stopped, then the campaign factors that ``workflow/simulation/cost.py`` uses: total CPU time at
each rate over the total at the reference rate (the first of ``--abort-rates``), over all draws
and over the draws that the reference stops. With ``--ncpi`` it also classifies each full run
under the ``ncpi_2026`` gates (synthetic exponential kernels, so the spectral gates are left out)
and counts the kept samples that a per-chunk stop at 50 Hz would have cut.

Usage: python benchmarks/bench_early_stop.py [--draws 40] [--scale 0.05] [--abort-rates 200 none 50] [--ncpi]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workflow.config import load_config  # noqa: E402
from workflow.contract import POPULATIONS, Status  # noqa: E402
from workflow.seeds import network_seed  # noqa: E402
from workflow.simulation.network import NetworkParams  # noqa: E402
from workflow.simulation.prior import Prior, theta_dict  # noqa: E402
from workflow.simulation.simulators import SimSettings, simulate  # noqa: E402


def max_chunk_rate(counts: dict[str, np.ndarray], net: NetworkParams, settings: SimSettings) -> float:
    """Highest population rate (Hz) in any chunk of ``settings.chunk_ms``, as the early stop tests it."""
    per = int(round(settings.chunk_ms / settings.dt_ms))
    top = 0.0
    for p in POPULATIONS:
        c = counts[p][: counts[p].size // per * per].reshape(-1, per).sum(axis=1)
        top = max(top, float(c.max()) / (net.N[p] * settings.chunk_ms / 1000.0))
    return top


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", nargs="*", default=[])
    ap.add_argument("--draws", type=int, default=40, help="the first N prior draws (sample ids 0..N-1)")
    ap.add_argument("--ids", type=int, nargs="+", help="these sample ids instead of --draws")
    ap.add_argument("--scale", type=float, default=0.05)
    ap.add_argument("--abort-rates", nargs="+", default=["200", "none", "50"])
    ap.add_argument("--ncpi", action="store_true", help="classify the full runs under the ncpi_2026 gates")
    args = ap.parse_args()

    cfg = load_config(args.configfile, {"network": {"scale": args.scale}, "simulation": {"threads": 1}})
    net, base = NetworkParams.from_config(cfg), SimSettings.from_config(cfg)
    seed = int(cfg["campaign"]["seed"])
    ids = args.ids if args.ids else list(range(args.draws))
    params = Prior.from_config(cfg["prior"]).draw(seed, ids)
    rates = [None if r.lower() == "none" else float(r) for r in args.abort_rates]
    n = len(ids)
    cpu = np.zeros((n, len(rates)))
    stopped = np.zeros((n, len(rates)), dtype=bool)
    full: dict[int, object] = {}
    print(f"scale {args.scale} ({net.N}), tstop {base.tstop_ms} ms, transient {base.transient_ms} ms, 1 thread")
    simulate(theta_dict(params[0]), net, base, network_seed(seed, ids[0]), "nest")  # warm-up, not timed
    print(
        "draw  "
        + "  ".join(f"{'none' if r is None else f'{r:g} Hz':>16s}" for r in rates)
        + "  E/I rate (Hz, full run)"
    )
    for i, (sid, row) in enumerate(zip(ids, params, strict=True)):
        theta = theta_dict(row)
        for k, r in enumerate(rates):
            settings = dataclasses.replace(base, abort_rate_hz=r)
            t0 = time.process_time()
            res = simulate(theta, net, settings, network_seed(seed, sid), "nest")
            cpu[i, k] = time.process_time() - t0
            stopped[i, k] = res.aborted
            if r is None:
                full[i] = res
        line = "  ".join(f"{cpu[i, k]:7.2f} s {'stop' if stopped[i, k] else '    '}   " for k in range(len(rates)))
        if i in full:
            line += "  " + " / ".join(f"{full[i].rates_hz[p]:.1f}" for p in POPULATIONS)
        print(f"{sid:4d}  {line}", flush=True)

    ref = 0
    runaway = stopped[:, ref]
    print(
        f"\n{int(runaway.sum())} of {n} draws stopped at the reference rate {args.abort_rates[ref]}: "
        f"{np.array(ids)[runaway].tolist()}"
    )
    for k in range(len(rates)):
        factor_all = cpu[:, k].sum() / cpu[:, ref].sum()
        factor_run = cpu[runaway, k].sum() / cpu[runaway, ref].sum() if runaway.any() else float("nan")
        print(
            f"abort {args.abort_rates[k]:>5s}: total CPU {cpu[:, k].sum():7.1f} s, factor over the reference "
            f"{factor_all:.2f} (all draws), {factor_run:.2f} (draws the reference stops)"
        )

    if args.ncpi and full:
        from helpers import write_exp_kernels  # tests/helpers.py

        from workflow.simulation.features import catch22
        from workflow.simulation.gates import Gates, SampleMeasures
        from workflow.simulation.kernels import read_kernels
        from workflow.simulation.lfp import lfp_proxy, presynaptic_kernels

        gcfg = load_config(overrides={"gates": {"preset": "ncpi_2026", "ncpi_2026": {"spectrum": {"enabled": False}}}})
        gates = Gates.from_config(gcfg["gates"])
        with tempfile.TemporaryDirectory() as tmp:
            kernels, _ = read_kernels(write_exp_kernels(Path(tmp) / "k.h5", dt_ms=base.dt_ms))
        kpre = presynaptic_kernels(kernels)
        decimate = int(cfg["lfp"]["decimate"])
        kept, cut = 0, []
        for i, res in full.items():
            r = np.array([res.rates_hz[p] for p in POPULATIONS])
            run = np.array([res.counts[p].sum() / (net.N[p] * base.tstop_ms / 1000.0) for p in POPULATIONS])
            trace = lfp_proxy(res.counts, kpre, {p: net.count_factor(p) for p in POPULATIONS}, base.dt_ms,
                              base.transient_ms, decimate)  # fmt: skip
            feats, why = catch22(trace)
            status, _ = gates.classify(SampleMeasures(r, run, trace, 1000.0 / (base.dt_ms * decimate), feats, why))
            if status == Status.OK:
                kept += 1
                top = max_chunk_rate(res.counts, net, base)
                if top > gates.abort_rate_hz:
                    cut.append((i, top))
        print(f"\nncpi_2026 (rate gates): {kept} of {len(full)} full runs kept; a per-chunk stop at "
              f"{gates.abort_rate_hz:g} Hz would cut {len(cut)} of them {cut}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "tests"))
    raise SystemExit(main())
