"""The tiny campaign end to end through Snakemake (every stage that exists)."""

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from workdir import finished_tiny_campaign

from workflow.contract import FEATURE_NAMES, PARAM_NAMES, Status

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "tests/config/tiny.yaml", *args]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return finished_tiny_campaign(tmp_path_factory)


def test_dataset_contract(tiny_run):
    with h5py.File(tiny_run / "results" / "dataset.h5", "r") as d:
        n = d["sample_id"].shape[0]
        assert n == 24 and list(d["sample_id"][...]) == list(range(24))
        assert d["params"].shape == (n, 7) and d["features"].shape == (n, 22) and d["rates"].shape == (n, 2)
        assert [x.decode() if isinstance(x, bytes) else x for x in d["params"].attrs["names"]] == list(PARAM_NAMES)
        assert [x.decode() if isinstance(x, bytes) else x for x in d["features"].attrs["names"]] == list(FEATURE_NAMES)
        valid = d["valid"][...]
        assert valid.any(), "no valid sample in the tiny campaign"
        assert np.array_equal(valid, d["status"][...] == Status.OK)
        assert np.all(np.isfinite(d["features"][...][valid]))
        assert 0.0 <= d.attrs["invalid_fraction"] < 1.0
        assert "git_commit" in d.attrs and "config_hash" in d.attrs


def test_second_run_has_nothing_to_do(tiny_run):
    res = snakemake(tiny_run, "-n")
    assert res.returncode == 0
    assert "Nothing to be done" in res.stdout + res.stderr


def test_report_marks_a_small_campaign_as_a_smoke_test(tiny_run):
    """The report renders every caption, and a campaign under 1000 samples says it is a smoke test."""
    res = snakemake(tiny_run, "--report", "results/report.html")
    assert res.returncode == 0, res.stderr[-4000:]
    html = (tiny_run / "results" / "report.html").read_text()
    assert "A smoke test, not a result." in html
    assert "make reproduce" in html and "reference/reduced/README.md" in html
