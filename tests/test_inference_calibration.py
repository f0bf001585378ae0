"""Inference half: the targets' prior and support, the log scale, continuous leakage treatment,
MI-SHAP agreement and the captions that report convergence (fast; tiny sizes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from workflow.config import validate_config
from workflow.contract import PARAM_NAMES, TARGET_NAMES
from workflow.inference import captions
from workflow.inference.dataset import compute_targets, load_dataset
from workflow.inference.explain import ShapConfig
from workflow.inference.folds import assign_folds, split
from workflow.inference.functionals import PosteriorFunctionals, smooth_quantiles
from workflow.inference.merge import mi_shap_agreement, shap_verdicts
from workflow.inference.npe import NPEConfig, train_fold
from workflow.inference.scales import TargetScale
from workflow.inference.synthetic import write_synthetic_dataset
from workflow.inference.targetprior import TargetPrior, sample_params, search_bounds
from workflow.simulation.prior import Prior

DEFAULTS = validate_config({})
INFERENCE = DEFAULTS["inference"]
SHAP = ShapConfig.from_config(INFERENCE["shap"])
TARGET_PRIOR = TargetPrior.from_config(DEFAULTS["prior"])


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.set_num_threads(1)


def test_support_bounds_against_dense_constrained_prior_sampling():
    """The searched bounds contain half a million constrained-prior draws, are attained by feasible
    parameter sets, and are the exact ones: [1/40, 40] for [E/I]_net, the box for the rest."""
    b = TARGET_PRIOR.bounds(seed=3)
    dense = TARGET_PRIOR.sample(500_000, np.random.default_rng(99))
    assert (dense >= b.low).all() and (dense <= b.high).all()
    lo, hi = dense.min(0), dense.max(0)
    # dense sampling approaches the bounds from inside, the search reaches them
    assert (b.low <= lo).all() and (b.high >= hi).all()
    assert lo[0] < 1.2 * b.low[0] and hi[0] > 0.5 * b.high[0]  # the corners are rare, but approached
    np.testing.assert_allclose(b.low, [1 / 40, 0.1, 0.1, 10.0], rtol=1e-12)
    np.testing.assert_allclose(b.high, [40.0, 2.0, 8.0, 50.0], rtol=1e-12)
    prior = TARGET_PRIOR.prior
    for params, bound in ((b.params_low, b.low), (b.params_high, b.high)):
        assert prior.accept(params).all()
        assert ((params >= prior.low) & (params <= prior.high)).all()
        np.testing.assert_allclose(np.diag(compute_targets(params, PARAM_NAMES)), bound, rtol=1e-12)
    # the box corners alone would allow [1/320, 320]: the constraints are what cut it
    free = search_bounds(dataclasses.replace(prior, constraints=False), seed=3)
    np.testing.assert_allclose([free.low[0], free.high[0]], [1 / 320, 320.0], rtol=1e-12)


def test_support_bounds_of_another_prior_against_sampling():
    cfg = {**DEFAULTS["prior"], "J_EE": [1.0, 3.0], "J_II": [-30.0, -2.0]}
    tp = TargetPrior(Prior.from_config(cfg))
    b = search_bounds(tp.prior, seed=0)
    dense = tp.sample(400_000, np.random.default_rng(1))
    assert (dense >= b.low).all() and (dense <= b.high).all()
    # J_EE/J_IE < 1 and |J_EI| >= 2 J_EE >= 2: max 30/2; |J_II| >= 2 J_IE: min J_EE/20 >= 1/20
    np.testing.assert_allclose([b.low[0], b.high[0]], [0.05, 15.0], rtol=1e-12)


def test_target_prior_sampling_is_the_constrained_prior_pushed_forward():
    draws = TARGET_PRIOR.sample_seeded(5000, seed=4, fold=1)
    np.testing.assert_array_equal(draws, TARGET_PRIOR.sample_seeded(5000, seed=4, fold=1))
    params = sample_params(TARGET_PRIOR.prior, 5000, np.random.default_rng(0))
    assert TARGET_PRIOR.prior.accept(params).all()
    np.testing.assert_allclose(compute_targets(params, PARAM_NAMES)[:, 1:], params[:, [4, 5, 6]])


def test_log_target_round_trip_numpy_and_torch():
    scale = TargetScale.from_names(["EI_net", "J_ext"])
    theta = np.array([[0.03, 0.5, 2.0, 12.0], [39.0, 1.9, 7.5, 49.0]])
    u = scale.to_learned(theta)
    np.testing.assert_allclose(u[:, [0, 3]], np.log(theta[:, [0, 3]]))
    np.testing.assert_array_equal(u[:, [1, 2]], theta[:, [1, 2]])
    np.testing.assert_allclose(scale.to_targets(u), theta, rtol=1e-14)
    t = torch.as_tensor(theta, dtype=torch.float32)[None]  # (1, 2, 4): any leading axes
    torch.testing.assert_close(scale.to_targets(scale.to_learned(t)), t)
    assert TargetScale.from_names([]).to_learned(theta) is theta
    with pytest.raises(ValueError, match="inference.log_targets: unknown target"):
        TargetScale.from_names(["EI"])
    with pytest.raises(ValueError, match="inference.log_targets: .* non-positive"):
        scale.check_positive(np.array([-1.0, 0.1, 0.1, 10.0]))


def test_schema_log_targets_are_the_target_names():
    items = validate_config({"inference": {"log_targets": list(TARGET_NAMES)}})["inference"]["log_targets"]
    assert items == list(TARGET_NAMES) and INFERENCE["log_targets"] == ["EI_net"]


def test_smooth_quantiles_ignore_zero_weights_and_match_sample_quantiles():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(3, 4000, 2, generator=gen)
    w = torch.ones(3, 4000)
    h = torch.full((3, 1, 2), 4000**-0.5)
    q = smooth_quantiles(u, w, h, (0.25, 0.75))
    torch.testing.assert_close(q, torch.quantile(u, torch.tensor([0.25, 0.75]), dim=1), atol=0.03, rtol=0)
    w0 = w.clone()
    w0[:, :10] = 0.0  # a zero-weight draw has no influence, wherever it is
    u2 = u.clone()
    u2[:, :10] = 50.0
    # (up to the bisection's precision, 2**-20 of the bracket, which the far draw widens)
    torch.testing.assert_close(
        smooth_quantiles(u2, w0, h, (0.25,)), smooth_quantiles(u, w0, h, (0.25,)), atol=1e-4, rtol=0
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("cal") / "syn.h5"
    write_synthetic_dataset(path, 900, seed=5)
    d = load_dataset(path)
    train, test = split(assign_folds(d.sample_id, 3, seed=2), 0)
    cfg = dataclasses.replace(
        NPEConfig.from_config(INFERENCE["npe"]),
        hidden_features=16,
        num_transforms=2,
        training_batch_size=64,
        max_num_epochs=30,
        stop_after_epochs=5,
    )
    m = train_fold(
        d.features[train],
        d.targets[train],
        cfg,
        seed=2,
        fold=0,
        target_prior=TARGET_PRIOR,
        log_targets=INFERENCE["log_targets"],
    )
    return d, test, m


def _path(m, d, test, n):
    """Standardised features along a line through feature space (the planted tau_syn_E feature)."""
    x0 = m.standardise(d.features[test[:1]]).numpy()[0]
    v = np.zeros_like(x0)
    v[20] = 1.0  # rs_range, planted on tau_syn_E
    return x0[None] + np.linspace(-4.0, 4.0, n)[:, None] * v[None]


def test_functionals_are_continuous_in_x_across_the_leakage_threshold(model):
    """Along a path in x whose accepted fraction falls through min_accepted_fraction, the
    functionals move continuously: refining the path 16x shrinks the largest step by more than
    half (a jump would not shrink; a smooth function shrinks it 16x, a steep one less: the IQR is
    steep where clamped draws pile onto the boundary, measured 0.18-0.42 with the default spline
    flow), and each row records its treatment (truncation weight 1 -> below 1)."""
    d, test, m = model
    crn = {"leakage": "truncate", "qmc_draws": True}
    probe = PosteriorFunctionals(m, n_draws=64, seed=1, fold=0, min_accepted_fraction=1.0, **crn)
    u = probe.draws(torch.as_tensor(_path(m, d, test, 41), dtype=torch.float32)).numpy()[:, :, 1]  # tau_syn_E
    # narrow tau_syn_E's support to where the posterior sits along the path, then put the
    # threshold at the path's median accepted fraction, so that the path crosses it
    cut = float(np.median(np.quantile(u, 0.5, axis=1)))
    high = m.high.copy()
    high[1] = m.scale.to_targets(np.array([0, cut, 0, 0.0]))[1]
    narrow = dataclasses.replace(m, high=high)
    probe = PosteriorFunctionals(narrow, n_draws=64, seed=1, fold=0, min_accepted_fraction=1.0, **crn)
    probe.evaluate(_path(m, d, test, 41))
    crn["min_accepted_fraction"] = float(np.median(probe.last_accepted))
    steps = {}
    for n in (201, 3201):
        f = PosteriorFunctionals(narrow, n_draws=64, seed=1, fold=0, **crn)
        out = f.evaluate(_path(m, d, test, n))
        steps[n] = np.abs(np.diff(out, axis=0)).max(0)  # (T, 2) largest step along the path
        weight = f.last_weight
    moving = steps[201] > 1e-6
    assert moving[1].all()
    ratio = steps[3201][moving] / steps[201][moving]
    assert ratio.max() < 0.5, ratio
    assert weight.max() == 1.0 and 0 < weight.min() < 1, (weight.min(), weight.max())
    assert (np.diff(weight) != 0).sum() > 10  # the blend is gradual, not a switch


def test_functionals_record_each_rows_treatment_and_clamp_where_all_leaks(model):
    d, test, m = model
    x = m.standardise(d.features[test[:20]]).numpy()
    crn = {"leakage": "truncate", "min_accepted_fraction": SHAP.min_accepted_fraction, "qmc_draws": True}
    f = PosteriorFunctionals(m, n_draws=32, seed=1, fold=0, **crn)
    out = f.evaluate(x)
    assert f.last_accepted.shape == f.last_weight.shape == (20,)
    assert ((f.last_accepted > 0) & (f.last_accepted <= 1)).all()
    # a support that no draw reaches: every row clamped, onto the boundary
    low, high = m.low.copy(), m.high.copy()
    low[2], high[2] = 7.9, 8.0
    tight = dataclasses.replace(m, low=low, high=high)
    ft = PosteriorFunctionals(tight, n_draws=32, seed=1, fold=0, **crn)
    clamped = ft.evaluate(x)
    assert (ft.last_weight < 1).all() and ft.n_clamped_rows + ft.n_blended_rows == 20
    assert ((clamped[:, 2, 0] >= 7.9 - 1e-6) & (clamped[:, 2, 0] <= 8.0 + 1e-6)).all()
    assert np.isfinite(out).all() and np.isfinite(clamped).all()


def _verdict_inputs(spearman: float, tau: float):
    agreement = pd.DataFrame(
        [{"target": t, "between_folds_mean_mean_tau": tau, "between_folds_iqr_mean_tau": tau} for t in TARGET_NAMES]
    )
    conv = pd.DataFrame(
        [
            {"fold": k, "target": t, "functional": g, "spearman_mean_abs": spearman}
            for k in range(3)
            for t in TARGET_NAMES
            for g in ("mean", "iqr")
        ]
    )
    return agreement, conv


@pytest.mark.parametrize("spearman,tau,converged,stable", [(0.95, 0.8, True, True), (0.6, 0.2, False, False)])
def test_verdicts_and_captions_tell_the_truth(spearman, tau, converged, stable):
    agreement, conv = _verdict_inputs(spearman, tau)
    v = shap_verdicts(agreement, conv, ["mean", "iqr"])
    assert (v["converged"] == converged).all() and (v["stable"] == stable).all()
    cfg = INFERENCE["shap"]
    text = captions.shap_bars("EI_net", cfg, 3, v)
    if converged and stable:
        assert "Converged and stable" in text and "Not converged" not in text
    else:
        assert "**Not converged**" in text and "inference.shap.n_background (now 32" in text
        assert "**Unstable between folds**" in text and "inference.shap.n_rows (now 500)" in text
    unchecked = captions.convergence({**cfg, "convergence_rows": 0}, shap_verdicts(agreement, conv.iloc[0:0], ["mean"]))
    assert "Convergence unchecked" in unchecked


def test_mi_shap_agreement_ranks_against_each_shap_ranking():
    feats = [f"f{i}" for i in range(6)]
    mi = pd.DataFrame({"EI_net": [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]}, index=pd.Index(feats, name="feature"))
    table = pd.DataFrame(
        [{"feature": f, "target": "EI_net", "functional": "mean", "mean_abs_shap": 6 - i} for i, f in enumerate(feats)]
        + [{"feature": f, "target": "EI_net", "functional": "iqr", "mean_abs_shap": i} for i, f in enumerate(feats)]
    )
    out = mi_shap_agreement(mi, table).set_index("functional")
    assert out.loc["mean", "kendall_tau"] == pytest.approx(1.0) and out.loc["iqr", "kendall_tau"] == pytest.approx(-1.0)
    assert out.loc["mean", "top_mi"] == out.loc["mean", "top_shap"] == "f0"
