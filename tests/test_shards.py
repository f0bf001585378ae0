"""Shards, aggregation and the one-sample command on a tiny network with real NEST."""

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import write_exp_kernels

from workflow.config import load_config, shard_config
from workflow.contract import FEATURE_NAMES, PARAM_NAMES, RATE_NAMES, Status
from workflow.h5io import atomic_h5, config_hash
from workflow.simulation.aggregate import ShardError, aggregate, check_against_draws
from workflow.simulation.draws import write_draws
from workflow.simulation.shards import run_shard
from workflow.table import read_names

REPO = Path(__file__).resolve().parent.parent
TINY = {
    "campaign": {"n_samples": 6, "shard_size": 3, "seed": 3},
    "simulation": {"tstop_ms": 400.0, "transient_ms": 100.0},
    "network": {"scale": 0.02},
    "kernels": {"tau_ms": 50.0},
}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("campaign")
    cfg = load_config(overrides=TINY)
    kernels = write_exp_kernels(tmp / "kernels.h5")
    shards = []
    for s in range(2):
        out = tmp / f"shard-{s:05d}.h5"
        run_shard(cfg, s, kernels, out)
        shards.append(out)
    write_draws(cfg, tmp / "draws.h5")
    return cfg, kernels, shards, tmp


def test_shard_layout_and_provenance(campaign):
    cfg, _, shards, tmp = campaign
    with h5py.File(shards[1], "r") as f:
        assert f["params"].shape == (3, len(PARAM_NAMES)) and read_names(f["params"]) == list(PARAM_NAMES)
        assert f["features"].shape == (3, 22) and read_names(f["features"]) == list(FEATURE_NAMES)
        assert read_names(f["rates"]) == list(RATE_NAMES) and f["rates"].attrs["units"] == "Hz"
        assert list(f["sample_id"][...]) == [3, 4, 5]
        assert np.array_equal(f["valid"][...], f["status"][...] == Status.OK)
        assert f["lfp"].shape[0] == 3 and f["lfp"].shape[1] == 480  # (400-100) ms at 1.6 kHz
        for key in ("config_hash", "package_versions", "git_commit", "seed", "n_vp", "simulator"):
            assert key in f.attrs, key
        assert f.attrs["n_vp"] == 1 and f.attrs["simulator"] == "nest"
        valid = f["valid"][...]
        assert np.all(np.isfinite(f["features"][...][valid]))
    assert not list(tmp.glob(".*.tmp-*")), "temporary files left behind"


def test_hagen_shard_layout_is_unchanged_by_the_model_key(campaign):
    # The model key (issue 12) must leave the Hagen shards' bytes as they were: no targets dataset,
    # no model attributes, and the shard's config (hence config_json and config_hash) without the
    # model keys. (The datasets and root attributes of a shard written before the model key existed.)
    cfg, _, shards, _ = campaign
    with h5py.File(shards[1], "r") as f:
        assert sorted(f) == ["features", "lfp", "params", "rates", "sample_id", "status", "status_reason", "valid"]
        assert sorted(f.attrs) == [
            "config_hash", "config_json", "git_commit", "kernels_file", "kernels_hash", "n_vp",
            "package_versions", "schema_version", "seed", "shard", "simulator",
        ]  # fmt: skip
        recorded = json.loads(f.attrs["config_json"])
        assert sorted(recorded) == ["campaign", "gates", "kernels", "lfp", "network", "prior", "simulation"]
        assert recorded == json.loads(json.dumps(shard_config(cfg), sort_keys=True, default=str))
        assert f.attrs["config_hash"] == config_hash(shard_config(cfg))


def test_sample_result_independent_of_shard_size(campaign, tmp_path):
    cfg, kernels, shards, _ = campaign
    other = load_config(overrides={**TINY, "campaign": {**TINY["campaign"], "shard_size": 2}})
    out = tmp_path / "s.h5"
    run_shard(other, 2, kernels, out)  # samples 4, 5
    with h5py.File(out, "r") as a, h5py.File(shards[1], "r") as b:
        assert list(a["sample_id"][...]) == [4, 5]
        for key in ("params", "rates", "features", "status", "lfp"):
            np.testing.assert_array_equal(a[key][...], b[key][1:], err_msg=key)


def test_aggregate_merges_and_matches_draws(campaign, tmp_path):
    cfg, _, shards, tmp = campaign
    out = tmp_path / "dataset.h5"
    summary = aggregate(shards, out, cfg)
    check_against_draws(out, tmp / "draws.h5")
    assert summary["n_samples"] == 6 and 0.0 <= summary["invalid_fraction"] <= 1.0
    with h5py.File(out, "r") as d:
        assert list(d["sample_id"][...]) == list(range(6))
        assert d["params"].dtype == np.float64 and d["valid"].dtype == bool
        assert "lfp" not in d
        with h5py.File(shards[0], "r") as s:
            np.testing.assert_array_equal(d["features"][:3], s["features"][...])
        assert d.attrs["invalid_fraction"] == summary["invalid_fraction"]


def test_truncated_shard_is_named(campaign, tmp_path):
    _, _, shards, _ = campaign
    bad = tmp_path / "shard-00001.h5"
    bad.write_bytes(shards[1].read_bytes()[:2000])
    with pytest.raises(ShardError, match="shard-00001.h5"):
        aggregate([shards[0], bad], tmp_path / "dataset.h5")
    assert not (tmp_path / "dataset.h5").exists()


def test_shard_missing_dataset_is_named(campaign, tmp_path):
    _, _, shards, _ = campaign
    bad = tmp_path / "shard-00001.h5"
    bad.write_bytes(shards[1].read_bytes())
    with h5py.File(bad, "a") as f:
        del f["features"]
    with pytest.raises(ShardError, match=r"shard-00001\.h5.*features"):
        aggregate([shards[0], bad], tmp_path / "dataset.h5")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "x.h5"
    with atomic_h5(path) as f:
        f["a"] = [1, 2, 3]
    with pytest.raises(RuntimeError), atomic_h5(path) as f:
        f["a"] = [9]
        raise RuntimeError("killed")
    with h5py.File(path, "r") as f:
        assert list(f["a"][...]) == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["x.h5"]


def test_simulate_command_writes_one_row(tmp_path):
    kernels = write_exp_kernels(tmp_path / "kernels.h5")
    out = tmp_path / "one.h5"
    res = subprocess.run(
        [sys.executable, "-m", "workflow", "simulate", "--param", "J_EE=1.589", "--param", "J_ext=29.89",
         "--tstop-ms", "400", "--transient-ms", "100", "--scale", "0.02", "--kernels", str(kernels),
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "rates (Hz): E=" in res.stdout and "SC_FluctAnal_2_dfa_50_1_2_logi_prop_r1" in res.stdout
    with h5py.File(out, "r") as f:
        assert f["params"].shape == (1, 7) and f["features"].shape == (1, 22)
        assert f["params"][0, PARAM_NAMES.index("J_II")] == -8.441  # unset -> best fit


def test_simulate_command_rejects_unknown_parameter(tmp_path):
    res = subprocess.run(
        [sys.executable, "-m", "workflow", "simulate", "--param", "J_XY=1", "--out", str(tmp_path / "o.h5")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode != 0
    assert "J_XY" in res.stderr and "unknown parameter" in res.stderr
