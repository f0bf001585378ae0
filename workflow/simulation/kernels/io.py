"""``kernels.h5``: one float64 dataset per pathway, with the settings and provenance as attributes."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from workflow.contract import PATHWAY_NAMES, PATHWAYS

log = logging.getLogger(__name__)

#: Version of the kernels.h5 layout written by :func:`write_kernels`.
KERNELS_FORMAT_VERSION = "1.0"

#: What the kernels predict, and its units.
PROBE = "current dipole moment z"
UNITS = "nA um"


def n_lags(dt_ms: float, tau_ms: float) -> int:
    """Samples per kernel, ``2 * round(tau / dt) + 1``; tau must be a multiple of dt."""
    if not (math.isfinite(dt_ms) and dt_ms > 0):
        raise ValueError(f"dt_ms must be positive, got {dt_ms!r}")
    if not (math.isfinite(tau_ms) and tau_ms >= dt_ms):
        raise ValueError(f"tau_ms must be at least dt_ms ({dt_ms}), got {tau_ms!r}")
    half = round(tau_ms / dt_ms)
    if abs(tau_ms / dt_ms - half) > 1e-9 * max(1, half):
        raise ValueError(f"tau_ms ({tau_ms}) must be a whole multiple of dt_ms ({dt_ms})")
    return 2 * half + 1


def write_kernels(path: str | os.PathLike, kernels: Mapping[str, np.ndarray], attrs: Mapping[str, Any]) -> None:
    """Write kernels to ``path`` atomically (temporary file in the same folder, then os.replace).

    ``kernels`` must hold exactly :data:`PATHWAY_NAMES`, 1-D, finite, of equal odd length.
    ``attrs`` become root attributes (must include ``dt_ms`` and ``tau_ms``); mappings and
    sequences are stored as JSON strings.
    """
    import h5py

    if set(kernels) != set(PATHWAY_NAMES):
        raise ValueError(f"kernels need exactly the datasets {list(PATHWAY_NAMES)}, got {sorted(kernels)}")
    arrays = {k: np.asarray(kernels[k], dtype=np.float64) for k in PATHWAY_NAMES}
    lengths = {a.shape for a in arrays.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1 or next(iter(lengths))[0] % 2 != 1:
        raise ValueError(f"kernels must be 1-D arrays of one odd length, got shapes {sorted(lengths)}")
    for k, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"kernel {k} holds non-finite values")
    for key in ("dt_ms", "tau_ms"):
        if key not in attrs:
            raise ValueError(f"attrs must include {key!r}")
    expected = n_lags(float(attrs["dt_ms"]), float(attrs["tau_ms"]))
    if next(iter(lengths))[0] != expected:
        raise ValueError(f"kernels have {next(iter(lengths))[0]} samples, dt_ms/tau_ms imply {expected}")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in attrs.items():
                if isinstance(value, Mapping) or (isinstance(value, (list, tuple))):
                    value = json.dumps(value, sort_keys=True)
                f.attrs[key] = value
            for (pre, post), name in zip(PATHWAYS, PATHWAY_NAMES, strict=True):
                d = f.create_dataset(name, data=arrays[name], track_times=False)
                d.attrs["pre"] = pre
                d.attrs["post"] = post
                d.attrs["units"] = UNITS
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def read_kernels(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read kernels.h5: ``({name: float64 array}, root attrs as Python values)``.

    Raises ``ValueError`` naming the file if a pathway is missing or the lengths disagree
    with ``dt_ms``/``tau_ms``.
    """
    import h5py

    with h5py.File(path, "r") as f:
        missing = [k for k in PATHWAY_NAMES if k not in f]
        if missing:
            raise ValueError(f"{path}: missing kernel datasets {missing}")
        kernels = {k: np.asarray(f[k][()], dtype=np.float64) for k in PATHWAY_NAMES}
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
    for key in ("dt_ms", "tau_ms"):
        if key not in attrs:
            raise ValueError(f"{path}: root attribute {key!r} is missing")
    n = n_lags(float(attrs["dt_ms"]), float(attrs["tau_ms"]))
    bad = [k for k, h in kernels.items() if h.shape != (n,)]
    if bad:
        raise ValueError(f"{path}: kernels {bad} do not have {n} samples as dt_ms/tau_ms imply")
    return kernels, attrs
