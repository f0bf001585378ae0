"""The posterior predictive check of ``python -m workflow infer --ppc K``: target draws become parameter
sets of the prior (fast), and K = 4 draws are simulated with the tiny campaign's simulator and compared
with a recording (slow, on the simulated tiny campaign of tests/infer_campaign.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from infer_campaign import simulated_campaign

from workflow.config import validate_schema
from workflow.contract import FEATURE_NAMES, PARAM_NAMES, TARGET_NAMES
from workflow.infer.ppc import VERDICT_COLUMNS, compare, parameters_for_targets
from workflow.infer.streams import ppc_network_root
from workflow.inference.dataset import compute_targets
from workflow.inference.targetprior import TargetPrior, sample_params

TARGET_PRIOR = TargetPrior.from_config(validate_schema({})["prior"])


def _check_params(params: np.ndarray, targets: np.ndarray) -> None:
    prior = TARGET_PRIOR.prior
    assert prior.accept(params).all()
    assert np.all((params >= prior.low) & (params <= prior.high))
    np.testing.assert_allclose(compute_targets(params, PARAM_NAMES), targets, rtol=1e-9)


def test_target_draws_become_parameter_sets_with_exactly_those_targets():
    targets = TARGET_PRIOR.sample(200, np.random.default_rng(1))
    params = parameters_for_targets(targets, TARGET_PRIOR, 7, np.random.default_rng(2))
    _check_params(params, targets)


def test_the_ends_of_the_ratios_range_where_the_prior_has_almost_no_mass():
    b = TARGET_PRIOR.bounds(7)
    targets = np.array([[0.99 * b.high[0], 1.0, 4.0, 30.0], [1.01 * b.low[0], 0.5, 2.0, 20.0],
                        [b.high[0], 2.0, 8.0, 50.0]])  # fmt: skip
    params = parameters_for_targets(targets, TARGET_PRIOR, 7, np.random.default_rng(3))
    _check_params(params, targets)


def test_weights_follow_the_prior_conditioned_on_the_ratio():
    """At a common ratio the chosen weights spread like the prior's weights at that ratio.

    (One call picks among the same 256 nearest candidates for equal ratios, so the quartiles carry
    the sampling error of 256 draws: about a tenth of the spread.)
    """
    e = 1.0
    targets = np.tile([e, 1.0, 4.0, 30.0], (600, 1))
    params = parameters_for_targets(targets, TARGET_PRIOR, 7, np.random.default_rng(4))
    _check_params(params, targets)
    p = sample_params(TARGET_PRIOR.prior, 400_000, np.random.default_rng(5))
    near = p[np.abs(np.log(compute_targets(p, PARAM_NAMES)[:, 0] / e)) < 0.02]
    assert len(near) > 1000
    for j in range(4):  # J_EE, J_IE, J_EI, J_II: quartiles within a quarter of the prior's spread
        q_ours, q_ref = np.quantile(params[:, j], [0.25, 0.5, 0.75]), np.quantile(near[:, j], [0.25, 0.5, 0.75])
        assert np.all(np.abs(q_ours - q_ref) < 0.25 * (q_ref[2] - q_ref[0])), (PARAM_NAMES[j], q_ours, q_ref)


def test_verdict_is_inside_the_5_95_band():
    sims = np.tile(np.arange(20.0)[:, None], (1, 22))
    observed = np.full(22, 10.0)
    observed[3], observed[5] = -1.0, 30.0
    v = compare("rec", observed, sims)
    assert list(v.columns) == list(VERDICT_COLUMNS) and list(v["feature"]) == list(FEATURE_NAMES)
    assert v["inside"].sum() == 20 and not v["inside"][3] and not v["inside"][5]
    sims[2] = np.nan
    assert compare("rec", observed, sims)["n_finite"].iloc[0] == 19
    assert not compare("rec", observed, np.full((3, 22), np.nan))["inside"].any()


@pytest.mark.slow
def test_ppc_with_four_draws_on_the_tiny_campaign(tmp_path_factory):
    work = simulated_campaign(tmp_path_factory)
    d = tmp_path_factory.mktemp("ppc")
    with h5py.File(work / "results" / "shards" / "shard-00003.h5") as f:  # a campaign trace as the recording
        row = int(np.flatnonzero(f["valid"][()])[0])
        np.save(d / "rec.npy", f["lfp"][row])
    out = d / "out"
    cmd = [sys.executable, "-m", "workflow", "infer", str(d / "rec.npy"), "--fs", "1600", "--models",
           str(work / "results" / "folds"), "--out", str(out), "--ppc", "4", "--draws", "200"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    verdict = pd.read_csv(out / "ppc_rec.csv")
    assert list(verdict.columns) == list(VERDICT_COLUMNS) and list(verdict["feature"]) == list(FEATURE_NAMES)
    assert verdict["n_draws"].iloc[0] == 4 and verdict["n_finite"].iloc[0] >= 2
    assert verdict["inside"].dtype == bool
    assert (out / "ppc_rec.png").stat().st_size > 20_000
    with h5py.File(out / "posterior.h5") as f:
        params = f["ppc/params"][0]
        targets = f["ppc/targets"][0]
        np.testing.assert_array_equal(targets, f["posterior"][0, :4])
        root = int(f["ppc"].attrs["network_root"])
        seed = int(f.attrs["seed"])
    assert params.shape == (4, 7) and root == ppc_network_root(seed)
    np.testing.assert_allclose(compute_targets(params, PARAM_NAMES)[:, 0], targets[:, 0], rtol=1e-9)
    for j in range(4):
        with h5py.File(out / "ppc" / "rec" / f"draw-{j}.h5") as f:
            np.testing.assert_array_equal(f["params"][0], params[j])
            assert f["lfp"].shape == (1, 800) and int(f.attrs["ppc_draw"]) == j
            assert int(f.attrs["network_root"]) == root
            assert [str(n) for n in f["features"].attrs["names"]] == list(FEATURE_NAMES)
    assert TARGET_NAMES[0] == "EI_net"
    assert Path(out / "summary.csv").is_file()
