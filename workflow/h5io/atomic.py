"""Every file is written under a temporary name in its destination folder and moved into place
with :func:`os.replace` only when complete, so a killed job never leaves a file that counts as
done (its leftover temporary file is removed by the next writer of the same path). Datasets
are written without timestamps, so the same data give the same bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import h5py

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
