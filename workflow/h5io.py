"""HDF5 helpers: atomic writes, provenance attributes and the shard/dataset layout.

Every file is written under a temporary name in its destination folder and moved into place
with :func:`os.replace` only when complete, so a killed job never leaves a file that counts as
done (its leftover temporary file is removed by the next writer of the same path). Datasets
are written without timestamps, so the same data give the same bytes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

from workflow.contract import (
    FEATURE_NAMES,
    PARAM_NAMES,
    PARAM_UNITS,
    RATE_NAMES,
    REQUIRED_DATASETS,
    SCHEMA_VERSION,
    Status,
)

#: packages whose versions every output records
PROVENANCE_PACKAGES: tuple[str, ...] = (
    "numpy", "scipy", "h5py", "nest-simulator", "brian2", "neuron", "LFPy", "lfpykernels",
    "pycatch22", "torch", "sbi", "shap", "scikit-learn", "snakemake",
)  # fmt: skip

REPO_ROOT = Path(__file__).resolve().parent.parent

#: this host's name, part of temporary file names (no "-" so the pid stays the last field)
_HOST = socket.gethostname().split(".")[0].replace("-", "_") or "host"


class OutputError(RuntimeError):
    """An output could not be written (disk full, permissions); nothing was replaced."""


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a temporary HDF5 file next to ``path``; move it into place only on success.

    An existing file at ``path`` is left untouched if anything fails. Disk-full and
    permission errors are re-raised as :class:`OutputError` naming the file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{_HOST}-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(path)
        with h5py.File(tmp, "w", track_order=False) as f:
            yield f
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise _output_error(path, exc) from exc
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _output_error(path: Path, exc: OSError) -> OutputError:
    """An :class:`OutputError` that says in plain words why ``path`` could not be written."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"{path}: no space left on the device; nothing was replaced")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{path}: permission denied writing in {path.parent}; nothing was replaced")
    return OutputError(f"{path}: could not be written ({exc}); nothing was replaced")


def check_writable(path: str | os.PathLike) -> None:
    """Create the folder of ``path`` and a probe file in it, or raise :class:`OutputError`.

    Jobs call this before hours of work, so a permission error (or a full disk that does not
    even take an empty file) shows at once. An existing file at ``path`` is not touched.
    """
    path = Path(path)
    probe = path.with_name(f".{path.name}.probe-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise _output_error(path, exc) from exc
    finally:
        _unlink_quietly(probe)


def remove_stale_tmp(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files of ``path`` left by killed writers on this host (their pid is gone).

    A killed job leaves ``.<name>.tmp-<host>-<pid>``; it never counts as done, but it takes
    space. Files of a live process, or written on another host (a shared file system), are kept.
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.tmp-{glob_escape(_HOST)}-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
            continue
        _unlink_quietly(tmp)
        removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def package_versions() -> dict[str, str]:
    """Versions of the packages in :data:`PROVENANCE_PACKAGES` (``"absent"`` if missing)."""
    out = {}
    for name in PROVENANCE_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    out["python"] = sys.version.split()[0]
    return out


def git_commit() -> str:
    """The repository's HEAD commit, suffixed ``-dirty`` with uncommitted changes, or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def config_hash(cfg: Mapping) -> str:
    """SHA-256 of the canonical JSON of a config (or a part of it)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def provenance_attrs(cfg: Mapping, **extra: object) -> dict[str, object]:
    """Root attributes that say which code and config made a file."""
    attrs: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "config_hash": config_hash(cfg),
        "config_json": json.dumps(cfg, sort_keys=True, default=str),
        "package_versions": json.dumps(package_versions(), sort_keys=True),
        "git_commit": git_commit(),
    }
    attrs.update({k: v for k, v in extra.items() if v is not None})
    return attrs


def write_names(dset: h5py.Dataset, names: Sequence[str], units: Sequence[str] | str | None = None) -> None:
    """Attach the ``names`` (and ``units``) attributes of a dataset's columns."""
    dset.attrs["names"] = np.array(list(names), dtype=h5py.string_dtype())
    if units is not None:
        dset.attrs["units"] = units if isinstance(units, str) else np.array(list(units), dtype=h5py.string_dtype())


def read_names(dset: h5py.Dataset) -> list[str]:
    """The ``names`` attribute of a dataset as Python strings."""
    return [n.decode() if isinstance(n, bytes) else str(n) for n in dset.attrs["names"]]


def create_table_datasets(f: h5py.File, n: int, lfp_len: int | None = None) -> dict[str, h5py.Dataset]:
    """Create the contract datasets (see :mod:`workflow.contract`) for ``n`` rows."""
    opts = {"track_times": False}
    d = {
        "params": f.create_dataset("params", (n, len(PARAM_NAMES)), dtype="f8", **opts),
        "features": f.create_dataset("features", (n, len(FEATURE_NAMES)), dtype="f8", **opts),
        "rates": f.create_dataset("rates", (n, len(RATE_NAMES)), dtype="f8", **opts),
        "valid": f.create_dataset("valid", (n,), dtype="?", **opts),
        "status": f.create_dataset("status", (n,), dtype="i1", **opts),
        "sample_id": f.create_dataset("sample_id", (n,), dtype="i8", **opts),
    }
    write_names(d["params"], PARAM_NAMES, PARAM_UNITS)
    write_names(d["features"], FEATURE_NAMES)
    write_names(d["rates"], RATE_NAMES, "Hz")
    write_names(d["status"], [f"{s.value}={s.name}" for s in Status])
    if lfp_len is not None:
        d["lfp"] = f.create_dataset(
            "lfp", (n, lfp_len), dtype="f4", chunks=(1, max(1, lfp_len)), compression="gzip", **opts
        )
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
