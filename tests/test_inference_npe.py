"""Inference half: NPE training, storage, determinism, CRN functionals, metrics, SHAP (tiny sizes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from workflow.config import validate_config
from workflow.inference.dataset import load_dataset
from workflow.inference.explain import ShapConfig, explain_fold, read_shap, shap_cost_evaluations, write_shap
from workflow.inference.flowsampling import fixed_noise_sampler
from workflow.inference.folds import assign_folds, split
from workflow.inference.functionals import PosteriorFunctionals
from workflow.inference.metrics import MetricsConfig, fold_metrics, summarise
from workflow.inference.npe import NPEConfig, load_model, save_model, train_fold
from workflow.inference.synthetic import write_synthetic_dataset
from workflow.inference.targetprior import TargetPrior

#: the schema's defaults of every key (an empty config, validated)
DEFAULTS = validate_config({})
INFERENCE = DEFAULTS["inference"]
TINY = dataclasses.replace(
    NPEConfig.from_config(INFERENCE["npe"]),
    hidden_features=16,
    num_transforms=2,
    training_batch_size=64,
    max_num_epochs=8,
    stop_after_epochs=4,
)
SHAP = ShapConfig.from_config(INFERENCE["shap"])
#: PosteriorFunctionals settings that the config decides, at the schema's defaults
CRN = {"leakage": SHAP.leakage, "min_accepted_fraction": SHAP.min_accepted_fraction, "qmc_draws": SHAP.qmc_draws}
#: the targets' prior and learned scale at the schema's defaults
PRIOR = {"target_prior": TargetPrior.from_config(DEFAULTS["prior"]), "log_targets": INFERENCE["log_targets"]}


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("npe") / "syn.h5"
    write_synthetic_dataset(path, 900, seed=5)
    d = load_dataset(path)
    fold = assign_folds(d.sample_id, 3, seed=11)
    return d, fold


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    d, fold = data
    train, _ = split(fold, 0)
    m = train_fold(
        d.features[train],
        d.targets[train],
        TINY,
        seed=11,
        fold=0,
        threads=1,
        names={"features": list(d.feature_names), "targets": list(d.target_names)},
        **PRIOR,
    )
    out = tmp_path_factory.mktemp("model")
    save_model(m, out / "model.pt", out / "model.json")
    return m, out


def test_retraining_with_same_seed_gives_same_model_and_metrics(data, trained):
    d, fold = data
    train, test = split(fold, 0)
    m1, _ = trained
    m2 = train_fold(d.features[train], d.targets[train], TINY, seed=11, fold=0, threads=1, **PRIOR)
    for (k, a), b in zip(m1.net.state_dict().items(), m2.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    mcfg = dataclasses.replace(MetricsConfig.from_config(INFERENCE["metrics"]), n_posterior_samples=200, max_rows=60)
    kw = dict(target_prior=PRIOR["target_prior"], target_names=list(d.target_names), cfg=mcfg, seed=11, fold=0)
    r1 = fold_metrics(m1, d.features[test], d.targets[test], **kw)
    r2 = fold_metrics(m2, d.features[test], d.targets[test], **kw)
    assert r1 == r2  # metrics, SBC ranks and TARP curve: every random step is seeded
    assert len(r1["sbc_ranks"]) == 60 and 0 <= r1["targets"]["EI_net"]["sbc_ks_pvalue"] <= 1
    r3 = fold_metrics(m1, d.features[test], d.targets[test], **{**kw, "seed": 12})
    assert r3["sbc_ranks"] != r1["sbc_ranks"]
    m3 = train_fold(d.features[train], d.targets[train], TINY, seed=12, fold=0, threads=1, **PRIOR)
    s1, s3 = m1.net.state_dict(), m3.net.state_dict()
    assert any(not torch.equal(s1[k], s3[k]) for k in s1)


def test_max_train_rows_trains_on_a_seeded_subset_of_the_training_rows(data, trained):
    """inference.max_train_rows: a fixed subset per (seed, fold), recorded in the description;
    a cap at or above the row count changes nothing."""
    d, fold = data
    train, _ = split(fold, 0)
    m1, _ = trained
    sub = train_fold(d.features[train], d.targets[train], TINY, seed=11, fold=0, max_train_rows=150, **PRIOR)
    assert sub.description["training"]["n_rows"] == 150
    assert sub.description["training"]["n_rows_available"] == len(train)
    assert not np.allclose(sub.x_mean, m1.x_mean)  # standardised with the subset's own moments
    again = train_fold(d.features[train], d.targets[train], TINY, seed=11, fold=0, max_train_rows=150, **PRIOR)
    np.testing.assert_array_equal(again.x_mean, sub.x_mean)
    other = train_fold(d.features[train], d.targets[train], TINY, seed=11, fold=1, max_train_rows=150, **PRIOR)
    assert not np.array_equal(other.x_mean, sub.x_mean)
    full = train_fold(d.features[train], d.targets[train], TINY, seed=11, fold=0, max_train_rows=len(train), **PRIOR)
    for (k, a), b in zip(m1.net.state_dict().items(), full.net.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_model_storage_has_no_pickles_and_reloads(data, trained):
    d, fold = data
    m, out = trained
    state = torch.load(out / "model.pt", weights_only=True)  # refuses arbitrary pickled objects
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    desc = json.loads((out / "model.json").read_text())
    assert desc["npe"]["density_estimator"] == INFERENCE["npe"]["density_estimator"] and len(desc["x_mean"]) == 22
    assert desc["log_targets"] == INFERENCE["log_targets"]
    assert desc["prior"]["target_bounds"]["low"][0] == pytest.approx(1 / 40)
    assert desc["feature_names"] == list(d.feature_names)
    back = load_model(out / "model.pt", out / "model.json")
    _, test = split(fold, 0)
    x = m.standardise(d.features[test[:7]])
    th = torch.as_tensor(d.targets[test[:7]], dtype=torch.float32)[None]
    with torch.no_grad():
        torch.testing.assert_close(back.net.log_prob(th, x), m.net.log_prob(th, x))
    np.testing.assert_array_equal(back.x_std, m.x_std)


def test_standardisation_uses_training_folds_only(data, trained):
    d, fold = data
    train, _ = split(fold, 0)
    m, _ = trained
    np.testing.assert_allclose(m.x_mean, d.features[train].mean(0))
    np.testing.assert_allclose(m.x_std, d.features[train].std(0))
    assert (m.low <= d.targets[train].min(0)).all() and (m.high >= d.targets[train].max(0)).all()


def test_support_is_the_prior_bounds_not_the_training_range(data, trained):
    d, fold = data
    train, _ = split(fold, 0)
    m, _ = trained
    # the constrained prior allows [E/I]_net in [1/40, 40] (the box alone: [1/320, 320])
    assert m.low[0] == pytest.approx(1 / 40, rel=1e-3) and m.high[0] == pytest.approx(40, rel=1e-3)
    np.testing.assert_allclose(m.low[1:], [0.1, 0.1, 10.0], rtol=1e-3)
    np.testing.assert_allclose(m.high[1:], [2.0, 8.0, 50.0], rtol=1e-3)
    assert (m.low < d.targets[train].min(0)).all() and (m.high > d.targets[train].max(0)).all()
    box = m.support_box()
    np.testing.assert_allclose(box.support.base_constraint.lower_bound.numpy(), m.scale.to_learned(m.low), rtol=1e-6)
    with pytest.raises(ValueError, match="outside the bounds implied by config 'prior'"):
        train_fold(d.features[train], d.targets[train] * 100, TINY, seed=11, fold=0, **PRIOR)


@pytest.mark.parametrize("estimator", ["maf", "nsf"])
def test_fast_sampler_matches_nflows_inverse(data, estimator):
    """The specialised inverses (sbi's plain MAF blocks; the NSF's coupling blocks with their
    ResidualNet conditioners, and LULinear) equal nflows' own, whatever the schema's default is."""
    from nflows.transforms.lu import LULinear

    from workflow.inference.flowsampling import _is_plain_maf_block, _is_plain_nsf_block

    d, fold = data
    train, _ = split(fold, 0)
    cfg = dataclasses.replace(TINY, density_estimator=estimator, max_num_epochs=2)
    m = train_fold(d.features[train], d.targets[train], cfg, seed=11, fold=0, threads=1, **PRIOR)
    transforms = m.net.net._transform._transforms
    if estimator == "maf":
        assert any(_is_plain_maf_block(t) for t in transforms)  # the fast path is exercised
    else:
        assert any(_is_plain_nsf_block(t) for t in transforms) and any(type(t) is LULinear for t in transforms)
    x = m.standardise(d.features[:13])
    z = torch.randn(33, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fast = fixed_noise_sampler(m.net, fast=True)(x, z)
        ref = fixed_noise_sampler(m.net, fast=False)(x, z)
    assert fast.shape == (13, 33, 4)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4)


def test_fixed_draws_follow_the_flow(data, trained):
    """Pushing N(0, I) draws through the sampler gives the flow's distribution (its log-density
    at those draws equals base log-density minus log|det|, checked via the flow's forward)."""
    d, _ = data
    m, _ = trained
    x = m.standardise(d.features[:2])
    z = torch.randn(50, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theta = fixed_noise_sampler(m.net)(x, z)  # (2, 50, 4)
        noise = m.net.inverse_transform(theta.transpose(0, 1), x)  # sbi: theta -> noise
    torch.testing.assert_close(noise.transpose(0, 1), z.expand(2, 50, 4), rtol=1e-3, atol=1e-3)


def test_functionals_deterministic_batch_invariant_and_in_support(data, trained):
    d, _ = data
    m, _ = trained
    x = m.standardise(d.features[:40]).numpy()
    f = PosteriorFunctionals(m, n_draws=64, seed=3, fold=0, **CRN)
    a = f.evaluate(x)
    assert a.shape == (40, 4, 2)
    np.testing.assert_array_equal(a, PosteriorFunctionals(m, n_draws=64, seed=3, fold=0, **CRN).evaluate(x))
    np.testing.assert_allclose(f.evaluate(x[5:6]), a[5:6], rtol=1e-5, atol=1e-6)  # same z whatever the batch
    f_small = PosteriorFunctionals(m, n_draws=64, seed=3, fold=0, max_flow_batch=64 * 7, **CRN)
    np.testing.assert_allclose(f_small.evaluate(x), a, rtol=1e-5, atol=1e-6)
    assert (a[:, :, 0] >= m.low).all() and (a[:, :, 0] <= m.high).all()
    assert (a[:, :, 1] >= 0).all()
    c = PosteriorFunctionals(m, n_draws=64, seed=3, fold=0, **{**CRN, "leakage": "clamp"}).evaluate(x)
    assert (c[:, :, 0] >= m.low).all() and (c[:, :, 0] <= m.high).all()


def test_functionals_agree_with_sbi_posterior(data, trained):
    """CRN mean/IQR with many draws match sbi's rejection sampler within Monte Carlo error."""
    d, _ = data
    m, _ = trained
    x = m.standardise(d.features[:3])
    f = PosteriorFunctionals(m, n_draws=4096, seed=3, fold=0, **CRN).evaluate(x.numpy())
    torch.manual_seed(0)
    s = m.scale.to_targets(m.posterior().sample_batched((8000,), x, show_progress_bars=False).numpy())  # (S, 3, 4)
    sd = s.std(0)
    np.testing.assert_array_less(np.abs(f[:, :, 0] - s.mean(0)), 0.1 * sd)
    iqr = np.quantile(s, 0.75, axis=0) - np.quantile(s, 0.25, axis=0)
    np.testing.assert_allclose(f[:, :, 1], iqr, rtol=0.1)


def test_summarise_calibrated_posterior_has_nominal_coverage():
    rng = np.random.default_rng(0)
    n, L = 4000, 200
    mu = rng.normal(size=(n, 1))
    truth = mu + rng.normal(size=(n, 1))  # truth ~ N(mu, 1), posterior N(mu, 1): calibrated
    samples = mu[None] + rng.normal(size=(L, n, 1))
    out = summarise(samples, truth, prior_var=np.array([2.0]))["0"]
    assert out["coverage_50"] == pytest.approx(0.5, abs=0.03)
    assert out["coverage_90"] == pytest.approx(0.9, abs=0.02)
    assert out["shrinkage"] == pytest.approx(0.5, abs=0.05)
    over = summarise(mu[None] + 0.3 * rng.normal(size=(L, n, 1)), truth, np.array([2.0]))["0"]
    assert over["coverage_90"] < 0.5  # overconfident is caught


def test_shap_fold_shapes_additivity_and_file(data, trained, tmp_path: Path):
    d, fold = data
    train, test = split(fold, 0)
    m, _ = trained
    cfg = dataclasses.replace(SHAP, n_rows=6, n_draws=16, n_background=4, n_permutations=1, convergence_rows=2)
    res = explain_fold(m, d.features[test], d.sample_id[test], d.features[train], cfg, seed=11, fold=0)
    assert res.values.shape == (6, 22, 4, 2)
    np.testing.assert_allclose(res.values.sum(1) + res.base_values, res.outputs, atol=1e-6)
    assert set(res.sample_id) <= set(d.sample_id[test])
    assert "convergence" in res.meta
    write_shap(tmp_path / "shap.h5", res, list(d.feature_names), list(d.target_names), {"shap": {}, "seed": 11})
    back = read_shap(tmp_path / "shap.h5")
    np.testing.assert_array_equal(back["values"], res.values)
    assert back["feature_names"] == list(d.feature_names) and back["functional_names"] == ["mean", "iqr"]
    again = explain_fold(m, d.features[test], d.sample_id[test], d.features[train], cfg, seed=11, fold=0)
    np.testing.assert_array_equal(again.values, res.values)  # seeded: rows, background, draws, permutations


def test_shap_cost_evaluations_counts_every_flow_evaluation(data, trained, monkeypatch):
    """The cost formula equals the flow evaluations (x, base draw) of a fold's SHAP job, exactly."""
    import workflow.inference.functionals as functionals

    d, fold = data
    train, test = split(fold, 0)
    m, _ = trained
    count = [0]

    def counting(net, fast=True):
        sample = fixed_noise_sampler(net, fast=fast)

        def run(x, z):
            count[0] += len(x) * len(z)
            return sample(x, z)

        return run

    monkeypatch.setattr(functionals, "fixed_noise_sampler", counting)
    for conv in (0, 2):
        section = {**INFERENCE["shap"], "n_rows": 5, "n_draws": 8, "n_background": 3, "n_permutations": 2}
        section["convergence_rows"] = conv
        count[0] = 0
        explain_fold(m, d.features[test], d.sample_id[test], d.features[train], ShapConfig.from_config(section), 11, 0)
        assert count[0] == shap_cost_evaluations(section, d.features.shape[1]), conv


def test_shap_cost_evaluations_of_the_schema_defaults():
    sec, f = INFERENCE["shap"], 22  # the schema's defaults, 22 catch22 features
    n, p, b, s, c = (sec[k] for k in ("n_rows", "n_permutations", "n_background", "n_draws", "convergence_rows"))
    main = s * (n * p * (2 * f + 1) * b + (n - 1) * (f + 1) * b + n)
    check = 4 * s * (c * 2 * p * (2 * f + 1) * b + (c - 1) * (f + 1) * b)
    assert shap_cost_evaluations(INFERENCE["shap"], f) == main + check
    assert shap_cost_evaluations({**INFERENCE["shap"], "convergence_rows": 0}, f) == main
    with pytest.raises(ValueError, match="inference.shap.n_draws is missing"):
        shap_cost_evaluations({k: v for k, v in INFERENCE["shap"].items() if k != "n_draws"}, f)


@pytest.mark.parametrize("cls", [NPEConfig, MetricsConfig, ShapConfig])
def test_settings_come_from_the_validated_section_only(cls):
    key = cls.KEY.split(".")[-1]
    section = INFERENCE[key]
    cfg = cls.from_config(section)
    assert dataclasses.asdict(cfg) == section  # every field is a key of the schema's section, and back
    first = next(iter(section))
    with pytest.raises(ValueError, match=rf"^{cls.KEY}\.{first} is missing"):
        cls.from_config({k: v for k, v in section.items() if k != first})
    with pytest.raises(ValueError, match=rf"^{cls.KEY}\.bogus: unknown key"):
        cls.from_config({**section, "bogus": 1})
    with pytest.raises(TypeError):
        cls()  # no defaults outside the schema


@pytest.mark.parametrize(
    "cls,key,value",
    [
        (NPEConfig, "hidden_features", 0),
        (NPEConfig, "density_estimator", "mdn"),
        (NPEConfig, "validation_fraction", 1.0),
        (NPEConfig, "max_num_epochs", 0),
        (MetricsConfig, "max_rows", 0),
        (ShapConfig, "n_draws", 2),
        (ShapConfig, "leakage", "drop"),
        (ShapConfig, "min_accepted_fraction", 0.0),
        (ShapConfig, "convergence_rows", -1),
    ],
)
def test_settings_constructors_name_the_bad_key(cls, key, value):
    section = {**INFERENCE[cls.KEY.split(".")[-1]], key: value}
    with pytest.raises(ValueError, match=rf"^{cls.KEY}\.{key} must"):
        cls.from_config(section)


@pytest.mark.parametrize("estimator", ["nsf", "maf_rqs", "zuko_maf", "zuko_nsf"])
def test_other_estimators_store_reload_and_fix_base_draws(data, estimator, tmp_path: Path):
    d, _ = data
    cfg = dataclasses.replace(
        NPEConfig.from_config(INFERENCE["npe"]),
        density_estimator=estimator,
        hidden_features=8,
        num_transforms=2,
        max_num_epochs=2,
        training_batch_size=64,
    )
    m = train_fold(d.features[:300], d.targets[:300], cfg, seed=1, fold=0, **PRIOR)
    save_model(m, tmp_path / "m.pt", tmp_path / "m.json")
    back = load_model(tmp_path / "m.pt", tmp_path / "m.json")
    x = m.standardise(d.features[300:305])
    th = torch.as_tensor(d.targets[300:305], dtype=torch.float32)[None]
    f = PosteriorFunctionals(back, n_draws=16, seed=1, fold=0, **CRN)
    with torch.no_grad():
        torch.testing.assert_close(back.net.log_prob(th, x), m.net.log_prob(th, x))
        theta = f.draws(x)
        noise = back.net.inverse_transform(theta.transpose(0, 1), x).transpose(0, 1)  # theta -> z
    torch.testing.assert_close(noise, f.z.expand(5, 16, 4), rtol=1e-4, atol=1e-4)
    assert f.evaluate(x.numpy()).shape == (5, 4, 2)


@pytest.mark.slow
def test_metrics_with_sbis_classifier_tests(data, trained):
    """inference.metrics.c2st runs sbi's full check_sbc (random-forest C2STs: slow)."""
    d, fold = data
    _, test = split(fold, 0)
    m, _ = trained
    mcfg = dataclasses.replace(MetricsConfig.from_config(INFERENCE["metrics"]), n_posterior_samples=100, max_rows=40)
    kw = dict(target_prior=PRIOR["target_prior"], target_names=list(d.target_names), seed=11, fold=0)
    on = fold_metrics(m, d.features[test], d.targets[test], cfg=dataclasses.replace(mcfg, c2st=True), **kw)
    off = fold_metrics(m, d.features[test], d.targets[test], cfg=mcfg, **kw)
    for name in d.target_names:
        assert 0 <= on["targets"][name]["sbc_c2st_ranks"] <= 1 and 0 <= on["targets"][name]["c2st_prior_vs_dap"] <= 1
        assert off["targets"][name]["sbc_c2st_ranks"] is None
        # the same draws either way: the KS p-value does not depend on the classifier tests
        assert on["targets"][name]["sbc_ks_pvalue"] == off["targets"][name]["sbc_ks_pvalue"]
