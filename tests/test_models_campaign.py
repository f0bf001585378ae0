"""Campaigns of registered models (config ``model``): config checks, the named dataset contract, the
DAG of config/mpr.yaml and config/hh.yaml, and a tiny real run through one NPE fold."""

from __future__ import annotations

import dataclasses
import json
import textwrap

import h5py
import numpy as np
import pytest
from workdir import job_counts, make_workdir, snakemake

from workflow.config import ConfigError, load_config, simulation_config
from workflow.contract import TARGET_NAMES
from workflow.inference.dataset import load_dataset
from workflow.inference.targetprior import ModelTargetPrior, target_prior_from_params
from workflow.models import get_model
from workflow.simulation.aggregate import ShardError, aggregate, check_against_draws
from workflow.simulation.cost import (
    MODEL_SHARD_MEM_MB,
    MODEL_SHARD_RUNTIME_MIN,
    measure_model_shard,
    model_campaign_core_hours,
    model_shard_mem_mb,
    model_shard_runtime_min,
)
from workflow.simulation.draws import write_draws
from workflow.simulation.model_shard import run_model_shard
from workflow.table import read_names

#: a tiny HH campaign: 2 shards of 6 samples of a 30 ms protocol (a fraction of a second)
HH_TINY = {
    "model": "hh",
    "model_settings": {"duration": 30.0, "t_on": 5.0, "t_off": 25.0},
    "campaign": {"n_samples": 12, "shard_size": 6, "seed": 5},
}


# -- config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, key",
    [
        ({"model": "lif9000"}, "'model'"),
        ({"model": "mpr", "model_settings": {"sigmaa": 0.1}}, r"'model_settings\.sigmaa'"),
        ({"model": "hh", "model_settings": {"duration": -1.0}}, r"'model_settings\.duration'"),
        ({"model_settings": {"duration": 1.0}}, r"'model_settings\.duration'"),  # hagen2022 takes none
        ({"model": "hh", "inference": {"log_targets": ["EI_net"]}}, r"'inference\.log_targets'"),
        ({"model": "mpr", "observations": [{"path": "rec.npy", "fs_hz": 1000}]}, "'observations'"),
        ({"model": "mpr", "model_module": "no_such_module_here"}, "'model_module'"),
    ],
)
def test_bad_model_config_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(overrides=override)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"known: \['mpr', 'hh'.*'hagen2022'"):
        load_config(overrides={"model": "lif9000"})


def test_log_and_logit_targets_default_per_model():
    hagen = load_config()["inference"]
    assert hagen["log_targets"] == ["EI_net"] and hagen["logit_targets"] == []
    mpr = load_config(overrides={"model": "mpr"})["inference"]
    assert mpr["log_targets"] == [] and mpr["logit_targets"] == list(get_model("mpr").target_names)
    cfg = load_config(overrides={"model": "hh", "inference": {"log_targets": ["gbar_Na"]}})["inference"]
    assert cfg["log_targets"] == ["gbar_Na"] and cfg["logit_targets"] == list(get_model("hh").target_names[1:])
    with pytest.raises(ConfigError, match=r"'inference\.logit_targets'.*also in"):
        load_config(overrides={"model": "hh", "inference": {"log_targets": ["gbar_Na"], "logit_targets": ["gbar_Na"]}})


def test_logit_scale_keeps_every_draw_inside_the_support():
    from workflow.inference.scales import LOGIT_BOUND, TargetScale

    low, high = np.array([0.0, -5.0]), np.array([1.0, 5.0])
    scale = TargetScale.from_names([], ["a", "b"]).with_logit(["b"], low, high)
    theta = np.array([[0.3, -5.0], [0.7, 4.999], [0.1, 5.0]])
    u = scale.to_learned(theta)
    assert u[0, 1] == -LOGIT_BOUND and u[2, 1] == LOGIT_BOUND and u[0, 0] == 0.3  # "a" stays linear
    np.testing.assert_allclose(scale.to_targets(u)[1], theta[1], rtol=1e-12)
    wild = scale.to_targets(np.array([[0.0, -1e6], [0.0, 1e6]]))  # any flow draw maps inside
    assert (wild[:, 1] >= -5.0).all() and (wild[:, 1] <= 5.0).all()


def test_model_settings_from_command_line_strings_are_typed():
    # snakemake --config passes nested values as strings
    cfg = load_config(overrides={"model": "mpr", "model_settings": {"sigma": "0.2", "record_every": "10"}})
    sim = simulation_config(cfg)
    assert sim["model_settings"] == {"sigma": 0.2, "record_every": 10}
    assert set(sim) == {"model", "model_module", "model_settings", "campaign"}  # no Hagen sections


def test_hagen_simulation_config_has_no_model_keys():
    # the Hagen shards' config_json and config_hash (their bytes) must not change with the model keys
    sim = simulation_config(load_config())
    assert set(sim) == {"campaign", "prior", "simulation", "network", "kernels", "lfp", "gates"}


def test_model_module_registers_a_users_model(tmp_path, monkeypatch):
    (tmp_path / "my_toy_model.py").write_text(
        textwrap.dedent(
            """
            import dataclasses
            import numpy as np
            from workflow.models import Model, SimBatch, register
            from workflow.models.base import sample_rng

            @dataclasses.dataclass(frozen=True)
            class Settings:
                noise: float = 0.1

            def simulate(theta, sample_ids, seed, settings, keep_traces):
                noise = [sample_rng(seed, i).normal(scale=settings.noise) for i in sample_ids]
                return SimBatch(features=theta[:, :1] + np.array(noise).reshape(-1, 1))

            register(Model(name="toy_campaign", description="x = mu + noise", param_names=("mu",),
                           param_units=("1",), prior_bounds={"mu": (-1.0, 1.0)}, feature_names=("x",),
                           feature_units=("1",), settings_type=Settings, simulator=simulate))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    cfg = load_config(overrides={"model": "toy_campaign", "model_module": "my_toy_model"})
    assert cfg["model"] == "toy_campaign"
    with pytest.raises(ConfigError, match=r"'model_settings\.nois'"):
        load_config(overrides={"model": "toy_campaign", "model_module": "my_toy_model", "model_settings": {"nois": 1}})


# -- shards, aggregate, dataset contract ----------------------------------------------------


@pytest.fixture(scope="module")
def hh_campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hh")
    cfg = load_config(overrides=HH_TINY)
    shards = [tmp / f"shard-{s:05d}.h5" for s in range(2)]
    for s, path in enumerate(shards):
        run_model_shard(cfg, s, path)
    write_draws({k: cfg[k] for k in ("campaign", "model", "model_module")}, tmp / "draws.h5")
    aggregate(shards, tmp / "dataset.h5", simulation_config(cfg))
    return cfg, shards, tmp


def test_model_shard_is_named_and_matches_the_draws(hh_campaign):
    cfg, shards, tmp = hh_campaign
    hh = get_model("hh")
    with h5py.File(shards[1], "r") as f:
        assert read_names(f["params"]) == list(hh.param_names)
        assert read_names(f["features"]) == list(hh.feature_names)
        assert read_names(f["targets"]) == list(hh.target_names)
        assert read_names(f["rates"]) == list(hh.outputs["rates"])
        assert f["sample_id"][...].tolist() == list(range(6, 12))
        assert f.attrs["model"] == "hh"
        assert "kernels_file" not in f.attrs
    check_against_draws(tmp / "dataset.h5", tmp / "draws.h5")  # raises if the prior streams differ
    rerun = tmp / "rerun.h5"
    run_model_shard(cfg, 1, rerun)
    assert rerun.read_bytes() == shards[1].read_bytes()  # no timings: a rerun gives the same bytes


def test_aggregate_refuses_shards_with_other_names(hh_campaign, tmp_path):
    _, shards, _ = hh_campaign
    bad = tmp_path / "shard-00001.h5"
    bad.write_bytes(shards[1].read_bytes())
    with h5py.File(bad, "a") as f:
        f["targets"].attrs["names"] = np.array(["t"] * 8, dtype=h5py.string_dtype())
    with pytest.raises(ShardError, match="shard-00001.h5.*differ"):
        aggregate([shards[0], bad], tmp_path / "dataset.h5")


def test_load_dataset_reads_targets_and_names_from_the_file(hh_campaign):
    _, _, tmp = hh_campaign
    data = load_dataset(tmp / "dataset.h5")
    hh = get_model("hh")
    assert data.target_names == hh.target_names and data.feature_names == hh.feature_names
    assert data.target_units == hh.target_units
    with h5py.File(tmp / "dataset.h5", "r") as f:
        valid = f["valid"][...]
        np.testing.assert_array_equal(data.targets, f["targets"][...][valid])
        np.testing.assert_array_equal(data.targets, f["params"][...][valid])  # hh: targets are the parameters


def test_load_dataset_uses_the_files_targets_not_the_hagen_ones(tmp_path):
    # any bank with its own targets: no rates, no Hagen parameters, targets not a function of params
    n = 20
    rng = np.random.default_rng(0)
    path = tmp_path / "bank.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("params", data=rng.normal(size=(n, 2))).attrs["names"] = ["a", "b"]
        f.create_dataset("features", data=rng.normal(size=(n, 3))).attrs["names"] = ["f0", "f1", "f2"]
        d = f.create_dataset("targets", data=rng.normal(size=(n, 1)))
        d.attrs["names"], d.attrs["units"] = ["kappa"], ["mV"]
        f.create_dataset("valid", data=np.ones(n, bool))
        f.create_dataset("sample_id", data=np.arange(n))
    data = load_dataset(path)
    assert data.target_names == ("kappa",) and data.target_units == ("mV",)
    assert data.targets.shape == (n, 1) and TARGET_NAMES[0] not in data.target_names


def test_model_target_prior_is_the_prior_box():
    for name in ("mpr", "hh"):
        model = get_model(name)
        tp = target_prior_from_params({"model": name, "model_module": None})
        assert isinstance(tp, ModelTargetPrior) and tp.exact_box
        bounds = tp.bounds(seed=1)
        np.testing.assert_array_equal(bounds.low, model.low)
        np.testing.assert_array_equal(bounds.high, model.high)
        draws = tp.sample_seeded(500, seed=1)
        assert draws.shape == (500, len(model.target_names))
        assert ((draws >= model.low) & (draws <= model.high)).all()


# -- Snakemake: the plan of config/mpr.yaml and config/hh.yaml, and a tiny real run ---------------

HAGEN_ONLY_RULES = ("kernel", "crosscheck", "dataset_summary")  # kernels, kernel_sensitivity, crosscheck_runs, ...


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mpr", "hh", "mpr-1m"])
def test_model_config_plans_no_kernels_or_crosscheck(tmp_path, name):
    work = make_workdir(tmp_path, kernels=False)
    res = snakemake(work, "-n", configfiles=("config/config.yaml", f"config/{name}.yaml"))
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    counts = job_counts(out)
    cfg = load_config([work / "config/config.yaml", work / f"config/{name}.yaml"])
    n_shards = -(-cfg["campaign"]["n_samples"] // cfg["campaign"]["shard_size"])
    assert counts["simulate"] == n_shards and counts["draws"] == counts["aggregate"] == 1, counts
    assert counts["inference_train"] == counts["inference_shap"] == cfg["inference"]["k_folds"], counts
    assert not [r for r in counts if r.startswith(HAGEN_ONLY_RULES)], counts
    # the shards' requests come from the model's cost function, and the plan states its estimate
    model = get_model(cfg["model"])
    settings = model.settings_type()
    size = min(cfg["campaign"]["shard_size"], cfg["campaign"]["n_samples"])
    hours = model_campaign_core_hours(model, settings, cfg["campaign"]["n_samples"], size)
    assert f"estimated simulation cost {hours:.3g} core-hours" in out
    mem, runtime = model_shard_mem_mb(model, settings, size), model_shard_runtime_min(model, settings, size)
    assert f"runtime={runtime}, mem_mb={mem}," in out


def test_shard_cost_model_against_a_measured_shard(tmp_path):
    """Model.cost against a real shard process (hh, 500 samples): CPU time and peak memory
    within a factor of 2.5, and the requests (3x the CPU time, 1.5x the memory) cover them. A
    model without a cost function gets the generous constants."""
    hh = get_model("hh")
    settings = hh.settings_type()
    cpu, mb = measure_model_shard("hh", 500, tmp_path / "shard.h5")
    pred = hh.cost(settings, 500)
    assert 0.4 < cpu / pred.core_seconds < 2.5, (cpu, pred)
    assert 0.5 < mb / pred.peak_mb < 2.0, (mb, pred)
    assert model_shard_mem_mb(hh, settings, 500) > mb and model_shard_runtime_min(hh, settings, 500) * 60 > cpu
    # cost grows with the shard, and a shard of mpr at Baldy's protocol needs its traces' memory
    mpr = get_model("mpr")
    small, large = mpr.cost(mpr.settings_type(), 100), mpr.cost(mpr.settings_type(), 1000)
    assert large.core_seconds > small.core_seconds and large.peak_mb - small.peak_mb > 700
    bare = dataclasses.replace(hh, cost=None)
    assert model_shard_mem_mb(bare, settings, 500) == MODEL_SHARD_MEM_MB
    assert model_shard_runtime_min(bare, settings, 500) == MODEL_SHARD_RUNTIME_MIN
    assert model_campaign_core_hours(bare, settings, 1000, 500) is None


@pytest.mark.slow
def test_tiny_model_campaign_runs_through_one_fold(tmp_path):
    tiny = textwrap.dedent(
        """
        model: hh
        model_settings: {duration: 30.0, t_on: 5.0, t_off: 25.0}
        campaign: {n_samples: 80, shard_size: 40, seed: 3}
        inference:
          k_folds: 2
          npe: {max_num_epochs: 3, hidden_features: 10, num_transforms: 1, training_batch_size: 20}
          metrics: {n_posterior_samples: 50, max_rows: 20}
        """
    )
    work = make_workdir(tmp_path, kernels=False, extra_config={"tiny_hh.yaml": tiny})
    res = snakemake(
        work, "results/folds/fold-0/metrics.json", configfiles=("config/config.yaml", "tiny_hh.yaml"), timeout=300
    )
    assert res.returncode == 0, res.stderr[-4000:]
    assert not (work / "results" / "kernels.h5").exists()
    hh = get_model("hh")
    with h5py.File(work / "results" / "dataset.h5", "r") as f:
        assert f["params"].shape == (80, 8) and read_names(f["targets"]) == list(hh.target_names)
    desc = json.loads((work / "results/folds/fold-0/model.json").read_text())
    assert desc["target_names"] == list(hh.target_names) and desc["feature_names"] == list(hh.feature_names)
    assert desc["log_targets"] == [] and desc["logit_targets"] == list(hh.target_names)
    assert desc["prior"]["model"] == "hh"
    np.testing.assert_allclose(desc["prior"]["target_bounds"]["low"], hh.low)
    metrics = json.loads((work / "results/folds/fold-0/metrics.json").read_text())
    assert list(metrics["targets"]) == list(hh.target_names)


def test_infer_names_the_model_of_a_model_campaign(tmp_path):
    # `python -m workflow infer` turns LFP recordings into catch22 features: a model campaign's
    # folds are refused before anything is read, naming the model (not a catch22 name mismatch)
    from workflow.infer.campaign import CampaignError, load_campaign

    fold = tmp_path / "folds" / "fold-0"
    fold.mkdir(parents=True)
    (fold / "model.pt").write_bytes(b"")
    (fold / "model.json").write_text(json.dumps({"prior": {"model": "mpr", "bounds": {}}}))
    with pytest.raises(CampaignError, match="model 'mpr'.*hagen2022"):
        load_campaign(tmp_path / "folds")
