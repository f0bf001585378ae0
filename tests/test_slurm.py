"""The users' SLURM profile (profiles/slurm) on a real single-node SLURM cluster.

The cluster comes from tests/cluster/slurm.sh through the session fixture ``slurm_cluster``
(tests/cluster/fixtures.py); without root or apt-get these tests skip and say why. The cluster
has no slurmdbd, so Snakemake runs with ``--slurm-status-command squeue``, on the command line
only: the profile leaves it out on purpose. Job arrays are off in the profile until the plugin
fixes its issue #447 (see the profile), so these runs turn them on for simulate on the command
line: they test the array machinery that the profile's opt-in line enables.
"""

from __future__ import annotations

import getpass
import math
import re
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from cluster.fixtures import (
    REPO,
    USER_PROFILE,
    SlurmCluster,
    parse_submissions,
    run_snakemake,
    write_test_profile,
)
from helpers import copy_repo, write_exp_kernels

#: Options every SLURM run of these tests adds to the profile: sacct knows no jobs without
#: slurmdbd; simulate as job arrays (the profile's opt-in); a first status check after 2 s
#: instead of 40 s; keep the logs of successful jobs so that the tests can look at them.
SLURM_CLI = [
    "--slurm-status-command", "squeue",
    "--slurm-array-jobs", "simulate",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
]  # fmt: skip

N_SHARDS = 4

#: A Snakefile with {n_shards} simulate jobs (str.format); array task 1 first sleeps {first_task_sleep_s} s.
THROWAWAY_SNAKEFILE = """
SHARDS = [f"{{i:02d}}" for i in range({n_shards})]

rule all:
    input:
        expand("results/shards/shard-{{shard}}.txt", shard=SHARDS),

rule simulate:
    output:
        "results/shards/shard-{{shard}}.txt",
    log:
        "logs/simulate/shard-{{shard}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 100 * attempt,
    shell:
        "if [ $SLURM_ARRAY_TASK_ID = 1 ]; then sleep {first_task_sleep_s}; fi; "
        "echo $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID > {{output}} 2> {{log}}"
"""

#: Root attributes that may differ between two runs of the same config (provenance of the run,
#: not of the data). The dataset carries none today; the pattern keeps the test honest if one
#: is added.
VOLATILE_ATTRS = re.compile(r"time|date|created|host|node|user|duration|elapsed|slurm", re.I)


# ---------------------------------------------------------------------------------------------
# The profile itself (no cluster needed)


def _profile() -> dict:
    return yaml.safe_load(USER_PROFILE.read_text())


def test_profile_keys_all_commented():
    """Every key of profiles/slurm/config.yaml has a comment line right above it."""
    lines = USER_PROFILE.read_text().splitlines()
    missing = []
    for i, line in enumerate(lines):
        if re.match(r"^\s*[\w-]+:", line):
            above = lines[i - 1].strip() if i else ""
            if not above.startswith("#"):
                missing.append(line.strip())
    assert not missing, f"keys without a comment above them: {missing}"


def test_profile_is_for_the_slurm_executor():
    profile = _profile()
    assert profile["executor"] == "slurm"
    # Arrays: off until plugin issue #447 is fixed, with the opt-in line ready.
    assert "simulate" in re.split(r"[,;\s]+", profile.get("slurm-array-jobs") or "simulate")
    assert re.search(r"^# slurm-array-jobs: simulate$", USER_PROFILE.read_text(), re.M)
    assert int(profile["slurm-array-limit"]) >= 2
    assert int(profile["retries"]) >= 1
    # squeue is for a cluster without slurmdbd; it belongs on the command line, not here.
    assert not any("status-command" in key for key in profile)
    resources = [profile["default-resources"], *profile.get("set-resources", {}).values()]
    for res in resources:
        assert not ("mem_mb" in res and "mem_mb_per_cpu" in res), res
    defaults = profile["default-resources"]
    for key in ("runtime", "mem_mb", "cpus_per_task"):
        assert key in defaults, key
    # partition and account stay unset (SLURM's defaults apply), with the lines to set them shown
    for key in ("slurm_partition", "slurm_account"):
        assert key not in defaults, key
        assert re.search(rf"^  # {key}: ", USER_PROFILE.read_text(), re.M), key


def test_profile_lets_all_paper_shards_out_in_one_batch():
    """jobs and max-jobs-per-timespan cover every simulate shard of config/paper.yaml.

    Plugin 2.6-2.8 drops array-selected jobs that reach it in a batch smaller than the rule's
    remaining ready jobs, and the run then waits forever (plugin issue #473).
    """
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    n_shards = math.ceil(paper["campaign"]["n_samples"] / paper["campaign"]["shard_size"])
    profile = _profile()
    assert int(profile["jobs"]) >= n_shards
    per_timespan = int(str(profile["max-jobs-per-timespan"]).split("/")[0])
    assert per_timespan >= n_shards
    assert n_shards <= int(profile["slurm-array-limit"]), "one array per campaign at most"


# ---------------------------------------------------------------------------------------------
# On the cluster


def _assert_one_array(cluster: SlurmCluster, log: str, n_jobs: int, workdir: Path) -> str:
    """The simulate jobs went out as exactly one array of ``n_jobs`` tasks that all succeeded.

    Checked three ways: the executor's own submission messages, the array-style SLURM log
    files (``%A_%a``), and the controller's record of every task. Returns the array job id.
    """
    subs = parse_submissions(log)
    simulate_arrays = [a for a in subs.arrays if len(a[1]) == n_jobs]
    assert len(subs.arrays) == 1 and simulate_arrays, f"expected one array sbatch call: {subs}"
    assert not subs.singles_of_rule("simulate"), f"simulate jobs submitted singly: {subs}"
    jobid, _, n_tasks = simulate_arrays[0]
    assert n_tasks == n_jobs

    logs = sorted((workdir / ".snakemake" / "slurm_logs" / "rule_simulate").glob(f"{jobid}_*.log"))
    assert [p.name for p in logs] == sorted(f"{jobid}_{i}.log" for i in range(1, n_jobs + 1))

    tasks = [r for r in cluster.scontrol_job(jobid) if r.get("ArrayJobId") == jobid]
    assert sorted(int(r["ArrayTaskId"]) for r in tasks) == list(range(1, n_jobs + 1))
    for r in tasks:
        assert r["JobState"] == "COMPLETED" and r["ExitCode"] == "0:0", r
        assert r["Partition"] == cluster.partition, r
    return jobid


@pytest.mark.slurm
def test_simulate_jobs_go_out_as_one_array(slurm_cluster: SlurmCluster, tmp_path: Path):
    """A throwaway Snakefile: 4 simulate shards become one 4-task array, all of them succeed."""
    (tmp_path / "Snakefile").write_text(THROWAWAY_SNAKEFILE.format(n_shards=N_SHARDS, first_task_sleep_s=0))
    profile = write_test_profile(tmp_path / "profile", slurm_cluster)

    code, log = run_snakemake(["--profile", str(profile), *SLURM_CLI], cwd=tmp_path, timeout=600)
    assert code == 0, log[-4000:]
    assert "Trying to restart job" not in log, log[-4000:]
    jobid = _assert_one_array(slurm_cluster, log, N_SHARDS, tmp_path)

    # Each shard ran in its own task of that array.
    seen = []
    for i in range(N_SHARDS):
        array_id, task_id = (tmp_path / f"results/shards/shard-{i:02d}.txt").read_text().split()
        assert array_id == jobid
        seen.append(int(task_id))
    assert sorted(seen) == list(range(1, N_SHARDS + 1))


@pytest.mark.slurm
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="plugin issue #447 (2.6.1-2.8.0, job step 0.6.1): every array task waits for the first "
    "task's outputs. When this passes, turn slurm-array-jobs on in profiles/slurm/config.yaml and "
    "drop this marker.",
)
def test_array_task_waits_for_first_task_output(slurm_cluster: SlurmCluster, tmp_path: Path):
    """Array tasks that end before the first task (by more than latency-wait) must still succeed."""
    (tmp_path / "Snakefile").write_text(THROWAWAY_SNAKEFILE.format(n_shards=3, first_task_sleep_s=30))
    profile = write_test_profile(tmp_path / "profile", slurm_cluster)
    code, log = run_snakemake(
        ["--profile", str(profile), *SLURM_CLI, "--latency-wait", "5", "--retries", "0"],
        cwd=tmp_path,
        timeout=600,
    )
    if len(parse_submissions(log).arrays) != 1:  # not the failure expected here: an error
        raise RuntimeError(f"simulate did not go out as one array:\n{log[-4000:]}")
    assert code == 0, log[-4000:]
    _assert_one_array(slurm_cluster, log, 3, tmp_path)


def _datasets(path: Path) -> dict[str, tuple[np.ndarray, dict]]:
    out = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj[()], dict(obj.attrs))

        f.visititems(visit)
        out["/"] = (np.empty(0), {k: v for k, v in f.attrs.items() if not VOLATILE_ATTRS.search(k)})
    return out


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind == "O":
            return bool(np.array_equal(a, b))
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")) and a.tobytes() == b.tobytes()
    return a == b


def _make_copy(dst: Path) -> Path:
    dst.mkdir(parents=True)
    copy_repo(dst)
    # The same pre-written kernels in both copies: the test is about simulate, not NEURON.
    (dst / "results").mkdir(exist_ok=True)
    write_exp_kernels(dst / "results" / "kernels.h5", tau_ms=50.0)
    return dst


TINY = "tests/config/tiny.yaml"


@pytest.mark.slurm
@pytest.mark.slow
@pytest.mark.skipif(
    not (REPO / "rules" / "simulate.smk").exists() or not (REPO / TINY).exists(),
    reason="needs the real workflow: rules/simulate.smk and tests/config/tiny.yaml",
)
def test_tiny_campaign_on_slurm_matches_local_run(slurm_cluster: SlurmCluster, tmp_path: Path):
    """The tiny config through the real Snakefile with the users' profile on SLURM.

    The simulate shards go out as one array, every job succeeds, and results/dataset.h5 is
    bit-identical to a local run of the same config in another copy of the repository.
    """
    campaign = yaml.safe_load((REPO / TINY).read_text())["campaign"]
    n_shards = math.ceil(campaign["n_samples"] / campaign["shard_size"])
    target = "results/dataset.h5"
    on_slurm = _make_copy(tmp_path / "slurm")
    local = _make_copy(tmp_path / "local")
    profile = write_test_profile(tmp_path / "profile", slurm_cluster)

    code, log = run_snakemake(
        [target, "--profile", str(profile), *SLURM_CLI, "--configfile", TINY],
        cwd=on_slurm, timeout=1500,
    )  # fmt: skip
    assert code == 0, log[-6000:]
    assert "Nothing to be done" not in log
    _assert_one_array(slurm_cluster, log, n_shards, on_slurm)
    assert "Error in rule" not in log and "Trying to restart job" not in log, log[-6000:]

    code, local_log = run_snakemake([target, "--cores", "2", "--configfile", TINY], cwd=local, timeout=1500)
    assert code == 0, local_log[-4000:]

    got, want = _datasets(on_slurm / target), _datasets(local / target)
    assert sorted(got) == sorted(want)
    for name, (data, attrs) in want.items():
        assert _same(got[name][0], data), f"dataset {name} differs between SLURM and local runs"
        assert sorted(got[name][1]) == sorted(attrs), f"attributes of {name} differ"
        for key, value in attrs.items():
            assert _same(got[name][1][key], value), f"attribute {name}:{key} differs"


@pytest.fixture(autouse=True)
def _no_jobs_left_behind(request):
    """After a test on the cluster, cancel whatever it left queued or running (a failed run)."""
    yield
    if "slurm_cluster" in request.fixturenames:
        subprocess.run(["scancel", f"--user={getpass.getuser()}"], capture_output=True, timeout=60)
