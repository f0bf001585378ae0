"""The kernel-sensitivity check (workflow/simulation/kernels/sensitivity.py) on a tiny network."""

from __future__ import annotations

import numpy as np
import pytest

from workflow.config import load_config
from workflow.contract import FEATURE_NAMES, PATHWAY_NAMES
from workflow.simulation.kernels import kernels_from_config
from workflow.simulation.kernels import sensitivity as ks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    cfg = load_config(
        [],
        {
            "network": {"scale": 0.02},
            "simulation": {"tstop_ms": 700.0, "transient_ms": 200.0},
            "kernels": {"tau_ms": 50.0},
        },
    )
    reference, _ = kernels_from_config(cfg)
    shifts, amplitudes, kernel_sets = ks.sensitivity(cfg, reference, n_seeds=3, v_rest_grid_mV=[-65.0])
    png = tmp_path_factory.mktemp("sens") / "sensitivity.png"
    ks.plot(shifts, kernel_sets, cfg["simulation"]["dt_ms"], png)
    return cfg, shifts, amplitudes, png


def test_one_row_per_variant_and_feature(result):
    _, shifts, amplitudes, png = result
    labels = ["lin", "frozen", "passive", "lin, V_rest -65 mV"]
    assert list(dict.fromkeys(shifts["variant"])) == labels
    assert len(shifts) == len(labels) * len(FEATURE_NAMES)
    assert set(amplitudes["pathway"]) == set(PATHWAY_NAMES)
    assert png.stat().st_size > 10_000


def test_the_campaigns_own_variant_does_not_move(result):
    """The lin variant at the configured V_rest is the campaign's kernels: zero shift, exactly."""
    _, shifts, _, _ = result
    lin = shifts[shifts["variant"] == "lin"]
    assert np.all(lin["shift_in_sd"] == 0.0)
    # a spread per feature (0 for a feature that three tiny networks happen to share)
    assert np.all(np.isfinite(shifts["seed_sd"])) and np.mean(shifts["seed_sd"] > 0) > 0.8


def test_passive_cells_give_other_kernels_and_features(result):
    _, shifts, amplitudes, _ = result
    # the quasi-active Ih changes the kernels' time course: their areas differ by more than 5 %
    area = amplitudes.set_index(["variant", "pathway"])["sum"]
    for name in PATHWAY_NAMES:
        assert not np.isclose(area[("passive", name)], area[("lin", name)], rtol=0.05), name
    assert (shifts[shifts["variant"] == "passive"]["shift_in_sd"].abs() > 0).mean() > 0.5


def test_too_few_seeds_is_refused(result):
    cfg = result[0]
    with pytest.raises(ValueError, match="n_seeds"):
        ks.sensitivity(cfg, {}, n_seeds=2, v_rest_grid_mV=[])
