"""Load and validate a dataset in the contract layout, and derive the inference targets.

The contract (``workflow/contract.py``): ``params`` (n, P), ``features`` (n, F), ``valid`` (n,),
``sample_id`` (n,), and either

* ``targets`` (n, T): the targets are read from the file, with their names (and ``units``) —
  the layout of a registered model's campaign (:mod:`workflow.simulation.model_shard`), or of
  any bank that brings its own targets; or
* ``rates`` (n, 2) and the Hagen network's seven parameters (found by name): the targets
  ([E/I]_net, tau_syn_E, tau_syn_I, J_ext) are computed (:func:`compute_targets`).

The column datasets must carry a ``names`` attribute with one name per column; on the 1-D
``valid`` and ``sample_id`` it is optional (the aggregate does not write it). Only valid rows
enter inference. Every problem raises :class:`DatasetError` naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from workflow.contract import REQUIRED_DATASETS, TARGET_NAMES, TARGET_UNITS
from workflow.h5io import atomic_h5, provenance_attrs

#: Parameters needed to build the targets.
NEEDED_PARAMS: tuple[str, ...] = ("J_EE", "J_IE", "J_EI", "J_II", "tau_syn_E", "tau_syn_I", "J_ext")
#: Columns whose ``names`` must match their width.
_COLUMN_DATASETS: tuple[str, ...] = ("params", "features", "rates")
#: Datasets of a file that holds its own targets, and its column datasets.
NAMED_REQUIRED: tuple[str, ...] = ("params", "features", "targets", "valid", "sample_id")
_NAMED_COLUMNS: tuple[str, ...] = ("params", "features", "targets")


class DatasetError(ValueError):
    """A dataset file violates the contract."""


@dataclasses.dataclass(frozen=True)
class InferenceData:
    """The valid rows of a dataset, ready for inference.

    Attributes:
        features: (n, F) float64 features of the valid rows.
        targets: (n, T) float64 targets (the file's, or :data:`workflow.contract.TARGET_NAMES`).
        sample_id: (n,) int64 sample ids of the valid rows.
        feature_names: F feature names.
        target_names: the T target names.
        n_total: number of rows in the file, valid or not.
        target_units: the T target units (None: unknown, or the Hagen targets' units).
    """

    features: np.ndarray
    targets: np.ndarray
    sample_id: np.ndarray
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    n_total: int
    target_units: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.sample_id)
        if self.features.shape != (n, len(self.feature_names)):
            raise ValueError(f"features has shape {self.features.shape}, expected ({n}, {len(self.feature_names)})")
        if self.targets.shape != (n, len(self.target_names)):
            raise ValueError(f"targets has shape {self.targets.shape}, expected ({n}, {len(self.target_names)})")


def _names(path: Path, ds: h5py.Dataset, key: str) -> tuple[str, ...]:
    if "names" not in ds.attrs:
        raise DatasetError(f"{path}: dataset '{key}' has no 'names' attribute")
    raw = np.atleast_1d(ds.attrs["names"])
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in raw)


def compute_targets(params: np.ndarray, param_names: tuple[str, ...]) -> np.ndarray:
    """Return the inference targets from the simulation parameters.

    [E/I]_net = (J_EE / J_EI) / (J_IE / J_II) (dimensionless), then tau_syn_E (ms), tau_syn_I (ms)
    and J_ext (pA), in the order of :data:`TARGET_NAMES`.

    Args:
        params: (n, P) parameters, columns named by ``param_names``.
        param_names: column names; must contain :data:`NEEDED_PARAMS`.
    """
    missing = [p for p in NEEDED_PARAMS if p not in param_names]
    if missing:
        raise ValueError(f"params lacks columns {missing}")
    col = {name: params[:, param_names.index(name)] for name in NEEDED_PARAMS}
    with np.errstate(divide="ignore", invalid="ignore"):
        ei_net = (col["J_EE"] / col["J_EI"]) / (col["J_IE"] / col["J_II"])
    return np.column_stack([ei_net, col["tau_syn_E"], col["tau_syn_I"], col["J_ext"]]).astype(np.float64)


def load_dataset(path: str | Path, min_valid_rows: int = 1) -> InferenceData:
    """Load and check a contract-layout HDF5 file; return its valid rows with the targets.

    Args:
        path: HDF5 file (``results/dataset.h5`` or a user's file set by ``dataset:``).
        min_valid_rows: fewest valid rows accepted (e.g. the number of folds).

    Raises:
        DatasetError: naming the file and the problem (unreadable file, missing dataset, missing
            or mismatched ``names``, mismatched lengths, non-finite values or targets in valid
            rows, duplicate sample ids, too few valid rows).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise DatasetError(f"{path}: not a readable HDF5 file ({err})") from err
    with fh:
        named = isinstance(fh.get("targets"), h5py.Dataset)  # the file brings its own targets
        required, columns = (NAMED_REQUIRED, _NAMED_COLUMNS) if named else (REQUIRED_DATASETS, _COLUMN_DATASETS)
        missing = [k for k in required if k not in fh or not isinstance(fh[k], h5py.Dataset)]
        if missing:
            raise DatasetError(f"{path}: missing dataset(s) {missing}; required: {list(required)}")
        names = {k: _names(path, fh[k], k) for k in columns}
        arrays = {k: fh[k][()] for k in required}
        target_units = None
        if named and "units" in fh["targets"].attrs:
            raw = np.atleast_1d(fh["targets"].attrs["units"])
            target_units = tuple(u.decode() if isinstance(u, bytes) else str(u) for u in raw)

    lengths = {k: (v.shape[0] if v.ndim else None) for k, v in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise DatasetError(f"{path}: mismatched lengths along the first axis: {lengths}")
    n = lengths["valid"]
    for key in columns:
        arr = arrays[key]
        if arr.ndim != 2:
            raise DatasetError(f"{path}: dataset '{key}' must be 2-D (n, columns), has shape {arr.shape}")
        if len(names[key]) != arr.shape[1]:
            raise DatasetError(
                f"{path}: dataset '{key}' has {arr.shape[1]} columns but its 'names' attribute lists {len(names[key])}"
            )
    for key in ("valid", "sample_id"):
        if arrays[key].ndim != 1:
            raise DatasetError(f"{path}: dataset '{key}' must be 1-D, has shape {arrays[key].shape}")
    missing_params = [] if named else [p for p in NEEDED_PARAMS if p not in names["params"]]
    if missing_params:
        raise DatasetError(f"{path}: 'params' names lack {missing_params} (has {list(names['params'])})")

    valid = arrays["valid"]
    if valid.dtype != np.bool_:
        if not np.isin(valid, (0, 1)).all():
            raise DatasetError(f"{path}: 'valid' must be boolean, has values other than 0/1")
        valid = valid.astype(bool)
    sample_id = arrays["sample_id"].astype(np.int64)
    if len(np.unique(sample_id)) != n:
        raise DatasetError(f"{path}: 'sample_id' has duplicate values")

    for key in columns:
        arr = np.asarray(arrays[key], dtype=np.float64)[valid]
        bad = ~np.isfinite(arr)
        if bad.any():
            rows, cols = np.nonzero(bad)
            raise DatasetError(
                f"{path}: non-finite values in {int(bad.any(axis=1).sum())} valid row(s) of '{key}' "
                f"(first: sample_id {int(sample_id[valid][rows[0]])}, column '{names[key][cols[0]]}')"
            )
    n_valid = int(valid.sum())
    if n_valid < min_valid_rows:
        raise DatasetError(f"{path}: {n_valid} valid row(s), at least {min_valid_rows} needed")

    if named:  # finite in valid rows: checked with the other columns above
        if target_units is not None and len(target_units) != len(names["targets"]):
            raise DatasetError(
                f"{path}: dataset 'targets' has {len(target_units)} units for {len(names['targets'])} names"
            )
        return InferenceData(
            features=np.asarray(arrays["features"], dtype=np.float64)[valid],
            targets=np.asarray(arrays["targets"], dtype=np.float64)[valid],
            sample_id=sample_id[valid],
            feature_names=names["features"],
            target_names=names["targets"],
            n_total=n,
            target_units=target_units,
        )
    params = np.asarray(arrays["params"], dtype=np.float64)[valid]
    targets = compute_targets(params, names["params"])
    bad_t = ~np.isfinite(targets)
    if bad_t.any():
        rows, cols = np.nonzero(bad_t)
        raise DatasetError(
            f"{path}: target '{TARGET_NAMES[cols[0]]}' is non-finite for sample_id "
            f"{int(sample_id[valid][rows[0]])} (a zero weight in [E/I]_net?)"
        )
    return InferenceData(
        features=np.asarray(arrays["features"], dtype=np.float64)[valid],
        targets=targets,
        sample_id=sample_id[valid],
        feature_names=names["features"],
        target_names=TARGET_NAMES,
        n_total=n,
    )


def write_prepared(
    path: str | Path, data: InferenceData, fold: np.ndarray, config: Mapping[str, Any], **attrs: object
) -> None:
    """Write the valid rows, their targets and fold ids to ``path`` (input of every later rule).

    The file appears at ``path`` only when complete (:func:`workflow.h5io.atomic_h5`); a failed
    write leaves an existing file untouched and raises :class:`workflow.h5io.OutputError` for
    disk and permission errors.

    Args:
        path: output HDF5 file.
        data: validated rows.
        fold: (n,) fold index of each row.
        config: the config that decided the file (the rule's params: ``k_folds`` and the seed);
            its hash and JSON go into the root attributes with the code's provenance.
        **attrs: more root attributes (e.g. ``source``, ``seed``); None values are left out.
    """
    opts: dict[str, Any] = {"track_times": False}
    with atomic_h5(path) as fh:
        fh.attrs.update(provenance_attrs(dict(config), **attrs))
        fh.attrs["n_total"] = data.n_total
        ds = fh.create_dataset("features", data=data.features, **opts)
        ds.attrs["names"] = list(data.feature_names)
        ds = fh.create_dataset("targets", data=data.targets, **opts)
        ds.attrs["names"] = list(data.target_names)
        units = data.target_units or (TARGET_UNITS if tuple(data.target_names) == TARGET_NAMES else None)
        if units is not None:
            ds.attrs["units"] = list(units)
        fh.create_dataset("sample_id", data=data.sample_id, **opts).attrs["names"] = ["sample_id"]
        fh.create_dataset("fold", data=fold.astype(np.int16), **opts).attrs["names"] = ["fold"]


def read_prepared(path: str | Path) -> tuple[InferenceData, np.ndarray]:
    """Read a file written by :func:`write_prepared`; return the data and the fold ids."""
    with h5py.File(path, "r") as fh:
        units = fh["targets"].attrs.get("units")
        data = InferenceData(
            features=fh["features"][()],
            targets=fh["targets"][()],
            sample_id=fh["sample_id"][()],
            feature_names=tuple(str(n) for n in fh["features"].attrs["names"]),
            target_names=tuple(str(n) for n in fh["targets"].attrs["names"]),
            n_total=int(fh.attrs["n_total"]),
            target_units=None if units is None else tuple(str(u) for u in units),
        )
        fold = fh["fold"][()].astype(np.int64)
    return data, fold
