"""The model interface (workflow.models.base) and its two built-in models."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from workflow.models import base, hh, mpr
from workflow.models.base import Model, SimBatch, get_model

#: Short protocols: the interface's bookkeeping, not the dynamics.
SHORT = {
    "mpr": mpr.MPRSettings(duration=6.0, t_on=2.0, t_off=4.0),
    "hh": hh.HHSettings(duration=30.0, t_on=5.0, t_off=25.0),
}


@dataclasses.dataclass(frozen=True)
class ToySettings:
    noise: float = 0.1


def toy_simulator(theta, sample_ids, seed, settings, keep_traces):
    """The module docstring's smallest model: x = mu + noise, one stream per sample."""
    noise = [base.sample_rng(seed, i).normal(scale=settings.noise) for i in sample_ids]
    return SimBatch(features=theta[:, :1] + np.array(noise).reshape(-1, 1))


def toy_model(name: str = "toy", **kw) -> Model:
    fields = dict(
        name=name,
        description="x = mu + noise",
        param_names=("mu",),
        param_units=("1",),
        prior_bounds={"mu": (-1.0, 1.0)},
        feature_names=("x",),
        feature_units=("1",),
        settings_type=ToySettings,
        simulator=toy_simulator,
    )
    fields.update(kw)
    return Model(**fields)


@pytest.mark.parametrize("name", ["mpr", "hh"])
def test_registry_returns_the_modules_model(name):
    model = get_model(name)
    module = {"mpr": mpr, "hh": hh}[name]
    assert model is module.MODEL and model.name == name
    assert model.param_names == module.PARAM_NAMES
    assert model.feature_names == module.FEATURE_NAMES
    assert model.target_names == module.PARAM_NAMES  # every parameter is a target
    assert dict(model.prior_bounds) == {k: tuple(v) for k, v in module.PRIOR_BOUNDS.items()}
    assert model.settings_type is type(SHORT[name])
    assert model.accept(model.theta_row(model.ground_truth)).all()
    json.dumps(model.describe())  # provenance is JSON


def test_unknown_model_names_the_key():
    with pytest.raises(ValueError, match="model: unknown model 'hagen'"):
        get_model("hagen")


@pytest.mark.parametrize("name", ["mpr", "hh"])
def test_round_trip_prior_to_features(name):
    """Prior draws -> simulate -> features and outputs with the declared names and shapes."""
    model = get_model(name)
    ids = np.array([4, 0, 9])
    theta = model.draw_prior(3, ids)
    assert theta.shape == (3, len(model.param_names)) and model.accept(theta).all()
    np.testing.assert_array_equal(model.targets(theta), theta)
    out = model.simulate(theta, ids, 3, SHORT[name], keep_traces=True)
    assert out.features.shape == (3, len(model.feature_names)) and out.valid.all()
    assert set(out.outputs) == set(model.outputs) == {"rates"}
    assert out.outputs["rates"].shape == (3, len(model.outputs["rates"]))
    assert out.t is not None and all(tr.shape == (3, out.t.size) for tr in out.traces.values())
    # the interface adds nothing to the module's own numerics
    if name == "mpr":
        direct = mpr.features(mpr.simulate_batch(theta, ids, 3, SHORT[name]), SHORT[name])
        r_stim = out.features[:, mpr.FEATURE_NAMES.index("r_stim_mean")]
        np.testing.assert_array_equal(out.outputs["rates"][:, 1], r_stim)
    else:
        direct = hh.features(hh.simulate_batch(theta, ids, 3, SHORT[name]), SHORT[name])
        np.testing.assert_allclose(out.outputs["rates"][:, 0], out.features[:, 0] / 0.020)
    np.testing.assert_array_equal(out.features, direct)
    assert model.simulate(theta, ids, 3, SHORT[name]).traces is None


@pytest.mark.parametrize("name", ["mpr", "hh"])
def test_seeds_give_identical_outputs_whatever_the_batch(name):
    model = get_model(name)
    ids = np.array([7, 8, 30])
    theta = model.draw_prior(11, ids)
    np.testing.assert_array_equal(theta[1], model.draw_prior(11, [8])[0])  # a draw does not depend on its batch
    a = model.simulate(theta, ids, 11, SHORT[name]).features
    b = model.simulate(theta, ids, 11, SHORT[name]).features
    np.testing.assert_array_equal(a, b)
    alone = model.simulate(theta[2:], ids[2:], 11, SHORT[name]).features
    np.testing.assert_array_equal(alone[0], a[2])
    assert not np.array_equal(model.simulate(theta, ids, 12, SHORT[name]).features, a)
    assert not np.array_equal(model.draw_prior(12, ids), theta)


def test_sub_batches_do_not_change_results(monkeypatch):
    """MPR splits a batch to bound its memory; the split leaves every sample as it was."""
    model = get_model("mpr")
    ids = np.arange(5)
    theta = model.draw_prior(2, ids)
    whole = model.simulate(theta, ids, 2, SHORT["mpr"], keep_traces=True)
    monkeypatch.setattr(base, "sub_batches", lambda n, nbytes, budget=0: [slice(i, i + 2) for i in range(0, n, 2)])
    split = model.simulate(theta, ids, 2, SHORT["mpr"], keep_traces=True)
    np.testing.assert_array_equal(split.features, whole.features)
    np.testing.assert_array_equal(split.traces["v"], whole.traces["v"])


def test_sub_batches_cover_the_range():
    for n, per, budget in ((10, 3, 7), (5, 100, 10), (0, 1, 1), (7, 1, 100)):
        parts = base.sub_batches(n, per, budget)
        assert np.concatenate([np.arange(n)[p] for p in parts] or [np.array([], int)]).tolist() == list(range(n))
        assert all(p.stop - p.start >= 1 for p in parts)


def test_constraints_reject_draws_and_bounds_hold():
    model = toy_model(constraints=lambda th: th[:, 0] > 0.5)
    theta = model.draw_prior(0, np.arange(200))
    assert theta.min() > 0.5 and theta.max() <= 1.0
    assert model.accept(np.array([[0.2], [0.7], [1.5]])).tolist() == [False, True, False]


def test_a_user_model_runs_through_the_interface():
    model = toy_model("toy_interface_test")
    base.register(model)
    assert get_model("toy_interface_test") is model and "toy_interface_test" in base.model_names()
    theta = model.draw_prior(5, [0, 1, 2])
    x = model.simulate(theta, [0, 1, 2], 5).features
    np.testing.assert_allclose(x, theta, atol=0.5)  # mu plus noise of SD 0.1
    np.testing.assert_array_equal(x, model.simulate(theta, [0, 1, 2], 5).features)
    with pytest.raises(ValueError, match="taken"):
        base.register(toy_model("mpr"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"param_names": ("mu", "mu")}, "param_names has duplicates"),
        ({"param_units": ("1", "2")}, "param_units"),
        ({"prior_bounds": {"mu": (1.0, -1.0)}}, r"prior_bounds\['mu'\]"),
        ({"prior_bounds": {"mu": (0.0, 1.0), "nu": (0.0, 1.0)}}, "unknown"),
        ({"ground_truth": {"mu": 3.0}}, "ground_truth"),
        ({"outputs": {"rates": ("a",)}}, "output_units"),
        ({"settings_type": dict}, "settings_type"),
    ],
)
def test_model_validation_names_the_field(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        toy_model(**kwargs)


def test_simulate_checks_its_inputs():
    model = get_model("mpr")
    theta = model.theta_row(model.ground_truth)
    with pytest.raises(ValueError, match="shape"):
        model.simulate(np.zeros((1, 2)), [0], 1)
    with pytest.raises(ValueError, match="sample_ids"):
        model.simulate(theta, [0, 1], 1)
    with pytest.raises(ValueError, match="seed"):
        model.simulate(theta, [0], -1)
    with pytest.raises(TypeError, match="MPRSettings"):
        model.simulate(theta, [0], 1, SHORT["hh"])
    with pytest.raises(ValueError, match="unknown setting"):
        model.settings(bogus=1)
    with pytest.raises(KeyError, match="eta"):
        model.theta_row({"Delta": 1.0, "J": 10.0})
    bad = toy_model("toy_bad", simulator=lambda *a: SimBatch(features=np.zeros((1, 2))))
    with pytest.raises(RuntimeError, match="features have shape"):
        bad.simulate(np.zeros((1, 1)), [0], 0)
