"""The headline results of issue 12 at full size: MPR (Baldy et al. 2024) and HH (Gonçalves et al. 2020).

Writes small committed results under ``reference/models/``:

* ``mpr_headline.csv``: long format ``metric, observation, parameter, value``: the truth's
  posterior quantiles and HPD level, posterior means and SDs, the eta-J (and other) posterior
  correlations at the MF and at the QIF network's observation, the agreement (Pearson, RMSE) of
  the MF solution with the network's r(t) and v(t), and sizes and wall times;
* ``hh_narrowing.csv``: per parameter, the prior SD and, per feature set (1, 4, 7), the
  posterior SD, mean and the truth's quantile; a last row with the truth's HPD level per set;
* ``mpr_traces.png`` (Fig. 6A-B), ``mpr_posteriors.png`` (Fig. 5C / 6C),
  ``hh_narrowing.png`` (Fig. 4d);
* ``headline_mpr.json``, ``headline_hh.json``: provenance of each model's run (command, seed,
  sizes, settings, package versions, git commit, wall times), written as soon as that model is done.

Run (single-threaded, low priority; the two models can run as two processes)::

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/models_headline.py
    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/models_headline.py --skip hh   # MPR only
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workflow.models import headline, qif  # noqa: E402


def _write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def _git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _versions() -> dict[str, str]:
    import brian2
    import sbi
    import scipy
    import torch

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "sbi": sbi.__version__,
        "brian2": brian2.__version__,
    }


def _write_provenance(provenance: dict, model: str, path: Path) -> None:
    """The common provenance and one model's section as JSON."""
    keep = {k: v for k, v in provenance.items() if k not in ("mpr", "hh") or k == model}
    path.write_text(json.dumps(keep, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-mpr", type=int, default=20_000, help="MPR prior simulations (default 20000)")
    parser.add_argument("--n-hh", type=int, default=20_000, help="HH prior simulations (default 20000)")
    parser.add_argument("--qif-neurons", type=int, default=10_000, help="QIF network size (default 10^4)")
    parser.add_argument("--no-qif", action="store_true", help="skip the QIF network")
    parser.add_argument("--seed", type=int, default=12345, help="root seed (default 12345)")
    parser.add_argument("--out", type=Path, default=ROOT / "reference" / "models", help="output directory")
    parser.add_argument("--skip", choices=("mpr", "hh"), action="append", default=[], help="skip a model")
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    npe = headline.NPESettings()
    t_start = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:7.0f} s] {msg}", flush=True)

    provenance: dict = {
        "command": " ".join(["benchmarks/models_headline.py", *(sys.argv[1:] if argv is None else argv)]),
        "seed": args.seed,
        "git_commit": _git_commit(),
        "versions": _versions(),
        "npe": dataclasses.asdict(npe),
        "threads": 1,
        "machine": platform.machine(),
    }
    if "mpr" not in args.skip:
        qs = qif.QIFSettings(n_neurons=args.qif_neurons)
        res = headline.mpr_headline(
            args.n_mpr, args.seed, npe=npe, qif_settings=qs, run_network=not args.no_qif, log=log
        )
        _write_csv(headline.mpr_rows(res), args.out / "mpr_headline.csv")
        headline.plot_mpr_traces(res, str(args.out / "mpr_traces.png"))
        headline.plot_mpr_posteriors(res, str(args.out / "mpr_posteriors.png"))
        provenance["mpr"] = {
            "n_train": res.n_train,
            "n_valid": res.n_valid,
            "epochs": res.epochs,
            "seconds": dict(res.seconds),
            "settings": dataclasses.asdict(res.settings),
            "qif_settings": dataclasses.asdict(qs) if res.network is not None else None,
            "qif_target": res.network.target if res.network is not None else None,
            "qif_spikes": int(res.network.spike_t.size) if res.network is not None else None,
            "wall_seconds": time.time() - t_start,
        }
        _write_provenance(provenance, "mpr", args.out / "headline_mpr.json")
        log(
            f"mpr: truth quantiles {np.round(res.mf.quantile, 3).tolist()}, HPD level {res.mf.hpd_level:.3f}, "
            f"corr(eta, J) MF {res.mf.correlation('eta', 'J'):.3f}"
            + (f", QIF {res.qif.correlation('eta', 'J'):.3f}" if res.qif is not None else "")
        )
    if "hh" not in args.skip:
        res_hh = headline.hh_headline(args.n_hh, args.seed, npe=npe, log=log)
        _write_csv(headline.hh_rows(res_hh), args.out / "hh_narrowing.csv")
        headline.plot_hh_narrowing(res_hh, str(args.out / "hh_narrowing.png"))
        provenance["hh"] = {
            "n_train": res_hh.n_train,
            "n_valid": res_hh.n_valid,
            "epochs": {str(k): v for k, v in res_hh.epochs.items()},
            "seconds": dict(res_hh.seconds),
            "settings": dataclasses.asdict(res_hh.settings),
            "wall_seconds": time.time() - t_start,
        }
        _write_provenance(provenance, "hh", args.out / "headline_hh.json")
        log(f"hh: posterior SD / prior SD per feature set:\n{np.round(res_hh.sd_table() / res_hh.prior_sd, 3)}")
    log(f"done in {time.time() - t_start:.0f} s: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
