"""Calibration of ``infer``'s fold-mixture posterior across held-out simulations, where the posteriors
are informative: the planted synthetic dataset (workflow/inference/synthetic.py: a few features each
follow one target, with a spread that grows with it), three folds trained on 8000 rows, 400 rows held
out of training. The fraction of truths inside the 90 % intervals must lie in 0.8-0.97 for every
target, and held-out rows must be flagged as misspecified at about the nominal rate (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from infer_campaign import synthetic_campaign

from workflow.contract import TARGET_NAMES
from workflow.infer.campaign import load_campaign
from workflow.infer.posterior import window_draws
from workflow.infer.run import MISSPECIFICATION_FPR, fit_misspecification
from workflow.inference.targetprior import TargetPrior

pytestmark = pytest.mark.slow

TINY = str(Path(__file__).resolve().parent / "config" / "tiny.yaml")
N_TRAIN, N_HELD_OUT, DRAWS = 8000, 400, 500


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    folds, x, t = synthetic_campaign(
        tmp_path_factory.mktemp("planted"), N_TRAIN, k_folds=3, epochs=150, seed=11, n_held_out=N_HELD_OUT
    )
    return load_campaign(folds, [TINY]), x, t


def test_truths_of_held_out_simulations_fall_in_the_90_percent_intervals_at_the_nominal_rate(trained):
    campaign, x, truth = trained
    inside = np.empty((len(x), len(TARGET_NAMES)), dtype=bool)
    width = np.empty_like(inside, dtype=float)
    for i, row in enumerate(x):
        draws, _ = window_draws(campaign, row[None, :], DRAWS, (i, 0))
        lo, hi = np.quantile(draws[0], [0.05, 0.95], axis=0)
        inside[i] = (truth[i] >= lo) & (truth[i] <= hi)
        width[i] = hi - lo
    coverage = inside.mean(0)
    prior = TargetPrior.from_config(campaign.config["prior"]).sample(100_000, np.random.default_rng(0))
    prior_width = np.diff(np.quantile(prior, [0.05, 0.95], axis=0), axis=0)[0]
    shrink = np.median(width, 0) / prior_width
    names = list(TARGET_NAMES)
    report = {"coverage_90": dict(zip(names, coverage.round(3).tolist(), strict=True)),
              "median_90_width_over_prior_90_width": dict(zip(names, shrink.round(3).tolist(), strict=True)),
              "n_held_out": len(x)}  # fmt: skip
    print(json.dumps(report))
    assert np.all((coverage >= 0.8) & (coverage <= 0.97)), coverage
    assert np.all(shrink < 0.75), shrink  # informative: clearly narrower than the prior


def test_held_out_rows_are_rarely_flagged(trained):
    campaign, x, _ = trained
    check = fit_misspecification(campaign)
    rate = float((check.evaluate(x)[1] <= MISSPECIFICATION_FPR).mean())
    print(json.dumps({"held_out_fpr": rate, "nominal": MISSPECIFICATION_FPR, "n": len(x)}))
    assert rate <= 2 * MISSPECIFICATION_FPR
