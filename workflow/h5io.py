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
import re
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
def atomic_h5(path: str | os.PathLike, reserve_bytes: int = 0) -> Iterator[h5py.File]:
    """Open a temporary HDF5 file next to ``path``; move it into place only on success.

    An existing file at ``path`` is left untouched if anything fails. Disk-full and
    permission errors are re-raised as :class:`OutputError` naming the file.

    ``reserve_bytes``: disk space to allocate for the file before HDF5 writes to it (an upper
    bound of its size; the file is cut to its real size on closing). A full disk then fails
    cleanly here, in Python, and not inside HDF5, whose library state a failed write can
    corrupt (HDF5 2.0 then crashes the process when it exits).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{_HOST}-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(path)
        if reserve_bytes > 0:
            with h5py.File(tmp, "w", track_order=False):
                pass  # an empty file, then space for the rest (HDF5's "w" would drop it)
            _reserve(tmp, reserve_bytes)
            mode = "r+"
        else:
            mode = "w"
        with h5py.File(tmp, mode, track_order=False) as f:
            yield f
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise _output_error(path, exc) from exc
    except RuntimeError as exc:
        # HDF5 reports a failed write while flushing metadata as RuntimeError ("... errno = 28 ...")
        _unlink_quietly(tmp)
        if _errno(exc) is None:
            raise
        raise _output_error(path, exc) from exc
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _reserve(path: Path, nbytes: int) -> None:
    """Allocate ``nbytes`` of disk for ``path`` (ENOSPC raises ``OSError``); skipped where unsupported."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def _errno(exc: BaseException) -> int | None:
    """The errno of an OS error, also when HDF5 only names it in the message."""
    code = getattr(exc, "errno", None)
    if code is None:
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    return code


def _output_error(path: Path, exc: BaseException) -> OutputError:
    """An :class:`OutputError` that says in plain words why ``path`` could not be written."""
    code = _errno(exc)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"{path}: no space left on the device; nothing was replaced")
    if code in (errno.EACCES, errno.EPERM):
        return OutputError(f"{path}: permission denied writing in {path.parent}; nothing was replaced")
    if code == errno.EROFS:
        return OutputError(f"{path}: {path.parent} is on a read-only file system; nothing was replaced")
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
