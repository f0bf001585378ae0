"""Merge the shards into ``dataset.h5`` with memory bounded by one shard's table.

Only the contract datasets are merged (no LFP traces), shard by shard, into preallocated
datasets; a missing, truncated or inconsistent shard stops the merge with a message naming it.
The summary counts the samples per status (the first gate each failed) and per gate (every gate
named in the shards' ``status_reason``; :mod:`workflow.simulation.gates`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from workflow import h5io, table
from workflow.contract import REQUIRED_DATASETS, Status
from workflow.simulation.gates import reason_gates

COLUMNS: tuple[str, ...] = (*REQUIRED_DATASETS, "status")


class ShardError(RuntimeError):
    """A shard cannot be merged; the message names it."""


def _open_shard(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except FileNotFoundError as exc:
        raise ShardError(f"shard {path} is missing") from exc
    except OSError as exc:
        raise ShardError(
            f"shard {path} is corrupt or truncated ({exc}); delete it and re-run its simulate job"
        ) from exc


def aggregate(shard_paths: Sequence[str | Path], out_path: str | Path, cfg: Mapping | None = None) -> dict:
    """Merge ``shard_paths`` (in order) into ``out_path``.

    Returns a summary (also the dataset's ``summary`` attribute, JSON): the invalid fraction,
    ``status_counts`` per :class:`Status` and ``gate_counts``, the samples failing each gate.
    """
    paths = [Path(p) for p in shard_paths]
    if paths:
        with _open_shard(paths[0]) as f:
            if "targets" in f:  # a registered model's shards (workflow/simulation/model_shard.py)
                return aggregate_named(paths, out_path, cfg)
    counts = []
    simulators = set()
    for p in paths:  # first pass: check every shard before writing anything
        with _open_shard(p) as f:
            try:
                counts.append(table.check_table(p, f))
                for key in COLUMNS:
                    f[key][:0]  # reading an empty slice touches the dataset's header
            except (ValueError, KeyError, OSError) as exc:
                raise ShardError(f"shard {p} is unusable: {exc}") from exc
            simulators.add(str(f.attrs.get("simulator", "unknown")))
    n = int(sum(counts))
    status_total = np.zeros(max(s.value for s in Status) + 1, dtype=np.int64)
    gate_total: Counter[str] = Counter()
    # space for the whole dataset is reserved before HDF5 writes: a full disk fails cleanly
    with h5io.atomic_h5(out_path, table.table_reserve_bytes(n, bytes_per_row=32)) as out:
        d = table.create_table_datasets(out, n)
        sim_ds = out.create_dataset("simulator", (n,), dtype=h5py.string_dtype(), track_times=False)
        for row, k, block, reasons, simulator in _shard_blocks(paths, counts, COLUMNS, with_reasons=True):
            for key in COLUMNS:
                d[key][row : row + k] = block[key]
            sim_ds[row : row + k] = simulator
            status_total += np.bincount(block["status"].astype(np.int64), minlength=status_total.size)
            gate_total.update(g for r in reasons for g in set(reason_gates(r)))
        summary = _summary(n, status_total, gate_total, len(paths), simulators)
        out.attrs.update(h5io.provenance_attrs(dict(cfg or {}), summary=json.dumps(summary)))
        out.attrs["invalid_fraction"] = summary["invalid_fraction"]
    return summary


def _shard_blocks(paths: Sequence[Path], counts: Sequence[int], keys: Sequence[str], with_reasons: bool = False):
    """Read the shards in order: yield ``(row, k, block, reasons, simulator)`` per shard.

    ``row`` is the shard's first row in the dataset, ``block`` its datasets ``keys`` read whole,
    ``reasons`` its status reasons (when ``with_reasons`` and it has them, else empty).

    Raises:
        ShardError: naming the shard, when it cannot be read whole or its sample ids overlap the
            previous shard's or are out of order.
    """
    row, seen_last = 0, -1
    for p, k in zip(paths, counts, strict=True):
        with _open_shard(p) as f:
            try:
                block = {key: f[key][...] for key in keys}
                reasons = f["status_reason"].asstr()[...] if with_reasons and "status_reason" in f else []
            except OSError as exc:
                raise ShardError(
                    f"shard {p} is corrupt or truncated ({exc}); delete it and re-run its simulate job"
                ) from exc
            simulator = str(f.attrs.get("simulator", "unknown"))
        ids = block["sample_id"]
        if k and (ids[0] <= seen_last or np.any(np.diff(ids) <= 0)):
            raise ShardError(f"shard {p}: sample ids overlap or are out of order")
        if k:
            seen_last = int(ids[-1])
        yield row, k, block, reasons, simulator
        row += k


def _summary(n: int, status_total: np.ndarray, gates: Counter[str], n_shards: int, simulators: set[str]) -> dict:
    """The dataset's summary (stored as its ``summary`` attribute and returned by the aggregators)."""
    valid = int(status_total[Status.OK])
    return {
        "n_samples": n,
        "n_valid": valid,
        "invalid_fraction": (n - valid) / n if n else 0.0,
        "status_counts": {s.name: int(status_total[s]) for s in Status},
        "gate_counts": dict(sorted(gates.items())),
        "n_shards": n_shards,
        "simulators": sorted(simulators),
    }


def _layout(path: Path, f: h5py.File) -> dict[str, tuple]:
    """Every dataset of a named shard but ``status_reason``: name -> (row shape, dtype, names, units)."""
    out = {}
    for key, ds in f.items():
        if key == "status_reason" or not isinstance(ds, h5py.Dataset):
            continue
        names = tuple(table.read_names(ds)) if "names" in ds.attrs else None
        units = ds.attrs.get("units")  # one unit (a string) or one per column
        if units is not None and not isinstance(units, str):
            units = tuple(u.decode() if isinstance(u, bytes) else str(u) for u in np.atleast_1d(units))
        if ds.ndim == 2 and (names is None or len(names) != ds.shape[1]):
            raise ShardError(f"shard {path}: dataset {key!r} lacks one name per column")
        out[key] = (ds.shape[1:], ds.dtype.str, names, units)
    return out


def aggregate_named(shard_paths: Sequence[Path], out_path: str | Path, cfg: Mapping | None = None) -> dict:
    """Merge the shards of a registered model (``targets`` and every column named in the file).

    Every shard must hold the same datasets with the same names and units as the first; the
    columns, names and units of the dataset are those of the shards. The summary is
    :func:`aggregate`'s (a model has no gates: ``gate_counts`` is empty).
    """
    required = ("params", "features", "targets", "valid", "status", "sample_id")
    layout: dict[str, tuple] | None = None
    counts = []
    for p in shard_paths:
        with _open_shard(p) as f:
            try:
                this = _layout(p, f)
                missing = [k for k in required if k not in this]
                if missing:
                    raise ShardError(f"shard {p}: missing datasets {missing}")
                n = f["sample_id"].shape[0]
                short = [k for k in this if f[k].shape[0] != n]
                if short:
                    raise ShardError(f"shard {p}: datasets {short} do not have {n} rows like sample_id")
                for key in this:
                    f[key][:0]
            except (KeyError, OSError) as exc:
                raise ShardError(f"shard {p} is unusable: {exc}") from exc
            if layout is None:
                layout = this
            elif this != layout:
                raise ShardError(f"shard {p}: its datasets, names or units differ from shard {shard_paths[0]}'s")
            counts.append(n)
    assert layout is not None
    n = int(sum(counts))
    status_total = np.zeros(max(s.value for s in Status) + 1, dtype=np.int64)
    simulators = set()
    row_bytes = sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize for shape, dt, _, _ in layout.values())
    with h5io.atomic_h5(out_path, 2 * n * (row_bytes + 16) + (1 << 20)) as out:
        d = {}
        for key, (shape, dt, names, units) in layout.items():
            d[key] = out.create_dataset(key, (n, *shape), dtype=dt, track_times=False)
            if names is not None:
                table.write_names(d[key], names, units)
        sim_ds = out.create_dataset("simulator", (n,), dtype=h5py.string_dtype(), track_times=False)
        for row, k, block, _, simulator in _shard_blocks(shard_paths, counts, list(layout)):
            for key in layout:
                d[key][row : row + k] = block[key]
            simulators.add(simulator)
            sim_ds[row : row + k] = simulator
            status_total += np.bincount(block["status"].astype(np.int64), minlength=status_total.size)
        summary = _summary(n, status_total, Counter(), len(shard_paths), simulators)
        with _open_shard(shard_paths[0]) as f:
            model_attrs = {k: f.attrs[k] for k in ("model", "model_json") if k in f.attrs}
        out.attrs.update(h5io.provenance_attrs(dict(cfg or {}), summary=json.dumps(summary), **model_attrs))
        out.attrs["invalid_fraction"] = summary["invalid_fraction"]
    return summary


def check_against_draws(dataset_path: str | Path, draws_path: str | Path, block: int = 65_536) -> None:
    """Check that the dataset's parameters are exactly the drawn ones (shards draw them themselves)."""
    with h5py.File(dataset_path, "r") as d, h5py.File(draws_path, "r") as w:
        ids = d["sample_id"]
        n = ids.shape[0]
        for start in range(0, n, block):
            sid = ids[start : start + block]
            if sid.size and sid[-1] >= w["params"].shape[0]:
                raise ShardError(f"{dataset_path}: sample id {int(sid[-1])} is not in {draws_path}")
            if not np.array_equal(d["params"][start : start + block], w["params"][sid[0] : sid[-1] + 1]):
                raise ShardError(
                    f"{dataset_path}: parameters of samples {int(sid[0])}..{int(sid[-1])} differ from {draws_path}; "
                    "the shards were made with another prior or seed"
                )
