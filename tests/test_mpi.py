"""The mpi4py task farm: one shard over 2 ranks under the mpich wheel's mpiexec.

The reference is the serial shard made by Snakemake (``simulation.mpi_ranks: 1``). The
task-farm shard must be the same file, byte for byte: every dataset bit-identical and the same
root attributes (a shard stores no timings, and ``mpi_ranks`` is not part of its config hash).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workdir import TINY, h5_differences, job_counts, make_workdir, snakemake

from workflow.config import load_config, simulation_config

pytestmark = [pytest.mark.mpi, pytest.mark.slow]  # the reference shard comes from a Snakemake run

MPIEXEC = Path(sys.executable).parent / "mpiexec"
SHARD = "results/shards/shard-00000.h5"
N_SHARD = 8  # tiny.yaml: shard_size 8


def shard_cli(work: Path, out: Path, first: int = 0, stop: int = N_SHARD) -> list[str]:
    """``python -m workflow shard`` with the arguments the simulate rule passes (rules/common.smk)."""
    cfg = simulation_config(load_config([work / "config/config.yaml", work / TINY]))
    cfg["campaign"].pop("n_samples")
    return ["-m", "workflow", "shard", "--shard", "0", "--first", str(first), "--stop", str(stop),
            "--kernels", "results/kernels.h5", "--out", str(out),
            "--config-json", json.dumps(cfg, sort_keys=True)]  # fmt: skip


def farm_split(log: str) -> dict[int, list[int]]:
    """Which rank ran which sample, from the task farm's log lines."""
    split: dict[int, list[int]] = {}
    for rank, sid in re.findall(r"rank (\d+)/\d+ workflow\.simulation\.taskfarm: sample (\d+):", log):
        split.setdefault(int(rank), []).append(int(sid))
    return split


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """A working copy with the serial shard 0 made by Snakemake, kept aside as ``reference.h5``."""
    if not MPIEXEC.exists():
        pytest.skip(f"no mpiexec next to {sys.executable} (the mpich wheel)")
    work = make_workdir(
        tmp_path_factory.mktemp("mpi"), extra_config={"mpi2.yaml": "simulation:\n  mpi_ranks: 2\n"}
    )
    res = snakemake(work, SHARD)
    assert res.returncode == 0, res.stderr[-3000:]
    shutil.copy2(work / SHARD, work / "reference.h5")
    return work


def test_mpiexec_two_ranks_identical_to_serial(serial):
    out = serial / "farm.h5"
    res = subprocess.run(
        [str(MPIEXEC), "-n", "2", sys.executable, *shard_cli(serial, out), "--mpi", "--ranks", "2"],
        cwd=serial, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    split = farm_split(res.stderr)
    assert split == {0: [0, 2, 4, 6], 1: [1, 3, 5, 7]}, split  # disjoint, complete
    assert h5_differences(serial / "reference.h5", out) == []
    assert out.read_bytes() == (serial / "reference.h5").read_bytes()
    assert not list(serial.glob(".farm.h5.*")), "temporary files left behind"


def test_snakemake_mpi_ranks_2_identical_to_serial(serial):
    (serial / SHARD).unlink()
    res = snakemake(serial, SHARD, "--printshellcmds", configfiles=(TINY, "mpi2.yaml"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert job_counts(res.stdout + res.stderr) == {"simulate": 1}
    # the default `mpi` resource is the mpiexec next to Snakemake's Python, found without PATH
    assert f"{MPIEXEC} -n 2 " in res.stdout + res.stderr
    log = (serial / "logs/simulate/shard-00000.log").read_text()
    assert farm_split(log) == {0: [0, 2, 4, 6], 1: [1, 3, 5, 7]}
    assert h5_differences(serial / "reference.h5", serial / SHARD) == []
    assert (serial / SHARD).read_bytes() == (serial / "reference.h5").read_bytes()


FAILING = """
import sys
import workflow.simulation.taskfarm as taskfarm

run_sample = taskfarm.run_sample

def failing(sample_id, theta_row, ctx):
    if sample_id == 3:  # rank 1's second sample
        raise MemoryError("injected failure in sample 3")
    return run_sample(sample_id, theta_row, ctx)

taskfarm.run_sample = failing
from workflow.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_failure_on_one_rank_aborts_all_without_output(serial):
    """Rank 1 raises while rank 0 would wait in the gather: the farm must abort, not hang."""
    script = serial / "failing.py"
    script.write_text(FAILING)
    out = serial / "results/shards/failed.h5"
    args = shard_cli(serial, out, stop=6)[2:]  # without "-m workflow": the wrapper calls its main()
    res = subprocess.run(
        [str(MPIEXEC), "-n", "2", sys.executable, str(script), *args, "--mpi", "--ranks", "2"],
        cwd=serial, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode != 0
    assert "rank 1 of 2 failed, aborting the task farm" in res.stderr
    assert "injected failure in sample 3" in res.stderr
    assert not out.exists()
    assert not list(out.parent.glob(".failed.h5*")), "temporary files left behind"


def test_wrong_number_of_ranks_is_refused(serial):
    """A launcher of another MPI (here: none) gives singletons; each would run the whole shard."""
    out = serial / "results/shards/wrong.h5"
    res = subprocess.run(
        [sys.executable, *shard_cli(serial, out), "--mpi", "--ranks", "2"],
        cwd=serial, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 1
    assert "expected 2 MPI ranks but MPI.COMM_WORLD has 1" in res.stderr
    assert "workflow.simulation.taskfarm: sample" not in res.stderr  # refused before simulating
    assert not out.exists()
