"""Benchmark of ``python -m workflow infer`` on a trained campaign.

Times, in one process (the fold models loaded once, as for many recordings):

* ``setup``: reading and checking the campaign (:func:`workflow.infer.campaign.load_campaign`)
  and building the shared parts (:class:`workflow.infer.run.Engine`: the cross-conformal
  misspecification check, the explanation's functionals and background);
* ``first``: one recording, posterior + misspecification + explanation, the first in the
  process (it pays numba's compilation of shap's masking code, once per process);
* ``recording``: the same for ``--repeats`` more recordings (the steady state the goal of <= 10 s
  refers to), median and maximum, with its parts;
* ``write``: posterior.h5, summary.csv, the pairplot and the explanation figures of one recording;
* ``ppc_draw``: one posterior predictive draw simulated with the campaign's sample machinery,
  over ``--ppc`` draws (median and maximum);
* the misspecification check's false-positive rate on held-out simulations, cross-fitted on the
  campaign's own rows (each fold's check refitted without it and applied to its rows).

Wall and CPU seconds are both given; on a loaded machine the wall time overstates the cost. Torch
runs on one thread, as ``python -m workflow infer`` does (``--threads`` to compare).
The recordings are the campaign's own post-transient traces (its shards' ``lfp``), so they are
in distribution.

    python benchmarks/bench_infer.py --models results/folds --repeats 5 --ppc 3

Results go to ``benchmarks/infer/bench_infer.json`` (and stdout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

OUT = Path(__file__).resolve().parent / "infer"


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(t0: tuple[float, float]) -> dict[str, float]:
    t1 = _clock()
    return {"wall_s": round(t1[0] - t0[0], 3), "cpu_s": round(t1[1] - t0[1], 3)}


def _campaign_traces(models: Path, n: int) -> list[np.ndarray]:
    """The first ``n`` valid post-transient traces of the campaign's shards."""
    out: list[np.ndarray] = []
    for shard in sorted((models.parent / "shards").glob("shard-*.h5")):
        with h5py.File(shard, "r") as f:
            if "lfp" not in f:
                continue
            for row in np.flatnonzero(f["valid"][()]):
                out.append(f["lfp"][row])
                if len(out) == n:
                    return out
    if not out:
        raise SystemExit(f"{models.parent / 'shards'}: no stored traces (simulation.store_lfp) to time infer on")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("results/folds"), help="the campaign's results/folds")
    p.add_argument("--configfile", action="append", help="the campaign's config (default: its dataset's)")
    p.add_argument("--repeats", type=int, default=5, help="recordings timed after the first")
    p.add_argument("--draws", type=int, default=1000, help="posterior draws per recording")
    p.add_argument("--ppc", type=int, default=3, help="posterior predictive draws simulated (0: none)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the command line)")
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from workflow.infer import crossconformal as cc
    from workflow.infer.campaign import load_campaign
    from workflow.infer.ppc import simulate_draw
    from workflow.infer.run import MISSPECIFICATION_FPR, Engine, check_kernels
    from workflow.infer.streams import ppc_network_root
    from workflow.infer.traces import PreparedTrace, resample_ratio, window_features, windows

    result: dict = {"models": str(args.models), "torch_threads": torch.get_num_threads()}
    t0 = _clock()
    campaign = load_campaign(args.models, args.configfile)
    engine = Engine(campaign)
    result["setup"] = _since(t0)
    result["campaign"] = {"valid_rows": len(campaign.features), "folds": len(campaign.folds),
                          "shap": engine.shap.__dict__, "fs_hz": campaign.timing.fs_hz,
                          "n_points": campaign.timing.n_points}  # fmt: skip

    traces = _campaign_traces(args.models, args.repeats + 1)
    up, down = resample_ratio(campaign.timing.fs_hz, campaign.timing.fs_hz)
    runs = []
    for i, x in enumerate(traces):
        t0 = _clock()
        w = windows(x, campaign.timing.n_points)
        prepared = PreparedTrace(Path(f"trace-{i}"), campaign.timing.fs_hz, up, down, w,
                                 window_features(Path(f"trace-{i}"), w), 0)  # fmt: skip
        r = engine.infer_one(f"trace-{i}", prepared, args.draws, 0)
        runs.append({**_since(t0), **{k: round(v, 3) for k, v in r.seconds.items()}})
    result["first"] = runs[0]
    steady = runs[1:] or runs
    result["recording"] = {
        "n": len(steady),
        "median_wall_s": statistics.median(r["wall_s"] for r in steady),
        "max_wall_s": max(r["wall_s"] for r in steady),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in steady),
        "parts_median_s": {
            k: statistics.median(r[k] for r in steady) for k in ("posterior", "misspecification", "explanation")
        },  # fmt: skip
        "goal_wall_s": 10.0,
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = _clock()
        engine.write([r], tmp, args.draws, 0)
        result["write"] = _since(t0)
        if args.ppc:
            t0 = _clock()
            r = engine.infer_one("trace-ppc", prepared, args.draws, args.ppc)
            result["ppc_parameters"] = _since(t0)  # a recording's inference plus choosing its K parameter sets
            kernels = check_kernels(campaign, args.models.parent / "kernels.h5")
            root = ppc_network_root(campaign.seed)
            draws = []
            for j, params in enumerate(r.ppc_params):
                t0 = _clock()
                simulate_draw(campaign.config, kernels, params, j, root, Path(tmp) / f"draw-{j}.h5")
                draws.append(_since(t0))
            result["ppc_draw"] = {
                "n": len(draws),
                "median_wall_s": statistics.median(d["wall_s"] for d in draws),
                "max_wall_s": max(d["wall_s"] for d in draws),
                "median_cpu_s": statistics.median(d["cpu_s"] for d in draws),
                "note": "the first draw in a process also imports and sets up the simulator",
            }
    flagged = []
    for j in np.unique(campaign.row_fold):
        rest = campaign.row_fold != j
        check = cc.fit(campaign.features[rest], campaign.row_fold[rest], campaign.seed, MISSPECIFICATION_FPR)
        flagged.append(check.evaluate(campaign.features[~rest])[1] <= MISSPECIFICATION_FPR)
    flags = np.concatenate(flagged)
    result["misspecification_fpr"] = {"held_out_rows": int(flags.size), "flagged": int(flags.sum()),
                                      "rate": round(float(flags.mean()), 4), "nominal": MISSPECIFICATION_FPR,
                                      "method": "cross-fitted over the campaign's folds"}  # fmt: skip
    OUT.mkdir(exist_ok=True)
    text = json.dumps(result, indent=1, default=str)
    (OUT / "bench_infer.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
