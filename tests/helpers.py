"""Small builders shared by the tests (no fakes: real files in the real layouts)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from workflow.contract import PATHWAYS, pathway_name


def write_exp_kernels(path: Path, dt_ms: float = 0.0625, tau_ms: float = 50.0) -> Path:
    """A kernels.h5 in the layout of workflow.simulation.kernels with simple causal exponential kernels."""
    n_half = int(round(tau_ms / dt_ms))
    t = np.arange(-n_half, n_half + 1) * dt_ms
    amp = {("E", "E"): 1.0, ("E", "I"): 0.4, ("I", "E"): -3.0, ("I", "I"): -0.5}
    with h5py.File(path, "w") as f:
        for pre, post in PATHWAYS:
            k = np.where(t >= 1.0, amp[(pre, post)] * np.exp(-(t - 1.0) / 3.0), 0.0)
            d = f.create_dataset(pathway_name(pre, post), data=k)
            d.attrs["pre"], d.attrs["post"], d.attrs["units"] = pre, post, "nA um"
        f.attrs["dt_ms"] = dt_ms
        f.attrs["tau_ms"] = tau_ms
        f.attrs["probe"] = "current dipole moment z"
        f.attrs["biophysics"] = "synthetic (exponentials)"
    return path


REPO = Path(__file__).resolve().parent.parent


def copy_repo(dst: Path) -> Path:
    """Copy the repository's tracked and untracked-but-not-ignored files to ``dst`` (no results)."""
    import shutil
    import subprocess

    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst
