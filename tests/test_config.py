import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow.config import ConfigError, load_config, n_shards, shard_sample_ids

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "override, key",
    [
        ({"campaign": {"n_samples": -5}}, "campaign.n_samples"),
        ({"campaign": {"shard_size": 0}}, "campaign.shard_size"),
        ({"prior": {"J_EE": [4.0, 0.5]}}, "prior.J_EE"),
        ({"prior": {"tau_syn_I": [2.0, 2.0]}}, "prior.tau_syn_I"),
        ({"simulation": {"simulator": "neuron"}}, "simulation.simulator"),
        ({"simulation": {"transient_ms": 2000.0}}, "simulation.transient_ms"),
        ({"network": {"scale": 1.5}}, "network.scale"),
        ({"campaign": {"n_sample": 3}}, "campaign"),
    ],
)
def test_bad_config_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides=override)


def test_paper_config_is_the_paper_campaign():
    cfg = load_config([REPO / "config" / "paper.yaml"])
    assert cfg["campaign"]["n_samples"] == 1_000_000 and cfg["campaign"]["shard_size"] == 1000
    assert cfg["network"]["scale"] == 1.0
    assert cfg["simulation"]["tstop_ms"] == 12000 and cfg["simulation"]["transient_ms"] == 2000
    assert cfg["simulation"]["dt_ms"] == 2**-4
    assert cfg["simulation"]["store_lfp"] is False
    assert n_shards(cfg) == 1000


def test_shards_cover_samples_once():
    cfg = load_config(overrides={"campaign": {"n_samples": 23, "shard_size": 5}})
    ids = [i for s in range(n_shards(cfg)) for i in shard_sample_ids(cfg, s)]
    assert ids == list(range(23))


@pytest.mark.slow
def test_dry_run_fails_on_bad_config_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"prior": {"J_EI": [-1.0, -40.0]}}))
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad), "--cores", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode != 0
    assert "prior.J_EI" in res.stdout + res.stderr
