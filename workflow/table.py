"""The table layout of shards and the dataset (see :mod:`workflow.contract`): creation with names,
units and checksums, and the check of a file against it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import h5py
import numpy as np

from workflow.contract import (
    FEATURE_NAMES,
    PARAM_NAMES,
    PARAM_UNITS,
    RATE_NAMES,
    REQUIRED_DATASETS,
    Status,
)


def write_names(dset: h5py.Dataset, names: Sequence[str], units: Sequence[str] | str | None = None) -> None:
    """Attach the ``names`` (and ``units``) attributes of a dataset's columns."""
    dset.attrs["names"] = np.array(list(names), dtype=h5py.string_dtype())
    if units is not None:
        dset.attrs["units"] = units if isinstance(units, str) else np.array(list(units), dtype=h5py.string_dtype())


def read_names(dset: h5py.Dataset) -> list[str]:
    """The ``names`` attribute of a dataset as Python strings."""
    return [n.decode() if isinstance(n, bytes) else str(n) for n in dset.attrs["names"]]


def table_reserve_bytes(n: int, lfp_len: int | None = None, bytes_per_row: int = 0) -> int:
    """A generous upper bound of the size of a file of ``n`` contract rows (for :func:`atomic_h5`).

    Twice the raw size of the contract columns, of the LFP traces and of ``bytes_per_row``
    more per row (strings), plus 1 MiB for headers and attributes.
    """
    row = 8 * (len(PARAM_NAMES) + len(FEATURE_NAMES) + len(RATE_NAMES)) + 1 + 1 + 8 + bytes_per_row
    if lfp_len is not None:
        row += 4 * lfp_len + 64
    return 2 * n * row + (1 << 20)


def create_table_datasets(
    f: h5py.File, n: int, lfp_len: int | None = None, checksums: bool = False
) -> dict[str, h5py.Dataset]:
    """Create the contract datasets (see :mod:`workflow.contract`) for ``n`` rows.

    ``checksums``: store each dataset as one chunk with a Fletcher-32 checksum, so that a
    damaged file fails on reading instead of giving wrong numbers (shards: small, written once).
    """
    opts: dict = {"track_times": False}
    checksums = checksums and n > 0

    def table(name: str, shape: tuple[int, ...], dtype: str) -> h5py.Dataset:
        extra = {"chunks": shape, "fletcher32": True} if checksums else {}
        return f.create_dataset(name, shape, dtype=dtype, **opts, **extra)

    d = {
        "params": table("params", (n, len(PARAM_NAMES)), "f8"),
        "features": table("features", (n, len(FEATURE_NAMES)), "f8"),
        "rates": table("rates", (n, len(RATE_NAMES)), "f8"),
        "valid": table("valid", (n,), "?"),
        "status": table("status", (n,), "i1"),
        "sample_id": table("sample_id", (n,), "i8"),
    }
    write_names(d["params"], PARAM_NAMES, PARAM_UNITS)
    write_names(d["features"], FEATURE_NAMES)
    write_names(d["rates"], RATE_NAMES, "Hz")
    write_names(d["status"], [f"{s.value}={s.name}" for s in Status])
    if lfp_len is not None:
        d["lfp"] = f.create_dataset(
            "lfp", (n, lfp_len), dtype="f4", chunks=(1, max(1, lfp_len)), compression="gzip",
            fletcher32=checksums, **opts,
        )  # fmt: skip
        d["lfp"].attrs["units"] = "nA um"
    return d


def check_table(path: str | os.PathLike, f: h5py.File) -> int:
    """Check that an open file holds the contract datasets with consistent lengths.

    Returns the row count; raises ``ValueError`` naming the file and the problem.
    """
    missing = [k for k in REQUIRED_DATASETS if k not in f]
    if missing:
        raise ValueError(f"{path}: missing datasets {missing}")
    n = f["sample_id"].shape[0]
    for key in REQUIRED_DATASETS:
        if f[key].shape[0] != n:
            raise ValueError(f"{path}: dataset {key!r} has {f[key].shape[0]} rows, sample_id has {n}")
    for key, names in (("params", PARAM_NAMES), ("features", FEATURE_NAMES), ("rates", RATE_NAMES)):
        if "names" not in f[key].attrs:
            raise ValueError(f"{path}: dataset {key!r} lacks its 'names' attribute")
        if tuple(read_names(f[key])) != tuple(names):
            raise ValueError(f"{path}: dataset {key!r} has names {read_names(f[key])}, expected {list(names)}")
    return n
