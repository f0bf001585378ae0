"""The observations stage (config ``observations``, rules/observations.smk): every entry is checked
when the workflow is parsed (fast, and through a dry-run naming the entry), a dry-run plans the
predictive-check simulations as jobs, and the stage runs on the simulated tiny campaign (slow)."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from infer_campaign import CONFIGFILES, simulated_campaign
from workdir import job_counts, make_workdir, snakemake

from workflow.config import ConfigError, load_config
from workflow.contract import TARGET_NAMES
from workflow.infer.observations import ObservationError, observation_entries
from workflow.infer.posterior import SUMMARY_COLUMNS
from workflow.infer.ppc import VERDICT_COLUMNS

N = 800  # points of a tiny-config trace at its 1600 Hz


def _config(tmp_path, entries, **extra):
    return load_config([tmp_path / "tiny.yaml"], {"observations": entries, **extra})


@pytest.fixture
def traces(tmp_path):
    from helpers import REPO
    from infer_campaign import TINY

    shutil.copy(REPO / TINY, tmp_path / "tiny.yaml")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "rec.npy", rng.normal(size=2 * N))
    np.save(tmp_path / "short.npy", rng.normal(size=N // 2))
    np.save(tmp_path / "nan.npy", np.r_[rng.normal(size=N), np.nan])
    with h5py.File(tmp_path / "rec.h5", "w") as f:
        f.create_dataset("lfp", data=rng.normal(size=N)).attrs["fs_hz"] = 1600.0
    return tmp_path


def test_entries_get_their_names_and_the_schemas_defaults(traces):
    cfg = _config(traces, [{"path": "rec.npy", "fs_hz": 1600}, {"path": "rec.h5", "name": "other", "ppc": 2}])
    entries = observation_entries(cfg, traces)
    assert list(entries) == ["rec", "other"]
    assert entries["rec"] == {"path": "rec.npy", "fs_hz": 1600, "name": "rec", "dataset": None, "draws": 1000, "ppc": 0}
    assert entries["other"]["fs_hz"] is None and entries["other"]["ppc"] == 2
    assert observation_entries(load_config([traces / "tiny.yaml"]), traces) == {}


@pytest.mark.parametrize(
    "entries, extra, message",
    [
        (
            [{"path": "absent.npy", "fs_hz": 1600}],
            {},
            "config key 'observations[0]' (absent): {dir}/absent.npy: no such",
        ),
        (
            [{"path": "short.npy", "fs_hz": 1600}],
            {},
            "(short): {dir}/short.npy: the trace is shorter than the campaign's",
        ),
        ([{"path": "nan.npy", "fs_hz": 1600}], {}, "(nan): {dir}/nan.npy: the trace has 1 NaN"),
        ([{"path": "rec.npy"}], {}, "(rec): {dir}/rec.npy: no sampling rate"),
        (
            [{"path": "rec.npy", "fs_hz": 1600}, {"path": "rec.h5"}],
            {},
            "observations[1]' (rec): the name 'rec' is taken",
        ),
        ([{"path": "rec.npy", "fs_hz": 1600, "ppc": 20, "draws": 10}], {}, "ppc (20) must not exceed draws (10)"),
        ([{"path": "rec.npy", "fs_hz": 1600, "ppc": 2}], {"dataset": "bank.h5"}, "ppc needs the campaign's simulator"),
    ],
)
def test_bad_entries_are_named(traces, entries, extra, message):
    cfg = _config(traces, entries, **extra)
    with pytest.raises(ObservationError) as err:
        observation_entries(cfg, traces)
    assert message.replace("{dir}", str(traces)) in str(err.value)


def test_the_schema_names_an_unknown_or_bad_key():
    with pytest.raises(ConfigError, match=r"'observations.0.fs': unknown key"):
        load_config([], {"observations": [{"path": "a.npy", "fs": 1}]})
    with pytest.raises(ConfigError, match=r"'observations.0.name'"):
        load_config([], {"observations": [{"path": "a.npy", "name": "a b"}]})
    with pytest.raises(ConfigError, match=r"'observations.0.ppc'"):
        load_config([], {"observations": [{"path": "a.npy", "ppc": -1}]})


@pytest.mark.slow
def test_dry_run_plans_the_ppc_simulations_as_jobs_and_fails_naming_a_bad_entry(tmp_path):
    work = make_workdir(tmp_path / "work", extra_config={
        "obs.yaml": "observations:\n  - {path: rec.npy, fs_hz: 1600, ppc: 3}\n  - {path: rec.h5, name: other}\n",
        "bad.yaml": "observations:\n  - {path: rec.npy, fs_hz: 1600}\n  - {path: short.npy, fs_hz: 1600}\n",
    })  # fmt: skip
    rng = np.random.default_rng(1)
    np.save(work / "rec.npy", rng.normal(size=2 * N))
    np.save(work / "short.npy", rng.normal(size=N // 2))
    with h5py.File(work / "rec.h5", "w") as f:
        f.create_dataset("lfp", data=rng.normal(size=N)).attrs["fs_hz"] = 1600.0
    res = snakemake(work, "-n", configfiles=("tests/config/tiny.yaml", "obs.yaml"))
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout + res.stderr)
    assert counts["observations_infer"] == 2 and counts["observations_ppc_simulate"] == 3, counts
    assert counts["observations_ppc"] == 1, counts
    res = snakemake(work, "-n", configfiles=("tests/config/tiny.yaml", "bad.yaml"))
    assert res.returncode != 0
    message = "config key 'observations[1]' (short): short.npy: the trace is shorter than the campaign's"
    assert message in res.stdout + res.stderr


@pytest.mark.slow
def test_the_stage_runs_on_the_tiny_campaign(tmp_path_factory):
    work = simulated_campaign(tmp_path_factory)
    with h5py.File(work / "results" / "shards" / "shard-00002.h5") as f:
        row = int(np.flatnonzero(f["valid"][()])[1])
        lfp = f["lfp"][row]
    np.save(work / "stage_rec.npy", np.r_[lfp, lfp[::-1]])  # two windows
    (work / "stage.yaml").write_text("observations:\n  - {path: stage_rec.npy, name: rec, fs_hz: 1600, ppc: 2}\n")
    targets = ["results/observations/rec/ppc_rec.png", "results/observations/rec/summary.csv"]
    res = snakemake(work, *targets, configfiles=(*CONFIGFILES, "stage.yaml"), timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    counts = job_counts(res.stdout + res.stderr)
    assert counts == {"observations_infer": 1, "observations_ppc_simulate": 2, "observations_ppc": 1}, counts
    d = work / "results" / "observations" / "rec"
    table = pd.read_csv(d / "summary.csv")
    assert list(table.columns) == list(SUMMARY_COLUMNS) and list(table["target"]) == list(TARGET_NAMES)
    assert (table["n_windows"] == 2).all()
    assert list(pd.read_csv(d / "ppc_rec.csv").columns) == list(VERDICT_COLUMNS)
    for name in ("pairplot_rec.png", "ppc_rec.png", *(f"explain_rec_{t}.png" for t in TARGET_NAMES)):
        assert (d / name).stat().st_size > 10_000, name
    with h5py.File(d / "posterior.h5") as f:
        assert f["posterior"].shape == (1, 1000, 4)
    for j in range(2):
        assert (d / "ppc" / "rec" / f"draw-{j}.h5").is_file()
    assert (work / "logs" / "observations_infer" / "rec.log").is_file()
    assert (work / "results" / "benchmarks" / "observations_ppc_simulate" / "rec" / "draw-1.tsv").is_file()
    res = snakemake(work, "-n", *targets, configfiles=(*CONFIGFILES, "stage.yaml"))
    assert "Nothing to be done" in res.stdout + res.stderr
    # the figures are in the report, with their captions
    res = snakemake(
        work, *targets, "--report", "results/observations/report.html", configfiles=(*CONFIGFILES, "stage.yaml")
    )
    assert res.returncode == 0, res.stderr[-3000:]
    html = (work / "results" / "observations" / "report.html").read_text()
    assert "Observations" in html and "Why the posterior" in html and "ppc_rec.png" in html
