"""Config from the command line, through `snakemake -n`: typed nested --config overrides, bad
values and unknown keys named before any job starts, and the users' SLURM profile unedited."""

from __future__ import annotations

from workdir import TINY, job_counts, make_workdir, snakemake


def _dry(work, *args, configfiles=(TINY,)):
    res = snakemake(work, "-n", *args, configfiles=configfiles, timeout=300)
    return res, res.stdout + res.stderr


def test_nested_config_override_is_typed(tmp_path):
    work = make_workdir(tmp_path)
    res, out = _dry(work, "--config", 'campaign={"n_samples": 60, "shard_size": 30, "seed": 3}')
    assert res.returncode == 0, out[-3000:]
    assert job_counts(out)["simulate"] == 2
    assert "campaign: 60 samples in 2 shards" in out


def test_nested_list_override_is_typed(tmp_path):
    work = make_workdir(tmp_path)
    res, out = _dry(work, "--config", "prior={J_ext: [12, 45]}", "inference={shap: {n_rows: 7}}")
    assert res.returncode == 0, out[-3000:]


def test_bad_value_names_its_key(tmp_path):
    work = make_workdir(tmp_path)
    res, out = _dry(work, "--config", 'campaign={"n_samples": "many"}')
    assert res.returncode != 0
    assert "campaign.n_samples" in out and "'many' is not of type 'integer'" in out


def test_unknown_key_is_named(tmp_path):
    work = make_workdir(tmp_path)
    res, out = _dry(work, "--config", 'campain={"n_samples": 60}')
    assert res.returncode != 0
    assert "config key 'campain': unknown key" in out
    res, out = _dry(work, "--config", "inference={shap: {n_rowz: 5}}")
    assert res.returncode != 0
    assert "config key 'inference.shap.n_rowz': unknown key" in out


def test_users_slurm_profile_plans_unedited(tmp_path):
    """`snakemake -n --profile profiles/slurm` plans the campaign with the profile as shipped."""
    work = make_workdir(tmp_path)
    res, out = _dry(work, "--profile", "profiles/slurm", configfiles=())
    assert res.returncode == 0, out[-3000:]
    assert job_counts(out)["simulate"] == 6  # config/config.yaml: 300 samples in shards of 50
