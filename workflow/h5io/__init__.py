"""HDF5 output helpers: atomic writes with clear errors (:mod:`.atomic`) and provenance (:mod:`.provenance`).

The table layout of shards and the dataset is :mod:`workflow.table`, next to the contract.
"""

from workflow.h5io.atomic import OutputError, atomic_h5, check_writable, remove_stale_tmp
from workflow.h5io.provenance import config_hash, git_commit, package_versions, provenance_attrs

__all__ = [
    "OutputError",
    "atomic_h5",
    "check_writable",
    "config_hash",
    "git_commit",
    "package_versions",
    "provenance_attrs",
    "remove_stale_tmp",
]
