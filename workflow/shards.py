"""One shard of the campaign: simulate its samples, compute the LFP proxy and catch22, write.

A sample that fails (simulator error, silent network, runaway rates, NaN features) gets a
:class:`~workflow.contract.Status` and a reason; the shard still completes. With an MPI
communicator of size > 1, the ranks split the shard's samples (rank r takes every size-th
sample from r) and rank 0 writes the one shard file; a sample's result does not depend on the
rank that ran it, since its parameters and seed come from its own ``SeedSequence``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from workflow import h5io
from workflow.config import shard_sample_ids, simulation_config
from workflow.contract import FEATURE_NAMES, PARAM_NAMES, RATE_NAMES, Status
from workflow.features import catch22
from workflow.lfp import lfp_proxy, presynaptic_kernels
from workflow.network import POPULATIONS, NetworkParams
from workflow.prior import Prior, network_seed, theta_dict
from workflow.sim import SimSettings, simulate

log = logging.getLogger(__name__)


class TaskFarmError(RuntimeError):
    """The MPI task farm cannot run (wrong launcher, MPI-enabled NEST, lost samples)."""


@dataclasses.dataclass(frozen=True)
class SampleContext:
    """Everything a sample needs besides its parameters: network, run settings, kernels."""

    net: NetworkParams
    settings: SimSettings
    simulator: str
    seed: int
    kernels_by_pre: Mapping[str, np.ndarray]
    decimate: int
    min_rate_hz: float
    max_rate_hz: float

    @classmethod
    def from_config(cls, cfg: Mapping, kernels: Mapping[str, np.ndarray], kernel_dt_ms: float) -> SampleContext:
        sim = cfg["simulation"]
        if abs(kernel_dt_ms - sim["dt_ms"]) > 1e-12:
            raise ValueError(
                f"kernels were computed at dt={kernel_dt_ms} ms but simulation.dt_ms is {sim['dt_ms']}; "
                "recompute results/kernels.h5"
            )
        settings = SimSettings(
            tstop_ms=float(sim["tstop_ms"]),
            transient_ms=float(sim["transient_ms"]),
            dt_ms=float(sim["dt_ms"]),
            threads=int(sim["threads"]),
            abort_rate_hz=float(sim["max_rate_hz"]),
            brian2_target=sim.get("brian2_target", "cpp_standalone"),
        )
        return cls(
            net=NetworkParams(scale=float(cfg["network"]["scale"])),
            settings=settings,
            simulator=sim["simulator"],
            seed=int(cfg["campaign"]["seed"]),
            kernels_by_pre=presynaptic_kernels(kernels),
            decimate=int(cfg["lfp"]["decimate"]),
            min_rate_hz=float(sim["min_rate_hz"]),
            max_rate_hz=float(sim["max_rate_hz"]),
        )

    @property
    def lfp_len(self) -> int:
        """Length of the stored LFP trace (decimated, transient dropped)."""
        n = -(-self.settings.n_bins // self.decimate)
        return n - int(round(self.settings.transient_ms / (self.settings.dt_ms * self.decimate)))


@dataclasses.dataclass
class SampleResult:
    """Outcome of one sample."""

    sample_id: int
    rates: np.ndarray  # (2,) Hz
    features: np.ndarray  # (22,)
    status: Status
    reason: str
    lfp: np.ndarray | None
    n_vp: int
    wall_s: float


def run_sample(sample_id: int, theta_row: np.ndarray, ctx: SampleContext) -> SampleResult:
    """Simulate one sample and derive its rates, LFP proxy and features; never raises on bad dynamics."""
    t0 = time.perf_counter()
    nan_feat = np.full(len(FEATURE_NAMES), np.nan)
    seed = network_seed(ctx.seed, sample_id)
    try:
        res = simulate(theta_dict(theta_row), ctx.net, ctx.settings, seed, ctx.simulator)
    except Exception as exc:  # a simulator error marks the sample, not the shard
        log.warning("sample %d: simulator error: %s", sample_id, exc)
        return SampleResult(
            sample_id, np.full(2, np.nan), nan_feat, Status.SIMULATOR_ERROR,
            f"{type(exc).__name__}: {exc}", None, 0, time.perf_counter() - t0,
        )  # fmt: skip
    if res.aborted:
        t_done = res.t_done_ms or ctx.settings.tstop_ms
        rates = np.array([res.counts[p].sum() / (ctx.net.N[p] * t_done / 1000.0) for p in POPULATIONS])
        reason = f"runaway: stopped at {t_done:.0f} ms with rates {np.round(rates, 1).tolist()} Hz"
        return SampleResult(
            sample_id, rates, nan_feat, Status.RUNAWAY, reason, None, res.n_vp, time.perf_counter() - t0
        )
    rates = np.array([res.rates_hz[p] for p in POPULATIONS])
    trace = lfp_proxy(
        res.counts,
        ctx.kernels_by_pre,
        {p: ctx.net.count_factor(p) for p in POPULATIONS},
        ctx.settings.dt_ms,
        ctx.settings.transient_ms,
        ctx.decimate,
    )
    features, why = catch22(trace)
    status, reason = Status.OK, ""
    if rates.max() > ctx.max_rate_hz:
        status, reason = Status.RUNAWAY, f"runaway: rates {np.round(rates, 1).tolist()} Hz"
    elif rates.min() < ctx.min_rate_hz:
        status, reason = Status.SILENT, f"silent: rates {np.round(rates, 3).tolist()} Hz"
    elif why:
        status, reason = Status.NAN_FEATURES, why
    return SampleResult(sample_id, rates, features, status, reason, trace, res.n_vp, time.perf_counter() - t0)


def run_samples(
    sample_ids: Sequence[int], params: np.ndarray, ctx: SampleContext, comm=None
) -> list[SampleResult] | None:
    """Run samples, split over the ranks of ``comm``; rank 0 gets all results in order, others None.

    Rank r of a communicator of size n runs the samples at positions r, r + n, r + 2n, ... of
    ``sample_ids`` (a disjoint split), then the results are gathered on rank 0. An exception on
    any rank propagates on that rank only; the caller must abort the communicator
    (:func:`abort_on_error`), since the other ranks would otherwise wait in the gather forever.
    """
    rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    mine = []
    for i, sid in enumerate(sample_ids):
        if i % size == rank:
            r = run_sample(int(sid), params[i], ctx)
            log.info("sample %d: %s %s rates=%s (%.1f s)", r.sample_id, r.status.name, r.reason, r.rates, r.wall_s)
            mine.append(r)
    if size == 1:
        return mine
    gathered = comm.gather(mine, root=0)
    if rank != 0:
        return None
    by_id = {r.sample_id: r for part in gathered for r in part}
    missing = [int(sid) for sid in sample_ids if int(sid) not in by_id]
    if missing or len(by_id) != sum(len(part) for part in gathered):
        raise TaskFarmError(f"task farm lost or duplicated samples (missing {missing[:10]})")
    return [by_id[int(sid)] for sid in sample_ids]


@contextlib.contextmanager
def abort_on_error(comm) -> Iterator[None]:
    """Turn an exception on any rank into ``comm.Abort(1)``: every rank stops, nothing is written.

    Without it, a rank that fails leaves the others blocked in the gather until the job's
    time limit. Rank 0 writes the shard only after the gather, through :func:`h5io.atomic_h5`,
    so an abort leaves no file that counts as done. ``comm=None`` (serial) re-raises as usual.
    """
    try:
        yield
    except BaseException as exc:
        if comm is None or comm.Get_size() == 1 or (isinstance(exc, SystemExit) and not exc.code):
            raise
        rank, size = comm.Get_rank(), comm.Get_size()
        log.critical("rank %d of %d failed, aborting the task farm", rank, size, exc_info=True)
        logging.shutdown()  # flush the log before MPI kills the process
        comm.Abort(1)


#: variables by which a NEST built without MPI detects a launcher and exits (NEST 3.10,
#: ``MPIManager::initialize``); MPI itself has read them in ``MPI_Init`` already
_LAUNCHER_VARS: tuple[str, ...] = ("PMI_RANK", "PMIX_RANK")


def hide_launcher_from_nest() -> None:
    """Let each rank of the task farm run its own serial NEST.

    A NEST built without MPI exits under ``mpiexec``/``srun`` to protect users who expect it
    to distribute one network; the task farm wants exactly one independent NEST per rank, so
    once mpi4py has initialised MPI the launcher's rank variables are removed from this
    process's environment. Call before ``import nest``.
    """
    for var in _LAUNCHER_VARS:
        os.environ.pop(var, None)


def check_task_farm(comm, simulator: str, expected_ranks: int | None = None) -> None:
    """Refuse a task farm that would not give one independent simulation per rank.

    Raises :class:`TaskFarmError` if the launcher started a different number of ranks than requested
    (``mpiexec`` of another MPI library than mpi4py's gives n singletons that each run the whole
    shard), or if NEST was built with MPI (it would then spread one network over all ranks).
    """
    size = comm.Get_size() if comm is not None else 1
    if expected_ranks is not None and size != expected_ranks:
        raise TaskFarmError(
            f"expected {expected_ranks} MPI ranks but MPI.COMM_WORLD has {size}: the launcher "
            "(mpiexec/srun) and mpi4py use different MPI libraries; use the mpiexec next to the "
            "Python interpreter (the mpich wheel) or set the Snakemake resource mpi"
        )
    if size > 1 and simulator == "nest":
        hide_launcher_from_nest()
        import nest

        if nest.build_info.get("have_mpi", False):
            raise TaskFarmError(
                "this NEST is built with MPI, so its ranks would share one network; "
                "the task farm needs a NEST without MPI (simulation.mpi_ranks: 1 otherwise)"
            )


def draw_params(cfg: Mapping, sample_ids: range) -> np.ndarray:
    """The parameters of ``sample_ids``, drawn from each sample's own prior stream.

    The same rows as in ``draws.h5``; a shard draws them itself so that it depends on the
    prior and seed only, not on the draws file (which changes with ``campaign.n_samples``).
    """
    return Prior.from_config(cfg["prior"]).draw(int(cfg["campaign"]["seed"]), sample_ids)


def read_draws(draws_path: str | Path, sample_ids: range) -> np.ndarray:
    """Rows of ``draws.h5`` for a contiguous range of sample ids, checked against ``sample_id``."""
    with h5py.File(draws_path, "r") as f:
        if tuple(h5io.read_names(f["params"])) != PARAM_NAMES:
            raise ValueError(f"{draws_path}: params names differ from {PARAM_NAMES}")
        ids = f["sample_id"][sample_ids.start : sample_ids.stop]
        if not np.array_equal(ids, np.arange(sample_ids.start, sample_ids.stop)):
            raise ValueError(f"{draws_path}: sample ids {sample_ids} not found; re-run the draws rule")
        return f["params"][sample_ids.start : sample_ids.stop]


def write_shard(
    path: str | Path,
    sample_ids: Sequence[int],
    params: np.ndarray,
    results: Sequence[SampleResult],
    ctx: SampleContext,
    store_lfp: bool,
    attrs: Mapping[str, object],
) -> None:
    """Write a shard atomically in the contract layout, plus per-sample reasons and the LFP.

    The file holds no timings (they are in the job's log and benchmark), so rerunning a shard
    with the same code gives the same bytes, whatever rank ran which sample; Snakemake then
    sees an unchanged input checksum and does not rerun what depends on the shard.
    """
    n = len(sample_ids)
    lfp_len = ctx.lfp_len if store_lfp else None
    reasons = sum(len(r.reason.encode()) + 16 for r in results)
    with h5io.atomic_h5(path, h5io.table_reserve_bytes(n, lfp_len) + 2 * reasons) as f:
        d = h5io.create_table_datasets(f, n, lfp_len, checksums=True)
        d["params"][...] = params
        d["sample_id"][...] = np.asarray(sample_ids, dtype=np.int64)
        d["rates"][...] = np.stack([r.rates for r in results]) if n else np.empty((0, len(RATE_NAMES)))
        d["features"][...] = np.stack([r.features for r in results]) if n else np.empty((0, len(FEATURE_NAMES)))
        status = np.array([int(r.status) for r in results], dtype=np.int8)
        d["status"][...] = status
        d["valid"][...] = status == Status.OK
        f.create_dataset(
            "status_reason", data=np.array([r.reason for r in results], dtype=h5py.string_dtype()), track_times=False
        )
        if store_lfp:
            for i, r in enumerate(results):
                d["lfp"][i] = r.lfp if r.lfp is not None else np.nan
            d["lfp"].attrs["dt_ms"] = ctx.settings.dt_ms * ctx.decimate
        f.attrs.update(dict(attrs))


def run_shard(
    cfg: Mapping,
    shard: int,
    kernels_path: str | Path,
    out_path: str | Path,
    comm=None,
    sample_ids: range | None = None,
) -> list[SampleResult] | None:
    """Simulate shard ``shard`` of the campaign and write ``out_path`` (rank 0 only).

    With ``comm`` of size > 1 the ranks split the samples (:func:`run_samples`); wrap the call
    in :func:`abort_on_error` so that a failure on one rank stops them all.
    ``sample_ids`` defaults to the shard's range under ``cfg`` (:func:`shard_sample_ids`).
    """
    from workflow.kernels import read_kernels

    ids = shard_sample_ids(cfg, shard) if sample_ids is None else sample_ids
    if comm is None or comm.Get_rank() == 0:
        h5io.check_writable(out_path)  # fail now, not after hours of simulation
    params = draw_params(cfg, ids)
    kernels, kattrs = read_kernels(kernels_path)
    ctx = SampleContext.from_config(cfg, kernels, float(kattrs["dt_ms"]))
    results = run_samples(ids, params, ctx, comm)
    if results is None:
        return None
    n_vp = max((r.n_vp for r in results), default=0)
    attrs = h5io.provenance_attrs(
        simulation_config(cfg),
        shard=shard,
        seed=int(cfg["campaign"]["seed"]),
        simulator=ctx.simulator,
        n_vp=n_vp,
        brian2_target=ctx.settings.brian2_target if ctx.simulator == "brian2" else None,
        kernels_file=str(kernels_path),
        kernels_hash=str(kattrs.get("config_hash", "")),
    )
    write_shard(out_path, list(ids), params, results, ctx, bool(cfg["simulation"]["store_lfp"]), attrs)
    return results
