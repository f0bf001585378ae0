"""The mpi4py task farm that runs one shard over several ranks (one serial NEST per rank).

Rank r simulates samples r, r + N, r + 2N, ... of the shard; rank 0 gathers and writes. A
sample's result does not depend on the rank, since its parameters and seed come from its own
``SeedSequence``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence

import numpy as np

from workflow.simulation.sample import SampleContext, SampleResult, run_sample

log = logging.getLogger(__name__)


class TaskFarmError(RuntimeError):
    """The MPI task farm cannot run (wrong launcher, MPI-enabled NEST, lost samples)."""


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
