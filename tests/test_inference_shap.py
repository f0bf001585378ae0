"""Inference half on the planted synthetic set (slow): SHAP recovers the planted feature-target
dependence after merging folds, and the posteriors are calibrated (sbi's SBC, coverage)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from workflow.config import validate_config
from workflow.inference.dataset import load_dataset
from workflow.inference.explain import ShapConfig, explain_fold
from workflow.inference.folds import assign_folds, split
from workflow.inference.merge import fold_importance, merge_importance, ranking_agreement
from workflow.inference.metrics import MetricsConfig, fold_metrics
from workflow.inference.npe import NPEConfig, train_fold
from workflow.inference.synthetic import write_synthetic_dataset
from workflow.inference.targetprior import TargetPrior

pytestmark = pytest.mark.slow

K = 3


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("planted") / "syn.h5"
    planted = write_synthetic_dataset(path, 3000, seed=21)
    d = load_dataset(path)
    fold = assign_folds(d.sample_id, K, seed=5)
    schema = validate_config({})
    defaults = schema["inference"]  # the schema's defaults, then this test's sizes
    prior = {"target_prior": TargetPrior.from_config(schema["prior"]), "log_targets": defaults["log_targets"]}
    npe = dataclasses.replace(
        NPEConfig.from_config(defaults["npe"]),
        hidden_features=32,
        num_transforms=3,
        training_batch_size=64,
        max_num_epochs=40,
        stop_after_epochs=8,
    )
    shap_cfg = dataclasses.replace(
        ShapConfig.from_config(defaults["shap"]),
        n_rows=24,
        n_draws=32,
        n_background=8,
        n_permutations=1,
        convergence_rows=0,
    )
    # 500 of the 1000 test rows per fold: the SD of a 90 % coverage over 500 rows is 0.013
    mcfg = dataclasses.replace(MetricsConfig.from_config(defaults["metrics"]), n_posterior_samples=500, max_rows=500)
    per_fold, metrics = [], []
    for k in range(K):
        train, test = split(fold, k)
        m = train_fold(d.features[train], d.targets[train], npe, seed=5, fold=k, **prior)
        res = explain_fold(m, d.features[test], d.sample_id[test], d.features[train], shap_cfg, seed=5, fold=k)
        per_fold.append(fold_importance(res.values))
        metrics.append(
            fold_metrics(m, d.features[test], d.targets[test], prior["target_prior"], list(d.target_names), mcfg, 5, k)
        )
    table = merge_importance(per_fold, list(d.feature_names), list(d.target_names), ["mean", "iqr"])
    return d, planted, per_fold, table, metrics


@pytest.mark.parametrize("functional", ["mean", "iqr"])
def test_planted_feature_ranks_first_for_its_target(merged, functional):
    d, planted, _, table, _ = merged
    for t, f in planted.items():
        sub = table[(table["target"] == d.target_names[t]) & (table["functional"] == functional)]
        top = sub.sort_values("mean_abs_shap", ascending=False)["feature"].iloc[0]
        assert top == d.feature_names[f], (d.target_names[t], functional, sub.nlargest(4, "mean_abs_shap"))


def test_planted_feature_dominates_noise(merged):
    """The planted feature's importance exceeds every noise feature's by a clear margin."""
    d, planted, _, table, _ = merged
    noise = [n for i, n in enumerate(d.feature_names) if i not in planted.values()]
    for t, f in planted.items():
        for func in ("mean", "iqr"):
            sub = table[(table["target"] == d.target_names[t]) & (table["functional"] == func)].set_index("feature")
            assert sub.loc[d.feature_names[f], "mean_abs_shap"] > 2 * sub.loc[noise, "mean_abs_shap"].max()


def test_agreement_table(merged):
    d, _, per_fold, _, _ = merged
    agree, detail = ranking_agreement(per_fold, list(d.target_names), ["mean", "iqr"])
    assert list(agree["target"]) == list(d.target_names)
    assert len(detail[f"{d.target_names[0]}/mean/fold_pairs"]) == K * (K - 1) // 2
    assert np.isfinite(agree.drop(columns="target").to_numpy()).all()


def test_planted_set_calibration(merged):
    """Fold-mean 90 % coverage and sbi's SBC on the planted set, per target, in target units.

    The bounds hold what this test's small flows (32 hidden units, 3 transforms, at most 40
    epochs) reach; the issue's goal (coverage 0.85-0.95 and SBC p >= 0.05 for every target)
    is measured with ``benchmarks/bench_calibration.py`` (``reference/calibration/``).
    """
    d, _, _, _, metrics = merged
    for name in d.target_names:
        cov90 = np.mean([m["targets"][name]["coverage_90"] for m in metrics])
        cov50 = np.mean([m["targets"][name]["coverage_50"] for m in metrics])
        assert 0.75 <= cov90 <= 0.97, (name, cov90)
        assert 0.3 <= cov50 <= 0.65, (name, cov50)
        for m in metrics:
            assert 0 <= m["targets"][name]["sbc_ks_pvalue"] <= 1
            assert len(m["sbc_ranks"]) == m["n_rows_used"]
    assert all(abs(m["tarp_atc"]) < 0.2 for m in metrics)
