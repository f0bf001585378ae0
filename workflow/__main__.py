"""Command line: ``python -m workflow simulate|shard|infer ...``.

``simulate`` runs one parameter set (unset parameters take best-fit values) and writes one row
in the shard layout. ``shard`` runs one shard of the campaign; the simulate rule calls it, under
``mpiexec``/``srun`` when ``simulation.mpi_ranks`` > 1 (a ``script:`` rule cannot be launched
that way). ``infer`` applies a trained campaign to recordings (:mod:`workflow.infer.run`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np

from workflow.config import ConfigError, load_config, validate_config
from workflow.contract import HAGEN_MODEL


def _parse_params(items: list[str]) -> dict[str, float]:
    from workflow.simulation.network import make_theta

    overrides = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"error: --param expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"error: --param {name}: {value!r} is not a number") from None
    try:
        return make_theta(overrides)
    except KeyError as exc:
        raise SystemExit(f"error: --param: {exc.args[0]}") from None


def _ensure_kernels(cfg: dict, path: Path) -> Path:
    """Use ``path`` if it exists and matches dt; otherwise compute kernels there."""
    from workflow.simulation.kernels import kernels_from_config, read_kernels, write_kernels

    if path.exists():
        _, attrs = read_kernels(path)
        if abs(float(attrs["dt_ms"]) - cfg["simulation"]["dt_ms"]) < 1e-12:
            return path
        print(f"note: {path} was computed at another dt; computing kernels into a cache file", file=sys.stderr)
        path = path.with_name(f"kernels-dt{cfg['simulation']['dt_ms']}.h5")
        if path.exists():
            return path
    print(f"note: computing LFP kernels into {path} (once)", file=sys.stderr)
    kernels, attrs = kernels_from_config(cfg)
    write_kernels(path, kernels, attrs)
    return path


#: (config section, key) of the `simulate` options that override the config; option names match the keys
CLI_OVERRIDES: tuple[tuple[str, str], ...] = (
    ("simulation", "tstop_ms"),
    ("simulation", "transient_ms"),
    ("simulation", "simulator"),
    ("simulation", "brian2_target"),
    ("simulation", "threads"),
    ("network", "scale"),
)


def cmd_simulate(args: argparse.Namespace) -> int:
    from workflow import h5io
    from workflow.config import simulation_config
    from workflow.contract import FEATURE_NAMES, PARAM_NAMES
    from workflow.simulation.kernels import read_kernels
    from workflow.simulation.sample import SampleContext, run_sample
    from workflow.simulation.shards import write_shard

    theta = _parse_params(args.param)
    overrides: dict = {"simulation": {}, "network": {}}
    for section, key in CLI_OVERRIDES:
        value = getattr(args, key)
        if value is not None:
            overrides[section][key] = value
    try:
        cfg = load_config(args.configfile or [], overrides)
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    kpath = _ensure_kernels(cfg, Path(args.kernels))
    kernels, kattrs = read_kernels(kpath)
    ctx = SampleContext.from_config(cfg, kernels, float(kattrs["dt_ms"]))
    row = np.array([theta[k] for k in PARAM_NAMES])
    res = run_sample(args.sample_id, row, ctx)
    attrs = h5io.provenance_attrs(
        simulation_config(cfg),
        seed=int(cfg["campaign"]["seed"]),
        simulator=ctx.simulator,
        n_vp=res.n_vp,
        brian2_target=ctx.settings.brian2_target if ctx.simulator == "brian2" else None,
    )
    write_shard(args.out, [args.sample_id], row[None, :], [res], ctx, True, attrs)
    print(f"parameters: {json.dumps(theta)}")
    print(f"simulator: {ctx.simulator}  scale: {ctx.net.scale}  N: {ctx.net.N}  wall: {res.wall_s:.2f} s")
    print(f"rates (Hz): E={res.rates[0]:.3f} I={res.rates[1]:.3f}")
    print(f"status: {res.status.name} {res.reason}")
    for name, value in zip(FEATURE_NAMES, res.features, strict=True):
        print(f"  {name:45s} {value: .6g}")
    print(f"wrote {args.out}")
    return 0


def cmd_shard(args: argparse.Namespace) -> int:
    from workflow.h5io import OutputError
    from workflow.simulation.shards import run_shard
    from workflow.simulation.taskfarm import TaskFarmError, abort_on_error, check_task_farm

    try:
        if args.config_json:
            try:
                cfg = validate_config(json.loads(args.config_json))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--config-json is not valid JSON: {exc}") from None
        else:
            cfg = load_config(args.configfile or [])
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    ids = range(args.first, args.stop) if args.first is not None else None
    if cfg["model"] != HAGEN_MODEL:
        return _model_shard(cfg, args, ids)
    if not args.kernels:
        raise SystemExit(f"error: --kernels is required for model {HAGEN_MODEL!r}")
    comm = None
    if args.mpi:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank, size = comm.Get_rank(), comm.Get_size()
        fmt = f"%(asctime)s %(levelname)s rank {rank}/{size} %(name)s: %(message)s"
        for handler in logging.getLogger().handlers:
            handler.setFormatter(logging.Formatter(fmt))
        logging.getLogger().info("MPI task farm: rank %d of %d, pid %d", rank, size, os.getpid())
    with abort_on_error(comm):
        try:
            check_task_farm(comm, cfg["simulation"]["simulator"], args.ranks)
            run_shard(cfg, args.shard, args.kernels, args.out, comm=comm, sample_ids=ids)
        except (OutputError, TaskFarmError) as exc:
            # a clear one-line message (the traceback adds nothing for a full disk or a bad launcher)
            logging.getLogger().error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    return 0


def _model_shard(cfg: dict, args: argparse.Namespace, ids: range | None) -> int:
    """One shard of a registered model's campaign (:mod:`workflow.simulation.model_shard`); serial."""
    import time

    from workflow.h5io import OutputError
    from workflow.simulation.model_shard import run_model_shard

    if args.mpi:
        raise SystemExit(f"error: --mpi: model {cfg['model']!r} runs a shard as one vectorised batch, without MPI")
    t0 = time.perf_counter()
    try:
        n_valid, n = run_model_shard(cfg, args.shard, args.out, sample_ids=ids)
    except OutputError as exc:
        logging.getLogger().error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    logging.getLogger().info(
        "model %s, shard %d: %d valid of %d samples in %.1f s", cfg["model"], args.shard, n_valid, n,
        time.perf_counter() - t0,
    )
    return 0


def _observation_default(key: str) -> object:
    """The schema's default of one key of an ``observations`` entry (each default is written once)."""
    from workflow.config import load_schema

    return load_schema()["properties"]["observations"]["items"]["properties"][key]["default"]


def cmd_infer(args: argparse.Namespace) -> int:
    import torch

    from workflow.h5io import OutputError
    from workflow.infer.campaign import CampaignError, load_campaign
    from workflow.infer.run import InferError, infer
    from workflow.infer.traces import TraceError

    # One thread: the flows' small matrix products gain little from more, and lose much on a loaded
    # machine (benchmarks/bench_infer.py); the Snakemake stage runs recordings in parallel instead.
    torch.set_num_threads(1)
    try:
        campaign = load_campaign(args.models, args.configfile)
        results = infer(
            args.traces, campaign, args.out, fs_hz=args.fs, n_draws=args.draws, ppc=args.ppc, dataset=args.dataset
        )
    except (TraceError, CampaignError, InferError, OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        flag = "MISSPECIFIED" if r.misspecified else "ok"
        print(f"{r.name}: {len(r.features)} window(s); misspecification p = {r.p_value:.3g}: {flag}")
    print(f"wrote {Path(args.out) / 'posterior.h5'}, {Path(args.out) / 'summary.csv'} and the figures")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("simulate", help="simulate one parameter set")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a free parameter (J_EE, J_IE, J_EI, J_II, tau_syn_E, tau_syn_I, J_ext); repeatable")
    p.add_argument("--configfile", action="append", help="config YAML (default config/config.yaml); repeatable")
    p.add_argument("--tstop-ms", type=float)
    p.add_argument("--transient-ms", type=float)
    p.add_argument("--scale", type=float, help="network.scale")
    p.add_argument("--simulator", choices=["nest", "brian2"])
    p.add_argument("--brian2-target", choices=["cpp_standalone", "runtime", "numpy"],
                   help="Brian2 code generation (runtime skips the ~20 s standalone compile for one sample)")
    p.add_argument("--threads", type=int, help="simulation.threads")
    p.add_argument("--sample-id", type=int, default=0, help="sample id that seeds the network (default 0)")
    p.add_argument("--kernels", default="results/kernels.h5", help="kernels file; computed there if missing")
    p.add_argument("--out", required=True, help="output HDF5 (one row in the shard layout)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("shard", help="simulate one shard of the campaign (used by the simulate rule)")
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--first", type=int, help="first sample id (default: from the config)")
    p.add_argument("--stop", type=int, help="one past the last sample id")
    p.add_argument("--kernels", nargs="?", help="LFP kernels (model hagen2022 only; a registered model needs none)")
    p.add_argument("--out", required=True)
    p.add_argument("--config-json", help="the resolved simulation config as a JSON string (from Snakemake)")
    p.add_argument("--configfile", action="append")
    p.add_argument("--mpi", action="store_true", help="run as an mpi4py task farm over MPI.COMM_WORLD")
    p.add_argument("--ranks", type=int, help="with --mpi: the number of ranks expected (checked)")
    p.set_defaults(func=cmd_shard)

    p = sub.add_parser("infer", help="posteriors of recordings from a trained campaign",
                       description="Posterior of the campaign's targets for each TRACE (the equal-weight mixture of "
                       "the fold posteriors), a misspecification check, its SHAP explanation and optionally a "
                       "posterior predictive check (workflow/infer/run.py).")
    p.add_argument("traces", nargs="+", metavar="TRACE",
                   help=".npy (one 1-D array), .csv (one numeric column, optional header) or .h5 (one 1-D dataset)")
    p.add_argument("--fs", type=float, metavar="HZ",
                   help="sampling rate of the traces (Hz); an .h5 may carry it as the attribute fs_hz")
    p.add_argument("--models", required=True, metavar="DIR", help="the campaign's trained folds (results/folds)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--configfile", action="append", metavar="F",
                   help="the campaign's config YAML (repeatable; default: the config its dataset recorded)")
    p.add_argument("--draws", type=int, default=_observation_default("draws"), metavar="N",
                   help="posterior draws per recording (default %(default)s)")
    p.add_argument("--ppc", type=int, default=_observation_default("ppc"), metavar="K",
                   help="simulate K posterior draws for a posterior predictive check (default %(default)s: none)")
    p.add_argument("--dataset", metavar="NAME", help="the dataset to read from .h5 traces holding several")
    p.set_defaults(func=cmd_infer)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
