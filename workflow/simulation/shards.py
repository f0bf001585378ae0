"""One shard of the campaign: simulate its samples, compute the LFP proxy and catch22, write.

A sample that fails (simulator error, silent network, runaway rates, NaN features) gets a
:class:`~workflow.contract.Status` and a reason; the shard still completes. With an MPI
communicator of size > 1, the ranks split the shard's samples (rank r takes every size-th
sample from r) and rank 0 writes the one shard file; a sample's result does not depend on the
rank that ran it, since its parameters and seed come from its own ``SeedSequence``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from workflow import h5io, table
from workflow.config import shard_config, shard_sample_ids
from workflow.contract import FEATURE_NAMES, RATE_NAMES, Status
from workflow.simulation.prior import Prior
from workflow.simulation.sample import SampleContext, SampleResult
from workflow.simulation.taskfarm import run_samples

log = logging.getLogger(__name__)


def draw_params(cfg: Mapping, sample_ids: range) -> np.ndarray:
    """The parameters of ``sample_ids``, drawn from each sample's own prior stream.

    The same rows as in ``draws.h5``; a shard draws them itself so that it depends on the
    prior and seed only, not on the draws file (which changes with ``campaign.n_samples``).
    """
    return Prior.from_config(cfg["prior"]).draw(int(cfg["campaign"]["seed"]), sample_ids)


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
    with h5io.atomic_h5(path, table.table_reserve_bytes(n, lfp_len) + 2 * reasons) as f:
        d = table.create_table_datasets(f, n, lfp_len, checksums=True)
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
    from workflow.simulation.kernels import read_kernels

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
        shard_config(cfg),
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
