"""Pytest fixtures and helpers for tests that run Snakemake on a real single-node SLURM cluster.

The cluster is started by ``tests/cluster/slurm.sh`` (see its header). The session fixture
:func:`slurm_cluster` starts it once per test session and stops it afterwards, unless it was
already running before the session (then it is left running) or ``SLURM_TEST_KEEP=1`` is set.
Where the cluster cannot run (not root, no apt-get), the tests are skipped with the reason.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SLURM_SH = Path(__file__).resolve().parent / "slurm.sh"
USER_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"

#: Exit code of slurm.sh meaning "cannot run here" (see its header): the tests skip.
EXIT_CANNOT_RUN = 3
#: Seconds for one ``slurm.sh start`` (a first start on a fresh machine installs the packages).
START_TIMEOUT_S = 900

#: "Submitted array job with Snakemake IDs 3,1 and SLURM job ID 16. The individual task IDs are 1-2."
_ARRAY_RE = re.compile(
    r"Submitted array job with Snakemake IDs (?P<ids>[\d,]+) and SLURM job ID (?P<jobid>\d+)\."
    r" The individual task IDs are (?P<first>\d+)-(?P<last>\d+)\."
)
#: "Job 3 has been submitted with SLURM jobid 30 (log: .../rule_simulate/2/30.log)."
_SINGLE_RE = re.compile(
    r"Job (?P<id>\d+) has been submitted with SLURM jobid (?P<jobid>\d+) \(log: (?P<log>[^)]*)\)"
)


@dataclasses.dataclass(frozen=True)
class SlurmCluster:
    """A running test cluster.

    Attributes:
        partition: Name of its only (default) partition.
        cpus: CPUs of its only node.
        conf: Path of its slurm.conf.
    """

    partition: str
    cpus: int
    conf: Path

    def scontrol_job(self, jobid: str) -> list[dict[str, str]]:
        """Return ``scontrol show job`` records (one per array task) as key/value dicts.

        Finished jobs stay visible for MinJobAge (300 s) after they end.
        """
        out = subprocess.run(
            ["scontrol", "show", "job", "--oneliner", str(jobid)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        records = []
        for line in out.splitlines():
            if not line.strip():
                continue
            fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            records.append(fields)
        return records


@dataclasses.dataclass(frozen=True)
class Submissions:
    """SLURM submissions of one Snakemake run, parsed from its log.

    Attributes:
        arrays: One entry per array sbatch call: (SLURM job id, Snakemake job ids, n tasks).
        singles: One entry per plain sbatch call: (SLURM job id, Snakemake job id, log path).
    """

    arrays: list[tuple[str, list[int], int]]
    singles: list[tuple[str, int, str]]

    def singles_of_rule(self, rule: str) -> list[tuple[str, int, str]]:
        """Plain submissions whose SLURM log lies under ``rule_<rule>/``."""
        return [s for s in self.singles if f"/rule_{rule}/" in s[2]]


def parse_submissions(log_text: str) -> Submissions:
    """Parse the slurm executor's submission messages out of a Snakemake log."""
    arrays = [
        (
            m["jobid"],
            [int(i) for i in m["ids"].split(",")],
            int(m["last"]) - int(m["first"]) + 1,
        )
        for m in _ARRAY_RE.finditer(log_text)
    ]
    singles = [(m["jobid"], int(m["id"]), m["log"]) for m in _SINGLE_RE.finditer(log_text)]
    return Submissions(arrays=arrays, singles=singles)


def _run_script(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SLURM_SH), command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


def _node_cpus() -> int:
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%c"], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    return int(out[0]) if out else os.cpu_count() or 1


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """Start the single-node SLURM test cluster for the session; skip where it cannot run."""
    if shutil.which("bash") is None:
        pytest.skip("SLURM tests need bash to run tests/cluster/slurm.sh")
    was_up = _run_script("status").returncode == 0
    started = _run_script("start")
    sys.stderr.write(started.stderr)
    if started.returncode == EXIT_CANNOT_RUN:
        reason = started.stderr.strip().splitlines()[-1] if started.stderr.strip() else ""
        pytest.skip(f"no SLURM test cluster on this machine: {reason}")
    if started.returncode != 0:
        pytest.fail(
            f"tests/cluster/slurm.sh start failed (exit {started.returncode}):\n{started.stderr}",
            pytrace=False,
        )
    # slurm.sh env prints "export SLURM_CONF=<path>".
    conf = Path(_run_script("env").stdout.strip().split("=", 1)[1])
    cluster = SlurmCluster(
        partition=os.environ.get("SLURM_TEST_PARTITION", "debug"),
        cpus=_node_cpus(),
        conf=conf,
    )
    try:
        yield cluster
    finally:
        if not was_up and os.environ.get("SLURM_TEST_KEEP") != "1":
            stopped = _run_script("stop")
            sys.stderr.write(stopped.stderr)


def _capped(value: int | str, cpus: int) -> str:
    """A resource expression for ``value`` (a number or an expression) capped at ``cpus``."""
    return f"min({value}, {cpus})"


def write_test_profile(dest: Path, cluster: SlurmCluster, mem_mb: int = 1000) -> Path:
    """Write the users' SLURM profile, adapted to the test cluster, to ``dest/config.yaml``.

    Snakemake profiles do not inherit, so this loads ``profiles/slurm/config.yaml`` and changes
    only what the test cluster cannot honour: the partition and account placeholders, threads
    and CPUs per job (capped at the node's CPUs) and memory (``mem_mb * attempt``, so retries
    still scale).
    Everything else (executor, jobs, retries, array settings, runtimes) is the users' profile.

    Args:
        dest: Directory to create the profile in.
        cluster: The running test cluster.
        mem_mb: Memory per job in MB on the first attempt.

    Returns:
        The profile directory, for ``snakemake --profile``.
    """
    profile = yaml.safe_load(USER_PROFILE.read_text())
    test = copy.deepcopy(profile)
    defaults = test["default-resources"]
    defaults["slurm_partition"] = f"'{cluster.partition}'"
    # Any account name is accepted without slurmdbd; it still exercises the plugin's -A path.
    defaults["slurm_account"] = "'snakemake-test'"
    defaults["mem_mb"] = f"{mem_mb} * attempt"
    defaults["cpus_per_task"] = _capped(defaults.get("cpus_per_task", 1), cluster.cpus)
    for rule, threads in (test.get("set-threads") or {}).items():
        test["set-threads"][rule] = min(int(threads), cluster.cpus)
    for resources in (test.get("set-resources") or {}).values():
        if "cpus_per_task" in resources:
            resources["cpus_per_task"] = _capped(resources["cpus_per_task"], cluster.cpus)
        if "mem_mb" in resources:
            resources["mem_mb"] = f"{mem_mb} * attempt"
        for key in ("slurm_partition", "slurm_account"):
            resources.pop(key, None)
    dest.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Generated by tests/cluster/fixtures.py from {USER_PROFILE.relative_to(REPO)} "
        "for the single-node test cluster.\n"
    )
    (dest / "config.yaml").write_text(header + yaml.safe_dump(test, sort_keys=False))
    return dest


def run_snakemake(
    args: list[str], cwd: Path, log_name: str = "snakemake.log", timeout: float = 1800
) -> tuple[int, str]:
    """Run the venv's snakemake in ``cwd`` without stdin; return (exit code, combined output).

    The output is also written to ``cwd/log_name`` for inspection after a failure.
    """
    snakemake = Path(sys.executable).with_name("snakemake")
    cmd = [str(snakemake) if snakemake.exists() else "snakemake", *args]
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    (cwd / log_name).write_text(proc.stdout)
    return proc.returncode, proc.stdout
