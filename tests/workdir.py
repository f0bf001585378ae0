"""Snakemake working copies for the cluster-behaviour tests (MPI, reruns, faults, dry-runs).

Each test runs Snakemake in its own copy of the repository under ``tmp_path``, so the
repository's ``results/`` is never touched. Real files, real processes, no mocks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
from helpers import copy_repo, write_exp_kernels

TINY = "tests/config/tiny.yaml"


def make_workdir(dst: Path, kernels: bool = True, extra_config: dict[str, str] | None = None) -> Path:
    """Copy the repository to ``dst``; optionally pre-write ``results/kernels.h5`` and extra configs.

    The pre-written kernels (simple exponentials, see ``helpers.write_exp_kernels``) save the
    kernels rule's NEURON run when a test is about shards; ``extra_config`` maps file names
    (relative to ``dst``) to YAML text.
    """
    dst.mkdir(parents=True, exist_ok=True)
    copy_repo(dst)
    if kernels:
        (dst / "results").mkdir(exist_ok=True)
        write_exp_kernels(dst / "results" / "kernels.h5", tau_ms=50.0)
    for name, text in (extra_config or {}).items():
        (dst / name).write_text(text)
    return dst


_FINISHED: dict[str, Path] = {}


def finished_tiny_campaign(tmp_path_factory) -> Path:
    """The tiny campaign run to the end (target ``all``, real kernels), built once per session.

    Shared by tests that only read it or dry-run against it (tests/test_workflow.py,
    tests/test_rerun_scope.py): the same run twice cost about 85 s of CI time. A test that
    changes outputs must work on its own copy instead.
    """
    if "tiny" not in _FINISHED:
        work = make_workdir(tmp_path_factory.mktemp("tiny_finished"), kernels=False)
        res = snakemake(work, timeout=1500)
        assert res.returncode == 0, res.stderr[-4000:]
        _FINISHED["tiny"] = work
    return _FINISHED["tiny"]


def snakemake_cmd(*args: str, configfiles: tuple[str, ...] = (TINY,), cores: int = 2) -> list[str]:
    """The command line of ``python -m snakemake`` with the venv's interpreter."""
    cmd = [sys.executable, "-m", "snakemake", *args, "--cores", str(cores)]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    return cmd


def snakemake(workdir: Path, *args: str, configfiles: tuple[str, ...] = (TINY,), timeout: int = 600,
              cores: int = 2) -> subprocess.CompletedProcess:  # fmt: skip
    """Run Snakemake in ``workdir``; targets and options go in ``args`` (before ``--configfile``)."""
    return subprocess.run(
        snakemake_cmd(*args, configfiles=configfiles, cores=cores),
        cwd=workdir, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def job_counts(output: str) -> Counter:
    """Jobs per rule from the first ``Job stats`` table of Snakemake's output."""
    counts: Counter = Counter()
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return counts
    for line in lines[start + 3 :]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m or m.group(1) == "total":
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def h5_differences(
    a: Path, b: Path, skip: tuple[str, ...] = (), skip_attrs: tuple[str, ...] = ()
) -> list[str]:
    """Names of the datasets (bitwise, NaN == NaN) and root attributes that differ between two files."""
    diffs = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        if set(fa) != set(fb):
            diffs.append(f"dataset names {sorted(fa)} vs {sorted(fb)}")
        for key in sorted(set(fa) & set(fb)):
            if key in skip:
                continue
            da, db = fa[key], fb[key]
            if da.dtype != db.dtype or da.shape != db.shape:
                diffs.append(f"{key}: {da.dtype}{da.shape} vs {db.dtype}{db.shape}")
                continue
            va, vb = da[...], db[...]
            if va.dtype.kind in "fc":
                same = va.tobytes() == vb.tobytes()  # bit-identical, NaN payloads included
            else:
                same = np.array_equal(va, vb)
            if not same:
                diffs.append(key)
            if {k: str(v) for k, v in da.attrs.items()} != {k: str(v) for k, v in db.attrs.items()}:
                diffs.append(f"{key}.attrs")
        for key in sorted(set(fa.attrs) | set(fb.attrs)):
            if key not in skip_attrs and str(fa.attrs.get(key)) != str(fb.attrs.get(key)):
                diffs.append(f"attr {key}")
    return diffs
