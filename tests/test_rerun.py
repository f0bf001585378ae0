"""Rerunning single rules (README, "Rerunning single rules") on the tiny campaign, and provenance.

The commands are the README's. A rerun shard must come back byte-identical, and since
Snakemake compares the checksums of small inputs (``--max-checksum-file-size``, 1 MB by
default) it then leaves the dataset and everything after it alone.
"""

from __future__ import annotations

import json
import re
import subprocess

import h5py
import pytest
from workdir import h5_differences, job_counts, make_workdir, snakemake

pytestmark = pytest.mark.slow

DATASET = "results/dataset.h5"
PROVENANCE_KEYS = ("schema_version", "config_hash", "config_json", "package_versions", "git_commit")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """The tiny campaign up to the dataset, in a working copy that is its own git repository."""
    work = make_workdir(tmp_path_factory.mktemp("rerun"), kernels=False)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    subprocess.run([*git, "add", "-A"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=work, check=True)
    res = snakemake(work, DATASET)
    assert res.returncode == 0, res.stderr[-3000:]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True
    ).stdout.strip()
    return work, head


def mtimes(work, pattern="results/**/*.h5"):
    return {p.relative_to(work): p.stat().st_mtime_ns for p in work.glob(pattern)}


def check_provenance(path, head):
    with h5py.File(path, "r") as f:
        missing = [k for k in PROVENANCE_KEYS if k not in f.attrs]
        assert not missing, f"{path.name} lacks provenance attributes {missing}"
        assert re.fullmatch(r"[0-9a-f]{64}", str(f.attrs["config_hash"]))
        assert json.loads(f.attrs["config_json"])  # the config itself, not only its hash
        assert json.loads(f.attrs["package_versions"])["numpy"] != "absent"
        # the code that made the file: the working copy's commit (not dirty: results/ is ignored)
        assert f.attrs["git_commit"] == head, (path.name, f.attrs["git_commit"])


@pytest.mark.parametrize("name", ["draws.h5", "dataset.h5", "shards/shard-00000.h5", "shards/shard-00002.h5"])
def test_every_output_records_code_and_config(campaign, name):
    work, head = campaign
    check_provenance(work / "results" / name, head)


def test_kernels_record_code_and_config(campaign):
    work, head = campaign
    check_provenance(work / "results" / "kernels.h5", head)


def test_force_one_shard_reruns_only_that_job(campaign, tmp_path):
    work, _ = campaign
    shard = work / "results/shards/shard-00001.h5"
    before = tmp_path / "before.h5"
    before.write_bytes(shard.read_bytes())
    others = {k: v for k, v in mtimes(work).items() if k.name != shard.name}

    res = snakemake(work, "--force", "results/shards/shard-00001.h5")  # README command
    assert res.returncode == 0, res.stderr[-3000:]
    assert job_counts(res.stdout + res.stderr) == {"simulate": 1}
    assert h5_differences(before, shard) == []
    assert shard.read_bytes() == before.read_bytes()
    assert {k: v for k, v in mtimes(work).items() if k.name != shard.name} == others

    # the same bytes: the dataset is still up to date (input checksum), nothing downstream reruns
    res = snakemake(work, "-n", DATASET)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr, res.stdout[-2000:]


def test_deleted_shard_is_rebuilt_alone(campaign, tmp_path):
    work, _ = campaign
    shard = work / "results/shards/shard-00002.h5"
    before = tmp_path / "before.h5"
    before.write_bytes(shard.read_bytes())
    shard.unlink()

    res = snakemake(work, "results/shards/shard-00002.h5")  # README command
    assert res.returncode == 0, res.stderr[-3000:]
    assert job_counts(res.stdout + res.stderr) == {"simulate": 1}
    assert shard.read_bytes() == before.read_bytes()
    res = snakemake(work, "-n", DATASET)
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr, res.stdout[-2000:]


#: keys of a fold's metrics.json that are timings, not results
TIMING_KEYS = ("epoch_durations_sec", "wall_time_sec", "rows_per_sec_per_epoch")


def without_timings(obj):
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


def test_force_one_fold_retrains_only_that_fold(campaign, tmp_path):
    """`--force results/folds/fold-1/metrics.json` (README) reruns that fold's training alone.

    NPE training on the CPU is deterministic here (seeded, fixed threads): the state dict comes
    back byte-identical and every metric exactly equal, so no tolerance is needed anywhere; only
    the timings in metrics.json differ.
    """
    work, _ = campaign
    snakefile = work / "Snakefile"
    if not (work / "rules/inference.smk").exists():
        pytest.skip("rules/inference.smk is not there yet")
    if "rules/inference.smk" not in snakefile.read_text():  # not yet included upstream: include it here
        snakefile.write_text(snakefile.read_text() + '\n\ninclude: "rules/inference.smk"\n')
    fold = work / "results/folds/fold-1"
    res = snakemake(work, "results/folds/fold-1/metrics.json")
    assert res.returncode == 0, res.stderr[-3000:]
    before = {name: (fold / name).read_bytes() for name in ("model.pt", "model.json", "metrics.json")}

    res = snakemake(work, "--force", "results/folds/fold-1/metrics.json")  # README command
    assert res.returncode == 0, res.stderr[-3000:]
    assert job_counts(res.stdout + res.stderr) == {"inference_train": 1}
    assert (fold / "model.pt").read_bytes() == before["model.pt"]
    for name in ("model.json", "metrics.json"):
        assert without_timings(json.loads((fold / name).read_text())) == without_timings(
            json.loads(before[name])
        ), name
    assert not (work / "results/folds/fold-0").exists()  # the other folds were not touched
