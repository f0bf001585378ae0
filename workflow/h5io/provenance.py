"""Provenance of every output: root attributes naming the code (git commit, package versions)
and the config (its hash and JSON) that made a file.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from workflow.contract import (
    SCHEMA_VERSION,
)

#: packages whose versions every output records
PROVENANCE_PACKAGES: tuple[str, ...] = (
    "numpy", "scipy", "h5py", "nest-simulator", "brian2", "neuron", "LFPy", "lfpykernels",
    "pycatch22", "torch", "sbi", "shap", "scikit-learn", "snakemake",
)  # fmt: skip

REPO_ROOT = Path(__file__).resolve().parents[2]


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
