"""Faults through Snakemake: a killed job, damaged shards, a full disk, a permission error.

Each test works on its own copy of a small finished campaign (tiny.yaml with 2 shards of 3
samples) and checks two things: the message says what went wrong and where, and nothing
already computed is lost or replaced by something partial.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import pytest
from workdir import TINY, job_counts, make_workdir, snakemake, snakemake_cmd

from workflow.h5io import OutputError
from workflow.h5io.atomic import _HOST
from workflow.simulation.aggregate import aggregate

pytestmark = pytest.mark.slow

SMALL = "small.yaml"
CONFIGS = (TINY, SMALL)
DATASET = "results/dataset.h5"
SHARD0, SHARD1 = "results/shards/shard-00000.h5", "results/shards/shard-00001.h5"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A small campaign run to the dataset (pre-written kernels: no NEURON run)."""
    work = make_workdir(
        tmp_path_factory.mktemp("faults") / "work",
        extra_config={SMALL: "campaign:\n  n_samples: 6\n  shard_size: 3\n"},
    )
    res = snakemake(work, DATASET, configfiles=CONFIGS)
    assert res.returncode == 0, res.stderr[-3000:]
    return work


@pytest.fixture
def work(finished, tmp_path):
    """A private copy of the finished campaign (times kept, so Snakemake sees it up to date)."""
    dst = tmp_path / "work"
    shutil.copytree(finished, dst, symlinks=True)
    return dst


def leftovers(folder: Path) -> list[Path]:
    """Temporary or probe files of the atomic writer."""
    return [p for p in folder.iterdir() if ".tmp-" in p.name or ".probe-" in p.name]


def shard_processes(work: Path, out: str) -> list[int]:
    """Pids of `python -m workflow shard` processes writing ``out`` in ``work``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if b"workflow" in argv and b"shard" in argv and out.encode() in argv and Path(cwd) == work:
            pids.append(int(proc.name))
    return pids


def test_killed_simulate_job_counts_as_not_done_and_reruns(work):
    reference = (work / SHARD1).read_bytes()
    (work / SHARD1).unlink()
    log = work / "logs/simulate/shard-00001.log"
    log.unlink()
    proc = subprocess.Popen(
        snakemake_cmd(SHARD1, configfiles=CONFIGS),
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    killed = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and "sample 3:" in log.read_text():  # first of the shard's 3 samples done
            pids = shard_processes(work, SHARD1)
            if pids:
                killed = pids[0]
                os.kill(killed, signal.SIGKILL)
                break
        time.sleep(0.05)
    out, _ = proc.communicate(timeout=120)
    assert killed is not None, "the simulate job was not caught mid-shard:\n" + out[-3000:]
    assert proc.returncode != 0
    assert "sample 5:" not in log.read_text()  # really killed part-way
    assert not (work / SHARD1).exists(), "a killed job left a file that counts as done"
    # what a kill during the final write leaves: a temporary file of the dead writer
    stale = work / f"results/shards/.shard-00001.h5.tmp-{_HOST}-{killed}"
    stale.write_bytes(b"\x89HDF\r\n\x1a\n partial")

    res = snakemake(work, "-n", SHARD1, configfiles=CONFIGS)
    assert job_counts(res.stdout + res.stderr) == {"simulate": 1}  # not done

    res = snakemake(work, SHARD1, configfiles=CONFIGS)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (work / SHARD1).read_bytes() == reference
    assert leftovers(work / "results/shards") == [], "stale temporary file not cleaned up"
    res = snakemake(work, "-n", DATASET, configfiles=CONFIGS)  # same bytes: the dataset stays valid
    assert "Nothing to be done" in res.stdout + res.stderr


def test_truncated_shard_stops_aggregation_naming_it(work):
    good = (work / SHARD1).read_bytes()
    (work / SHARD1).write_bytes(good[:2000])
    res = snakemake(work, DATASET, configfiles=CONFIGS)
    assert res.returncode != 0
    assert "shard results/shards/shard-00001.h5 is corrupt or truncated" in res.stdout + res.stderr
    assert not (work / DATASET).exists()  # Snakemake removes the output of the failed job
    # the remedy the message gives: delete the shard and rerun; it comes back the same
    (work / SHARD1).unlink()
    res = snakemake(work, DATASET, configfiles=CONFIGS)
    assert res.returncode == 0, res.stderr[-3000:]
    assert job_counts(res.stdout + res.stderr) == {"simulate": 1, "aggregate": 1}
    assert (work / SHARD1).read_bytes() == good


def test_corrupt_shard_data_is_detected_naming_it(work):
    """A flipped byte inside a dataset (not only a cut file) fails the shard's checksum."""
    path = work / SHARD0
    with h5py.File(path, "r") as f:
        assert f["features"].fletcher32
        offset = f["features"].id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 8] ^= 0xFF
    path.write_bytes(bytes(data))
    res = snakemake(work, DATASET, configfiles=CONFIGS)
    assert res.returncode != 0
    assert "shard results/shards/shard-00000.h5 is corrupt or truncated" in res.stdout + res.stderr
    assert not list((work / "results").glob(".dataset.h5.tmp-*"))


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """Mount a 512 kB tmpfs (root only); unmounted afterwards."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill a disk (needs root): {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` up to ``leave`` free bytes."""
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(folder / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


def test_disk_full_during_simulate_job_keeps_finished_shards(work, tiny_tmpfs):
    """results/shards on a full disk: the job fails with a clear message; shard 0 is untouched."""
    shards = work / "results/shards"
    keep = shards.rename(work / "shards-before")
    shards.symlink_to(tiny_tmpfs)
    shutil.copy2(keep / "shard-00000.h5", shards / "shard-00000.h5")
    before = (shards / "shard-00000.h5").read_bytes()
    fill(tiny_tmpfs, leave=8192)  # room for the writability probe, not for a shard

    res = snakemake(work, SHARD1, configfiles=CONFIGS)
    assert res.returncode != 0
    log = (work / "logs/simulate/shard-00001.log").read_text()
    assert "results/shards/shard-00001.h5: no space left on the device; nothing was replaced" in log
    assert "Traceback" not in log  # one clear line, not a stack trace
    assert (shards / "shard-00000.h5").read_bytes() == before
    assert not (shards / "shard-00001.h5").exists()
    assert leftovers(tiny_tmpfs) == []
    assert (work / DATASET).exists(), "the dataset made before was lost"


def test_disk_full_during_aggregation_keeps_the_old_dataset(finished, tiny_tmpfs):
    out = tiny_tmpfs / "dataset.h5"
    shutil.copy2(finished / DATASET, out)
    before = out.read_bytes()
    fill(tiny_tmpfs, leave=4096)
    with pytest.raises(OutputError, match=r"dataset\.h5: no space left on the device; nothing was replaced"):
        aggregate([finished / SHARD0, finished / SHARD1], out)
    assert out.read_bytes() == before
    assert leftovers(tiny_tmpfs) == []


def test_permission_error_is_clear_and_early(finished):
    """A shard job run as an unprivileged user into a folder it may not write."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    public = Path(tempfile.mkdtemp(prefix="perm-", dir="/tmp"))  # tmp_path is private to root
    try:
        public.chmod(0o755)
        shards = public / "shards"
        shards.mkdir()
        shutil.copy2(finished / SHARD0, shards / "shard-00000.h5")
        shutil.copy2(finished / "results/kernels.h5", public / "kernels.h5")
        for p in (shards, shards / "shard-00000.h5", public / "kernels.h5"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        before = (shards / "shard-00000.h5").read_bytes()
        with h5py.File(finished / SHARD0, "r") as f:
            config_json = f.attrs["config_json"]
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               sys.executable, "-m", "workflow", "shard", "--shard", "1", "--first", "3", "--stop", "6",
               "--kernels", str(public / "kernels.h5"), "--out", str(shards / "shard-00001.h5"),
               "--config-json", config_json]  # fmt: skip
        env = {**os.environ, "HOME": str(public), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        res = subprocess.run(cmd, cwd=public, env=env, capture_output=True, text=True, timeout=120)
        if (
            "Permission denied" in res.stderr
            and "python" in res.stderr.lower()
            and "error:" not in res.stderr
        ):
            pytest.skip(f"the unprivileged user cannot run this Python: {res.stderr[-500:]}")
        assert res.returncode == 1, res.stderr[-3000:]
        assert f"error: {shards / 'shard-00001.h5'}: permission denied writing in {shards}" in res.stderr
        assert "workflow.simulation.taskfarm: sample" not in res.stderr  # refused before any simulation
        assert (shards / "shard-00000.h5").read_bytes() == before
        assert sorted(p.name for p in shards.iterdir()) == ["shard-00000.h5"]
    finally:
        shutil.rmtree(public, ignore_errors=True)
